"""Importing tau2-Bench results (synthetic fixture written from tau2's documented data model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pivotrl_tool_use.tau2 import import_tau2, iter_simulations

from pivotrl_core.errors import InputError
from pivotrl_core.formats.detect import read_trajectories
from pivotrl_core.formats.openai_chat import OpenAIChatFormat
from pivotrl_core.jsonl import iter_jsonl
from pivotrl_core.plugins import get_registry


def _rows(path: Path) -> list[dict]:
    return [row for _, row in iter_jsonl(path)]


def test_keeps_successful_simulations_as_openai_chat_rows(tau2_results, tmp_path):
    out = tmp_path / "traj.jsonl"
    stats = import_tau2(tau2_results, out)
    assert (stats.simulations, stats.kept, stats.dropped) == (4, 2, {"failed": 1, "no_reward": 1})
    assert stats.user_tool_messages_dropped == 2
    rows = _rows(out)
    assert [r["id"] for r in rows] == ["tau2-sim-0001", "tau2-sim-0003"]
    first = rows[0]
    assert first["messages"][0] == {
        "role": "system",
        "content": json.loads(tau2_results.read_text())["info"]["environment_info"]["policy"],
    }
    call = first["messages"][3]["tool_calls"][0]
    assert call["type"] == "function" and call["id"] == "tc_1"
    assert json.loads(call["function"]["arguments"]) == {"email": "pat.doe@sample.org"}
    assert first["messages"][4] == {"role": "tool", "content": "pat_doe_1001", "tool_call_id": "tc_1"}
    assert [t["function"]["name"] for t in first["tools"]] == [
        "find_user_id_by_email",
        "get_order_details",
        "cancel_pending_order",
    ]
    assert first["metadata"]["tau2"] == {
        "simulation_id": "sim-0001",
        "task_id": "0",
        "trial": 0,
        "reward": 1.0,
        "termination_reason": "user_stop",
    }
    # the user-side tool call (telecom style) and its result are gone; the user's text stays
    roles = [m["role"] for m in rows[1]["messages"]]
    assert roles == [
        "system",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    parsed = [t for i, r in enumerate(rows) for t in OpenAIChatFormat().parse(r, i)]
    first_calls = [next(m.tool_calls[0].name for m in t.messages if m.tool_calls) for t in parsed]
    assert first_calls == ["find_user_id_by_email", "get_order_details"]


def test_options(tau2_results, tmp_path):
    stats = import_tau2(tau2_results, tmp_path / "all.jsonl", keep_failed=True, system_prompt=False)
    assert stats.kept == 4
    assert all(r["messages"][0]["role"] != "system" for r in _rows(tmp_path / "all.jsonl"))
    assert import_tau2(tau2_results, tmp_path / "half.jsonl", min_reward=0.0).kept == 3


def test_dir_format_gives_the_same_trajectories(tau2_results, tmp_path):
    doc = json.loads(tau2_results.read_text())
    run = tmp_path / "run"
    (run / "simulations").mkdir(parents=True)
    for sim in doc.pop("simulations"):
        (run / "simulations" / f"{sim['id']}.json").write_text(json.dumps(sim))
    (run / "results.json").write_text(json.dumps(doc))
    import_tau2(run, tmp_path / "a.jsonl")
    import_tau2(run / "results.json", tmp_path / "b.jsonl")
    import_tau2(tau2_results, tmp_path / "c.jsonl")
    assert _rows(tmp_path / "a.jsonl") == _rows(tmp_path / "b.jsonl") == _rows(tmp_path / "c.jsonl")
    single = next(iter_simulations(run / "simulations" / "sim-0003.json"))
    assert single[2]["id"] == "sim-0003"


def test_jsonl_of_simulations_is_detected_as_tau2(pivotrl_pm, tau2_results, tmp_path):
    doc = json.loads(tau2_results.read_text())
    path = tmp_path / "sims.jsonl"
    tool_defs = doc["info"]["environment_info"]["tool_defs"]
    path.write_text("".join(json.dumps({**s, "tool_defs": tool_defs}) + "\n" for s in doc["simulations"]))
    trajs = list(read_trajectories(path, get_registry().formats()))  # the plugin's format detects it
    assert [t.id for t in trajs] == ["tau2-sim-0001", "tau2-sim-0003"]
    assert len(trajs[0].tools) == 3


def test_bad_input_names_file_and_field(tau2_results, tmp_path):
    doc = json.loads(tau2_results.read_text())
    doc["simulations"][0]["messages"][2]["role"] = "robot"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(InputError) as err:
        import_tau2(bad, tmp_path / "out.jsonl")
    assert err.value.path == str(bad) and err.value.field == "messages[2].role"
    assert not (tmp_path / "out.jsonl").exists()
    broken = tmp_path / "broken.json"
    broken.write_text('{"info": {},\n "simulations": [\n')
    with pytest.raises(InputError, match="invalid JSON") as err:
        import_tau2(broken, tmp_path / "out.jsonl")
    assert err.value.line == 3
    empty = tmp_path / "empty.json"
    empty.write_text('{"info": {}, "tasks": []}')
    with pytest.raises(InputError, match="simulations"):
        import_tau2(empty, tmp_path / "out.jsonl")
