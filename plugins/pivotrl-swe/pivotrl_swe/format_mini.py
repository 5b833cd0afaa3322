"""mini-swe-agent trajectories: ``{"messages": [...], "info": {...}, "trajectory_format": "mini-..."}``.

Each assistant turn holds a THOUGHT and exactly one fenced ```bash block; the next user message is
the observation (``<returncode>N</returncode>`` then ``<output>...</output>``). The block becomes a
``bash`` tool call and the observation its tool message; the submit command
(``echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT`` / ``echo MINI_SWE_AGENT_FINAL_OUTPUT``) is kept as the
``bash`` call it is. An **error**: a turn without exactly one bash block (mini-swe-agent's format
error), a command that timed out, or a return code of 126/127 (the shell could not run it).
mini-swe-agent 2.x turns with native ``tool_calls`` (answered by ``tool`` messages) are read as they
are, with the same error rule on their observations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pivotrl_core import InputError, Message, ToolCall, Trajectory

from .format_common import require_list, swe_metadata, text_of, tool_message

__all__ = ["MiniSweAgentFormat", "bash_blocks"]

_BLOCK = re.compile(r"```(?:bash|sh)\s*\n(.*?)\n```", re.S)
_RC = re.compile(r"<returncode>\s*(-?\d+)\s*</returncode>")
_TIMEOUT = re.compile(r"timed out and has been killed|<warning>.*?timed out", re.S)


def bash_blocks(text: str) -> list[str]:
    """The fenced ```bash blocks of an assistant turn, in order."""
    return _BLOCK.findall(text or "")


def _is_error(observation: str) -> bool:
    rc = _RC.search(observation)
    return bool(_TIMEOUT.search(observation)) or (rc is not None and int(rc.group(1)) in (126, 127))


def _tool_call_turn(m: Mapping[str, Any], text: str, i: int) -> Message:
    """A mini-swe-agent 2.x turn with native tool calls (``{id, function: {name, arguments}}``)."""
    calls = []
    for j, c in enumerate(m["tool_calls"]):
        fn = c.get("function") if isinstance(c, Mapping) else None
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise InputError("expected {function: {name, arguments}}", field=f"messages[{i}].tool_calls[{j}]")
        calls.append(ToolCall.from_raw(fn["name"], fn.get("arguments"), id=c.get("id") or f"call_{i}_{j}"))
    return Message(role="assistant", content=text or None, tool_calls=tuple(calls))


def _last_assistant(messages: list[Message]) -> int:
    return max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)


class MiniSweAgentFormat:
    """Reads mini-swe-agent trajectories; see the module docstring."""

    name = "mini-swe-agent"
    description = "mini-swe-agent trajectories (one ```bash block per assistant turn)"
    priority = 10

    def sniff(self, row: dict[str, Any]) -> bool:
        fmt = str(row.get("trajectory_format", ""))
        info = row.get("info") if isinstance(row.get("info"), Mapping) else {}
        return isinstance(row.get("messages"), list) and (
            fmt.startswith("mini-swe-agent") or "mini_version" in info
        )

    def parse(self, row: dict[str, Any], index: int) -> Iterator[Trajectory]:
        raw = require_list(row, "messages")
        messages: list[Message] = []
        errors: list[int] = []
        pending = None
        for i, m in enumerate(raw):
            if not isinstance(m, Mapping) or m.get("role") not in ("system", "user", "assistant", "tool"):
                raise InputError(
                    "expected a message with role system, user, assistant or tool",
                    field=f"messages[{i}].role",
                )
            text = text_of(m.get("content"))
            if m["role"] == "assistant" and isinstance(m.get("tool_calls"), list) and m["tool_calls"]:
                messages.append(_tool_call_turn(m, text, i))
                pending = None
                continue
            if m["role"] == "tool":
                if _is_error(text):
                    errors.append(_last_assistant(messages))
                messages.append(Message(role="tool", content=text, tool_call_id=m.get("tool_call_id")))
                continue
            if m["role"] == "assistant":
                blocks = bash_blocks(text)
                pending = (
                    ToolCall("bash", {"command": blocks[0]}, id=f"call_{i}") if len(blocks) == 1 else None
                )
                thought = text[: text.find("```")].strip() if pending else text
                messages.append(
                    Message(role="assistant", content=thought, tool_calls=(pending,) if pending else ())
                )
                if pending is None:
                    errors.append(len(messages) - 1)
                continue
            if m["role"] == "user" and pending is not None:
                if _is_error(text):
                    errors.append(len(messages) - 1)
                messages.append(tool_message(text, pending))
                pending = None
                continue
            messages.append(Message(role=m["role"], content=text))
        info = row.get("info") if isinstance(row.get("info"), Mapping) else {}
        yield Trajectory(
            id=str(row.get("instance_id") or f"mini-swe-agent-{index}"),
            messages=tuple(messages),
            metadata=swe_metadata(
                self.name, errors, exit_status=info.get("exit_status"), submission=info.get("submission")
            ),
        )

    def dump(self, trajectory: Trajectory) -> dict[str, Any]:
        raise NotImplementedError("the mini-swe-agent format is read-only")
