"""``Domain("swe").generate``: expert demonstrations on the repository tasks, with their states.

``generate_expert(n, seed, split)`` draws ``n`` tasks of ``split`` (a fixed hash split of the
instance ids: about 70% train, 10% validation, 20% held out) in a seeded order, runs the gold-fix
:class:`~pivotrl_swe.agents.ExpertAgent` on each in a sandbox with ``record_states``, and returns
the episodes that resolved their task, so every turn can be replayed by ``swe_exec``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from pivotrl_core import ConfigError, Split, Trajectory

from .agents import ExpertAgent
from .episode import run_episode
from .tasks import load_tasks, split_of

__all__ = ["generate_expert"]


def generate_expert(
    n: int, seed: int = 0, split: Split = "train", *, instances: str | None = None, backend: str | None = None
) -> Iterator[Trajectory]:
    """Up to ``n`` resolved expert episodes of ``split`` (see the module docstring)."""
    if n < 1:
        raise ConfigError(f"generate: n must be >= 1, got {n}")
    tasks = [
        t
        for t in load_tasks(instances)
        if split_of(t.instance_id) == split and (t.gold_files or t.gold_patch)
    ]
    random.Random(seed).shuffle(tasks)
    made = 0
    for task in tasks:
        if made >= n:
            return
        result = run_episode(task, ExpertAgent(task), backend=backend, record_states=True)
        if result.resolved:
            made += 1
            yield result.trajectory
