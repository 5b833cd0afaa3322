"""The state of one GRPO run: what ``train`` builds before its first step and checkpoints after each.

:class:`RunState` holds the model, optimiser, the trainer's rollout policy
(:class:`~pivotrl_core.train.rollout.TrainerPolicy`), the verifier resolver, the pivot order and
the counters a resumed run restores; :func:`build_run` makes it from a :class:`TrainConfig`;
:func:`check_resume_config` refuses a resume whose config changed anything but
:data:`RESUMABLE_CHANGES`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..policies.base import SamplingParams
from ..policies.models import load_model
from ..policies.prefix_cache import BlockStore
from ..registry import Registry
from ..rollouts import VerifierResolver
from .config import TrainConfig
from .data import PivotSampler, load_candidates
from .refresh import Refresher
from .rollout import TrainerPolicy, make_policy
from .setup import build_model, build_optimizer, first_trained_layer, set_seed

__all__ = ["RESUMABLE_CHANGES", "RunState", "build_run", "check_resume_config"]

# config fields that may change when a run is resumed (they do not change the maths)
RESUMABLE_CHANGES = {
    "max_steps",
    "save_every",
    "keep_checkpoints",
    "progress",
    "tensorboard",
    "tracker",
    "tracker_project",
}


@dataclass
class RunState:
    """Everything one step needs; :meth:`state` is what a checkpoint saves beside the weights."""

    cfg: TrainConfig
    out: Path
    model: Any
    tokenizer: Any
    reference: Any
    optimizer: torch.optim.Optimizer
    policy: TrainerPolicy
    resolver: VerifierResolver
    sampler: PivotSampler
    by_id: dict[str, Any]
    sampling: SamplingParams
    refresher: Refresher | None
    boundary: int = 0  # first trained layer when the layers below are frozen (train_top_n_layers)
    rollout_turns: int = 0
    wall_time: float = 0.0

    def state(self) -> dict[str, Any]:
        return {
            "sampler": self.sampler.state_dict(),
            "refresher": self.refresher.state_dict() if self.refresher else None,
            "rollout_turns": self.rollout_turns,
            "wall_time": self.wall_time,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
        if self.refresher is not None and state.get("refresher"):
            self.refresher.load_state_dict(state["refresher"])
        self.rollout_turns = int(state["rollout_turns"])
        self.wall_time = float(state["wall_time"])


def build_run(cfg: TrainConfig, pivots_path: Path, out: Path, registry: Registry) -> RunState:
    pivots = load_candidates(pivots_path)
    pool = load_candidates(cfg.refresh_pool) if cfg.refresh and cfg.refresh_pool else pivots
    set_seed(cfg.seed)
    model, tokenizer = build_model(cfg)
    reference = None
    if cfg.kl_beta > 0 and not cfg.lora:
        reference = load_model(cfg.reference or cfg.model, device=cfg.device, dtype=cfg.dtype).eval()
        reference.requires_grad_(False)
    optimizer = build_optimizer(model, cfg)
    by_id = {c.id: c for c in [*pool, *pivots]}
    boundary = first_trained_layer(model, cfg)
    # the frozen layers' prompt blocks, kept across steps
    frozen = BlockStore(cfg.frozen_cache_mb << 20) if boundary > 0 and cfg.frozen_cache_mb > 0 else None
    return RunState(
        cfg=cfg,
        out=out,
        model=model,
        tokenizer=tokenizer,
        reference=reference,
        optimizer=optimizer,
        policy=make_policy(
            model,
            tokenizer,
            cfg.max_prompt_tokens,
            cfg.device,
            boundary=boundary,
            frozen=frozen,
            tool_format=cfg.tool_format,
        ),
        resolver=VerifierResolver(
            registry, domain=cfg.domain, verifier=cfg.verifier, options=cfg.verifier_options
        ),
        sampler=PivotSampler([c.id for c in pivots], cfg.seed),
        by_id=by_id,
        sampling=SamplingParams(
            temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens
        ),
        refresher=Refresher(cfg, pool, out) if cfg.refresh else None,
        boundary=boundary,
    )


def check_resume_config(out: Path, cfg: TrainConfig) -> None:
    saved = json.loads((out / "config.json").read_text())["train"]
    now = cfg.to_dict()
    changed = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k])
    if changed:
        raise ConfigError(
            f"--resume with a different config: {', '.join(changed)} changed (saved: "
            f"{', '.join(f'{k}={saved.get(k)!r}' for k in changed)}). Resume with the saved config "
            f"({out / 'config.json'}); only {', '.join(sorted(RESUMABLE_CHANGES))} may change."
        )
