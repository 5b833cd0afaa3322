"""Turn-level GRPO on pivots: the training loop, to be read top to bottom.

One step (``docs/trainer.md``):

1. take B pivots (a seeded, resumable order);
2. sample G actions for each from the CURRENT policy -- one prefill per prompt, its KV cache
   shared by the G rows -- recording sampling-time log-probabilities, and
3. score every action with the pivot's verifier (the one it was profiled with, unless
   ``verifier`` overrides it; errored verdicts leave the group): both through the one rollout
   path, :func:`~pivotrl_core.rollouts.sample_and_verify`;
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

from ..errors import PivotrlError
from ..jsonl import atomic_output
from ..registry import Registry
from .advantages import compute_advantages, zero_variance_groups
from .checkpoint import check_run_dir, latest_checkpoint, load_checkpoint, save_checkpoint, save_final
from .config import TrainConfig
from .forward import group_logits
from .loss import aggregate, clipped_surrogate, kl_k3, loss_denominator, token_logprobs
from .metrics import MetricsLogger, open_tracker, progress
from .rollout import GroupRollout, sample_groups, step_seed
from .run_state import RunState, build_run, check_resume_config
from .setup import set_lr, trainable_parameters

__all__ = ["TrainResult", "train"]


@dataclass
class TrainResult:
    out: Path
    final: Path
    steps: int
    last_metrics: dict[str, Any]


# -- the optimisation passes ------------------------------------------------------------------


def _logits(model: Any, g: GroupRollout, boundary: int = 0) -> torch.Tensor:
    """(G, T, V) logits of a group's completions, its prompt computed once."""
    return group_logits(model, g.prompt_ids, g.tokens, boundary, g.h_prompt, g.h_comp)


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


def _reference_logprobs(run: RunState, groups: list[GroupRollout]) -> None:
    """Log-probabilities of the sampled tokens under the frozen reference pi_0 (for the KL term)."""
    with torch.no_grad():
        for g in groups:
            if run.reference is None:  # LoRA: the base model is the reference
                with run.model.disable_adapter():
                    logits = _logits(run.model, g)
            else:
                logits = _logits(run.reference, g)
            g.ref_logp, _ = token_logprobs(logits, g.tokens, run.cfg.temperature, with_entropy=False)


def run_step(run: RunState, step: int) -> dict[str, Any]:
    """Sample, verify, compute advantages and optimise for one batch of pivots."""
    cfg = run.cfg
    t0 = time.perf_counter()
    batch = [run.by_id[i] for i in run.sampler.next_batch(cfg.batch_pivots)]
    sampling = replace(run.sampling, seed=step_seed(cfg.seed, step))
    timings: dict[str, float] = {}
    sampled = sample_groups(run.policy, batch, cfg.group_size, sampling, run.resolver, timings)
    groups = [g for g in sampled if g is not None]
    n_errored = sum(1 for g in groups for v in g.verdicts if v.errored)
    t2 = time.perf_counter()
    t1 = t2 - timings.get("verify_s", 0.0)
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


def _maybe_refresh(run: RunState, step: int, row: dict[str, Any]) -> None:
    if run.refresher is None or row.get("frac_zero_variance") is None:
        return
    run.refresher.observe(row["frac_zero_variance"])
    if not run.refresher.due(step):
        return
    result = run.refresher.run(step, run.policy.plain(), run.resolver, run.sampling)
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
    registry: Registry,
    resume: bool = False,
    on_step_end: Callable[[int, dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Run turn-level GRPO on a pivots JSONL file; write checkpoints, metrics and ``final/`` to ``out``.

    ``registry`` resolves each pivot's verifier (:class:`~pivotrl_core.rollouts.VerifierResolver`).
    """
    out, pivots = Path(out), Path(pivots)
    cfg.check_names()  # an unknown tool_format fails before the run folder is touched
    resume = check_run_dir(out, resume)  # False when the folder holds no checkpoint yet
    run = build_run(cfg, pivots, out, registry)
    start = 0
    if resume:
        ckpt = latest_checkpoint(out)
        assert ckpt is not None
        check_resume_config(out, cfg)
        state = load_checkpoint(ckpt, run.model, run.optimizer)
        run.load_state(state)
        start = int(state["step"])
    else:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_output(out / "config.json") as fh:
            fh.write(json.dumps({"kind": "grpo", "train": cfg.to_dict(), "pivots": str(pivots)}, indent=2))
    logger = MetricsLogger(
        out, start, cfg.tensorboard, open_tracker(cfg.tracker, out, cfg.tracker_project, cfg.to_dict())
    )
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
