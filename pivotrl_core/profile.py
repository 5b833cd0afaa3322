"""Offline pivot profiling: K local rollouts per candidate from a frozen policy, verified.

:func:`profile_candidates` streams a candidates file and, for several candidates at a time, draws
``k`` next turns through :func:`~pivotrl_core.rollouts.sample_and_verify` (the rollout path
training and evaluation share), in rounds when ``early_stop`` decides some candidates before all
``k`` draws. One :class:`~pivotrl_core.types.Profile` row per candidate is appended to the output
as soon as it is done (``ResumableWriter``: fsync per row, a torn last line repaired on
reopening). Running again on the same output skips the candidates already there -- only with the
same settings (model, K, sampling, verifier and options, input file: a settings fingerprint kept
beside the output) -- and redoes rows with errored samples, at most ``retry_errored`` times.
``docs/profiling.md`` documents the row.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import early_stop
from .errors import ConfigError
from .jsonl import ResumableWriter, file_digest, read_jsonl
from .policies.base import Policy, SamplingParams
from .progress import profile_progress
from .registry import Registry
from .rollouts import Group, VerifierResolver, sample_and_verify
from .types import Candidate, Message, Profile, VerifierSpec

__all__ = [
    "ProfileConfig",
    "ProfileJob",
    "ProfileStats",
    "count_candidates",
    "fingerprint",
    "profile_candidates",
]
# the rounds, shared with the Ray driver (profile_ray.py)
__all__ += ["absorb", "account", "attempt_of", "chunks", "pending_jobs", "profile_row", "retry_rule"]
__all__ += ["round_sizes", "run_round"]


@dataclass(frozen=True)
class ProfileConfig:
    """Settings of one profiling run (the CLI flags of ``pivotrl profile``)."""

    k: int = 8
    sampling: SamplingParams = field(
        default_factory=lambda: SamplingParams(temperature=1.0, max_new_tokens=256, seed=0)
    )
    domain: str | None = None
    verifier: str | None = None
    verifier_options: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 4
    save_samples: bool = False
    early_stop: bool = False
    max_mean: float = 0.6
    min_chunk: int | None = None
    limit: int | None = None
    retry_errored: int = 2

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigError(f"k must be at least 1 (got {self.k}); use --k 8 or more")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1 (got {self.batch_size})")
        if not 0.0 < self.max_mean <= 1.0:
            raise ConfigError(f"max_mean (lambda) must be in (0, 1], got {self.max_mean}")
        if self.verifier_options and not self.verifier:
            raise ConfigError("verifier options need --verifier NAME")
        if self.retry_errored < 0:
            raise ConfigError(f"retry_errored must be >= 0 (got {self.retry_errored})")


@dataclass
class ProfileStats:
    """Counts of one run; ``samples_saved`` is what ``--early-stop`` did not draw; ``retried``
    counts candidates profiled again because their earlier row had errored samples."""

    candidates: int = 0
    already_done: int = 0
    profiled: int = 0
    retried: int = 0
    skipped_context: int = 0
    truncated: int = 0
    samples: int = 0
    errored_samples: int = 0
    samples_saved: int = 0
    early_decided: int = 0
    new_tokens: int = 0
    seconds: float = 0.0

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "samples_per_s": round(self.samples_per_s, 3)}


def count_candidates(path: str | Path, limit: int | None = None) -> int:
    """Parse (and so validate) the candidates up to ``limit``; return how many there are.

    Bad input fails here, naming file, line and field, before anything is sampled or written.
    """
    rows: Iterable[Candidate] = read_jsonl(path, Candidate.from_dict)
    return sum(1 for _ in itertools.islice(rows, limit))


def fingerprint(policy: Policy, config: ProfileConfig, candidates: str | Path) -> dict[str, Any]:
    """The settings a profiles file must keep to be resumed: model, K, sampling, verifier, input."""
    return {
        "model": f"{policy.name}:{policy.model_id}",
        "k": config.k,
        "sampling": config.sampling.to_dict(),
        "domain": config.domain,
        "verifier": config.verifier,
        "verifier_options": dict(config.verifier_options),
        "input": file_digest(candidates),
    }


@dataclass
class ProfileJob:
    """One candidate being profiled: its verifier, the scores drawn so far and what the row records."""

    candidate: Candidate
    verifier: VerifierSpec
    attempt: int = 1
    scores: list[float | None] = field(default_factory=list)
    samples: list[Message] = field(default_factory=list)
    info: list[dict[str, Any]] = field(default_factory=list)
    context: dict[str, Any] | None = None
    decision: str | None = None
    done: bool = False
    rounds: int = 0
    started: float = field(default_factory=time.perf_counter)


def pending_jobs(
    path: Path,
    writer: ResumableWriter,
    config: ProfileConfig,
    stats: ProfileStats,
    on_done: Callable[[], None],
) -> Iterator[Candidate]:
    """The candidates still to profile (not done in ``writer``, not repeated); counts the rest."""
    rows: Iterable[Candidate] = read_jsonl(path, Candidate.from_dict)
    seen: set[str] = set()
    for c in itertools.islice(rows, config.limit):
        stats.candidates += 1
        if c.id in writer.done or c.id in seen:
            stats.already_done += c.id in writer.done
            on_done()
            continue
        seen.add(c.id)
        yield c


def chunks(it: Iterator[Candidate], size: int) -> Iterator[list[Candidate]]:
    """Batches of ``size`` candidates."""
    while batch := list(itertools.islice(it, size)):
        yield batch


def round_sizes(jobs: Sequence[ProfileJob], config: ProfileConfig) -> dict[int, list[ProfileJob]]:
    """Jobs grouped by how many samples each draws next (all of K, or an early-stop chunk)."""
    groups: dict[int, list[ProfileJob]] = {}
    min_chunk = config.min_chunk or max(1, config.k // 4)
    for j in jobs:
        n = config.k - len(j.scores)
        if config.early_stop:
            n = early_stop.next_chunk(j.scores, config.k, config.max_mean, min_chunk)
        groups.setdefault(n, []).append(j)
    return groups


def absorb(job: ProfileJob, group: Group, config: ProfileConfig) -> None:
    """Add one sampled-and-verified group to ``job``; decide whether it is done."""
    if group.skipped:  # the policy skipped the prompt (context rule)
        job.done = True
        return
    job.context = group.completions[0].meta.get("context", job.context)
    for c, v in zip(group.completions, group.verdicts, strict=True):
        job.scores.append(v.reward)
        if config.save_samples:
            job.samples.append(c.message)
            tokens = len(c.token_ids or ())
            job.info.append(
                {"reason": v.reason, "error": v.error, "finish_reason": c.finish_reason, "tokens": tokens}
            )
    if config.early_stop:
        job.decision = early_stop.decide(job.scores, config.k, config.max_mean)
    job.done = job.decision is not None or len(job.scores) >= config.k


def run_round(
    policy: Policy,
    jobs: list[ProfileJob],
    n: int,
    config: ProfileConfig,
    resolver: VerifierResolver,
    stats: ProfileStats,
) -> None:
    """Draw ``n`` more samples for each job through the one rollout path and absorb them."""
    sampling = config.sampling
    rounds = {j.rounds for j in jobs}
    if sampling.seed is not None and rounds != {0}:  # a fresh random stream per round
        sampling = dataclasses.replace(sampling, seed=sampling.seed + 7919 * max(rounds))
    groups = sample_and_verify(policy, [j.candidate for j in jobs], n, sampling, resolver=resolver)
    prepare = getattr(policy, "prepare", None)
    for job, group in zip(jobs, groups, strict=True):
        job.rounds += 1
        if group.skipped and prepare is not None:  # skipped by the context rule: say why
            job.context = prepare(group.prompt, sampling.max_new_tokens).to_dict()
        stats.new_tokens += sum(len(c.token_ids or ()) for c in group.completions)
        absorb(job, group, config)


def profile_row(job: ProfileJob, policy: Policy, config: ProfileConfig, source: Path) -> dict[str, Any]:
    """The ``Profile`` row of a finished job."""
    meta: dict[str, Any] = {
        "context": job.context,
        "seconds": round(time.perf_counter() - job.started, 3),
        "candidates": str(source),
        "rounds": job.rounds,
        "attempt": job.attempt,
    }
    if not job.scores and not (job.context or {}).get("skipped"):
        meta["context"] = {**(job.context or {}), "skipped": "the policy skipped the prompt (context)"}
    if config.early_stop:
        saved = config.k - len(job.scores) if job.scores else 0
        meta["early_stop"] = {"max_mean": config.max_mean, "decision": job.decision, "saved": saved}
    if config.save_samples:
        meta["sample_info"] = job.info
    profile = Profile(
        candidate_id=job.candidate.id,
        domain=config.domain or job.candidate.domain,
        trajectory_id=job.candidate.trajectory_id,
        policy=f"{policy.name}:{policy.model_id}",
        k=config.k,
        scores=tuple(job.scores),
        sampling={**config.sampling.to_dict(), "k": config.k},
        samples=tuple(job.samples) if config.save_samples else None,
        metadata=meta,
        verifier=job.verifier,
    )
    return profile.to_dict()


def account(job: ProfileJob, config: ProfileConfig, stats: ProfileStats) -> None:
    """Count a finished job in ``stats``."""
    stats.profiled += 1
    stats.retried += job.attempt > 1
    stats.samples += len(job.scores)
    stats.errored_samples += sum(1 for s in job.scores if s is None)
    if not job.scores:
        stats.skipped_context += 1
    elif (job.context or {}).get("dropped_turns"):
        stats.truncated += 1
    if job.decision is not None and job.scores:
        stats.early_decided += 1
        stats.samples_saved += config.k - len(job.scores)


def retry_rule(config: ProfileConfig) -> Callable[[dict[str, Any]], bool]:
    """Rows with errored samples are redone on resume, up to ``retry_errored`` more attempts."""

    def retry(row: dict[str, Any]) -> bool:
        attempt = int((row.get("metadata") or {}).get("attempt") or 1)
        return bool(row.get("n_errors")) and attempt <= config.retry_errored

    return retry


def attempt_of(writer: ResumableWriter, cid: str) -> int:
    """Which attempt a candidate is on (a row being retried counts one more)."""
    old = writer.retrying.get(cid)
    return 1 if old is None else int((old.get("metadata") or {}).get("attempt") or 1) + 1


def profile_candidates(
    candidates: str | Path,
    output: str | Path,
    policy: Policy,
    config: ProfileConfig | None = None,
    *,
    registry: Registry,
    progress: bool = True,
    resume_mode: str = "resume",
) -> ProfileStats:
    """Profile every candidate of ``candidates`` not yet in ``output``; return the run's counts.

    ``registry`` resolves domains and verifiers. ``resume_mode`` is ``"resume"`` (refuse an output
    written with other settings), ``"fresh"`` (start over) or ``"force"`` (keep its rows).
    """
    config = config or ProfileConfig()
    source = Path(candidates).resolve()
    total = count_candidates(source, config.limit)
    resolver = VerifierResolver(
        registry, domain=config.domain, verifier=config.verifier, options=config.verifier_options
    )
    stats = ProfileStats()
    start = time.perf_counter()
    writer = ResumableWriter(
        output,
        key="candidate_id",
        fingerprint=fingerprint(policy, config, source),
        mode=resume_mode,
        inputs=[source],
        retry=retry_rule(config),
    )
    with writer, profile_progress(total, progress) as bar:
        for batch in chunks(pending_jobs(source, writer, config, stats, bar.skip), config.batch_size):
            jobs = [ProfileJob(c, resolver.spec_for(c), attempt_of(writer, c.id)) for c in batch]
            while active := [j for j in jobs if not j.done]:
                for n, group in sorted(round_sizes(active, config).items()):
                    run_round(policy, group, n, config, resolver, stats)
            for job in jobs:
                writer.write(profile_row(job, policy, config, source))
                account(job, config, stats)
                bar.advance(len(job.scores))
    stats.seconds = time.perf_counter() - start
    return stats
