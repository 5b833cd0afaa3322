"""The terminal domain's turn extractor: one candidate per Terminus turn (all shell actions).

An assistant turn becomes a candidate when its text parses as a Terminus JSON object that fits
its harness's schema; other assistant turns (prose, broken JSON) are skipped: the demonstration
must be a well-formed action. Candidate metadata gets ``harness``. When the trajectory records
its initial sandbox state (``metadata.sandbox``: files and setup commands, as episodes of
:func:`~pivotrl_terminal.episode.run_episode` do), each candidate's ``metadata.sandbox`` is that
state plus the replay of every earlier turn's keystrokes (in the terminal session, errors
ignored), so ``sandbox_exec`` can rebuild the exact state of the turn.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

from pivotrl_core import Candidate, ExtractOptions, Trajectory

from .atif import COPIED
from .shell import session_script
from .terminus import detect_harness, keystroke_script, parse_turn, schema_errors

__all__ = ["extract_terminal", "replay_command"]

PIVOT_TURN = "pivot_turn"


def replay_command(turn: dict[str, Any]) -> str:
    """A setup command that replays a recorded turn; its own failures are ignored."""
    return f"( {session_script(keystroke_script(turn))}\n) > /dev/null 2>&1; true"


def _terminus(text: str | None) -> tuple[dict[str, Any], str] | None:
    try:
        turn = parse_turn(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(turn, dict):
        return None
    harness = detect_harness(turn)
    return (turn, harness) if not schema_errors(turn, harness) else None


def extract_terminal(trajectory: Trajectory, options: ExtractOptions) -> Iterator[Candidate]:
    """Candidates of a terminal trajectory (see the module docstring)."""
    msgs = trajectory.messages
    if options.reasoning == "drop":
        msgs = tuple(dataclasses.replace(m, reasoning=None) if m.reasoning is not None else m for m in msgs)
    meta = {k: v for k, v in trajectory.metadata.items() if k not in (PIVOT_TURN, "sandbox", COPIED)}
    copied = set(trajectory.metadata.get(COPIED) or ())
    pivot = trajectory.metadata.get(PIVOT_TURN)
    state = trajectory.metadata.get("sandbox")
    replay: list[str] = []
    for i, m in enumerate(msgs):
        if m.role != "assistant":
            continue
        parsed = _terminus(m.content)
        if parsed is None:
            continue
        turn, harness = parsed
        if (pivot is None or i == pivot) and i not in copied:
            cmeta: dict[str, Any] = {**meta, "harness": harness}
            if isinstance(state, dict):
                cmeta["sandbox"] = {**state, "setup": [*state.get("setup", []), *replay]}
            yield Candidate(
                id=f"{trajectory.id}:{i}",
                domain=options.domain,
                trajectory_id=trajectory.id,
                turn_index=i,
                messages=msgs[:i],
                expected=m,
                tools=trajectory.tools,
                metadata=cmeta,
            )
        replay.append(replay_command(turn))
