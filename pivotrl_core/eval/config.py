"""The settings of one evaluation (the flags of ``pivotrl eval``, the ``[eval]`` table of a run)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..policies.base import SamplingParams

__all__ = ["EvalConfig"]


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate and how; each field's ``metadata["help"]`` documents it."""

    temperature: float = field(default=0.0, metadata=_help("Held-out sampling temperature (0 = greedy)."))
    max_new_tokens: int = field(default=96, metadata=_help("Longest held-out action in tokens."))
    n_samples: int = field(default=1, metadata=_help("Actions per held-out candidate."))
    seeds: tuple[int, ...] = field(
        default=(0,), metadata=_help("Sampling seeds of sampled (temperature > 0) held-out evaluation.")
    )
    limit: int | None = field(default=None, metadata=_help("Evaluate at most N candidates per set."))
    batch_size: int = field(default=16, metadata=_help("Prompts sampled together (and the hf decode batch)."))
    benchmark: str | None = field(
        default=None, metadata=_help("The domain's benchmark adapter to run (e.g. `episodes`).")
    )
    benchmark_options: dict[str, Any] = field(
        default_factory=dict, metadata=_help("Keyword arguments of the benchmark adapter.")
    )
    ood: bool = field(default=False, metadata=_help("Run the OOD probe suite (KL with a reference)."))
    ood_limit_per_skill: int | None = field(
        default=None, metadata=_help("Use the first N probes of each OOD skill (None = all).")
    )
    verifier: str | None = field(
        default=None,
        metadata=_help("Score held-out actions with this verifier instead of the pivots' recorded one."),
    )
    verifier_options: dict[str, Any] = field(default_factory=dict, metadata=_help("Options of `verifier`."))
    progress: bool = field(default=True, metadata=_help("Show progress bars on stderr."))

    def __post_init__(self) -> None:
        if self.n_samples < 1:
            raise ConfigError(f"n_samples must be at least 1 (got {self.n_samples})", flag="--n-samples")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1 (got {self.max_new_tokens})")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1 (got {self.batch_size})", flag="--batch-size")
        if not self.temperature >= 0:
            raise ConfigError(f"temperature must be >= 0 (got {self.temperature})", flag="--temperature")
        if not self.seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in self.seeds):
            raise ConfigError(f"seeds must be a non-empty list of integers (got {list(self.seeds)})")
        if self.limit is not None and self.limit < 0:
            raise ConfigError(f"limit must be >= 0 (got {self.limit})", flag="--limit")
        if self.verifier_options and not self.verifier:
            raise ConfigError("verifier options need a verifier name", flag="--verifier-option")
        object.__setattr__(self, "seeds", tuple(self.seeds))

    def sampling(self, seed: int | None = None) -> SamplingParams:
        """The held-out sampling settings (``seed``: the first of :attr:`seeds` by default)."""
        return SamplingParams(
            temperature=self.temperature,
            max_new_tokens=self.max_new_tokens,
            seed=self.seeds[0] if seed is None else seed,
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["seeds"] = list(self.seeds)
        return d


def field_docs() -> dict[str, str]:
    """``{field: help}`` of :class:`EvalConfig` (for the docs of the ``[eval]`` table)."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(EvalConfig)}
