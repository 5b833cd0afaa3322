"""Expert trajectories for the banking tasks of one split (``Domain.generate``)."""

from __future__ import annotations

from collections.abc import Iterator

from pivotrl_core import SamplingParams, Split, Trajectory

from .banking import load_banking, split_of
from .episode import run_episodes
from .expert import ExpertPolicy

__all__ = ["generate", "tasks_of"]


def tasks_of(split: str) -> list[str]:
    """Ids of the offline-gradable tasks of a split (``train``, ``validation``, ``heldout``,
    ``warmup`` or ``all``)."""
    data = load_banking()
    return [t.id for t in data.tasks.values() if t.offline and (split == "all" or split_of(t.id) == split)]


def generate(n: int, seed: int = 0, split: Split = "train") -> Iterator[Trajectory]:
    """Up to ``n`` expert trajectories (tasks of ``split`` in id order, rotated by ``seed``).

    Only episodes the expert solves (official reward 1) are kept. Ids are
    ``web-<split>-<task id>``; metadata ``web`` holds what the ``web_search`` verifier replays.
    """
    data = load_banking()
    ids = tasks_of(split)
    if not ids:
        return
    start = seed % len(ids)
    ids = (ids[start:] + ids[:start])[:n]
    tasks = [data.tasks[i] for i in ids]
    for ep in run_episodes(ExpertPolicy(), tasks, SamplingParams(seed=seed), data=data):
        if ep.outcome()["success"]:
            yield ep.to_trajectory(f"web-{split}-{ep.task.id}", split=split, seed=seed)
