"""OpenAI chat format: one ``{"messages": [...], "tools": [...]}`` object per line.

Read: ``messages`` with roles ``system``/``developer``/``user``/``assistant``/``tool`` (and the
legacy ``function``); assistant ``tool_calls`` (``{"id", "type", "function": {"name",
"arguments"}}`` with arguments as a JSON string or an object, or the flat pivotrl form
``{"id", "name", "arguments"}``) and the legacy ``function_call``; reasoning from
``reasoning_content`` or ``reasoning``, or a leading ``<think>...</think>`` block.
Write: the same shape with arguments as JSON strings and reasoning as ``reasoning_content``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import InputError
from ..types import Message, ToolCall, Trajectory
from ._util import chat_tools, metadata_of, optional, row_id, split_think, text_of, tool_call

__all__ = ["OpenAIChatFormat", "message_from_openai", "message_to_openai"]

_ROLE_ALIASES = {"developer": "system", "function": "tool"}
_ROLES = ("system", "user", "assistant", "tool")


def _tool_calls(msg: dict[str, Any], where: str) -> tuple[ToolCall, ...]:
    calls = optional(msg, "tool_calls", list, where) or []
    out = []
    for j, tc in enumerate(calls):
        at = f"{where}tool_calls[{j}]."
        if not isinstance(tc, dict):
            raise InputError(f"expected a tool call object, got {type(tc).__name__}", field=at[:-1])
        fn = tc.get("function")
        if isinstance(fn, dict):
            out.append(
                tool_call(
                    fn.get("name"),
                    fn.get("arguments"),
                    tc.get("id"),
                    f"{at}function.name",
                    f"{at}function.arguments",
                )
            )
        else:
            out.append(
                tool_call(tc.get("name"), tc.get("arguments"), tc.get("id"), f"{at}name", f"{at}arguments")
            )
    legacy = optional(msg, "function_call", dict, where)
    if legacy is not None:
        at = f"{where}function_call."
        out.append(
            tool_call(legacy.get("name"), legacy.get("arguments"), None, f"{at}name", f"{at}arguments")
        )
    return tuple(out)


def _str_field(msg: dict[str, Any], key: str, where: str) -> str | None:
    val = msg.get(key)
    if val is None or type(val) is str:
        return val
    if key == "tool_call_id" and isinstance(val, int):
        return str(val)
    raise InputError(f"expected a string or null, got {type(val).__name__}", field=f"{where}{key}")


def message_from_openai(msg: Any, where: str = "") -> Message:
    """One OpenAI chat message dict as a :class:`Message` (errors name the field under ``where``)."""
    if type(msg) is not dict:
        raise InputError(f"expected a message object, got {type(msg).__name__}", field=where[:-1] or None)
    role = msg.get("role")
    if role not in _ROLES:
        if not isinstance(role, str):
            raise InputError(
                "missing required field" if role is None else "expected a string", field=f"{where}role"
            )
        if role not in _ROLE_ALIASES:
            raise InputError(
                f"unknown role {role!r} (expected one of {', '.join(_ROLES)})", field=f"{where}role"
            )
        role = _ROLE_ALIASES[role]
    content = msg.get("content")
    if content is not None and type(content) is not str:
        content = text_of(content, f"{where}content")
    reasoning = _str_field(msg, "reasoning_content", where) or _str_field(msg, "reasoning", where)
    tool_calls: tuple[ToolCall, ...] = ()
    if role == "assistant":
        if "tool_calls" in msg or "function_call" in msg:
            tool_calls = _tool_calls(msg, where)
        if reasoning is None and content:
            content, reasoning = split_think(content)
    return Message(
        role=role,
        content=content,
        tool_calls=tool_calls,
        tool_call_id=_str_field(msg, "tool_call_id", where),
        name=_str_field(msg, "name", where),
        reasoning=reasoning,
    )


def message_to_openai(m: Message) -> dict[str, Any]:
    """A :class:`Message` as an OpenAI chat message dict (arguments as JSON strings)."""
    d: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        d["tool_calls"] = [
            {
                **({"id": tc.id} if tc.id is not None else {}),
                "type": "function",
                "function": {"name": tc.name, "arguments": tc.arguments_json},
            }
            for tc in m.tool_calls
        ]
    if m.tool_call_id is not None:
        d["tool_call_id"] = m.tool_call_id
    if m.name is not None:
        d["name"] = m.name
    if m.reasoning is not None:
        d["reasoning_content"] = m.reasoning
    return d


class OpenAIChatFormat:
    """OpenAI chat ``messages`` (+ ``tools``), the common SFT format."""

    name = "openai"
    description = "OpenAI chat: {messages: [...], tools: [...]} per line (tool_calls, tool messages)"

    def sniff(self, row: dict[str, Any]) -> bool:
        msgs = row.get("messages")
        return isinstance(msgs, list) and (not msgs or (isinstance(msgs[0], dict) and "role" in msgs[0]))

    def parse(self, row: dict[str, Any], index: int) -> Iterator[Trajectory]:
        msgs = row.get("messages")
        if not isinstance(msgs, list):
            raise InputError(
                "missing required field" if msgs is None else "expected a list", field="messages"
            )
        messages = tuple(message_from_openai(m, f"messages[{i}].") for i, m in enumerate(msgs))
        yield Trajectory(
            id=row_id(row, index, ("id", "uuid", "conversation_id")),
            messages=messages,
            tools=chat_tools(row.get("tools")),
            metadata=metadata_of(row),
        )

    def dump(self, trajectory: Trajectory) -> dict[str, Any]:
        return {
            "id": trajectory.id,
            "messages": [message_to_openai(m) for m in trajectory.messages],
            "tools": list(trajectory.tools),
            "metadata": trajectory.metadata,
        }
