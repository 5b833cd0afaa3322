"""Functional accuracy on held-out candidates, through the one rollout path.

Each candidate gets ``n_samples`` actions from :func:`~pivotrl_core.rollouts.sample_and_verify`
(greedy by default), with the prompt profiling and training build and the verifier the
candidate was profiled with (``Candidate.verifier``, carried by the pivots) unless the caller
names one. ``accuracy`` = passed / scored over all actions; errored verdicts are excluded from it
and counted; a prompt the policy skipped (too long for its context) counts in ``skipped``.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..jsonl import read_jsonl
from ..policies.base import Policy, SamplingParams
from ..progress import profile_progress
from ..registry import Registry
from ..rollouts import Group, VerifierResolver, sample_and_verify
from ..types import Candidate, Verdict
from .config import EvalConfig

__all__ = ["evaluate_candidates", "evaluate_sets", "mean_std"]

Progress = Callable[[int], None]


def mean_std(values: Sequence[float | None]) -> dict[str, Any]:
    """``{"mean", "std", "n", "values"}`` with the population std (0 for a single value)."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"mean": None, "std": None, "n": 0, "values": []}
    return {
        "mean": statistics.fmean(vals),
        "std": statistics.pstdev(vals) if len(vals) > 1 else 0.0,
        "n": len(vals),
        "values": vals,
    }


def _kind(c: Candidate) -> str:
    return "call" if c.expected.tool_calls else "message"


def _tool(c: Candidate) -> str:
    return ",".join(tc.name for tc in c.expected.tool_calls) or "message"


def _accumulate(table: dict[str, dict[str, float]], key: str, verdict: Verdict) -> None:
    row = table.setdefault(key, {"n": 0, "passed": 0, "errored": 0})
    if verdict.errored:
        row["errored"] += 1
    else:
        row["n"] += 1
        row["passed"] += int(verdict.passed)


def _finish(table: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    return {k: {**v, "accuracy": v["passed"] / v["n"] if v["n"] else None} for k, v in sorted(table.items())}


def _tabulate(groups: Sequence[Group]) -> dict[str, Any]:
    overall: dict[str, dict[str, float]] = {}
    by_kind: dict[str, dict[str, float]] = {}
    by_tool: dict[str, dict[str, float]] = {}
    actions = [
        (g.candidate, c.message, v) for g in groups for c, v in zip(g.completions, g.verdicts, strict=True)
    ]
    for c, _, v in actions:
        _accumulate(overall, "all", v)
        _accumulate(by_kind, _kind(c), v)
        _accumulate(by_tool, _tool(c), v)
    all_row = _finish(overall).get("all", {"n": 0, "passed": 0, "errored": 0, "accuracy": None})
    return {
        "accuracy": all_row["accuracy"],
        "n_candidates": len(groups),
        "n_scored": all_row["n"],
        "n_passed": all_row["passed"],
        "n_errored": all_row["errored"],
        "skipped": sum(1 for g in groups if g.skipped),
        "tool_call_rate": sum(1 for _, a, _ in actions if a.tool_calls) / len(actions) if actions else None,
        "by_kind": _finish(by_kind),
        "by_tool": _finish(by_tool),
    }


def evaluate_candidates(
    policy: Policy,
    candidates: Sequence[Candidate],
    resolver: VerifierResolver,
    *,
    sampling: SamplingParams | None = None,
    n_samples: int = 1,
    batch_size: int = 16,
    advance: Progress | None = None,
) -> dict[str, Any]:
    """Functional accuracy of ``policy`` on held-out candidates (pass@1 averaged over samples).

    ``batch_size`` candidates go to the policy per call; ``advance(n)`` hears of each batch.
    """
    sampling = sampling or SamplingParams(temperature=0.0, max_new_tokens=96)
    groups: list[Group] = []
    for i in range(0, len(candidates), batch_size):
        chunk = candidates[i : i + batch_size]
        groups.extend(sample_and_verify(policy, chunk, n_samples, sampling, resolver=resolver))
        if advance is not None:
            advance(len(chunk))
    return {**_tabulate(groups), "sampling": sampling.to_dict(), "n_samples": n_samples}


def _load(path: str | Path, limit: int | None) -> list[Candidate]:
    cands = list(read_jsonl(path, Candidate.from_dict))[:limit]
    if not cands:
        raise ConfigError(f"{path} holds no candidates; point --candidates at a non-empty JSONL file")
    return cands


def evaluate_sets(
    policy: Policy,
    paths: Sequence[str | Path],
    config: EvalConfig,
    *,
    registry: Registry,
    domain: str | None = None,
) -> dict[str, Any]:
    """Accuracy on each candidates file (a held-out set) and the mean and spread over the sets
    (over the sampling seeds when there is one set and the decoding is sampled)."""
    resolver = VerifierResolver(
        registry, domain=domain, verifier=config.verifier, options=config.verifier_options
    )
    seeds = config.seeds if config.temperature > 0 else config.seeds[:1]
    sets: dict[str, Any] = {}
    for path in paths:
        cands = _load(path, config.limit)
        runs = []
        with profile_progress(len(cands) * len(seeds), config.progress, f"eval {Path(path).stem}") as bar:
            for seed in seeds:
                runs.append(
                    evaluate_candidates(
                        policy,
                        cands,
                        resolver,
                        sampling=dataclasses.replace(config.sampling(), seed=seed),
                        n_samples=config.n_samples,
                        batch_size=config.batch_size,
                        advance=lambda n: [bar.advance(config.n_samples) for _ in range(n)],
                    )
                )
        result = runs[0]
        if len(runs) > 1:
            result["per_seed"] = [r["accuracy"] for r in runs]
            result["accuracy"] = mean_std(result["per_seed"])["mean"]
        sets[Path(path).stem] = result
    accs = [r["accuracy"] for r in sets.values() if r["accuracy"] is not None]
    if len(sets) == 1:
        accs = next(iter(sets.values())).get("per_seed", accs)
    return {"sets": sets, "summary": {**mean_std(accs), "over": "sets" if len(sets) > 1 else "seeds"}}
