"""The SFT baseline: assistant-only targets rendered like profiling, training, resume, inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from pivotrl_core import Candidate, Message, ToolCall, Trajectory
from pivotrl_core.errors import InputError
from pivotrl_core.policies.chat import end_of_turn, render_action, render_prompt
from pivotrl_core.policies.models import load_tokenizer
from pivotrl_core.train.config import SFTConfig, load_config
from pivotrl_core.train.metrics import read_metrics
from pivotrl_core.train.sft import SFTExample, build_examples, read_sft_inputs, sft_loss_sum, train_sft

TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "description": "Look up an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    },
)
TIMING = {"step_time", "tokens_per_s", "wall_time"}


pytestmark = pytest.mark.usefixtures("one_thread")


def trajectory(i: int) -> Trajectory:
    return Trajectory(
        id=f"t{i}",
        tools=TOOLS,
        messages=(
            Message("system", "You help customers."),
            Message("user", f"Where is order W{i}?"),
            Message("assistant", tool_calls=(ToolCall("get_order", {"order_id": f"W{i}"}, id="c1"),)),
            Message("tool", '{"status": "shipped"}', tool_call_id="c1"),
            Message("assistant", "It has shipped."),
        ),
    )


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def decode_targets(tok, ex: SFTExample) -> list[str]:
    """The target spans of an example, decoded one contiguous run at a time."""
    spans, cur = [], []
    for t, m in zip(ex.ids, ex.target, strict=True):
        if m:
            cur.append(t)
        elif cur:
            spans.append(tok.decode(cur))
            cur = []
    if cur:
        spans.append(tok.decode(cur))
    return spans


def test_packed_trajectory_targets_exactly_the_assistant_turns(tiny_model_path) -> None:
    tok = load_tokenizer(tiny_model_path)
    traj = trajectory(1)
    (ex,), dropped = build_examples(tok, [traj], "trajectory", 4096)
    eot = end_of_turn(tok)
    assert dropped == 0
    assert decode_targets(tok, ex) == [render_action(traj.messages[2]) + eot, "It has shipped." + eot]
    # the whole sequence is the conversation as profiling renders it, turn after turn
    assert tok.decode(ex.ids) == render_prompt(tok, traj.messages[:4], TOOLS) + "It has shipped." + eot


def test_turn_examples_use_the_profiling_prompt(tiny_model_path) -> None:
    tok = load_tokenizer(tiny_model_path)
    cand = Candidate(
        id="t1:2",
        domain="generic",
        trajectory_id="t1",
        turn_index=2,
        messages=trajectory(1).messages[:2],
        expected=trajectory(1).messages[2],
        tools=TOOLS,
    )
    (ex,), _ = build_examples(tok, [cand], "turn", 4096)
    prompt = tok(render_prompt(tok, cand.messages, TOOLS), add_special_tokens=False)["input_ids"]
    n = len(prompt)
    assert list(ex.ids[:n]) == list(prompt) and not any(ex.target[:n]) and all(ex.target[n:])
    # per-turn packing of a trajectory gives one example per assistant turn
    turns, _ = build_examples(tok, [trajectory(1)], "turn", 4096)
    assert len(turns) == 2 and turns[0] == ex


def test_long_trajectories_fall_back_to_fitted_turns(tiny_model_path) -> None:
    tok = load_tokenizer(tiny_model_path)
    (full,), _ = build_examples(tok, [trajectory(1)], "trajectory", 4096)
    limit = len(full.ids) - 5
    exs, dropped = build_examples(tok, [trajectory(1)], "trajectory", limit)
    assert len(exs) == 2 and dropped == 0 and all(len(e.ids) <= limit for e in exs)
    exs, dropped = build_examples(tok, [trajectory(1)], "trajectory", 20)
    assert dropped == 2 and exs == []


def test_loss_counts_assistant_tokens_only(tiny_model_path) -> None:
    from transformers import AutoModelForCausalLM

    tok = load_tokenizer(tiny_model_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    (ex,), _ = build_examples(tok, [trajectory(2)], "trajectory", 4096)
    ids = torch.tensor([ex.ids])
    tgt = torch.tensor([ex.target], dtype=torch.float32)
    with torch.no_grad():
        got = sft_loss_sum(model, ids, torch.ones_like(ids), tgt)
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    manual = -sum(logp[t - 1, ex.ids[t]] for t in range(1, len(ex.ids)) if ex.target[t])
    assert got.item() == pytest.approx(float(manual), rel=1e-5)


def sft_cfg(model: str, **over) -> SFTConfig:
    base = {
        "model": model,
        "lr": 3e-3,
        "batch_size": 4,
        "micro_batch_size": 2,
        "max_steps": 6,
        "save_every": 2,
        "progress": False,
        "tensorboard": False,
    }
    return load_config(SFTConfig, overrides={**base, **over})


def test_sft_lowers_the_loss_and_resumes_bit_for_bit(tiny_model_path, tmp_path) -> None:
    data = write(tmp_path / "traj.jsonl", [trajectory(i).to_dict() for i in range(4)])
    cfg = sft_cfg(tiny_model_path)
    train_sft(cfg, [data], tmp_path / "a")
    rows = read_metrics(tmp_path / "a" / "metrics.jsonl")
    assert rows[-1]["loss"] < rows[0]["loss"] * 0.8

    class Crash(Exception):
        pass

    def crash(step: int, row: dict) -> None:
        if step == 3:
            raise Crash

    with pytest.raises(Crash):
        train_sft(cfg, [data], tmp_path / "b", on_step_end=crash)
    train_sft(cfg, [data], tmp_path / "b", resume=True)
    a = load_file(str(tmp_path / "a" / "final" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "final" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in TIMING} for r in rows]  # noqa: E731
    assert strip(read_metrics(tmp_path / "b" / "metrics.jsonl")) == strip(rows)


def test_inputs_are_detected_and_bad_rows_located(tmp_path) -> None:
    traj = write(tmp_path / "t.jsonl", [trajectory(1).to_dict()])
    cand = Candidate(
        id="t1:2",
        domain="generic",
        trajectory_id="t1",
        turn_index=2,
        messages=trajectory(1).messages[:2],
        expected=trajectory(1).messages[2],
    )
    cands = write(tmp_path / "c.jsonl", [cand.to_dict() | {"mean": 0.5}])
    items = read_sft_inputs([traj, cands])
    assert isinstance(items[0], Trajectory) and items[1] == cand
    bad = write(tmp_path / "bad.jsonl", [cand.to_dict(), {**cand.to_dict(), "expected": {"role": "robot"}}])
    with pytest.raises(InputError) as e:
        read_sft_inputs([bad])
    assert e.value.line == 2 and e.value.field == "expected.role"


def test_cli_sft(tiny_model_path, tmp_path) -> None:
    from pivotrl_core.cli import build_cli

    data = write(tmp_path / "traj.jsonl", [trajectory(i).to_dict() for i in range(2)])
    args = [
        "sft",
        str(data),
        "--set",
        f"model={json.dumps(tiny_model_path)}",
        "--set",
        "max_steps=1",
        "--set",
        "progress=false",
        "--set",
        "tensorboard=false",
        "-o",
        str(tmp_path / "r"),
    ]
    res = CliRunner().invoke(build_cli(), args)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r" / "final" / "model.safetensors").exists()
    assert json.loads((tmp_path / "r" / "config.json").read_text())["kind"] == "sft"
    res = CliRunner().invoke(
        build_cli(), [*args[:2], "--set", "micro_batch_size=99", "-o", str(tmp_path / "x")]
    )
    assert res.exit_code == 2 and "micro_batch_size" in res.output
