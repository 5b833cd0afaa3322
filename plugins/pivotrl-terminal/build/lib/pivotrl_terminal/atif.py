"""Harbor ATIF agent trajectories (Agent Trajectory Interchange Format, ATIF-v1.0 to v1.8) as trajectories.

ATIF (schema: the Apache-2.0 ``harbor`` package, ``harbor.models.trajectories``) records a run
as ``steps``: ``source`` ``system``/``user`` (a message), or ``agent`` (a ``message``, optional
``reasoning_content``, ``tool_calls`` and an ``observation`` whose ``results`` are what the
environment answered). Mapping to chat messages:

* ``system``/``user`` steps -> messages of that role;
* a Terminus-2 agent step (agent ``terminus-2``, or tool calls that are all ``bash_command`` /
  ``mark_task_complete``) -> the assistant's Terminus-2 JSON turn, rebuilt from the message
  (``Analysis: ...`` / ``Plan: ...``) and the calls (``keystrokes``, ``duration``; completion);
  a step without calls keeps its message (Harbor's ``raw_content`` mode stores the raw JSON;
  a turn that did not parse stays as written). The observation becomes the next user message,
  which is what Terminus-2 sent back;
* any other agent step -> an assistant message with its tool calls, each observation result
  a ``tool`` message answering its ``source_call_id`` (a user message when it has none).

Steps marked ``is_copied_context`` (context carried over after summarization, "not training
data" per ATIF) stay as context but are listed in ``metadata.copied_turns``, which the terminal
extractor skips. Embedded ``subagent_trajectories`` are not read. Bad documents raise
:class:`~pivotrl_core.InputError` naming the field (``steps[3].source``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pivotrl_core import InputError, Message, ToolCall, Trajectory

__all__ = ["ATIF_VERSIONS", "AtifFormat", "atif_to_trajectory"]

ATIF_VERSIONS = tuple(f"ATIF-v1.{i}" for i in range(9))
TERMINUS_CALLS = {"bash_command", "mark_task_complete"}
COPIED = "copied_turns"


def _need(obj: Any, key: str, kind: type | tuple[type, ...], where: str, optional: bool = False) -> Any:
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        got = "missing" if value is None else f"a {type(value).__name__}"
        raise InputError(
            f"expected {getattr(kind, '__name__', 'a valid value')}, got {got}", field=f"{where}{key}"
        )
    return value


def _text(message: Any, where: str) -> str:
    """A step message: a string, or ATIF-v1.6 content parts (text kept, media named)."""
    if isinstance(message, str):
        return message
    if not isinstance(message, list):
        raise InputError("expected a string or a list of content parts", field=where)
    parts = []
    for i, part in enumerate(message):
        kind = _need(part, "type", str, f"{where}[{i}].")
        parts.append(_need(part, "text", str, f"{where}[{i}].") if kind == "text" else f"[{kind}]")
    return "\n".join(parts)


def _calls(step: dict[str, Any], where: str) -> list[dict[str, Any]]:
    calls = _need(step, "tool_calls", list, where, optional=True) or []
    for j, call in enumerate(calls):
        _need(call, "tool_call_id", str, f"{where}tool_calls[{j}].")
        _need(call, "function_name", str, f"{where}tool_calls[{j}].")
        _need(call, "arguments", dict, f"{where}tool_calls[{j}].")
    return calls


def _results(step: dict[str, Any], where: str) -> list[tuple[str | None, str]]:
    """``(source_call_id, text)`` of each observation result."""
    obs = _need(step, "observation", dict, where, optional=True)
    if obs is None:
        return []
    out = []
    for j, r in enumerate(_need(obs, "results", list, f"{where}observation.")):
        if not isinstance(r, dict):
            raise InputError("expected an object", field=f"{where}observation.results[{j}]")
        text = (
            ""
            if r.get("content") is None
            else _text(r["content"], f"{where}observation.results[{j}].content")
        )
        out.append((r.get("source_call_id"), text))
    return out


def _analysis_plan(message: str) -> tuple[str, str]:
    """Harbor writes ``"Analysis: A\nPlan: P"`` (either part may be absent)."""
    if message.startswith("Plan: "):
        return "", message.removeprefix("Plan: ")
    if message.startswith("Analysis: "):
        analysis, sep, plan = message.removeprefix("Analysis: ").rpartition("\nPlan: ")
        return (analysis, plan) if sep else (plan, "")
    return message, ""


def _terminus_turn(message: str, calls: list[dict[str, Any]]) -> str:
    """The Terminus-2 JSON turn that Harbor recorded as ``Analysis:``/``Plan:`` text and calls."""
    analysis, plan = _analysis_plan(message)
    commands = [
        {"keystrokes": c["arguments"].get("keystrokes", ""), "duration": c["arguments"].get("duration", 1.0)}
        for c in calls
        if c["function_name"] == "bash_command"
    ]
    done = any(c["function_name"] == "mark_task_complete" for c in calls)
    return json.dumps(
        {"analysis": analysis, "plan": plan, "commands": commands, "task_complete": done}, indent=2
    )


def _agent_messages(step: dict[str, Any], text: str, terminus: bool, where: str) -> list[Message]:
    calls, results = _calls(step, where), _results(step, where)
    reasoning = _need(step, "reasoning_content", str, where, optional=True)
    if terminus:
        content = _terminus_turn(text, calls) if calls else text
        out = [Message("assistant", content, reasoning=reasoning)]
        if results:
            out.append(Message("user", "\n".join(text for _, text in results)))
        return out
    tool_calls = tuple(ToolCall(c["function_name"], c["arguments"], id=c["tool_call_id"]) for c in calls)
    out = [Message("assistant", text or None, tool_calls=tool_calls, reasoning=reasoning)]
    for call_id, result in results:
        out.append(Message("tool", result, tool_call_id=call_id) if call_id else Message("user", result))
    return out


def _is_terminus(doc: dict[str, Any]) -> bool:
    name = str(doc["agent"].get("name", "")).lower().replace("_", "-")
    if name.startswith("terminus"):
        return True
    names = {
        c.get("function_name") for s in doc["steps"] if isinstance(s, dict) for c in s.get("tool_calls") or []
    }
    return bool(names) and names <= TERMINUS_CALLS


def atif_to_trajectory(doc: dict[str, Any], index: int = 0) -> Trajectory:
    """One ATIF document as a trajectory (see the module docstring)."""
    version = _need(doc, "schema_version", str, "")
    if version not in ATIF_VERSIONS:
        raise InputError(
            f"unknown ATIF version {version!r}; known: {', '.join(ATIF_VERSIONS)}", field="schema_version"
        )
    agent = _need(doc, "agent", dict, "")
    _need(agent, "name", str, "agent.")
    steps = _need(doc, "steps", list, "")
    terminus = _is_terminus(doc)
    messages: list[Message] = []
    copied: list[int] = []
    for i, step in enumerate(steps):
        where = f"steps[{i}]."
        if _need(step, "step_id", int, where) != i + 1:
            raise InputError(
                f"expected step_id {i + 1} (sequential from 1), got {step['step_id']}",
                field=f"{where}step_id",
            )
        source = _need(step, "source", str, where)
        if source not in ("system", "user", "agent"):
            raise InputError(f"expected system, user or agent, got {source!r}", field=f"{where}source")
        text = _text(step.get("message", ""), f"{where}message")
        if source != "agent":
            messages.append(Message(source, text))
            continue
        if step.get("is_copied_context"):
            copied.append(len(messages))
        messages.extend(_agent_messages(step, text, terminus, where))
    meta: dict[str, Any] = {
        "atif": {
            "schema_version": version,
            "agent": agent.get("name"),
            "model_name": agent.get("model_name"),
            "session_id": doc.get("session_id"),
        }
    }
    if terminus:
        meta["harness"] = "terminus_2"
    if copied:
        meta[COPIED] = copied
    ident = doc.get("trajectory_id") or doc.get("session_id") or f"atif-{index}"
    return Trajectory(id=str(ident), messages=tuple(messages), metadata=meta)


class AtifFormat:
    """``atif``: one ATIF document per line (``pivotrl terminal atif`` makes such files)."""

    name = "atif"
    description = "Harbor ATIF agent trajectories (ATIF-v1.0..v1.8), one document per line; read-only"

    def sniff(self, row: dict[str, Any]) -> bool:
        return str(row.get("schema_version", "")).startswith("ATIF-") and isinstance(row.get("steps"), list)

    def parse(self, row: dict[str, Any], index: int) -> Iterator[Trajectory]:
        yield atif_to_trajectory(row, index)

    def dump(self, trajectory: Trajectory) -> dict[str, Any]:
        raise NotImplementedError("the atif format is read-only")
