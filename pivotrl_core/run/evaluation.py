"""The evaluation stages of ``pivotrl run``: pi_0, the PivotRL model and the SFT model.

Each writes ``eval/<label>.json`` (the ``pivotrl eval`` document) with, in addition, a
``validation`` entry: accuracy on the validation pivots of ``select``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..eval import build_eval_policy, evaluate, evaluate_sets
from ..jsonl import atomic_output
from ..select import val_path
from . import command_lines as cl
from .context import RunContext, count_rows
from .engine import Stage

__all__ = ["LABELS", "eval_stages", "eval_summary", "evaluate_model"]

LABELS = {"base": "base (pi_0)", "pivotrl": "PivotRL", "sft": "SFT"}


def evaluate_model(ctx: RunContext, model: str, reference: str | None) -> dict[str, Any]:
    """Evaluate one model as ``[eval]`` and ``[heldout]`` say; return the eval document."""
    cfg, ev = ctx.cfg, ctx.cfg.eval
    policy = build_eval_policy(ctx.registry, model, ev, cfg.model.policy, cfg.model.policy_options)
    files = [c for _, _, c in ctx.heldout_sets().values() if count_rows(c)]
    try:
        if files or ev.benchmark or ev.ood:
            doc = evaluate(
                policy,
                ev,
                domain=cfg.run.domain,
                candidates=files,
                reference=reference,
                registry=ctx.registry,
            )
        else:
            doc = {"model": model, "timing": {}}
        val = val_path(ctx.out / "pivots.jsonl")
        if cfg.heldout.validation and count_rows(val):
            doc["validation"] = evaluate_sets(policy, [val], ev, domain=cfg.run.domain, registry=ctx.registry)
    finally:
        policy.close()
    doc["model"] = model
    return doc


def eval_summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of an evaluation document (held-out, validation, benchmark, OOD)."""
    out: dict[str, Any] = {}
    if "held_out" in doc:
        out["held_out"] = doc["held_out"]["summary"]["mean"]
    if "validation" in doc:
        out["validation"] = doc["validation"]["summary"]["mean"]
    if "benchmark" in doc:
        out["benchmark"] = doc["benchmark"].get("pass^1")
    if "ood" in doc:
        out["ood"] = doc["ood"]["accuracy"]
    return out


def _eval_stage(label: str) -> Callable[[RunContext], Stage | None]:
    def make(ctx: RunContext) -> Stage | None:
        if label == "sft" and not ctx.cfg.run.with_sft:
            return None
        ref = ctx.reference_model()
        model = (
            ref if label == "base" else str(ctx.out / ("train" if label == "pivotrl" else "sft") / "final")
        )
        reference = None if label == "base" else ref
        path = ctx.out / "eval" / f"{label}.json"

        def run(resume: bool) -> dict[str, Any]:
            doc = evaluate_model(ctx, model, reference)
            doc["label"] = label
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(path) as fh:
                fh.write(json.dumps(doc, indent=2))
            return eval_summary(doc)

        files: list[Path] = [c for _, _, c in ctx.heldout_sets().values()]
        return Stage(
            f"eval-{label}",
            run,
            [path],
            config={
                "eval": dataclasses.asdict(ctx.cfg.eval),
                "validation": ctx.cfg.heldout.validation,
                "model": model,
                "policy": ctx.cfg.model.policy,
                "options": ctx.cfg.model.policy_options,
            },
            after=["heldout", "select", {"base": "warmup", "pivotrl": "train", "sft": "sft"}[label]],
            description=f"evaluate {LABELS[label]}: {model}",
            command=cl.eval_command(model, ctx.cfg.run.domain, files, ctx.cfg.eval, reference, path),
        )

    return make


def eval_stages() -> list[Callable[[RunContext], Stage | None]]:
    """The factories of ``eval-base``, ``eval-pivotrl`` and ``eval-sft``."""
    return [_eval_stage(label) for label in LABELS]
