"""``pivotrl profile --ray [ADDRESS]``: profiling sharded over Ray actors, each holding a policy.

The driver reads the candidates, owns the :class:`~pivotrl_core.jsonl.ResumableWriter` (same
rows, same settings fingerprint, same resume rules as :func:`~pivotrl_core.profile.profile_candidates`)
and hands out batches of ``batch_size`` candidates; an actor (``hf`` on CPU or GPU, ``vllm`` on
GPU, or an endpoint policy) profiles a batch with the library's own round loop and returns the
rows, which the driver writes. A batch is written only when its task returns, and Ray restarts
a dead actor and retries its task (``max_restarts``/``max_task_retries``), so an actor that dies
loses or duplicates no row. Sampling seeds are per prompt, so the rows match a single-process
run's for a fixed seed (only ``metadata.seconds`` differs).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .jsonl import ResumableWriter
from .plugins import get_registry
from .profile import (
    ProfileConfig,
    ProfileJob,
    ProfileStats,
    account,
    attempt_of,
    chunks,
    count_candidates,
    fingerprint,
    pending_jobs,
    profile_row,
    retry_rule,
    round_sizes,
    run_round,
)
from .progress import profile_progress
from .rollouts import VerifierResolver
from .types import Candidate

__all__ = ["ProfileWorker", "profile_ray"]

PLUGIN_FILES_ENV = "PIVOTRL_PLUGIN_FILES"


@dataclass(frozen=True)
class _PolicyId:
    """What :func:`~pivotrl_core.profile.fingerprint` reads of a policy (the actors hold the real one)."""

    name: str
    model_id: str


class ProfileWorker:
    """One shard's policy and verifiers (a Ray actor; a plain object in tests and locally)."""

    def __init__(self, policy: str, model: str, options: Mapping[str, Any], config: ProfileConfig) -> None:
        registry = get_registry()
        self.policy = registry.policy(
            policy, model=model, **{k: v for k, v in options.items() if v is not None}
        )
        self.config = config
        self.resolver = VerifierResolver(
            registry, domain=config.domain, verifier=config.verifier, options=config.verifier_options
        )

    def identity(self) -> tuple[str, str]:
        """``(policy name, model id)``: what the settings fingerprint records."""
        return self.policy.name, self.policy.model_id

    def profile_batch(
        self, rows: Sequence[dict[str, Any]], attempts: Sequence[int], source: str
    ) -> dict[str, Any]:
        """Profile a batch: ``{"rows": [(row, job)], "new_tokens": n}`` (jobs for the driver's counts)."""
        jobs = [
            ProfileJob(c, self.resolver.spec_for(c), a)
            for c, a in zip((Candidate.from_dict(r) for r in rows), attempts, strict=True)
        ]
        stats = ProfileStats()
        while active := [j for j in jobs if not j.done]:
            for n, group in sorted(round_sizes(active, self.config).items()):
                run_round(self.policy, group, n, self.config, self.resolver, stats)
        rows_out = [(profile_row(j, self.policy, self.config, Path(source)), j) for j in jobs]
        return {"rows": rows_out, "new_tokens": stats.new_tokens}

    def close(self) -> None:
        self.policy.close()


def _start_ray(address: str | None, plugin_files: Sequence[str]) -> tuple[Any, bool]:
    """Ray, initialised (joined or started here); and whether this call initialised it."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    started = not ray.is_initialized()
    if started:
        env = {PLUGIN_FILES_ENV: os.pathsep.join(plugin_files)} if plugin_files else {}
        target = None if address in (None, "", "local") else address
        ray.init(address=target, runtime_env={"env_vars": env}, include_dashboard=False, log_to_driver=False)
    return ray, started


def _actors(ray: Any, n: int, args: tuple[Any, ...], num_cpus: float, num_gpus: float) -> list[Any]:
    cls = ray.remote(max_restarts=3, max_task_retries=3)(ProfileWorker)
    return [cls.options(num_cpus=num_cpus, num_gpus=num_gpus).remote(*args) for _ in range(n)]


def profile_ray(
    candidates: str | Path,
    output: str | Path,
    policy: str,
    model: str,
    policy_options: Mapping[str, Any],
    config: ProfileConfig,
    *,
    address: str | None = None,
    actors: int = 2,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    plugin_files: Sequence[str] = (),
    progress: bool = True,
    resume_mode: str = "resume",
) -> ProfileStats:
    """:func:`~pivotrl_core.profile.profile_candidates` over ``actors`` Ray actors (``address``:
    ``None``/``"local"`` starts a local cluster, ``"auto"`` or ``ray://...`` joins one)."""
    source = Path(candidates).resolve()
    total = count_candidates(source, config.limit)  # bad input fails before a cluster starts
    ray, started = _start_ray(address, plugin_files)
    workers = _actors(ray, max(1, actors), (policy, model, dict(policy_options), config), num_cpus, num_gpus)
    stats, start = ProfileStats(), time.perf_counter()
    try:
        try:
            name, model_id = ray.get(workers[0].identity.remote())
        except ray.exceptions.RayError as e:
            raise ConfigError(f"policy '{policy}' failed to start on a Ray actor: {e}") from None
        writer = ResumableWriter(
            output,
            key="candidate_id",
            fingerprint=fingerprint(_PolicyId(name, model_id), config, source),
            mode=resume_mode,
            inputs=[source],
            retry=retry_rule(config),
        )
        with writer, profile_progress(total, progress) as bar:
            batches = chunks(pending_jobs(source, writer, config, stats, bar.skip), config.batch_size)
            _drive(ray, workers, batches, writer, config, stats, bar, str(source))
    finally:
        for w in workers:
            ray.kill(w)
        if started:
            ray.shutdown()
    stats.seconds = time.perf_counter() - start
    return stats


def _drive(
    ray: Any,
    workers: list[Any],
    batches: Any,
    writer: ResumableWriter,
    config: ProfileConfig,
    stats: ProfileStats,
    bar: Any,
    source: str,
) -> None:
    """Keep two batches in flight per actor; write each batch's rows when its task returns."""
    idle = deque(w for w in workers for _ in range(2))
    running: dict[Any, Any] = {}
    exhausted = False
    while running or not exhausted:
        while idle and not exhausted:
            batch = next(batches, None)
            if batch is None:
                exhausted = True
                break
            worker = idle.popleft()
            attempts = [attempt_of(writer, c.id) for c in batch]
            running[worker.profile_batch.remote([c.to_dict() for c in batch], attempts, source)] = worker
        if not running:
            break
        [ready], _ = ray.wait(list(running), num_returns=1)
        idle.append(running.pop(ready))
        result = ray.get(ready)
        for row, job in result["rows"]:
            writer.write(row)
            account(job, config, stats)
            bar.advance(len(job.scores))
        stats.new_tokens += result["new_tokens"]
