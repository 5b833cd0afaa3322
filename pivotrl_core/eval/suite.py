"""``evaluate``: the parts of an evaluation a caller asks for, as one ``eval.json`` document."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..policies.base import Policy
from ..policies.models import load_model
from ..progress import profile_progress
from ..registry import Registry
from .benchmark import run_benchmark
from .config import EvalConfig
from .heldout import evaluate_sets
from .ood import evaluate_ood, load_probes

__all__ = ["EVAL_PREFIX_CACHE", "build_eval_policy", "evaluate"]

#: Prompts whose prefill the ``hf`` policy keeps: held-out turns of one trajectory and episodes
#: share long prefixes, so each is prefilled once.
EVAL_PREFIX_CACHE = 8


def build_eval_policy(
    registry: Registry,
    model: str,
    config: EvalConfig,
    policy: str = "hf",
    options: dict[str, Any] | None = None,
) -> Policy:
    """The policy ``evaluate`` uses for a model name (``hf``: prefix cache and decode batch set)."""
    opts = dict(options or {})
    if policy == "hf":
        opts = {"batch_size": config.batch_size, "prefix_cache": EVAL_PREFIX_CACHE, **opts}
    return registry.policy(policy, model=model, **opts)


def _check(config: EvalConfig, candidates: Sequence[str | Path], domain: str | None) -> None:
    if not (candidates or config.benchmark or config.ood):
        raise ConfigError(
            "nothing to evaluate: pass --candidates FILE, --benchmark NAME (with --domain) or --ood"
        )
    if config.benchmark and not domain:
        raise ConfigError(
            "--benchmark needs --domain to find the adapter, e.g. --domain tool-use --benchmark episodes"
        )


def _ood(policy: Policy, config: EvalConfig, reference: str | None) -> dict[str, Any]:
    ref_model = load_model(reference) if reference is not None else None
    probes = load_probes(limit_per_skill=config.ood_limit_per_skill)
    with profile_progress(len(probes), config.progress, "eval OOD probes") as bar:
        doc = evaluate_ood(
            policy, probes, reference_model=ref_model, advance=lambda n: [bar.advance(1) for _ in range(n)]
        )
    return {**doc, "reference": reference}


def evaluate(
    model: str | Policy,
    config: EvalConfig | None = None,
    *,
    registry: Registry,
    domain: str | None = None,
    candidates: Sequence[str | Path] = (),
    reference: str | None = None,
    policy: str = "hf",
    policy_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the requested parts for one model and return the ``eval.json`` document.

    ``model`` is a model name/folder (loaded with the ``policy`` backend, ``hf`` by default, and
    closed at the end) or a ready policy (left open). Held-out sets are the ``candidates`` files;
    the benchmark adapter gets ``config.benchmark_options``; ``reference`` is pi_0 for the OOD KL.
    """
    config = config or EvalConfig()
    _check(config, candidates, domain)
    t0 = time.perf_counter()
    owned = isinstance(model, str)
    pol = (
        build_eval_policy(registry, model, config, policy, policy_options)
        if isinstance(model, str)
        else model
    )
    doc: dict[str, Any] = {
        "model": model if isinstance(model, str) else getattr(pol, "model_id", "policy"),
        "policy": getattr(pol, "name", policy),
        "domain": domain,
        "seeds": list(config.seeds),
        "timing": {},
    }
    try:
        if candidates:
            t = time.perf_counter()
            doc["held_out"] = evaluate_sets(pol, candidates, config, registry=registry, domain=domain)
            doc["timing"]["held_out_s"] = time.perf_counter() - t
        if config.benchmark:
            t = time.perf_counter()
            result = run_benchmark(pol, registry, domain or "", config.benchmark, **config.benchmark_options)
            doc["benchmark"] = {"name": config.benchmark, **result}
            doc["timing"]["benchmark_s"] = time.perf_counter() - t
        if config.ood:
            t = time.perf_counter()
            doc["ood"] = _ood(pol, config, reference)
            doc["timing"]["ood_s"] = time.perf_counter() - t
    finally:
        if owned:
            pol.close()
    doc["timing"]["total_s"] = time.perf_counter() - t0
    return _clean(doc)


def _clean(obj: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by None, recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj
