"""Shared pieces of the SWE trajectory readers: tool-call building, error marks, text helpers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pivotrl_core import InputError, Message, ToolCall

__all__ = ["ERROR_TURNS", "bash_call", "looks_like_error", "swe_metadata", "text_of"]

ERROR_TURNS = "error_turns"
"""``Trajectory.metadata["swe"]["error_turns"]``: message indices of assistant turns whose tool call
was an error (rejected by the environment); the ``swe`` extractor skips them."""

# Observations by which SWE agents' environments reject a call (not a program that merely failed).
_ERROR_PATTERNS = re.compile(
    r"^(?:Error:|ERROR:|Usage:|Invalid |Unrecognized command)"
    r"|command not found"
    r"|Your proposed edit has introduced new syntax error"
    r"|No replacement was performed"
    r"|Your (?:last )?output (?:was not formatted correctly|did not use any tool calls)"
    r"|Please always provide EXACTLY ONE action",
    re.M,
)


def looks_like_error(observation: str) -> bool:
    """True when an observation is the environment rejecting the call (see ``docs/domains/swe.md``)."""
    head = observation.lstrip()[:2000]
    return bool(_ERROR_PATTERNS.search(head))


def text_of(content: Any) -> str:
    """Text of a message content: a string, or a list of ``{type: text, text}`` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        return str(content.get("text", ""))
    if isinstance(content, list):
        return "".join(text_of(p) for p in content)
    return str(content)


def bash_call(command: str, call_id: str) -> ToolCall:
    """A shell command as a ``bash`` tool call (``submit`` alone becomes the ``submit`` tool)."""
    command = command.strip("\n")
    if command.strip() == "submit":
        return ToolCall(name="submit", arguments={}, id=call_id)
    return ToolCall(name="bash", arguments={"command": command}, id=call_id)


def swe_metadata(fmt: str, error_turns: list[int], **extra: Any) -> dict[str, Any]:
    return {
        "swe": {"format": fmt, ERROR_TURNS: error_turns, **{k: v for k, v in extra.items() if v is not None}}
    }


def require_list(row: Mapping[str, Any], key: str) -> list[Any]:
    value = row.get(key)
    if not isinstance(value, list):
        raise InputError("missing required field (a list)" if value is None else "expected a list", field=key)
    return value


def tool_message(observation: str, call: ToolCall) -> Message:
    return Message(role="tool", content=observation, tool_call_id=call.id, name=call.name)
