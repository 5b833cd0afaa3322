"""pivotrl_core.integrations and `pivotrl export`: TRL rewards, datasets, verl rows, the Prime
Intellect `verifiers` environment (the installed package, driven by a real loopback server)."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from pivot_data import make_candidates, write_candidates

import pivotrl_core
from pivotrl_core.cli import build_cli, cli
from pivotrl_core.plugins import load_plugin_file

PLUGIN = Path(__file__).with_name("profile_plugin.py")
CALL = '<tool_call>{"name": "get_order", "arguments": {"order_id": "W01"}}</tool_call>'


@pytest.fixture
def plugin(pivotrl_pm):  # noqa: ANN001, ANN201 - a fresh plugin manager with the test plugin
    load_plugin_file(PLUGIN, pivotrl_pm)
    return pivotrl_pm


@pytest.fixture
def pivots(tmp_path: Path) -> Path:
    return write_candidates(tmp_path / "pivots.jsonl", make_candidates(1, 2, domain="generic"))


def test_reward_scores_with_each_pivots_verifier(pivots: Path) -> None:
    data = pivotrl_core.pivots_dataset(pivots)
    assert data.column_names == ["prompt", "pivot", "id"]
    system = data[1]["prompt"][0]
    assert system["role"] == "system" and "get_order(order_id?)" in system["content"]
    reward = pivotrl_core.reward_function()
    wrong = '<tool_call>{"name": "cancel", "arguments": {}}</tool_call>'
    conversational = [[{"role": "assistant", "content": CALL}], [{"role": "assistant", "content": wrong}]]
    assert reward(data["prompt"][1:] * 2, conversational, data["pivot"][1:] * 2) == [1.0, 0.0]
    native = [{"role": "assistant", "tool_calls": [{"function": {"name": "get_order", "arguments": "{}"}}]}]
    assert reward(data["prompt"][1:], [native], data["pivot"][1:]) == [0.0]  # no order_id


def test_errored_verdict_is_none_not_zero(plugin, tmp_path: Path) -> None:  # noqa: ANN001
    path = write_candidates(tmp_path / "p.jsonl", make_candidates(1, 1, domain="pflaky"))
    data = pivotrl_core.pivots_dataset(path)
    reward = pivotrl_core.reward_function()
    # pflaky: length % 3 == 0 raises (infrastructure failure), else length % 2 == 0 passes
    assert reward(list(data["prompt"]) * 3, ["abc", "ab", "a"], list(data["pivot"]) * 3) == [None, 1.0, 0.0]


def test_verl_rows_round_trip_through_verl_reward(pivots: Path) -> None:
    rows = pivotrl_core.verl_rows(pivots)
    assert [r["extra_info"]["index"] for r in rows] == [0, 1]
    assert rows[1]["data_source"] == "pivotrl/generic" and rows[1]["reward_model"]["style"] == "rule"
    from pivotrl_core.integrations import verl_reward

    truth = rows[1]["reward_model"]["ground_truth"]
    assert verl_reward(rows[1]["data_source"], CALL, truth) == 1.0
    assert verl_reward(rows[1]["data_source"], "no call", truth) == 0.0


def test_export_command_writes_hf_verl_and_nemo_gym(pivots: Path, tmp_path: Path) -> None:
    import datasets

    build_cli()
    runner = CliRunner()
    for fmt, out in (("hf", "hf"), ("verl", "v.parquet"), ("nemo-gym", "g.jsonl")):
        res = runner.invoke(cli, ["export", str(pivots), "--format", fmt, "-o", str(tmp_path / out)])
        assert res.exit_code == 0, res.output
        assert f"exported 2 rows as {fmt}" in res.output
    assert datasets.load_from_disk(str(tmp_path / "hf"))["id"] == ["traj0:2", "traj0:4"]
    verl = datasets.Dataset.from_parquet(str(tmp_path / "v.parquet"))
    assert json.loads(verl[0]["reward_model"]["ground_truth"])["id"] == "traj0:2"
    gym = [json.loads(line) for line in (tmp_path / "g.jsonl").read_text().splitlines()]
    assert len(gym) == 2 and "responses_create_params" in gym[0]
    bad = runner.invoke(cli, ["export", str(pivots), "--format", "nope", "-o", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown format 'nope'" in bad.output
    same = runner.invoke(cli, ["export", str(pivots), "--format", "verl", "-o", str(pivots)])
    assert same.exit_code == 2


def test_prime_intellect_environment_scores_with_our_verifier(pivots: Path) -> None:
    """The installed `verifiers` package runs our rubric over its own rollout state."""
    import verifiers as vf

    env = pivotrl_core.load_environment(pivots)
    assert isinstance(env, vf.SingleTurnEnv) and len(env.dataset) == 2
    row = env.dataset[1]
    scores = {}
    for name, text in (("right", CALL), ("wrong", "hello")):
        state = {
            "prompt": row["prompt"],
            "completion": [{"role": "assistant", "content": text}],
            "answer": "",
            "info": row["info"],
            "task": "default",
        }
        asyncio.run(env.rubric.score_rollout(state))
        scores[name] = (state["reward"], state["metrics"]["pivotrl_errored"])
    assert scores == {"right": (1.0, 0.0), "wrong": (0.0, 0.0)}


def test_prime_intellect_environment_errored_is_nan(plugin, tmp_path: Path) -> None:  # noqa: ANN001
    path = write_candidates(tmp_path / "p.jsonl", make_candidates(1, 1, domain="pflaky"))
    env = pivotrl_core.load_environment(path)
    row = env.dataset[0]
    state = {"prompt": row["prompt"], "completion": "abc", "answer": "", "info": row["info"], "task": "x"}
    asyncio.run(env.rubric.score_rollout(state))
    assert math.isnan(state["reward"]) and state["metrics"]["pivotrl_errored"] == 1.0
