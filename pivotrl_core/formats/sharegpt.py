"""ShareGPT format: ``{"conversations": [{"from": ..., "value": ...}], "system"?, "tools"?}``.

Roles (``from``): ``system``; ``human``/``user``; ``gpt``/``assistant``/``model``/``chatgpt``;
``function_call`` (an assistant tool call: ``value`` is a JSON object ``{"name", "arguments"}``
or a JSON list of them for parallel calls); ``observation``/``tool``/``function``/``ipython``
(a tool output). ``tools`` is a list or a JSON string of function schemas (LLaMA-Factory style).
Tool calls get ids ``call_<turn>_<n>`` and each observation is linked to the oldest unanswered
call. A leading ``<think>...</think>`` in a ``gpt`` value becomes the message's reasoning.

Hermes-style rows (:mod:`.hermes`) are read too: ``<tool_call>`` blocks in a ``gpt`` value become
the message's tool calls, ``<tool_response>`` wrappers are removed from tool outputs, and the
tools listed in the system prompt's ``<tools>`` block become the trajectory's tools when the row
has no ``tools`` field (the system prompt itself is kept as written).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from typing import Any

from ..errors import InputError
from ..types import Message, ToolCall, Trajectory
from ._util import chat_tools, metadata_of, optional, row_id, split_think, to_flat_tool, tool_call
from .hermes import has_tool_calls, parse_tool_calls, tools_in_prompt, unwrap_tool_response

__all__ = ["ShareGPTFormat"]

ROLE_MAP = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
    "function_call": "function_call",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
    "ipython": "tool",
}


def _turn_fields(turn: Any, where: str) -> tuple[str, str]:
    if not isinstance(turn, dict):
        raise InputError(f"expected a turn object, got {type(turn).__name__}", field=where[:-1])
    role_key = "from" if "from" in turn else "role" if "role" in turn else "from"
    value_key = "value" if "value" in turn else "content" if "content" in turn else "value"
    role = optional(turn, role_key, str, where)
    if role is None:
        raise InputError("missing required field", field=f"{where}{role_key}")
    if role not in ROLE_MAP:
        known = ", ".join(sorted(ROLE_MAP))
        raise InputError(f"unknown role {role!r} (expected one of {known})", field=f"{where}{role_key}")
    value = turn.get(value_key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", field=f"{where}{value_key}")
    return ROLE_MAP[role], value


def _calls(value: str, turn: int, where: str) -> tuple[ToolCall, ...]:
    try:
        parsed = json.loads(value)
    except ValueError as e:
        raise InputError(f"function_call value is not valid JSON ({e})", field=f"{where}value") from None
    items = parsed if isinstance(parsed, list) else [parsed]
    out = []
    for n, item in enumerate(items):
        at = f"{where}value" + (f"[{n}]" if isinstance(parsed, list) else "")
        if not isinstance(item, dict):
            raise InputError(f"expected a call object, got {type(item).__name__}", field=at)
        out.append(
            tool_call(
                item.get("name"), item.get("arguments"), f"call_{turn}_{n}", f"{at}.name", f"{at}.arguments"
            )
        )
    return tuple(out)


def _assistant(value: str, turn: int, where: str) -> Message:
    content, reasoning = split_think(value)
    calls: tuple[ToolCall, ...] = ()
    if content is not None and has_tool_calls(content):
        content, calls = parse_tool_calls(content, turn, f"{where}value.")
    return Message(role="assistant", content=content, reasoning=reasoning, tool_calls=calls)


def _messages(row: dict[str, Any]) -> tuple[list[Message], list[Any] | None]:
    """The messages, and the tools a Hermes system prompt lists (``None``: none listed)."""
    convs = row.get("conversations")
    if not isinstance(convs, list):
        raise InputError(
            "missing required field" if convs is None else "expected a list", field="conversations"
        )
    messages: list[Message] = []
    tools: list[Any] | None = None
    system = optional(row, "system", str)
    if system:
        messages.append(Message(role="system", content=system))
        tools = tools_in_prompt(system, "system")
    pending: deque[str] = deque()
    for i, turn in enumerate(convs):
        where = f"conversations[{i}]."
        role, value = _turn_fields(turn, where)
        if role == "function_call":
            calls = _calls(value, len(messages), where)
            pending.extend(tc.id for tc in calls if tc.id)
            messages.append(Message(role="assistant", content=None, tool_calls=calls))
        elif role == "tool":
            content = unwrap_tool_response(value)
            messages.append(
                Message(role="tool", content=content, tool_call_id=pending.popleft() if pending else None)
            )
        elif role == "assistant":
            messages.append(_assistant(value, len(messages), where))
            pending.extend(tc.id for tc in messages[-1].tool_calls if tc.id)
        else:
            if role == "system" and tools is None:
                tools = tools_in_prompt(value, f"{where}value")
            messages.append(Message(role=role, content=value))
    return messages, tools


def _conversation_turns(m: Message) -> list[dict[str, str]]:
    if m.role == "assistant":
        out = []
        text = m.content or ""
        if m.reasoning is not None:
            text = f"<think>\n{m.reasoning}\n</think>\n\n{text}"
        if text or not m.tool_calls:
            out.append({"from": "gpt", "value": text})
        if m.tool_calls:
            calls = [
                {"name": tc.name, "arguments": tc.arguments if tc.arguments is not None else tc.raw_arguments}
                for tc in m.tool_calls
            ]
            value = calls[0] if len(calls) == 1 else calls
            out.append({"from": "function_call", "value": json.dumps(value, ensure_ascii=False)})
        return out
    role = {"user": "human", "tool": "observation"}.get(m.role, m.role)
    return [{"from": role, "value": m.content or ""}]


class ShareGPTFormat:
    """ShareGPT ``conversations`` with the agent roles ``function_call`` and ``observation``."""

    name = "sharegpt"
    description = "ShareGPT: {conversations: [{from, value}]} per line (function_call or Hermes tool calls)"

    def sniff(self, row: dict[str, Any]) -> bool:
        convs = row.get("conversations")
        return isinstance(convs, list) and (not convs or isinstance(convs[0], dict))

    def parse(self, row: dict[str, Any], index: int) -> Iterator[Trajectory]:
        messages, prompt_tools = _messages(row)
        given = row.get("tools")
        yield Trajectory(
            id=row_id(row, index, ("id", "uuid", "conversation_id")),
            messages=tuple(messages),
            tools=chat_tools(given)
            if given or prompt_tools is None
            else chat_tools(prompt_tools, "system.<tools>"),
            metadata=metadata_of(row),
        )

    def dump(self, trajectory: Trajectory) -> dict[str, Any]:
        messages = list(trajectory.messages)
        row: dict[str, Any] = {"id": trajectory.id}
        if messages and messages[0].role == "system":
            row["system"] = messages.pop(0).content or ""
        row["conversations"] = [t for m in messages for t in _conversation_turns(m)]
        if trajectory.tools:
            row["tools"] = json.dumps([to_flat_tool(t) for t in trajectory.tools], ensure_ascii=False)
        if trajectory.metadata:
            row["metadata"] = trajectory.metadata
        return row
