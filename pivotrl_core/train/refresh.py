"""Pivot refresh (beyond the paper): re-profile the pivot pool with the current policy.

Pivots go stale as the policy improves: groups whose G samples all pass (or all fail) carry no
gradient. When the fraction of such zero-variance groups, averaged over the last
``refresh_window`` steps, exceeds ``refresh_threshold``, the trainer samples ``refresh_k``
actions from the CURRENT policy for (a seeded sample of) the pool through the one rollout path
(:func:`~pivotrl_core.rollouts.sample_and_verify`, the same verifiers as the training steps), and
keeps the candidates with variance > 0 and mean < ``refresh_max_mean`` -- the paper's filter,
:func:`~pivotrl_core.rollouts.is_pivot`, re-applied. The new set replaces the active pivots
(unless it is empty). Each refresh writes its profiles to ``refreshes/step-<step>.jsonl``. Off by
default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ..jsonl import write_jsonl
from ..policies.base import Policy, SamplingParams
from ..rollouts import VerifierResolver, is_pivot, sample_and_verify
from ..types import Candidate, Profile
from .config import TrainConfig
from .rollout import step_seed

__all__ = ["RefreshResult", "Refresher"]


@dataclass
class RefreshResult:
    step: int
    profiled: int
    kept: list[str]
    skipped: int
    applied: bool

    def to_metrics(self) -> dict[str, Any]:
        return {
            "refresh_profiled": self.profiled,
            "refresh_kept": len(self.kept),
            "refresh_applied": self.applied,
        }


class Refresher:
    """Watches the zero-variance fraction and re-selects pivots from ``pool`` when it is due."""

    def __init__(self, cfg: TrainConfig, pool: Sequence[Candidate], out: Path) -> None:
        self.cfg = cfg
        self.pool = list(pool)
        self.out = out
        self.history: list[float] = []
        self.last_step = 0
        self.count = 0

    def observe(self, frac_zero_variance: float) -> None:
        self.history.append(frac_zero_variance)
        self.history = self.history[-self.cfg.refresh_window :]

    def due(self, step: int) -> bool:
        cfg = self.cfg
        if len(self.history) < cfg.refresh_window or step - self.last_step < cfg.refresh_cooldown:
            return False
        return sum(self.history) / len(self.history) > cfg.refresh_threshold

    def _subset(self, step: int) -> list[Candidate]:
        n = min(self.cfg.refresh_max_candidates, len(self.pool))
        g = torch.Generator().manual_seed(step_seed(self.cfg.seed, step, "refresh-pool") & 0xFFFFFFFF)
        return [self.pool[i] for i in sorted(torch.randperm(len(self.pool), generator=g)[:n].tolist())]

    def run(
        self, step: int, policy: Policy, resolver: VerifierResolver, sampling: SamplingParams
    ) -> RefreshResult:
        """Re-profile a sample of the pool with the current policy and pick the new pivots."""
        subset = self._subset(step)
        params = replace(sampling, seed=step_seed(self.cfg.seed, step, "refresh"))
        groups = sample_and_verify(policy, subset, self.cfg.refresh_k, params, resolver=resolver)
        live = [g for g in groups if not g.skipped]
        profiles = [
            Profile(
                candidate_id=g.candidate.id,
                domain=g.candidate.domain,
                trajectory_id=g.candidate.trajectory_id,
                policy=f"train@step{step}",
                k=self.cfg.refresh_k,
                scores=tuple(g.scores),
                sampling=params.to_dict(),
                verifier=g.verifier,
            )
            for g in live
        ]
        write_jsonl(self.out / "refreshes" / f"step-{step:06d}.jsonl", profiles)
        kept = [p.candidate_id for p in profiles if is_pivot(p, self.cfg.refresh_max_mean)]
        self.history.clear()
        self.last_step = step
        self.count += 1
        return RefreshResult(step, len(profiles), kept, len(groups) - len(live), applied=bool(kept))

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history), "last_step": self.last_step, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = list(state["history"])
        self.last_step = int(state["last_step"])
        self.count = int(state["count"])
