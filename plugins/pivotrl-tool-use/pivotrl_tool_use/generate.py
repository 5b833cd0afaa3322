"""SFT trajectory generation: the scripted expert plays the scripted customer."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from pivotrl_core import SamplingParams, Trajectory

from .episode import run_episodes
from .expert_policy import ExpertPolicy
from .tasks import make_task

__all__ = ["generate_trajectories"]


def generate_trajectories(
    n: int,
    seed: int,
    split: str = "train",
    embed_db: bool = False,
    chunk: int = 256,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[Trajectory]:
    """Yield ``n`` expert trajectories for tasks ``0..n-1`` of the ``(split, seed)`` stream.

    Trajectory ids are ``tool-use-<split>-<seed>-<index>``; metadata records the split, seed,
    index and (under ``tool_use``) the world version, task, initial database hash and the
    annotation of every assistant message (``turns``). ``embed_db`` also stores the initial
    database itself (larger files; replay then needs no world generation).
    """
    expert = ExpertPolicy(seed=seed)
    for start in range(0, n, chunk):
        tasks = [make_task(split, seed, i) for i in range(start, min(n, start + chunk))]
        for i, ep in enumerate(run_episodes(expert, tasks, SamplingParams(seed=seed)), start=start):
            outcome = ep.outcome()
            if not outcome["success"]:  # a bug in the expert or the user, never expected
                raise RuntimeError(f"the scripted expert failed task {ep.task.id}: {outcome}")
            traj = ep.to_trajectory(f"tool-use-{split}-{seed}-{i:05d}", split=split, seed=seed, index=i)
            if embed_db:
                traj.metadata["tool_use"]["initial_db"] = ep.task.initial_db()
            yield traj
        if on_progress is not None:
            on_progress(len(tasks))
