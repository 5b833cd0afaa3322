"""The ``episodes`` benchmark: multi-turn success in fresh worlds on held-out tasks.

For each seed, ``n_tasks`` tasks of the ``eval`` split (a seed stream disjoint from the ``train``
split that ``pivotrl tool-use generate`` uses by default) are played to the end by the policy
against the scripted customer. A task succeeds when the final database equals the expected one
and every required fact was said (:meth:`Episode.outcome`). pass^1 is the success rate of one
attempt per task; the spread is over seeds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pivotrl_core import Policy, SamplingParams

from .episode import run_episodes
from .tasks import make_tasks

__all__ = ["DEFAULT_SAMPLING", "episodes"]

DEFAULT_SAMPLING = SamplingParams(temperature=0.0, max_new_tokens=160)
"""Greedy decoding, long enough for the longest expert action (about 70 tokens)."""


def _seed_result(seed: int, outcomes: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    n = len(outcomes)
    kinds = Counter(o["kind"] for o in outcomes)
    wins = Counter(o["kind"] for o in outcomes if o["success"])
    return {
        "seed": seed,
        "pass^1": sum(o["success"] for o in outcomes) / n,
        "db_match": sum(o["db_match"] for o in outcomes) / n,
        "info_given": sum(o["info_given"] for o in outcomes) / n,
        "authenticated": sum(o["authenticated"] for o in outcomes) / n,
        "mean_turns": statistics.fmean(o["turns"] for o in outcomes),
        "by_kind": {k: {"n": kinds[k], "passed": wins[k]} for k in sorted(kinds)},
        "terminations": dict(Counter(o["termination"] for o in outcomes)),
        "seconds": round(seconds, 2),
        "tasks": outcomes,
    }


def episodes(
    policy: Policy,
    *,
    n_tasks: int = 20,
    seeds: Sequence[int] = (1001, 1002, 1003),
    sampling: SamplingParams | None = None,
    max_turns: int = 20,
    split: str = "eval",
    progress: bool = False,
) -> dict[str, Any]:
    """Play ``n_tasks`` held-out tasks per seed; return pass^1 (mean and std over seeds).

    Returns ``{"benchmark", "policy", "pass^1", "pass^1_std", "pass^1_min", "pass^1_max",
    "mean_turns", "authenticated", "n_tasks", "seeds": [per-seed results]}``; each per-seed
    result has ``pass^1``, ``db_match``, ``info_given``, ``authenticated`` (share of episodes
    where a look-up found the customer: partial progress), ``mean_turns``, ``by_kind``,
    ``terminations`` and the outcome of every task. ``pass^1_std`` is the sample standard deviation over seeds
    (0 for one seed). Sampling defaults to :data:`DEFAULT_SAMPLING`; its ``seed`` is offset by
    the benchmark seed so runs are reproducible where the backend allows it.
    """
    if n_tasks < 1 or not seeds:
        raise ValueError("episodes needs n_tasks >= 1 and at least one seed")
    base = sampling or DEFAULT_SAMPLING
    per_seed = []
    with _progress(progress) as bar:
        for seed in seeds:
            s = dataclasses.replace(base, seed=seed * 1000 + (base.seed or 0))
            task = bar.add_task(f"episodes seed {seed}", total=n_tasks) if bar else None
            start = time.perf_counter()
            on_step = (lambda done, _total, t=task: bar.update(t, completed=done)) if bar else None
            eps = run_episodes(policy, make_tasks(split, seed, n_tasks), s, max_turns, on_step)
            per_seed.append(_seed_result(seed, [e.outcome() for e in eps], time.perf_counter() - start))
    rates = [r["pass^1"] for r in per_seed]
    return {
        "benchmark": "episodes",
        "policy": getattr(policy, "model_id", type(policy).__name__),
        "split": split,
        "n_tasks": n_tasks,
        "max_turns": max_turns,
        "sampling": base.to_dict(),
        "pass^1": statistics.fmean(rates),
        "pass^1_std": statistics.stdev(rates) if len(rates) > 1 else 0.0,
        "pass^1_min": min(rates),
        "pass^1_max": max(rates),
        "mean_turns": statistics.fmean(r["mean_turns"] for r in per_seed),
        "authenticated": statistics.fmean(r["authenticated"] for r in per_seed),
        "seeds": per_seed,
    }


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    with bar:
        yield bar
