"""The tool-use turn extractor: every assistant turn is a candidate (as in the paper's tau2 setup).

It runs the core's default extractor (one candidate per non-empty assistant turn; ``multi_call``
and ``reasoning`` options honoured) and rewrites each candidate's ``metadata["tool_use"]`` so it
carries only what ``tool_state`` needs for that turn: the world version, the task, the initial
database hash and the turn's annotation (``turn``: kind and required facts, for message turns).
Trajectories without a recorded world (e.g. imported tau2 logs) keep their metadata unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from pivotrl_core import Candidate, ExtractOptions, Trajectory, default_extractor

__all__ = ["extract_tool_use"]


def _turn_record(record: dict[str, Any], index: int) -> dict[str, Any]:
    out = {k: v for k, v in record.items() if k != "turns"}
    turn = (record.get("turns") or {}).get(str(index))
    if turn is not None:
        out["turn"] = turn
    return out


def extract_tool_use(trajectory: Trajectory, options: ExtractOptions) -> Iterator[Candidate]:
    """One candidate per assistant turn, with the per-turn replay record in its metadata."""
    record = trajectory.metadata.get("tool_use")
    for cand in default_extractor(trajectory, options):
        if not isinstance(record, dict):
            yield cand
            continue
        meta = {**cand.metadata, "tool_use": _turn_record(record, cand.turn_index)}
        yield dataclasses.replace(cand, metadata=meta)
