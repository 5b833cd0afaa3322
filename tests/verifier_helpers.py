"""Helpers for the verifier tests: candidates from NeMo Gym pivot rows, tiny candidate builders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pivotrl_core.formats.responses_api import expected_action_to_message
from pivotrl_core.types import Candidate, Message, ToolCall

TOOL_USE = "single_step_tool_use_with_argument_comparison"


def load_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _input_message(item: dict[str, Any]) -> Message | None:
    if item.get("type", "message") != "message" or item.get("role") not in ("system", "user", "assistant"):
        return None
    content = item.get("content")
    if isinstance(content, list):
        content = "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return Message(role=item["role"], content=content)


def candidate_from_row(row: dict[str, Any], cid: str, domain: str = "generic") -> Candidate:
    """A local conversion of a NeMo Gym pivot row (prefix messages, tools, expected action)."""
    params = row["responses_create_params"]
    messages = tuple(m for m in (_input_message(i) for i in params.get("input", [])) if m is not None)
    return Candidate(
        id=cid,
        domain=domain,
        trajectory_id=cid,
        turn_index=len(messages),
        messages=messages,
        expected=expected_action_to_message(row["expected_action"]),
        tools=tuple(params.get("tools") or ()),
    )


def cand(expected: Message, cid: str = "t:1", tools: tuple = (), messages: tuple = ()) -> Candidate:
    return Candidate(
        id=cid,
        domain="generic",
        trajectory_id="t",
        turn_index=1,
        messages=messages or (Message("user", "hello"),),
        expected=expected,
        tools=tools,
    )


def call(name: str, **arguments: Any) -> Message:
    return Message("assistant", tool_calls=(ToolCall(name, arguments),))


def calls(*pairs: tuple[str, dict[str, Any]]) -> Message:
    return Message("assistant", tool_calls=tuple(ToolCall(n, a) for n, a in pairs))


def say(text: str | None) -> Message:
    return Message("assistant", content=text)
