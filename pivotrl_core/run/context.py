"""What a stage factory of ``pivotrl run`` sees: the config, the run folder, the registry, results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..jsonl import iter_jsonl
from ..registry import Registry
from .config import GenerateSpec, RunConfig, heldout_labels

__all__ = ["RunContext", "count_rows"]


def count_rows(path: Path) -> int:
    """Rows of a JSONL file (0 when it does not exist)."""
    return sum(1 for _ in iter_jsonl(path)) if path.exists() else 0


@dataclass
class RunContext:
    """What a stage factory sees: the config, the run folder, the registry and earlier results."""

    cfg: RunConfig
    out: Path
    registry: Registry
    previous: dict[str, Any] = field(default_factory=dict)  # results recorded by an earlier run
    results: dict[str, Any] = field(default_factory=dict)  # results of this run's stages

    def reference_model(self) -> str:
        """pi_0: the warmed-up model when ``[model] warmup`` is set, else ``[model] name``."""
        warm = self.results.get("warmup") if self.cfg.model.warmup else None
        return warm["model"] if warm else self.cfg.model.name

    def trajectory_files(self) -> list[Path]:
        if self.cfg.data.generate is not None:
            return [self.out / "data" / "trajectories.jsonl"]
        return [Path(p) for p in self.cfg.data.trajectories]

    def heldout_sets(self) -> dict[str, tuple[GenerateSpec | None, Path, Path]]:
        """``label -> (generator call or None, trajectories file, candidates file)``."""
        h, labels = self.cfg.heldout, iter(heldout_labels(self.cfg))
        sets: dict[str, tuple[GenerateSpec | None, Path, Path]] = {}
        for spec in h.generate:
            label = next(labels)
            sets[label] = (spec, self.out / "data" / f"heldout-{label}.jsonl", self.heldout_file(label))
        for p in h.trajectories:
            label = next(labels)
            sets[label] = (None, Path(p), self.heldout_file(label))
        return sets

    def heldout_file(self, label: str) -> Path:
        return self.out / "heldout" / f"{label}.jsonl"
