"""Test data for profiling and selection: small candidates files built in code."""

from __future__ import annotations

from pathlib import Path

from pivotrl_core.jsonl import write_jsonl
from pivotrl_core.types import Candidate, Message, ToolCall

TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "description": "Look up an order.",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
        },
    },
)


def make_candidates(n_trajectories: int = 4, turns: int = 3, domain: str = "ptest") -> list[Candidate]:
    """``n_trajectories x turns`` candidates; odd turns expect a tool call, even ones a message."""
    out = []
    for t in range(n_trajectories):
        msgs: list[Message] = [Message("system", f"Agent {t}."), Message("user", f"Order W{t}00 please.")]
        for i in range(turns):
            if i % 2:
                expected = Message("assistant", tool_calls=(ToolCall("get_order", {"order_id": f"W{t}{i}"}),))
            else:
                expected = Message("assistant", f"Sure, step {i} of trajectory {t}.")
            out.append(
                Candidate(
                    id=f"traj{t}:{len(msgs)}",
                    domain=domain,
                    trajectory_id=f"traj{t}",
                    turn_index=len(msgs),
                    messages=tuple(msgs),
                    expected=expected,
                    tools=TOOLS,
                )
            )
            msgs += [expected, Message("user", f"Thanks, and then {i}?")]
    return out


def write_candidates(path: Path, cands: list[Candidate]) -> Path:
    write_jsonl(path, cands)
    return path
