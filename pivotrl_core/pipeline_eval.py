"""The evaluation stages of ``pivotrl run``: the base model pi_0, the PivotRL model, the SFT model.

Each writes ``eval/<label>.json`` (the ``pivotrl eval`` document) with, in addition, a
``validation`` entry: accuracy on the validation pivots of ``pivotrl select``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .pipeline import Stage
from .pipeline_stages import count_rows, heldout_sets, reference_model, write_json

__all__ = ["LABELS", "eval_factories", "evaluate_model"]

LABELS = {"base": "base (pi_0)", "pivotrl": "PivotRL", "sft": "SFT"}


def evaluate_model(cfg: dict[str, Any], out: Path, model: str, kl_reference: str | None) -> dict[str, Any]:
    """Evaluate one model as ``[eval]`` says; return the eval document."""
    from .eval import evaluate, evaluate_sets
    from .policies.base import SamplingParams
    from .policies.prefix_store import DEFAULT_PREFIX_CACHE
    from .registry import get_registry

    ev, domain = cfg["eval"], cfg["run"]["domain"]
    # held-out turns share prefixes (turns of one trajectory, the system prompt): prefill each once
    policy = get_registry().policy(
        "hf", model=model, batch_size=ev["batch_size"], prefix_cache=DEFAULT_PREFIX_CACHE
    )
    sampling = SamplingParams(temperature=ev["temperature"], max_new_tokens=ev["max_new_tokens"])
    files = [c for _, _, c in heldout_sets(cfg, out).values() if count_rows(c)]
    doc = (
        evaluate(
            policy,
            domain=domain,
            candidates=files,
            benchmark=ev["benchmark"] or None,
            benchmark_options=ev["benchmark_options"],
            ood=ev["ood"],
            ood_limit_per_skill=ev["ood_limit_per_skill"] or None,
            reference=kl_reference,
            seeds=ev["seeds"],
            sampling=sampling,
            n_samples=ev["n_samples"],
            limit=ev["limit"] or None,
        )
        if (files or ev["benchmark"] or ev["ood"])
        else {"model": model, "timing": {}}
    )
    val = out / "pivots.val.jsonl"
    if ev["validation"] and count_rows(val):
        doc["validation"] = evaluate_sets(
            policy, domain, [val], ev["seeds"], sampling, ev["n_samples"], ev["limit"] or None
        )
    doc["model"] = model
    policy.close()
    return doc


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
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


def _factory(cfg: dict[str, Any], out: Path, label: str) -> Callable[[dict[str, Any]], Stage | None]:
    def make(results: dict[str, Any]) -> Stage | None:
        ref = reference_model(cfg, results)
        if label == "sft" and not cfg["run"]["with_sft"]:
            return None
        model = ref if label == "base" else str(out / ("train" if label == "pivotrl" else "sft") / "final")
        path = out / "eval" / f"{label}.json"
        upstream = {"base": "warmup", "pivotrl": "train", "sft": "sft"}[label]

        def run(resume: bool) -> dict[str, Any]:
            doc = evaluate_model(cfg, out, model, None if label == "base" else ref)
            doc["label"] = label
            write_json(path, doc)
            return _summary(doc)

        return Stage(
            f"eval-{label}",
            run,
            [path],
            config={"eval": cfg["eval"], "model": model, "domain": cfg["run"]["domain"]},
            after=["heldout", "select", upstream],
            description=f"evaluate {LABELS[label]}: {model}",
        )

    return make


def eval_factories(cfg: dict[str, Any], out: Path) -> list[Callable[[dict[str, Any]], Stage | None]]:
    return [_factory(cfg, out, label) for label in LABELS]
