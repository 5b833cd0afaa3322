"""The ``tau2`` benchmark adapter: episodes on tau2 tasks with any pivotrl policy.

``run_benchmark(policy, domain=..., split="test", trials=1, ...)`` plays every task of the split
``trials`` times, scores each episode with tau2's official reward and reports pass^k over trials
(tau2's definition: per task ``C(successes, k) / C(trials, k)``, averaged over tasks). Splits are
tau2's own (``split_tasks.json``: ``train``/``test``/``base``). Solo domains keep only the tasks
tau2's solo agent accepts (a ticket and gold actions); tasks whose reward basis needs an LLM
judge (NL assertions) are skipped and counted. A policy with a ``bind_task(task)`` method (the
scripted ``tau2-gold``) is given each episode's task. ``output`` gets one JSON line per task;
``simulations`` gets the episodes as tau2 results (``pivotrl tau2 import`` reads them back).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pivotrl_core import ConfigError, Policy, SamplingParams, atomic_output, get_registry

from .episodes import Episode, run_episode
from .evaluate import to_tau2_messages
from .spec import SPLITS, domain_spec
from .world import World, world

__all__ = ["pass_hat_k", "run_benchmark", "select_tasks"]


def pass_hat_k(successes: list[int], trials: int) -> dict[str, float]:
    """tau2's pass^k for k = 1..trials from each task's number of successes."""
    out = {}
    for k in range(1, trials + 1):
        vals = [math.comb(s, k) / math.comb(trials, k) for s in successes]
        out[f"pass^{k}"] = sum(vals) / len(vals) if vals else 0.0
    return out


def select_tasks(
    w: World, split: str, n_tasks: int | None = None, task_ids: list[str] | None = None
) -> tuple[list[Any], int]:
    """The tasks to run and how many were skipped (solo-invalid or needing an LLM judge)."""
    if split not in SPLITS and split not in w.splits():
        raise ConfigError(f"unknown split {split!r} for {w.spec.name}; tau2 defines {', '.join(w.splits())}")
    tasks = [w.task(t) for t in task_ids] if task_ids else w.tasks(split)
    keep = []
    for t in tasks:
        crit = t.evaluation_criteria
        needs_judge = crit is not None and any(str(b.value) == "NL_ASSERTION" for b in crit.reward_basis)
        solo_ok = not w.spec.solo or bool(t.ticket and crit and crit.actions)
        if solo_ok and not needs_judge:
            keep.append(t)
    skipped = len(tasks) - len(keep)
    return (keep[:n_tasks] if n_tasks else keep), skipped


def _policy(spec: Any, options: dict[str, Any]) -> Policy | None:
    if spec is None or not isinstance(spec, str):
        return spec
    return get_registry().policy(spec, **options)


def _simulation(ep: Episode) -> dict[str, Any]:
    msgs = [m.model_dump(mode="json") for m in to_tau2_messages(ep.messages)]
    return {
        "id": f"{ep.task_id}-{ep.trial}",
        "task_id": ep.task_id,
        "trial": ep.trial,
        "termination_reason": ep.termination,
        "duration": ep.seconds,
        "reward_info": {"reward": ep.reward, "info": {k: v for k, v in ep.info.items() if k != "reward"}},
        "messages": msgs,
    }


def run_benchmark(
    policy: Policy,
    domain: str = "tau2-telecom",
    split: str = "test",
    trials: int = 1,
    n_tasks: int | None = None,
    task_ids: list[str] | None = None,
    user_policy: Policy | str | None = None,
    user_options: dict[str, Any] | None = None,
    max_steps: int = 30,
    max_errors: int = 10,
    sampling: SamplingParams | None = None,
    temperature: float = 0.0,
    max_new_tokens: int = 256,
    output: str | Path | None = None,
    simulations: str | Path | None = None,
    on_episode: Callable[[Episode], None] | None = None,
    **_: Any,
) -> dict[str, Any]:
    """Run the benchmark (see the module docstring); returns the summary."""
    w = world(domain_spec(domain).name)
    tasks, skipped = select_tasks(w, split, n_tasks, task_ids)
    sampling = sampling or SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens)
    user = _policy(user_policy, dict(user_options or {})) or policy
    start = time.perf_counter()
    rows, sims = [], []
    for task in tasks:
        eps = []
        for trial in range(trials):
            seeded = SamplingParams(
                **{**sampling.to_dict(), "stop": sampling.stop, "seed": (sampling.seed or 0) + trial}
            )
            bind = getattr(policy, "bind_task", None)  # scripted policies that play a known task
            agent = bind(task) if callable(bind) else policy
            ep = run_episode(
                w, task, agent, seeded, None if w.spec.solo else user, trial, max_steps, max_errors
            )
            eps.append(ep)
            sims.append(_simulation(ep))
            if on_episode is not None:
                on_episode(ep)
        rows.append(_task_row(str(task.id), eps))
    summary = {
        "domain": w.spec.name,
        "split": split,
        "policy": getattr(policy, "model_id", getattr(policy, "name", "?")),
        "n_tasks": len(rows),
        "skipped_tasks": skipped,
        "trials": trials,
        **pass_hat_k([r["successes"] for r in rows], trials),
        "mean_reward": sum(sum(r["rewards"]) for r in rows) / max(1, len(rows) * trials),
        "seconds": round(time.perf_counter() - start, 2),
    }
    _write(w, rows, sims, output, simulations)
    return summary


def _task_row(task_id: str, eps: list[Episode]) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "rewards": [e.reward for e in eps],
        "successes": sum(e.reward >= 1.0 - 1e-9 for e in eps),
        "terminations": [e.termination for e in eps],
        "tool_calls": [e.info.get("tool_calls", 0) for e in eps],
        "seconds": round(sum(e.seconds for e in eps), 3),
    }


def _write(
    w: World, rows: list[dict[str, Any]], sims: list[dict[str, Any]], output: Any, simulations: Any
) -> None:
    if output is not None:
        with atomic_output(Path(output)) as fh:
            for r in rows:
                fh.write(json.dumps(r) + "\n")
    if simulations is not None:
        doc = {"info": {"environment_info": {"domain_name": w.spec.tau2_domain}}, "simulations": sims}
        with atomic_output(Path(simulations)) as fh:
            json.dump(doc, fh)
