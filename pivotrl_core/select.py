"""Pivot selection: keep the candidates whose reference-policy outcomes are mixed and hard.

``keep = std > min_std (default 0, i.e. var > 0) and mean < max_mean`` over each profile's
scored samples (errored samples excluded; a row whose samples all errored is ``errored``; a row
the policy skipped for its context length is ``skipped``), and at least ``min_scored`` of the
drawn samples scored (:func:`~pivotrl_core.rollouts.is_pivot`, the filter the trainer's refresh
applies too). Kept pivots are split into train and
validation BY TRAJECTORY: a trajectory goes to validation when a hash of ``(seed,
trajectory_id)`` falls below ``val_fraction``, so no trajectory is in both. Output rows are the
candidate rows plus ``profile`` (the stats) and ``split``; their ``verifier`` is the profile's, so
``train`` and ``eval`` score with the verifier the pivots were selected with. ``docs/profiling.md``
documents the report fields.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, InputError
from .formats.nemo_gym import candidate_to_row
from .jsonl import atomic_output, dumps, read_jsonl
from .rollouts import enough_scored, is_pivot
from .types import Candidate, Profile

__all__ = [
    "CATEGORIES",
    "SelectConfig",
    "SelectResult",
    "classify",
    "in_validation",
    "keep",
    "select_pivots",
    "tool_label",
    "val_path",
]

CATEGORIES = ("all_pass", "all_fail", "constant", "mixed", "errored", "skipped")


@dataclass(frozen=True)
class SelectConfig:
    """Filter thresholds and split settings (the flags of ``pivotrl select``)."""

    max_mean: float = 0.6
    min_std: float = 0.0
    val_fraction: float = 0.1
    seed: int = 0
    format: str = "pivotrl"
    min_scored: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.max_mean <= 1.0:
            raise ConfigError(f"--max-mean (lambda) must be in (0, 1], got {self.max_mean}")
        if not 0.0 <= self.min_std < 0.5:
            raise ConfigError(f"--min-std must be in [0, 0.5), got {self.min_std}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if not 0.0 <= self.min_scored <= 1.0:
            raise ConfigError(f"--min-scored must be in [0, 1], got {self.min_scored}")
        if self.format not in ("pivotrl", "nemo-gym"):
            raise ConfigError(f"--format must be 'pivotrl' or 'nemo-gym', got {self.format!r}")


@dataclass
class SelectResult:
    """What :func:`select_pivots` did: counts and breakdowns (the report's JSON)."""

    config: SelectConfig
    counts: Counter = field(default_factory=Counter)
    per_domain: dict[str, Counter] = field(default_factory=dict)
    per_tool: dict[str, Counter] = field(default_factory=dict)
    pass_rates: list[float] = field(default_factory=list)
    train_trajectories: set[str] = field(default_factory=set)
    val_trajectories: set[str] = field(default_factory=set)
    early_stop_lambdas: set[float] = field(default_factory=set)
    outputs: dict[str, str] = field(default_factory=dict)


def classify(p: Profile) -> str:
    """One of :data:`CATEGORIES` for a profile row."""
    if not p.scores:
        return "skipped" if (p.metadata.get("context") or {}).get("skipped") else "errored"
    mean, std = p.mean, p.std
    if mean is None or std is None:
        return "errored"
    if std > 0:
        return "mixed"
    return "all_pass" if mean >= 1.0 else "all_fail" if mean <= 0.0 else "constant"


def keep(p: Profile, config: SelectConfig) -> bool:
    """The PivotRL filter with ``config``'s thresholds (:func:`~pivotrl_core.rollouts.is_pivot`)."""
    return is_pivot(p, config.max_mean, config.min_std, config.min_scored)


def in_validation(trajectory_id: str, seed: int, fraction: float) -> bool:
    """Deterministic trajectory-level split: hash of ``seed:trajectory_id`` below ``fraction``."""
    digest = hashlib.blake2b(f"{seed}:{trajectory_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < fraction


def tool_label(c: Candidate) -> str:
    """The expected action's tool name (``a+b`` for a batch), or ``message``."""
    names = [tc.name for tc in c.expected.tool_calls]
    return "+".join(names) if names else "message"


def val_path(output: str | Path) -> Path:
    """``pivots.jsonl`` -> ``pivots.val.jsonl`` (the validation split's file)."""
    p = Path(output)
    return p.with_suffix(".val" + p.suffix) if p.suffix else p.with_name(p.name + ".val")


def _load_profiles(path: str | Path) -> dict[str, Profile]:
    profiles: dict[str, Profile] = {}
    for p in read_jsonl(path, Profile.from_dict):
        profiles[p.candidate_id] = p  # a later row for the same candidate wins
    return profiles


def _candidates_path(profiles: dict[str, Profile], given: str | Path | None) -> Path:
    if given is not None:
        return Path(given)
    recorded = {str(p.metadata.get("candidates")) for p in profiles.values() if p.metadata.get("candidates")}
    if len(recorded) == 1:
        path = Path(recorded.pop())
        if path.exists():
            return path
        raise ConfigError(
            f"the profiles name candidates file {path}, which does not exist; pass --candidates"
        )
    raise ConfigError("cannot tell which candidates file the profiles came from; pass --candidates FILE")


def _row_writer(fmt: str) -> Callable[[Candidate, Profile, str], dict[str, Any]]:
    if fmt == "nemo-gym":
        return lambda c, p, split: candidate_to_row(c)

    def pivot_row(c: Candidate, p: Profile, split: str) -> dict[str, Any]:
        stats = {
            "mean": p.mean,
            "std": p.std,
            "k": p.k,
            "n_scored": p.n_scored,
            "n_errors": p.n_errors,
            "scores": list(p.scores),
            "policy": p.policy,
        }
        with_verifier = dataclasses.replace(c, verifier=p.verifier or c.verifier)
        return {**with_verifier.to_dict(), "profile": stats, "split": split}

    return pivot_row


def _tally(res: SelectResult, c: Candidate, p: Profile, kept: bool) -> None:
    cat = classify(p)
    res.counts[cat] += 1
    if cat == "mixed" and not kept:
        if not enough_scored(p, res.config.min_scored):
            res.counts["mixed_too_few_scored"] += 1
        elif (p.mean or 0) >= res.config.max_mean:
            res.counts["mixed_too_easy"] += 1
        else:
            res.counts["mixed_low_std"] += 1
    res.counts["errored_samples"] += p.n_errors
    if (p.metadata.get("early_stop") or {}).get("decision"):
        res.counts["early_stopped"] += 1
        res.early_stop_lambdas.add(float(p.metadata["early_stop"].get("max_mean", res.config.max_mean)))
    for table, key in ((res.per_domain, p.domain or c.domain), (res.per_tool, tool_label(c))):
        table.setdefault(key, Counter())["candidates"] += 1
        table[key]["kept"] += int(kept)
    if p.mean is not None:
        res.pass_rates.append(p.mean)


def _joined(
    cands: str | Path, profiles: dict[str, Profile], res: SelectResult
) -> Iterator[tuple[Candidate, Profile]]:
    seen: set[str] = set()
    for c in read_jsonl(cands, Candidate.from_dict):
        p = profiles.get(c.id)
        if p is None or c.id in seen:
            res.counts["not_profiled" if p is None else "duplicate_candidates"] += 1
            continue
        seen.add(c.id)
        yield c, p
    res.counts["missing_candidates"] = len(set(profiles) - seen)


def select_pivots(
    profiles_path: str | Path,
    output: str | Path,
    config: SelectConfig | None = None,
    *,
    candidates: str | Path | None = None,
) -> SelectResult:
    """Filter profiles, join them with their candidates, write train and validation pivots."""
    config = config or SelectConfig()
    profiles = _load_profiles(profiles_path)
    if not profiles:
        raise InputError("no profile rows", path=profiles_path)
    cands = _candidates_path(profiles, candidates)
    res = SelectResult(config=config)
    to_row = _row_writer(config.format)
    out_val = val_path(output)
    with ExitStack() as stack:
        train_fh = stack.enter_context(atomic_output(output))
        val_fh = stack.enter_context(atomic_output(out_val))
        for c, p in _joined(cands, profiles, res):
            res.counts["profiles"] += 1
            kept = keep(p, config)
            _tally(res, c, p, kept)
            if not kept:
                continue
            val = in_validation(c.trajectory_id, config.seed, config.val_fraction)
            (res.val_trajectories if val else res.train_trajectories).add(c.trajectory_id)
            split = "val" if val else "train"
            (val_fh if val else train_fh).write(dumps(to_row(c, p, split)) + "\n")
            res.counts["kept"] += 1
            res.counts[split] += 1
    res.outputs = {"train": str(output), "val": str(out_val)}
    return res
