"""Helpers shared by the built-in formats: strict field checks that raise located errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import InputError
from ..types import ToolCall

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


def require(row: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: str = "") -> Any:
    """``row[key]``, checked to be of ``typ``; raises :class:`InputError` naming the field."""
    if key not in row or row[key] is None:
        raise InputError("missing required field", field=f"{where}{key}")
    val = row[key]
    if not isinstance(val, typ):
        raise InputError(f"expected {_tname(typ)}, got {type(val).__name__}", field=f"{where}{key}")
    return val


def optional(row: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: str = "") -> Any:
    """``row.get(key)``, checked to be of ``typ`` or ``None``."""
    val = row.get(key)
    if val is not None and not isinstance(val, typ):
        raise InputError(f"expected {_tname(typ)} or null, got {type(val).__name__}", field=f"{where}{key}")
    return val


def _tname(typ: type | tuple[type, ...]) -> str:
    names = {
        "str": "a string",
        "dict": "an object",
        "list": "a list",
        "int": "an integer",
        "bool": "a boolean",
    }
    types = typ if isinstance(typ, tuple) else (typ,)
    return " or ".join(names.get(t.__name__, t.__name__) for t in types)


def parse_arguments(value: Any, field: str) -> dict[str, Any]:
    """Tool-call arguments given as a JSON-object string or an object; anything else is an error.

    ``None`` and the empty string mean "no arguments" (``{}``).
    """
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            parsed = json.loads(value)
        except ValueError as e:
            raise InputError(f"arguments are not valid JSON ({e})", field=field) from None
        if not isinstance(parsed, dict):
            raise InputError(f"arguments must be a JSON object, got {type(parsed).__name__}", field=field)
        return parsed
    raise InputError(f"arguments must be a JSON string or an object, got {type(value).__name__}", field=field)


def tool_call(name: Any, arguments: Any, call_id: Any, name_field: str, args_field: str) -> ToolCall:
    """A validated :class:`ToolCall`: a non-empty name and object arguments."""
    if not isinstance(name, str) or not name.strip():
        raise InputError("tool call has no name", field=name_field)
    if call_id is not None and not isinstance(call_id, str):
        call_id = str(call_id)
    return ToolCall(name=name, arguments=parse_arguments(arguments, args_field), id=call_id)


def text_of(content: Any, field: str) -> str | None:
    """Message content as text: a string, ``None``, or a list of parts whose ``text`` is joined."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                text = part.get("text")
                if text is not None and not isinstance(text, str):
                    raise InputError("expected a string", field=f"{field}[{i}].text")
                texts.append(text or "")
            else:
                raise InputError(
                    f"expected a content part object, got {type(part).__name__}", field=f"{field}[{i}]"
                )
        return "".join(texts)
    raise InputError(f"expected a string, a list of parts or null, got {type(content).__name__}", field=field)


def split_think(content: str | None) -> tuple[str | None, str | None]:
    """Split a leading ``<think>...</think>`` block off assistant text: ``(content, reasoning)``."""
    if not content:
        return content, None
    stripped = content.lstrip()
    if not stripped.startswith(THINK_OPEN):
        return content, None
    end = stripped.find(THINK_CLOSE)
    if end < 0:
        return content, None
    reasoning = stripped[len(THINK_OPEN) : end].strip()
    rest = stripped[end + len(THINK_CLOSE) :].lstrip()
    return rest, reasoning


def row_id(row: Mapping[str, Any], index: int, keys: tuple[str, ...] = ("id",)) -> str:
    """The trajectory id: the first of ``keys`` present (string or integer), else ``row-<index>``."""
    for key in keys:
        val = row.get(key)
        if isinstance(val, (str, int)) and not isinstance(val, bool) and str(val):
            return str(val)
        if val is not None and not isinstance(val, (str, int)):
            raise InputError(f"expected a string or an integer, got {type(val).__name__}", field=key)
    return f"row-{index}"


def metadata_of(row: Mapping[str, Any]) -> dict[str, Any]:
    return dict(optional(row, "metadata", dict) or {})


def chat_tools(value: Any, field: str = "tools") -> tuple[dict[str, Any], ...]:
    """A tool list in OpenAI chat form ``{"type": "function", "function": {...}}``.

    Accepts a list (or a JSON string holding one) of chat-form tools or flat function schemas
    (``{"name", "description", "parameters"}``, as ShareGPT/LLaMA-Factory and the Responses
    API write them). Tools of another ``type`` (built-in tools) are kept unchanged.
    """
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise InputError(f"tools string is not valid JSON ({e})", field=field) from None
    if not isinstance(value, list):
        raise InputError(f"expected a list of tools, got {type(value).__name__}", field=field)
    out = []
    for i, tool in enumerate(value):
        if not isinstance(tool, dict):
            raise InputError(f"expected a tool object, got {type(tool).__name__}", field=f"{field}[{i}]")
        chat = to_chat_tool(tool)
        fn = chat.get("function")
        if chat.get("type", "function") == "function":
            where = f"{field}[{i}]" + (".function" if "function" in tool else "")
            if not isinstance(fn, dict):
                raise InputError("a function tool needs a 'function' object", field=f"{where}")
            if not isinstance(fn.get("name"), str) or not fn["name"].strip():
                raise InputError("a function tool needs a non-empty string 'name'", field=f"{where}.name")
        out.append(chat)
    return tuple(out)


def to_chat_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """One tool in chat form (see :func:`chat_tools`)."""
    if "function" in tool or tool.get("type", "function") != "function":
        return tool
    return {"type": "function", "function": {k: v for k, v in tool.items() if k != "type"}}


def to_flat_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """One chat-form tool in the flat Responses-API form ``{"type": "function", "name", ...}``."""
    fn = tool.get("function")
    if tool.get("type", "function") == "function" and isinstance(fn, dict):
        return {"type": "function", **fn}
    return tool
