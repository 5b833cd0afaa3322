"""OpenHands event streams: V0 action/observation events and V1 (software-agent-sdk) events.

A row is ``{"history": [events]}`` (an evaluation ``output.jsonl`` row, with ``instance_id``) or
``{"events": [events]}``; a file that is a bare JSON list of events is wrapped as ``events`` by
``pivotrl swe extract``.

- **V0** events have ``action`` (``message``, ``run``, ``read``, ``edit``, ``write``, ``think``,
  ``finish``...) with ``args``, or ``observation`` with ``content``/``extras`` and ``cause``. Agent
  actions that carry ``tool_call_metadata`` become tool calls (``function_name`` and the arguments
  of the model response's call, else the action's ``args``); observations with
  ``tool_call_metadata`` become tool messages. **Error**: an ``error`` observation, or exit code
  126/127 in a ``run`` observation's ``extras``.
- **V1** events have ``kind``: ``SystemPromptEvent``, ``MessageEvent`` (``llm_message``),
  ``ActionEvent`` (``thought``, ``tool_call``/``tool_name``/``tool_call_id``), ``ObservationEvent``
  (``observation``, ``tool_call_id``) and ``AgentErrorEvent``. **Error**: an ``AgentErrorEvent``,
  or an observation flagged ``is_error``/``error`` or with exit code 126/127.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pivotrl_core import Message, ToolCall, Trajectory

from .format_common import swe_metadata, text_of, tool_message

__all__ = ["OpenHandsFormat"]

_V0_INTERNAL = {"thought", "security_risk", "confirmation_state", "is_confirmed", "hidden", "blocking"}


def _events(row: Mapping[str, Any]) -> list[Any] | None:
    for key in ("history", "events"):
        if isinstance(row.get(key), list):
            return row[key]
    return None


def _v0_call(ev: Mapping[str, Any]) -> ToolCall:
    meta = ev["tool_call_metadata"]
    call_id, name = meta.get("tool_call_id"), meta.get("function_name") or ev.get("action", "tool")
    choices = (meta.get("model_response") or {}).get("choices") or [{}]
    for tc in (choices[0].get("message") or {}).get("tool_calls") or []:
        if tc.get("id") == call_id:
            return ToolCall.from_raw(tc["function"]["name"], tc["function"].get("arguments"), id=call_id)
    args = {k: v for k, v in (ev.get("args") or {}).items() if k not in _V0_INTERNAL}
    return ToolCall.from_raw(name, args, id=call_id)


def _exit_code(extras: Mapping[str, Any]) -> Any:
    meta = extras.get("metadata") if isinstance(extras.get("metadata"), Mapping) else {}
    return extras.get("exit_code", meta.get("exit_code"))


def _v0(events: list[Any]) -> tuple[list[Message], list[int]]:
    messages: list[Message] = []
    errors: list[int] = []
    calls: dict[str, int] = {}
    for ev in events:
        if not isinstance(ev, Mapping):
            continue
        if "action" in ev:
            args = ev.get("args") or {}
            if ev.get("action") == "system":
                messages.append(Message(role="system", content=str(args.get("content", ""))))
            elif "tool_call_metadata" in ev and ev.get("source") == "agent":
                call = _v0_call(ev)
                calls[call.id or ""] = len(messages)
                messages.append(
                    Message(
                        role="assistant", content=str(args.get("thought") or "") or None, tool_calls=(call,)
                    )
                )
            elif ev.get("action") == "message":
                role = "user" if ev.get("source") == "user" else "assistant"
                messages.append(Message(role=role, content=str(args.get("content", ev.get("message", "")))))
        elif "observation" in ev and "tool_call_metadata" in ev:
            meta = ev["tool_call_metadata"]
            turn = calls.get(meta.get("tool_call_id") or "")
            if turn is None:
                continue
            call = messages[turn].tool_calls[0]
            extras = ev.get("extras") or {}
            if ev["observation"] == "error" or _exit_code(extras) in (126, 127):
                errors.append(turn)
            messages.append(tool_message(text_of(ev.get("content")), call))
    return messages, errors


def _obs_is_error(obs: Mapping[str, Any]) -> bool:
    return bool(obs.get("is_error")) or obs.get("error") is True or obs.get("exit_code") in (126, 127)


def _v1_call(ev: Mapping[str, Any]) -> ToolCall:
    tc = ev.get("tool_call") or {}
    fn = tc.get("function") if isinstance(tc.get("function"), Mapping) else tc
    name = fn.get("name") or ev.get("tool_name") or "tool"
    return ToolCall.from_raw(name, fn.get("arguments"), id=ev.get("tool_call_id") or tc.get("id"))


def _v1(events: list[Any]) -> tuple[list[Message], list[int]]:
    messages: list[Message] = []
    errors: list[int] = []
    calls: dict[str, int] = {}
    for ev in events:
        kind = ev.get("kind") if isinstance(ev, Mapping) else None
        if kind == "SystemPromptEvent":
            messages.append(Message(role="system", content=text_of(ev.get("system_prompt"))))
        elif kind == "MessageEvent":
            llm = ev.get("llm_message") or {}
            role = llm.get("role") if llm.get("role") in ("user", "assistant", "system") else "user"
            messages.append(Message(role=role, content=text_of(llm.get("content"))))
        elif kind == "ActionEvent":
            call = _v1_call(ev)
            calls[call.id or ""] = len(messages)
            messages.append(
                Message(role="assistant", content=text_of(ev.get("thought")) or None, tool_calls=(call,))
            )
        elif kind in ("ObservationEvent", "AgentErrorEvent", "UserRejectObservation"):
            turn = calls.get(ev.get("tool_call_id") or "")
            if turn is None:
                continue
            obs = ev.get("observation") if isinstance(ev.get("observation"), Mapping) else {}
            if kind != "ObservationEvent" or _obs_is_error(obs):
                errors.append(turn)
            text = (
                text_of(ev.get("error"))
                or text_of(ev.get("rejection_reason"))
                or text_of(obs.get("content") or obs.get("output") or obs.get("text"))
            )
            messages.append(tool_message(text, messages[turn].tool_calls[0]))
    return messages, errors


class OpenHandsFormat:
    """Reads OpenHands V0 and V1 event streams; see the module docstring."""

    name = "openhands"
    description = "OpenHands event streams (V0 action/observation events, V1 SDK events)"
    priority = 10

    def sniff(self, row: dict[str, Any]) -> bool:
        events = _events(row)
        if not events:
            return False
        head = [e for e in events[:20] if isinstance(e, Mapping)]
        return any("kind" in e and str(e["kind"]).endswith("Event") for e in head) or any(
            ("action" in e or "observation" in e) and "source" in e for e in head
        )

    def parse(self, row: dict[str, Any], index: int) -> Iterator[Trajectory]:
        events = _events(row) or []
        v1 = any(isinstance(e, Mapping) and "kind" in e for e in events)
        messages, errors = (_v1 if v1 else _v0)(events)
        if isinstance(row.get("instruction"), str) and not any(m.role == "user" for m in messages):
            messages.insert(0, Message(role="user", content=row["instruction"]))
            errors = [e + 1 for e in errors]
        yield Trajectory(
            id=str(row.get("instance_id") or row.get("id") or f"openhands-{index}"),
            messages=tuple(messages),
            metadata=swe_metadata(
                f"{self.name}-{'v1' if v1 else 'v0'}", sorted(set(errors)), instance_id=row.get("instance_id")
            ),
        )

    def dump(self, trajectory: Trajectory) -> dict[str, Any]:
        raise NotImplementedError("the openhands format is read-only")
