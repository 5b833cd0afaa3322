"""The ``tasks`` benchmark: multi-turn episodes on the banking tasks, scored by the official reward."""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any

from pivotrl_core import Policy, SamplingParams

from .banking import load_banking
from .episode import run_episodes
from .generate import tasks_of

__all__ = ["DEFAULT_SAMPLING", "tasks_benchmark"]

DEFAULT_SAMPLING = SamplingParams(temperature=0.0, max_new_tokens=256)


def tasks_benchmark(
    policy: Policy,
    *,
    split: str = "heldout",
    limit: int = 0,
    max_turns: int = 60,
    sampling: SamplingParams | None = None,
    max_new_tokens: int | None = None,
) -> dict[str, Any]:
    """Play every offline-gradable task of ``split`` once (``limit`` > 0: the first ``limit``).

    ``sampling`` defaults to greedy decoding of at most 256 tokens a turn (``max_new_tokens``
    overrides the length). Returns ``{"benchmark", "policy", "split", "n_tasks", "success_rate"
    (also as "pass^1"), "db_match",
    "searches_per_episode", "opened_per_episode", "mean_turns", "seconds", "tasks": [...]}`` with
    each task's official reward, match flags, counts and termination.
    """
    data = load_banking()
    ids = tasks_of(split)
    if limit > 0:
        ids = ids[:limit]
    if not ids:
        raise ValueError(f"no offline-gradable tasks in split {split!r}")
    sampling = sampling or DEFAULT_SAMPLING
    if max_new_tokens is not None:
        sampling = dataclasses.replace(sampling, max_new_tokens=max_new_tokens)
    start = time.perf_counter()
    episodes = run_episodes(policy, [data.tasks[i] for i in ids], sampling, max_turns, data)
    outcomes = [e.outcome() for e in episodes]
    return {
        "benchmark": "tasks",
        "policy": getattr(policy, "model_id", type(policy).__name__),
        "split": split,
        "n_tasks": len(outcomes),
        "success_rate": statistics.fmean(o["success"] for o in outcomes),
        "pass^1": statistics.fmean(o["success"] for o in outcomes),
        "db_match": statistics.fmean(o["db_match"] for o in outcomes),
        "searches_per_episode": statistics.fmean(o["searches"] for o in outcomes),
        "opened_per_episode": statistics.fmean(o["opened"] for o in outcomes),
        "mean_turns": statistics.fmean(o["turns"] for o in outcomes),
        "seconds": round(time.perf_counter() - start, 2),
        "tasks": outcomes,
    }
