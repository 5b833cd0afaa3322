"""Hermes-style tool calling inside ShareGPT text (NousResearch's function-calling data).

The system prompt lists the tools in ``<tools>[...]</tools>``; a ``gpt`` turn calls them with
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks (several blocks: parallel
calls; text around them stays the message's content); a ``tool`` turn answers in
``<tool_response>...</tool_response>``. The JSON may be written as a Python literal (single
quotes), as in NousResearch/hermes-function-calling-v1; it is read with :func:`ast.literal_eval`,
which evaluates no code.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from ..errors import InputError
from ..types import ToolCall
from ._util import tool_call

__all__ = ["has_tool_calls", "parse_tool_calls", "tools_in_prompt", "unwrap_tool_response"]

_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.S)
_TOOLS = re.compile(r"<tools>\s*(.*?)\s*</tools>", re.S)
_RESPONSE = re.compile(r"\A\s*<tool_response>\s*(.*?)\s*</tool_response>\s*\Z", re.S)


def _literal(text: str, field: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        raise InputError(f"{what} is neither JSON nor a Python literal: {text[:80]!r}", field=field) from None


def has_tool_calls(text: str) -> bool:
    return "<tool_call>" in text


def parse_tool_calls(text: str, turn: int, field: str) -> tuple[str | None, tuple[ToolCall, ...]]:
    """``(content, calls)`` of a ``gpt`` value: the text outside the blocks, and each block's call
    (ids ``call_<turn>_<n>``)."""
    calls = []
    for n, block in enumerate(_CALL.findall(text)):
        obj = _literal(block, field, "a <tool_call> block")
        at = f"{field}<tool_call>[{n}]"
        if not isinstance(obj, dict):
            raise InputError(f"a <tool_call> block must hold an object, got {type(obj).__name__}", field=at)
        args = obj.get("arguments", obj.get("parameters"))
        calls.append(tool_call(obj.get("name"), args, f"call_{turn}_{n}", f"{at}.name", f"{at}.arguments"))
    content = _CALL.sub("", text).strip()
    return content or None, tuple(calls)


def tools_in_prompt(text: str, field: str) -> list[Any] | None:
    """The tool schemas listed in a system prompt's ``<tools>`` block (``None`` when there is none).

    The block holds a list, or (as some datasets write it) one schema per line or several objects
    side by side; each becomes one tool.
    """
    bodies = [m.group(1).strip() for m in _TOOLS.finditer(text)]
    if not bodies:
        return None
    body = next((b for b in bodies if b), "")  # the prompt may name the tags before the block
    if not body:
        return []
    if body.startswith("["):
        tools = _literal(body, field, "the <tools> list")
        if not isinstance(tools, list):
            raise InputError("the <tools> block must hold a list of tool schemas", field=field)
        return tools
    return [_literal(part, field, "a tool in <tools>") for part in _objects(body)]


def _objects(body: str) -> list[str]:
    """Top-level ``{...}`` spans of ``body`` (brace matching outside strings)."""
    spans, depth, start, quote = [], 0, 0, ""
    for i, ch in enumerate(body):
        if quote:
            if ch == quote and body[i - 1] != "\\":
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "{":
            start = i if depth == 0 else start
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append(body[start : i + 1])
    return spans


def unwrap_tool_response(text: str) -> str:
    """The text inside ``<tool_response>...</tool_response>`` (or ``text`` when unwrapped)."""
    m = _RESPONSE.match(text)
    return m.group(1) if m else text
