"""Offline pivot profiling: K local rollouts per candidate from a frozen policy, verified.

:func:`profile_candidates` streams a candidates file, samples ``k`` next turns per candidate
(several candidates per policy call), scores them with the domain's verifier and appends one
:class:`~pivotrl_core.types.Profile` row per candidate to the output as soon as it is done
(``ResumableWriter``: fsync per row, a torn last line repaired on reopening). Running it again on
the same output skips the candidates already there. ``docs/profiling.md`` documents the row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import early_stop
from .errors import ConfigError
from .jsonl import ResumableWriter, read_jsonl
from .policies.base import Completion, Prompt, SamplingParams
from .registry import get_registry
from .types import Candidate, Message, Profile, Verdict
from .verifiers.base import Verifier

__all__ = ["ProfileConfig", "ProfileStats", "candidate_prompt", "count_candidates", "profile_candidates"]


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

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigError(f"k must be at least 1 (got {self.k}); use --k 8 or more")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1 (got {self.batch_size})")
        if not 0.0 < self.max_mean <= 1.0:
            raise ConfigError(f"max_mean (lambda) must be in (0, 1], got {self.max_mean}")
        if self.verifier_options and not self.verifier:
            raise ConfigError("verifier options need --verifier NAME")


@dataclass
class ProfileStats:
    """Counts of one run; ``samples_saved`` is what ``--early-stop`` did not draw."""

    candidates: int = 0
    already_done: int = 0
    profiled: int = 0
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


def candidate_prompt(candidate: Candidate, system_prompt: str | None = None) -> Prompt:
    """The rollout prompt of a candidate; ``system_prompt`` is prepended when it has none."""
    msgs = candidate.messages
    if system_prompt and not (msgs and msgs[0].role == "system"):
        msgs = (Message(role="system", content=system_prompt), *msgs)
    return Prompt(messages=msgs, tools=candidate.tools)


def count_candidates(path: str | Path, limit: int | None = None) -> int:
    """Parse (and so validate) the candidates up to ``limit``; return how many there are.

    Bad input fails here, naming file, line and field, before anything is sampled or written.
    """
    rows: Iterable[Candidate] = read_jsonl(path, Candidate.from_dict)
    return sum(1 for _ in itertools.islice(rows, limit))


@dataclass
class _Job:
    candidate: Candidate
    domain: str
    prompt: Prompt
    verifier: Verifier
    scores: list[float | None] = field(default_factory=list)
    samples: list[Message] = field(default_factory=list)
    info: list[dict[str, Any]] = field(default_factory=list)
    context: dict[str, Any] | None = None
    decision: str | None = None
    done: bool = False
    rounds: int = 0
    started: float = field(default_factory=time.perf_counter)


class _Resolver:
    """Domain and verifier lookups, cached (one verifier instance per domain)."""

    def __init__(self, config: ProfileConfig) -> None:
        self.config = config
        self.registry = get_registry()
        self._verifiers: dict[str, Verifier] = {}
        if config.domain:
            self.registry.domain(config.domain)  # fail fast on an unknown --domain
        if config.verifier:
            self._fixed = self.registry.verifier(config.verifier, **config.verifier_options)

    def job(self, c: Candidate) -> _Job:
        name = self.config.domain or c.domain
        domain = self.registry.domain(name)
        if self.config.verifier:
            verifier = self._fixed
        else:
            if name not in self._verifiers:
                self._verifiers[name] = self.registry.domain_verifier(name)
            verifier = self._verifiers[name]
        return _Job(c, name, candidate_prompt(c, domain.system_prompt), verifier)


def _pending(
    path: Path, writer: ResumableWriter, limit: int | None, stats: ProfileStats, on_done: Any
) -> Iterator[Candidate]:
    rows: Iterable[Candidate] = read_jsonl(path, Candidate.from_dict)
    if limit is not None:
        rows = itertools.islice(rows, limit)
    seen: set[str] = set()
    for c in rows:
        stats.candidates += 1
        if c.id in writer.done or c.id in seen:
            stats.already_done += c.id in writer.done
            on_done()
            continue
        seen.add(c.id)
        yield c


def _chunks(it: Iterator[Candidate], size: int) -> Iterator[list[Candidate]]:
    while batch := list(itertools.islice(it, size)):
        yield batch


def _round_sizes(jobs: Sequence[_Job], config: ProfileConfig) -> dict[int, list[_Job]]:
    groups: dict[int, list[_Job]] = {}
    min_chunk = config.min_chunk or max(1, config.k // 4)
    for j in jobs:
        n = config.k - len(j.scores)
        if config.early_stop:
            n = early_stop.next_chunk(j.scores, config.k, config.max_mean, min_chunk)
        groups.setdefault(n, []).append(j)
    return groups


def _absorb(
    job: _Job, completions: list[Completion], verdicts: dict[int, Verdict], config: ProfileConfig
) -> None:
    if not completions:  # the policy skipped the prompt (context rule)
        job.done = True
        return
    job.context = completions[0].meta.get("context", job.context)
    for i, c in enumerate(completions):
        v = verdicts.get(i) or Verdict.from_error(c.meta.get("error", "policy error"))
        job.scores.append(v.reward)
        if config.save_samples:
            job.samples.append(c.message)
            job.info.append(
                {
                    "reason": v.reason,
                    "error": v.error,
                    "finish_reason": c.finish_reason,
                    "tokens": len(c.token_ids or ()),
                }
            )
    if config.early_stop:
        job.decision = early_stop.decide(job.scores, config.k, config.max_mean)
    job.done = job.decision is not None or len(job.scores) >= config.k


def _run_round(policy: Any, jobs: list[_Job], n: int, config: ProfileConfig, stats: ProfileStats) -> None:
    sampling = config.sampling
    rounds = {j.rounds for j in jobs}
    if sampling.seed is not None and rounds != {0}:  # a fresh random stream per round
        sampling = dataclasses.replace(sampling, seed=sampling.seed + 7919 * max(rounds))
    results = policy.sample([j.prompt for j in jobs], n, sampling)
    pairs_by_verifier: dict[int, list[tuple[int, int, Candidate, Message]]] = {}
    for ji, (job, comps) in enumerate(zip(jobs, results, strict=True)):
        job.rounds += 1
        if not comps and hasattr(policy, "prepare"):  # skipped by the context rule: say why
            job.context = policy.prepare(job.prompt, sampling.max_new_tokens).to_dict()
        for ci, c in enumerate(comps):
            stats.new_tokens += len(c.token_ids or ())
            if c.finish_reason != "error":
                pairs_by_verifier.setdefault(id(job.verifier), []).append((ji, ci, job.candidate, c.message))
    verdicts: dict[tuple[int, int], Verdict] = {}
    for items in pairs_by_verifier.values():
        verifier = jobs[items[0][0]].verifier
        out = verifier.verify_batch([(c, m) for _, _, c, m in items])
        verdicts.update({(ji, ci): v for (ji, ci, _, _), v in zip(items, out, strict=True)})
    for ji, (job, comps) in enumerate(zip(jobs, results, strict=True)):
        mine = {ci: v for (j, ci), v in verdicts.items() if j == ji}
        _absorb(job, comps, mine, config)


def _row(job: _Job, policy: Any, config: ProfileConfig, source: Path) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "context": job.context,
        "verifier": job.verifier.name,
        "seconds": round(time.perf_counter() - job.started, 3),
        "candidates": str(source),
        "rounds": job.rounds,
    }
    if not job.scores and not (job.context or {}).get("skipped"):
        meta["context"] = {**(job.context or {}), "skipped": "the policy skipped the prompt (context)"}
    if config.early_stop:
        meta["early_stop"] = {
            "max_mean": config.max_mean,
            "decision": job.decision,
            "saved": config.k - len(job.scores) if job.scores else 0,
        }
    if config.save_samples:
        meta["sample_info"] = job.info
    profile = Profile(
        candidate_id=job.candidate.id,
        domain=job.domain,
        trajectory_id=job.candidate.trajectory_id,
        policy=f"{policy.name}:{policy.model_id}",
        k=config.k,
        scores=tuple(job.scores),
        sampling={**config.sampling.to_dict(), "k": config.k},
        samples=tuple(job.samples) if config.save_samples else None,
        metadata=meta,
    )
    return profile.to_dict()


def _account(job: _Job, config: ProfileConfig, stats: ProfileStats) -> None:
    stats.profiled += 1
    stats.samples += len(job.scores)
    stats.errored_samples += sum(1 for s in job.scores if s is None)
    if not job.scores:
        stats.skipped_context += 1
    elif (job.context or {}).get("dropped_turns"):
        stats.truncated += 1
    if job.decision is not None and job.scores:
        stats.early_decided += 1
        stats.samples_saved += config.k - len(job.scores)


@contextlib.contextmanager
def _prefix_reuse(policy: Any, config: ProfileConfig) -> Iterator[None]:
    """Under ``--early-stop``, let an ``hf`` policy keep the batch's prefills between rounds."""
    if not (config.early_stop and getattr(policy, "shared_prefix", False) and policy.prefix_store is None):
        yield
        return
    from .policies.prefix_store import PrefixStore

    policy.prefix_store = PrefixStore(config.batch_size)
    try:
        yield
    finally:
        policy.prefix_store = None


def profile_candidates(
    candidates: str | Path,
    output: str | Path,
    policy: Any,
    config: ProfileConfig | None = None,
    *,
    progress: bool = True,
) -> ProfileStats:
    """Profile every candidate of ``candidates`` not yet in ``output``; return the run's counts."""
    from .progress import profile_progress

    config = config or ProfileConfig()
    source = Path(candidates).resolve()
    total = count_candidates(source, config.limit)
    resolver = _Resolver(config)
    stats = ProfileStats()
    start = time.perf_counter()
    with (
        ResumableWriter(output, key="candidate_id") as writer,
        profile_progress(total, progress) as bar,
        _prefix_reuse(policy, config),
    ):
        for batch in _chunks(_pending(source, writer, config.limit, stats, bar.skip), config.batch_size):
            jobs = [resolver.job(c) for c in batch]
            while active := [j for j in jobs if not j.done]:
                for n, group in sorted(_round_sizes(active, config).items()):
                    _run_round(policy, group, n, config, stats)
            for job in jobs:
                writer.write(_row(job, policy, config, source))
                _account(job, config, stats)
                bar.advance(len(job.scores))
    stats.seconds = time.perf_counter() - start
    return stats
