"""``pivotrl tau2 replay``: does tau2's environment reproduce each trajectory's recorded reward?

Each trajectory's own tool calls are replayed in a fresh environment:

- tau-bench v1 rows (``metadata.tau2.source == "tau-bench-v1"``): v1's reward recomputed in tau2
  (:func:`~pivotrl_tau2.evaluate.v1_reward`: DB after the agent's calls vs after the gold actions,
  plus v1's required outputs);
- tau2 rows: tau2's official reward of the conversation for its task (the recorded termination
  reason counts, as in tau2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pivotrl_core import InputError, OpenAIChatFormat, Trajectory, iter_jsonl

from .evaluate import official_reward, to_tau2_messages, v1_reward
from .replay import Replayer
from .spec import domain_spec
from .world import world

__all__ = ["ReplayReport", "iter_trajectories", "replay_file", "replay_trajectory"]


@dataclass
class ReplayReport:
    """Agreement between recorded and recomputed rewards."""

    total: int = 0
    agree: int = 0
    skipped: int = 0
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "agree": self.agree,
            "skipped": self.skipped,
            "disagreements": self.disagreements,
        }


def iter_trajectories(path: str | Path) -> Iterator[Trajectory]:
    """Trajectories of an OpenAI chat JSONL file (as ``pivotrl tau2 import`` writes them)."""
    fmt = OpenAIChatFormat()
    for line, row in iter_jsonl(path):
        try:
            yield from fmt.parse(row, line - 1)
        except InputError as e:
            raise e.located(path, line) from None


def replay_trajectory(traj: Trajectory, domain: str | None, replayer: Replayer) -> dict[str, Any] | None:
    """``{recorded, recomputed, ...}`` for one trajectory; None when it has no tau2 metadata."""
    meta = traj.metadata.get("tau2")
    if not isinstance(meta, dict) or not isinstance(meta.get("reward"), (int, float)):
        return None
    w = world(domain_spec(meta.get("domain") or domain or "").name)
    if meta.get("source") == "tau-bench-v1":
        got = v1_reward(w, traj.messages, meta.get("gold_actions") or [], meta.get("outputs") or [], replayer)
    else:
        if meta.get("user_calls"):
            return None  # the user's own device calls left the chat: not replayable as a conversation
        convo = [m for m in traj.messages if m.role != "system"]
        solo = w.spec.solo and not any(m.role == "user" for m in convo)
        got = official_reward(
            w, w.task(meta["task_id"]), to_tau2_messages(convo), meta.get("termination_reason") or "", solo
        )
    return {
        "id": traj.id,
        "task_id": meta.get("task_id"),
        "trial": meta.get("trial"),
        "recorded": float(meta["reward"]),
        "recomputed": float(got["reward"]),
        "details": {k: v for k, v in got.items() if k != "reward"},
    }


def replay_file(
    path: str | Path, domain: str | None = None, progress: Callable[[int], None] | None = None
) -> ReplayReport:
    """Replay every trajectory of a file; count agreements and list disagreements."""
    report = ReplayReport()
    replayer = Replayer()
    for traj in iter_trajectories(path):
        row = replay_trajectory(traj, domain, replayer)
        if progress is not None:
            progress(1)
        if row is None:
            report.skipped += 1
            continue
        report.total += 1
        if abs(row["recorded"] - row["recomputed"]) < 1e-9:
            report.agree += 1
        else:
            report.disagreements.append(row)
    return report
