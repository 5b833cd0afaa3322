"""SWE-agent ``.traj`` files: ``history`` with ``thought`` / ``action`` / ``tool_calls`` / ``tool_call_ids``.

One file is one JSON object (``pivotrl swe extract`` reads whole files; as a JSONL row it is read by
``pivotrl extract`` too). The chat is rebuilt from ``history``:

- function-calling files: each assistant message keeps its ``tool_calls`` (arguments a JSON
  string); each ``tool`` message answers the call named by ``tool_call_ids``;
- text formats (fenced command or ``<command>`` XML block in ``content``): the executed ``action``
  becomes a ``bash`` tool call (SWE-agent's tools are shell commands: ``open``, ``edit 15:15 ...
  end_of_edit``...; ``submit`` becomes the ``submit`` tool), the assistant text is its ``thought``
  and the next observation becomes the tool message.

An **error** is a call whose observation is SWE-agent rejecting it (``looks_like_error``: a syntax
error edit that was rolled back, ``Usage:``, ``Error:``, ``command not found``, a format error).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from pivotrl_core import InputError, Message, ToolCall, Trajectory

from .format_common import bash_call, looks_like_error, require_list, swe_metadata, text_of, tool_message

__all__ = ["SweAgentFormat"]


def _instance_id(row: Mapping[str, Any]) -> str | None:
    cfg = row.get("replay_config")
    if isinstance(cfg, str):
        try:
            cfg = json.loads(cfg)
        except json.JSONDecodeError:
            cfg = None
    if isinstance(cfg, Mapping) and isinstance(cfg.get("problem_statement"), Mapping):
        pid = cfg["problem_statement"].get("id")
        return str(pid) if pid else None
    return None


def _calls(m: Mapping[str, Any], where: str, turn: int) -> tuple[ToolCall, ...]:
    raw = m.get("tool_calls")
    if isinstance(raw, list) and raw:
        calls = []
        for j, c in enumerate(raw):
            fn = c.get("function") if isinstance(c, Mapping) else None
            if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
                raise InputError("expected {function: {name, arguments}}", field=f"{where}tool_calls[{j}]")
            calls.append(
                ToolCall.from_raw(fn["name"], fn.get("arguments"), id=c.get("id") or f"call_{turn}_{j}")
            )
        return tuple(calls)
    action = m.get("action")
    if isinstance(action, str) and action.strip():
        return (bash_call(action, f"call_{turn}"),)
    return ()


class SweAgentFormat:
    """Reads SWE-agent trajectories (``.traj``); see the module docstring."""

    name = "swe-agent"
    description = "SWE-agent .traj files (history with thought/action/tool_calls/tool_call_ids)"
    priority = 10

    def sniff(self, row: dict[str, Any]) -> bool:
        hist = row.get("history")
        return (
            isinstance(hist, list)
            and isinstance(row.get("trajectory"), list)
            and "info" in row
            and all(isinstance(m, Mapping) and "role" in m for m in hist[:3])
        )

    def parse(self, row: dict[str, Any], index: int) -> Iterator[Trajectory]:
        history = require_list(row, "history")
        messages: list[Message] = []
        errors: list[int] = []
        pending: ToolCall | None = None
        for i, m in enumerate(history):
            where = f"history[{i}]."
            if not isinstance(m, Mapping) or m.get("role") not in ("system", "user", "assistant", "tool"):
                raise InputError(
                    "expected a message with role system, user, assistant or tool", field=f"{where}role"
                )
            role, text = m["role"], text_of(m.get("content"))
            if role == "assistant":
                calls = _calls(m, where, i)
                thought = m.get("thought") if isinstance(m.get("thought"), str) else text
                messages.append(Message(role="assistant", content=thought, tool_calls=calls))
                pending = calls[0] if len(calls) == 1 and not m.get("tool_calls") else None
                continue
            if role == "tool" or (role == "user" and pending is not None):
                call = pending or _answered(messages, m)
                if call is not None and looks_like_error(text):
                    errors.append(_last_assistant(messages))
                messages.append(tool_message(text, call) if call else Message(role="user", content=text))
                pending = None
                continue
            messages.append(Message(role=role, content=text))
        info = row.get("info") if isinstance(row.get("info"), Mapping) else {}
        yield Trajectory(
            id=_instance_id(row) or f"swe-agent-{index}",
            messages=tuple(messages),
            metadata=swe_metadata(
                self.name,
                errors,
                instance_id=_instance_id(row),
                exit_status=info.get("exit_status"),
                submission=info.get("submission"),
            ),
        )

    def dump(self, trajectory: Trajectory) -> dict[str, Any]:
        raise NotImplementedError("the swe-agent format is read-only")


def _last_assistant(messages: list[Message]) -> int:
    return max(i for i, m in enumerate(messages) if m.role == "assistant")


def _answered(messages: list[Message], m: Mapping[str, Any]) -> ToolCall | None:
    ids = m.get("tool_call_ids") or []
    for prev in reversed(messages):
        for call in prev.tool_calls:
            if call.id in ids:
                return call
    return None
