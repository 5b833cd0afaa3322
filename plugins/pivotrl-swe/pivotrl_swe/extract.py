"""The ``swe`` turn extractor: one candidate per tool call that is not an error.

A turn is extracted when it is an assistant message with tool calls that its format reader did not
mark as an error (``metadata["swe"]["error_turns"]``, see each reader); turns without a tool call
(plain text, a format error) are skipped. A NeMo Gym pivot row stays its single pivot. When the
trajectory recorded the repository before each turn (episodes run by this plugin), the candidate
gets that state as ``metadata["sandbox"]`` (files) and ``metadata["swe"]`` keeps what the
functional verifier needs: hidden tests, test command, and ``final_edit`` for the last edit.
An episode that recorded a history window (``metadata["swe"]["window"]``, :mod:`.history`) has each
candidate's prefix cut to that window: the prompt the policy saw at that turn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from pivotrl_core import Candidate, ExtractOptions, Message, Trajectory, candidate_at

from .history import HistoryWindow, apply_window

__all__ = ["EDIT_COMMANDS", "extract_swe", "is_edit"]

EDIT_COMMANDS = ("create", "str_replace", "insert")
_PER_TRAJECTORY = ("states", "turn_states", "error_turns")


def is_edit(message: Message) -> bool:
    """True for a turn that edits a file with the editor tool."""
    return any(
        c.name == "str_replace_editor"
        and isinstance(c.arguments, dict)
        and c.arguments.get("command") in EDIT_COMMANDS
        for c in message.tool_calls
    )


def _turns(msgs: tuple[Message, ...], errors: set[int]) -> list[int]:
    return [i for i, m in enumerate(msgs) if m.role == "assistant" and m.tool_calls and i not in errors]


def _metadata(traj: Trajectory, swe: Mapping[str, Any], turn: int, final_edit: int | None) -> dict[str, Any]:
    meta = {k: v for k, v in traj.metadata.items() if k not in ("swe", "pivot_turn")}
    ours = {k: v for k, v in swe.items() if k not in _PER_TRAJECTORY}
    states, turn_states = swe.get("states"), swe.get("turn_states") or {}
    index = turn_states.get(str(turn))
    if isinstance(states, list) and isinstance(index, int) and 0 <= index < len(states):
        meta["sandbox"] = {"files": states[index], "setup": []}
    ours["final_edit"] = turn == final_edit
    meta["swe"] = ours
    return meta


def extract_swe(trajectory: Trajectory, options: ExtractOptions) -> Iterator[Candidate]:
    """Candidates of one trajectory (see the module docstring)."""
    msgs = trajectory.messages
    if options.reasoning == "drop":
        msgs = tuple(dataclasses.replace(m, reasoning=None) if m.reasoning is not None else m for m in msgs)
    pivot = trajectory.metadata.get("pivot_turn")
    if isinstance(pivot, int) and 0 <= pivot < len(msgs):
        yield candidate_at(trajectory, pivot, options.domain, messages=msgs)
        return
    swe = trajectory.metadata.get("swe") if isinstance(trajectory.metadata.get("swe"), Mapping) else {}
    errors = {i for i in swe.get("error_turns", []) if isinstance(i, int)}
    turns = _turns(msgs, errors)
    edits = [i for i in turns if is_edit(msgs[i])]
    final_edit = edits[-1] if edits else None
    window = HistoryWindow.from_dict(swe.get("window"))
    for i in turns:
        if len(msgs[i].tool_calls) > 1 and options.multi_call == "drop":
            continue
        c = candidate_at(trajectory, i, options.domain, messages=msgs)
        yield dataclasses.replace(
            c, messages=apply_window(c.messages, window), metadata=_metadata(trajectory, swe, i, final_edit)
        )
