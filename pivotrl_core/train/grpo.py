"""Turn-level GRPO on pivots: the training loop, to be read top to bottom.

One step (``docs/trainer.md``):

1. take B pivots (a seeded, resumable order);
2. sample G actions for each from the CURRENT policy -- one prefill per prompt, its KV cache
   shared by the G rows -- recording sampling-time log-probabilities;
3. score every action with the domain's functional verifier (errored verdicts leave the group);
4. group-relative advantages;
5. ``ppo_epochs`` passes of the clipped token-level surrogate (ratios against the sampling-time
   log-probabilities), the prompt computed once per group with gradient, AdamW, gradient clipping;
6. metrics, pivot refresh (optional), checkpoint.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, PivotrlError
from ..jsonl import atomic_output
from ..policies.base import SamplingParams
from .advantages import compute_advantages, zero_variance_groups
from .checkpoint import check_run_dir, latest_checkpoint, load_checkpoint, save_checkpoint, save_final
from .config import TrainConfig
from .data import PivotSampler, load_candidates
from .forward import group_logits, shared_group_logits
from .layers import supports
from .loss import aggregate, clipped_surrogate, kl_k3, loss_denominator, token_logprobs
from .metrics import MetricsLogger, progress
from .prompt_blocks import BlockStore
from .refresh import Refresher
from .rollout import GroupRollout, Verifiers, make_policy, sample_groups, step_seed, verify_groups
from .setup import build_model, build_optimizer, first_trained_layer, set_lr, set_seed, trainable_parameters

__all__ = ["TrainResult", "train"]

# config fields that may change when a run is resumed (they do not change the maths)
RESUMABLE_CHANGES = {"max_steps", "save_every", "keep_checkpoints", "progress", "tensorboard"}


@dataclass
class TrainResult:
    out: Path
    final: Path
    steps: int
    last_metrics: dict[str, Any]


# -- the optimisation passes ------------------------------------------------------------------


def _logits(model: Any, g: GroupRollout, boundary: int = 0) -> torch.Tensor:
    """(G, T, V) logits of a group's completions, its prompt computed once."""
    if supports(model):
        return shared_group_logits(model, g.prompt_ids, g.tokens, boundary, g.h_prompt, g.h_comp)
    return group_logits(model, g.prompt_ids, g.tokens)


def _group_loss(
    model: Any,
    g: GroupRollout,
    adv: torch.Tensor,
    weight: float,
    denom: float,
    cfg: TrainConfig,
    boundary: int = 0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """One group's share of the minibatch loss (prompt once, G completions on top)."""
    logits = _logits(model, g, boundary)  # (G, T, V)
    logp, entropy = token_logprobs(logits, g.tokens, cfg.temperature)  # (G, T)
    per_token, _, clipped = clipped_surrogate(logp, g.old_logp, adv, cfg.clip_eps_low, cfg.clip_eps_high)
    kl_ref = kl_k3(logp, g.ref_logp) if g.ref_logp is not None else None
    if cfg.kl_beta > 0 and kl_ref is not None:
        per_token = per_token + cfg.kl_beta * kl_ref
    if cfg.entropy_coef > 0 and entropy is not None:
        per_token = per_token - cfg.entropy_coef * entropy
    loss = aggregate(per_token * weight, g.mask, cfg.loss_agg, denom)
    m = g.mask
    with torch.no_grad():
        sums = {
            "tokens": float(m.sum()),
            "clip": float((clipped.float() * m).sum()),
            "entropy": float((entropy * m).sum()) if entropy is not None else 0.0,
            "kl_old": float((kl_k3(logp, g.old_logp) * m).sum()),
            "kl_ref": float((kl_ref * m).sum()) if kl_ref is not None else 0.0,
            "loss": float(loss),
        }
    return loss, sums


def optimise(
    model: Any,
    optimizer: torch.optim.Optimizer,
    groups: list[GroupRollout],
    adv: torch.Tensor,
    cfg: TrainConfig,
    boundary: int = 0,
) -> dict[str, float]:
    """``ppo_epochs`` passes over the batch, ``num_minibatches`` optimiser steps per pass."""
    params = list(trainable_parameters(model).values())
    weights = [cfg.message_pivot_weight if not g.candidate.expected.tool_calls else 1.0 for g in groups]
    skippable = cfg.skip_zero_advantage and cfg.kl_beta == 0 and cfg.entropy_coef == 0
    parts = [
        p
        for p in (list(range(len(groups)))[i :: cfg.num_minibatches] for i in range(cfg.num_minibatches))
        if p
    ]
    totals = dict.fromkeys(("tokens", "clip", "entropy", "kl_old", "kl_ref", "loss"), 0.0)
    grad_norms: list[float] = []
    n_updates = 0
    model.train()
    for _epoch in range(cfg.ppo_epochs):
        for part in parts:
            denom = loss_denominator([groups[i].mask for i in part], cfg.loss_agg)
            optimizer.zero_grad(set_to_none=True)
            contributed = False
            for i in part:
                g = groups[i]
                if g.mask.sum() == 0 or (skippable and bool((adv[i] == 0).all())):
                    continue  # no gradient from this group (Proposition 3.1): skip its compute
                loss, sums = _group_loss(model, g, adv[i], weights[i], denom, cfg, boundary)
                if not torch.isfinite(loss):
                    raise PivotrlError(
                        f"the loss became {float(loss)}; lower lr or raise grad_clip's strictness"
                    )
                loss.backward()
                contributed = True
                for k, v in sums.items():
                    totals[k] += v
            if contributed:
                norm = torch.nn.utils.clip_grad_norm_(
                    params, cfg.grad_clip if cfg.grad_clip > 0 else math.inf
                )
                grad_norms.append(float(norm))
                optimizer.step()
                n_updates += 1
    model.eval()
    tok = max(totals["tokens"], 1.0)
    return {
        "loss": totals["loss"] / max(n_updates, 1),
        "clip_frac": totals["clip"] / tok,
        "entropy": totals["entropy"] / tok,
        "kl_old": totals["kl_old"] / tok,
        "kl_ref": totals["kl_ref"] / tok if cfg.kl_beta > 0 else None,
        "grad_norm": sum(grad_norms) / len(grad_norms) if grad_norms else 0.0,
        "updates": n_updates,
        "tokens_trained": totals["tokens"],
    }


# -- one step ---------------------------------------------------------------------------------


def _reference_logprobs(run: _Run, groups: list[GroupRollout]) -> None:
    """Log-probabilities of the sampled tokens under the frozen reference pi_0 (for the KL term)."""
    with torch.no_grad():
        for g in groups:
            if run.reference is None:  # LoRA: the base model is the reference
                with run.model.disable_adapter():
                    logits = _logits(run.model, g)
            else:
                logits = _logits(run.reference, g)
            g.ref_logp, _ = token_logprobs(logits, g.tokens, run.cfg.temperature, with_entropy=False)


def run_step(run: _Run, step: int) -> dict[str, Any]:
    """Sample, verify, compute advantages and optimise for one batch of pivots."""
    cfg = run.cfg
    t0 = time.perf_counter()
    batch = [run.by_id[i] for i in run.sampler.next_batch(cfg.batch_pivots)]
    sampled = sample_groups(
        run.policy,
        batch,
        cfg.group_size,
        replace(run.sampling, seed=step_seed(cfg.seed, step)),
        run.boundary,
        run.frozen_blocks,
    )
    groups = [g for g in sampled if g is not None]
    t1 = time.perf_counter()
    n_errored = verify_groups(groups, run.verifiers)
    t2 = time.perf_counter()
    row: dict[str, Any] = {
        "step": step,
        "lr": set_lr(run.optimizer, cfg, step),
        "pivots": len(batch),
        "skipped_prompts": len(sampled) - len(groups),
        "n_errored": n_errored,
    }
    if groups:
        rewards, valid = (torch.stack(t) for t in zip(*(g.rewards() for g in groups), strict=True))  # (B, G)
        adv = compute_advantages(rewards, valid, cfg.advantage, cfg.adv_eps)  # (B, G)
        if cfg.kl_beta > 0:
            _reference_logprobs(run, groups)
        stats = optimise(run.model, run.optimizer, groups, adv, cfg, run.boundary)
        passed = [v.passed for g in groups for v in g.verdicts if not v.errored]
        r = rewards[valid]
        row.update(
            samples=int(valid.numel()),
            reward_mean=float(r.mean()) if r.numel() else None,
            reward_std=float(r.std(unbiased=False)) if r.numel() else None,
            pass_rate=sum(passed) / len(passed) if passed else None,
            frac_zero_variance=float(zero_variance_groups(rewards, valid).float().mean()),
            adv_abs_mean=float(adv.abs()[valid].mean()) if r.numel() else 0.0,
            completion_len=float(sum(g.mask.sum() for g in groups) / max(1, int(valid.sum()))),
            tokens_sampled=int(sum(sum(len(c.token_ids or ()) for c in g.completions) for g in groups)),
            **stats,
        )
    t3 = time.perf_counter()
    run.rollout_turns += sum(g.group_size for g in groups)
    run.wall_time += t3 - t0
    row.update(
        time_sample=t1 - t0,
        time_verify=t2 - t1,
        time_train=t3 - t2,
        step_time=t3 - t0,
        tokens_per_s=row.get("tokens_sampled", 0) / max(t3 - t0, 1e-9),
        rollout_turns=run.rollout_turns,
        wall_time=run.wall_time,
        n_pivots=len(run.sampler.ids),
    )
    return row


# -- the run ----------------------------------------------------------------------------------


@dataclass
class _Run:
    cfg: TrainConfig
    out: Path
    model: Any
    tokenizer: Any
    reference: Any
    optimizer: torch.optim.Optimizer
    policy: Any
    verifiers: Verifiers
    sampler: PivotSampler
    by_id: dict[str, Any]
    sampling: SamplingParams
    refresher: Refresher | None
    boundary: int = 0  # first trained layer when the layers below are frozen (train_top_n_layers)
    frozen_blocks: BlockStore | None = None  # the frozen layers' prompt blocks, kept across steps
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


def _build_run(cfg: TrainConfig, pivots_path: Path, out: Path) -> _Run:
    pivots = load_candidates(pivots_path)
    pool = load_candidates(cfg.refresh_pool) if cfg.refresh and cfg.refresh_pool else pivots
    set_seed(cfg.seed)
    model, tokenizer = build_model(cfg)
    reference = None
    if cfg.kl_beta > 0 and not cfg.lora:
        from ..policies.models import load_model

        reference = load_model(cfg.reference or cfg.model, device=cfg.device, dtype=cfg.dtype).eval()
        reference.requires_grad_(False)
    optimizer = build_optimizer(model, cfg)
    by_id = {c.id: c for c in [*pool, *pivots]}
    boundary = first_trained_layer(model, cfg)
    return _Run(
        cfg=cfg,
        out=out,
        model=model,
        tokenizer=tokenizer,
        reference=reference,
        optimizer=optimizer,
        policy=make_policy(model, tokenizer, cfg.max_prompt_tokens, cfg.device),
        verifiers=Verifiers(cfg.domain, cfg.verifier, cfg.verifier_options),
        sampler=PivotSampler([c.id for c in pivots], cfg.seed),
        by_id=by_id,
        sampling=SamplingParams(
            temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens
        ),
        refresher=Refresher(cfg, pool, out) if cfg.refresh else None,
        boundary=boundary,
        frozen_blocks=BlockStore(cfg.frozen_cache_mb << 20)
        if boundary > 0 and cfg.frozen_cache_mb > 0
        else None,
    )


def _check_resume_config(out: Path, cfg: TrainConfig) -> None:
    saved = json.loads((out / "config.json").read_text())["train"]
    now = cfg.to_dict()
    changed = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k])
    if changed:
        raise ConfigError(
            f"--resume with a different config: {', '.join(changed)} changed (saved: "
            f"{', '.join(f'{k}={saved.get(k)!r}' for k in changed)}). Resume with the saved config "
            f"({out / 'config.json'}); only {', '.join(sorted(RESUMABLE_CHANGES))} may change."
        )


def _maybe_refresh(run: _Run, step: int, row: dict[str, Any]) -> None:
    if run.refresher is None or row.get("frac_zero_variance") is None:
        return
    run.refresher.observe(row["frac_zero_variance"])
    if not run.refresher.due(step):
        return
    result = run.refresher.run(step, run.policy, run.verifiers, run.sampling)
    if result.applied:
        run.sampler.reset(result.kept)
    row.update(result.to_metrics(), refreshes=run.refresher.count, n_pivots=len(run.sampler.ids))


def _describe(row: dict[str, Any]) -> str:
    rm = row.get("reward_mean")
    reward = f"reward {rm:.3f}" if rm is not None else "no samples"
    return f"{reward}  zero-var {row.get('frac_zero_variance') or 0:.2f}"


def train(
    cfg: TrainConfig,
    pivots: str | Path,
    out: str | Path,
    *,
    resume: bool = False,
    on_step_end: Callable[[int, dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Run turn-level GRPO on a pivots JSONL file; write checkpoints, metrics and ``final/`` to ``out``."""
    out, pivots = Path(out), Path(pivots)
    check_run_dir(out, resume)
    run = _build_run(cfg, pivots, out)
    start = 0
    if resume:
        ckpt = latest_checkpoint(out)
        if ckpt is None:
            raise ConfigError(f"--resume: {out} has no checkpoint to resume from; start it without --resume")
        _check_resume_config(out, cfg)
        state = load_checkpoint(ckpt, run.model, run.optimizer)
        run.load_state(state)
        start = int(state["step"])
    else:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_output(out / "config.json") as fh:
            fh.write(json.dumps({"kind": "grpo", "train": cfg.to_dict(), "pivots": str(pivots)}, indent=2))
    logger = MetricsLogger(out, start, cfg.tensorboard)
    row: dict[str, Any] = {}
    try:
        with progress("grpo", cfg.progress, cfg.max_steps, start, _describe) as advance:
            for step in range(start + 1, cfg.max_steps + 1):
                row = run_step(run, step)
                _maybe_refresh(run, step, row)
                logger.log(row)
                if step % cfg.save_every == 0 or step == cfg.max_steps:
                    save_checkpoint(
                        out,
                        step,
                        run.model,
                        run.optimizer,
                        run.state(),
                        {"kind": "grpo", "train": cfg.to_dict()},
                        keep=cfg.keep_checkpoints,
                    )
                advance(row)
                if on_step_end is not None:
                    on_step_end(step, row)
    finally:
        logger.close()
    final = save_final(out, run.model, run.tokenizer)
    return TrainResult(out=out, final=final, steps=cfg.max_steps, last_metrics=row)
