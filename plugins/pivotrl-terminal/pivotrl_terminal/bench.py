"""The ``terminal-bench`` benchmark adapter of the terminal domain.

``terminal_bench(policy, tasks=..., ...)`` runs one episode per task (see
:mod:`pivotrl_terminal.episode`) and reports the pass rate. It is registered as
``Domain("terminal").benchmarks["terminal-bench"]``, so ``pivotrl eval --domain terminal
--benchmark terminal-bench`` runs it; ``pivotrl terminal bench`` runs it from the command line.
"""

from __future__ import annotations

from typing import Any

from rich.progress import Progress

from pivotrl_core import SamplingParams, SandboxSpec

from .episode import EpisodeResult, OracleAgent, PolicyAgent, run_episode
from .loading import load_tasks

__all__ = ["summarize", "terminal_bench"]


def summarize(results: list[EpisodeResult]) -> dict[str, Any]:
    """Pass rate over the tasks that ran; infrastructure errors are counted, not failed."""
    scored = [r for r in results if r.error is None]
    n_passed = sum(r.passed for r in scored)
    return {
        "benchmark": "terminal-bench",
        "n_tasks": len(results),
        "n_passed": n_passed,
        "n_errored": len(results) - len(scored),
        "accuracy": n_passed / len(scored) if scored else None,
        "tasks": [r.to_dict() for r in results],
    }


def terminal_bench(
    policy: Any = None,
    *,
    tasks: str | None = None,
    names: list[str] | None = None,
    backend: str | None = None,
    max_turns: int = 10,
    turn_timeout_s: float = 30.0,
    temperature: float = 0.0,
    max_new_tokens: int = 512,
    seed: int | None = None,
    oracle: bool = False,
    memory_mb: int = 512,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every task (``tasks``: a folder; default the bundled fixtures) with ``policy``.

    ``oracle=True`` (or no policy) runs each task's ``solution.sh`` instead: a check that the
    tasks and the sandbox work. Returns :func:`summarize` of the episodes plus the trajectories.
    """
    task_list = load_tasks(tasks, names)
    sampling = SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    spec = SandboxSpec(timeout_s=turn_timeout_s, memory_mb=memory_mb)
    results: list[EpisodeResult] = []
    with Progress(disable=not progress, transient=True) as bar:
        job = bar.add_task("terminal-bench", total=len(task_list))
        for task in task_list:
            agent = OracleAgent(task) if oracle or policy is None else PolicyAgent(policy, sampling)
            results.append(
                run_episode(
                    task,
                    agent,
                    backend=backend,
                    max_turns=max_turns,
                    turn_timeout_s=turn_timeout_s,
                    spec=spec,
                )
            )
            bar.advance(job)
    report = summarize(results)
    report["agent"] = "oracle" if oracle or policy is None else getattr(policy, "model_id", "policy")
    report["trajectories"] = [r.trajectory.to_dict() for r in results]
    return report
