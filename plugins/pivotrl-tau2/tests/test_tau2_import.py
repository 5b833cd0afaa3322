"""Importers: tau-bench v1 trajectories and tau2 results, into Trajectory rows."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from pivotrl_tau2.importers import import_file
from pivotrl_tau2.reproduce import iter_trajectories

from pivotrl_core.cli import build_cli


def test_v1_import_keeps_every_turn_with_task_trial_and_reward(v1_jsonl: Path) -> None:
    trajs = list(iter_trajectories(v1_jsonl))
    assert len(trajs) == 200
    turns = [m for t in trajs for m in t.messages if m.role == "assistant"]
    assert len(turns) == 2454 and sum(bool(m.tool_calls) for m in turns) == 1164
    first = trajs[0]
    assert first.id == "tau-bench-v1-airline-0-0"
    meta = first.metadata["tau2"]
    assert (meta["domain"], meta["source"], meta["task_id"], meta["trial"]) == (
        "tau2-airline",
        "tau-bench-v1",
        "0",
        0,
    )
    assert meta["reward"] in (0.0, 1.0) and meta["gold_actions"]
    assert sorted(r.metadata["tau2"]["reward"] for r in trajs).count(1.0) == 84
    names = [t["function"]["name"] for t in first.tools]
    assert len(names) == 15 and "think" in names and "get_flight_status" in names
    assert first.messages[0].role == "system" and len(first.messages[0].content) == 6155


def test_bad_record_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "x-airline.json"
    bad.write_text(json.dumps([{"task_id": 0, "traj": [{"role": "wizard", "content": "hi"}]}]))
    result = CliRunner().invoke(build_cli(), ["tau2", "import", str(bad), "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2
    assert "x-airline.json" in result.output and "[0].traj.messages[0].role" in result.output
    broken = tmp_path / "y-airline.json"
    broken.write_text('[{"task_id": 0,\n "traj": [}]')
    result = CliRunner().invoke(build_cli(), ["tau2", "import", str(broken), "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and "y-airline.json:2" in result.output


def test_unknown_domain_is_an_input_error(tmp_path: Path) -> None:
    f = tmp_path / "gpt-4o-banking.json"
    f.write_text("[]")
    result = CliRunner().invoke(build_cli(), ["tau2", "import", str(f), "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and "--domain" in result.output


def test_tau2_results_round_trip_through_the_benchmark(tmp_path: Path) -> None:
    sims = tmp_path / "sims.json"
    runner = CliRunner()
    result = runner.invoke(
        build_cli(),
        [
            "tau2",
            "episodes",
            "--domain",
            "tau2-telecom",
            "--policy",
            "tau2-gold",
            "--n-tasks",
            "3",
            "--simulations",
            str(sims),
        ],
    )
    assert result.exit_code == 0, result.output
    trajs = list(import_file(sims))
    assert len(trajs) == 3
    t = trajs[0]
    assert t.metadata["tau2"]["source"] == "tau2" and t.metadata["tau2"]["reward"] == 1.0
    assert t.messages[0].role == "system" and "<ticket>" in t.messages[0].content
    assert t.messages[-1].tool_calls[0].name == "done"  # tau2's ###STOP### back as the solo stop call
    assert {"toggle_roaming", "done", "get_customer_by_phone"} <= {x["function"]["name"] for x in t.tools}
    out = tmp_path / "g.jsonl"
    assert runner.invoke(build_cli(), ["tau2", "import", str(sims), "-o", str(out)]).exit_code == 0
    result = runner.invoke(build_cli(), ["tau2", "replay", str(out)])
    assert result.exit_code == 0 and "reproduced 3 of 3 recorded rewards" in result.output
