"""The ``swe-tasks`` benchmark adapter: repository episodes scored by the hidden tests.

``swe_tasks(policy, instances=..., agent=...)`` runs one :func:`~pivotrl_swe.episode.run_episode`
per task (each in its own sandbox, ``workers`` at a time) and reports per-instance results and
the resolved rate. It is ``Domain("swe").benchmarks["swe-tasks"]``, so ``pivotrl eval --domain swe
--benchmark swe-tasks`` runs it; ``pivotrl swe bench`` runs it from the command line.
``agent``: ``policy`` (the given policy; the default when one is given), ``expert`` (the gold-fix
expert; the default without a policy) or ``noop`` (submits without editing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pivotrl_core import ConfigError, SamplingParams, SandboxSpec

from .agents import Agent, ExpertAgent, NoopAgent, PolicyAgent
from .episode import DEFAULT_SPEC, EpisodeResult, run_episode
from .tasks import Task, load_tasks

__all__ = ["summarize", "swe_tasks"]

AGENTS = ("policy", "expert", "noop")


def summarize(results: list[EpisodeResult], seconds: float = 0.0) -> dict[str, Any]:
    """Resolved rate over the episodes that ran; errored ones are counted apart, never unresolved."""
    scored = [r for r in results if r.error is None]
    n_resolved = sum(r.resolved for r in scored)
    return {
        "benchmark": "swe-tasks",
        "n_instances": len(results),
        "n_resolved": n_resolved,
        "n_errored": len(results) - len(scored),
        "resolved_rate": n_resolved / len(scored) if scored else None,
        "pass^1": n_resolved / len(scored) if scored else None,  # the name `pivotrl run` reports
        "resolved_ids": [r.instance_id for r in scored if r.resolved],
        "seconds": round(seconds, 2),
        "instances": [r.to_dict() for r in results],
    }


def _agent_factory(
    policy: Any, agent: str | None, sampling: SamplingParams
) -> tuple[str, Callable[[Task], Agent]]:
    kind = agent or ("policy" if policy is not None else "expert")
    if kind not in AGENTS:
        raise ConfigError(f"unknown agent {kind!r}; expected one of {', '.join(AGENTS)}", flag="--agent")
    if kind == "policy":
        if policy is None:
            raise ConfigError(
                "agent 'policy' needs a policy (pass --model, or --agent expert|noop)", flag="--agent"
            )
        return getattr(policy, "model_id", "policy"), lambda task: PolicyAgent(policy, sampling)
    return kind, ExpertAgent if kind == "expert" else NoopAgent


def swe_tasks(
    policy: Any = None,
    *,
    instances: str | None = None,
    ids: list[str] | None = None,
    limit: int | None = None,
    agent: str | None = None,
    backend: str | None = None,
    max_turns: int = 20,
    turn_timeout_s: float = 30.0,
    test_timeout_s: float = 20.0,
    workers: int = 2,
    temperature: float = 0.0,
    max_new_tokens: int = 512,
    seed: int | None = None,
    memory_mb: int = 512,
    disk_mb: int = 64,
    trajectories: bool = False,
    progress: Callable[[EpisodeResult], None] | None = None,
) -> dict[str, Any]:
    """Run every task of ``instances`` (default: the shared HumanEvalFix pack); see the module doc."""
    if workers < 1 or max_turns < 1:
        raise ConfigError("workers and max_turns must be >= 1")
    tasks = load_tasks(instances, ids, limit)
    sampling = SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    name, make = _agent_factory(policy, agent, sampling)
    spec: SandboxSpec = DEFAULT_SPEC.replace(memory_mb=memory_mb, disk_mb=disk_mb, timeout_s=turn_timeout_s)
    start = time.monotonic()

    def one(task: Task) -> EpisodeResult:
        result = run_episode(
            task,
            make(task),
            backend=backend,
            spec=spec,
            max_turns=max_turns,
            turn_timeout_s=turn_timeout_s,
            test_timeout_s=test_timeout_s,
        )
        if progress is not None:
            progress(result)
        return result

    if name not in ("expert", "noop"):
        workers = 1  # one policy samples one turn at a time
    with ThreadPoolExecutor(max_workers=min(workers, max(1, len(tasks)))) as pool:
        results = list(pool.map(one, tasks))
    report = summarize(results, time.monotonic() - start)
    report["agent"] = name
    if trajectories:
        report["trajectories"] = [r.trajectory.to_dict() for r in results]
    return report
