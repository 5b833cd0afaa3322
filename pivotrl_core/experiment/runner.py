"""``run_experiment``: shared stages once, then every arm x seed, each resumable and skipped when done.

``EXP/shared`` holds the stages every arm reads (``pivotrl run``'s own stage functions:
generate, heldout, warmup, extract, profile, select) and pi_0's evaluation; ``EXP/shared/validation``
the validation split (never the held-out sets) on which the SFT arm's epochs and learning rate
are chosen (``EXP/sft-search``); ``EXP/arms/<arm>/seed<N>`` one folder per arm and seed, each with
its own ``manifest.json`` (the engine of ``pivotrl run``: a stage is skipped when its key and
outputs are unchanged, resumed when interrupted). ``EXP/summary.json`` gathers every result.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..eval import build_eval_policy, evaluate_sets
from ..eval.reasoning_gym import load_items, tasks_from
from ..jsonl import atomic_output, iter_jsonl
from ..plugins import get_registry
from ..registry import Registry
from ..run.config import HeldoutSettings
from ..run.context import RunContext
from ..run.engine import Manifest, Stage, run_stage
from ..run.stages import (
    extract_stage,
    generate_stage,
    heldout_stage,
    preflight,
    profile_stage,
    select_stage,
    warmup_stage,
)
from .arms import ArmPaths, arm_stages, eval_stage
from .config import ARMS, ExperimentConfig, load_experiment

__all__ = ["ExperimentResult", "run_experiment"]


@dataclass
class ExperimentResult:
    """What a run of the experiment did: every stage row, and the gathered summary."""

    out: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def _run(stages: list[Stage | None], folder: Path, say: Callable[[str], None], where: str) -> list[dict]:
    folder.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(folder)
    rows = []
    for st in stages:
        if st is not None:
            say(f"[cyan]{where}[/cyan]")
            rows.append({"where": where, **run_stage(st, manifest, say)})
    return rows


def _result(folder: Path, stage: str) -> dict[str, Any]:
    e = Manifest(folder).entry(stage) or {}
    return {**(e.get("result") or {}), "seconds": e.get("seconds")}


def _shared(exp: ExperimentConfig, out: Path, registry: Registry, say: Callable[[str], None]):
    """The stages every arm reads, then pi_0's evaluation; returns the arms' shared paths and rows."""
    folder = out / "shared"
    previous = (
        {k: e.get("result") for k, e in Manifest(folder).data["stages"].items()} if folder.exists() else {}
    )
    ctx = RunContext(exp.run, folder, registry, previous)
    rows: list[dict[str, Any]] = []
    manifest_dir = folder
    for make in (generate_stage, heldout_stage, warmup_stage, extract_stage, profile_stage, select_stage):
        rows += _run([make(ctx)], manifest_dir, say, "shared")
        ctx.results[make.__name__.removesuffix("_stage")] = (
            Manifest(folder).entry(make.__name__.removesuffix("_stage")) or {}
        ).get("result")
    heldout = [c for _, _, c in ctx.heldout_sets().values()]
    paths = ArmPaths(folder, ctx.reference_model(), heldout, ctx.trajectory_files())
    if exp.settings.validation:
        vcfg = dataclasses.replace(exp.run, heldout=HeldoutSettings(generate=exp.settings.validation))
        vctx = RunContext(vcfg, folder / "validation", registry)
        rows += _run([heldout_stage(vctx)], folder / "validation", say, "validation")
    if "base" in exp.settings.arms:
        rows += _run(
            [eval_stage(exp, paths, paths.reference, out / "arms" / "base", registry, [])],
            out / "arms" / "base",
            say,
            "base",
        )
    return paths, rows


def _validation_files(out: Path) -> list[Path]:
    return sorted((out / "shared" / "validation" / "heldout").glob("*.jsonl"))


def _sft_search(
    exp: ExperimentConfig, out: Path, paths: ArmPaths, registry: Registry, say
) -> tuple[dict, list]:
    """Choose SFT's (epochs, lr) on the validation split (seed 0 of the grid); the held-out sets never."""
    s = exp.settings
    grid = [{"epochs": e, "lr": lr} for e in s.sft_epochs for lr in s.sft_lr]
    val = _validation_files(out)
    if len(grid) == 1 or not val:
        return grid[0], []
    rows, scores = [], []
    for point in grid:
        folder = out / "sft-search" / f"e{point['epochs']}-lr{point['lr']:g}"
        stages = arm_stages(exp, "sft", 0, folder, paths, registry, point)[:1]
        rows += _run(stages, folder, say, f"sft-search {point}")
        scores.append((_validation_score(exp, folder / "sft" / "final", val, registry), point))
    best = max(scores, key=lambda t: t[0])
    say(f"SFT search on validation: {[(round(a, 3), p) for a, p in scores]} -> {best[1]}")
    (out / "sft-search").mkdir(parents=True, exist_ok=True)
    (out / "sft-search" / "choice.json").write_text(
        json.dumps({"scores": [[a, p] for a, p in scores], "chosen": best[1]}, indent=2), encoding="utf-8"
    )
    return best[1], rows


def _validation_score(exp: ExperimentConfig, model: Path, files: list[Path], registry: Registry) -> float:
    cache = model.parent.parent / "validation.json"
    stamp = str(model.stat().st_mtime_ns)
    if cache.exists():
        doc = json.loads(cache.read_text(encoding="utf-8"))
        if doc.get("stamp") == stamp:
            return float(doc["mean"])
    cfg = exp.run
    pol = build_eval_policy(registry, str(model), cfg.eval, cfg.model.policy, cfg.model.policy_options)
    try:
        doc = evaluate_sets(pol, files, cfg.eval, domain=cfg.run.domain, registry=registry)
    finally:
        pol.close()
    mean = float(doc["summary"]["mean"])
    cache.write_text(json.dumps({"stamp": stamp, "mean": mean}), encoding="utf-8")
    return mean


def _profile_turns(shared: Path) -> int:
    path = shared / "profiles.jsonl"
    return sum(len(row.get("scores") or ()) for _, row in iter_jsonl(path)) if path.exists() else 0


def gather(exp: ExperimentConfig, out: Path) -> dict[str, Any]:
    """Every arm x seed's training and evaluation results (from the manifests)."""
    arms: dict[str, Any] = {}
    for arm in exp.settings.arms:
        if arm == "base":
            arms[arm] = {"seeds": {"-": {"eval": _result(out / "arms" / "base", "eval")}}}
            continue
        stage = {"grpo": "train", "sft": "sft", "e2e": "e2e"}[ARMS[arm].kind]
        seeds = {}
        for seed in exp.settings.seeds:
            folder = out / "arms" / arm / f"seed{seed}"
            seeds[str(seed)] = {"train": _result(folder, stage), "eval": _result(folder, "eval")}
        arms[arm] = {"seeds": seeds}
    stage_seconds = sum(
        float(e.get("seconds") or 0)
        for m in out.rglob("manifest.json")
        for e in json.loads(m.read_text(encoding="utf-8"))["stages"].values()
    )
    return {
        "name": exp.settings.name,
        "stage_seconds_total": round(stage_seconds, 1),
        "quick": exp.quick,
        "size": exp.size,
        "seeds": exp.settings.seeds,
        "profile_turns": _profile_turns(out / "shared"),
        "shared": {k: _result(out / "shared", k) for k in ("warmup", "profile", "select")},
        "arms": arms,
    }


def _check_devices(exp: ExperimentConfig) -> None:
    """A CUDA device named anywhere in the config must exist: refuse before any stage runs."""
    named = {
        "[train] device": exp.run.train.device,
        "[sft] device": exp.run.sft.device,
        "[e2e] device": exp.e2e.device,
        "[model] policy_options.device": str(exp.run.model.policy_options.get("device", "cpu")),
    }
    cuda = {k: v for k, v in named.items() if v.startswith("cuda")}
    if not cuda:
        return
    import torch  # only when a CUDA device is asked for

    if not torch.cuda.is_available():
        where = ", ".join(f"{k} = {v!r}" for k, v in cuda.items())
        hint = "run without --gpu for the CPU sizes" if exp.size == "gpu" else 'set them to "cpu"'
        raise ConfigError(f"{exp.source}: {where}, but torch sees no CUDA device here; {hint}")


def run_experiment(
    config: str | Path | ExperimentConfig,
    out: str | Path,
    *,
    quick: bool = False,
    say: Callable[[str], None] | None = None,
    registry: Registry | None = None,
) -> ExperimentResult:
    """Run (resume, skip) the shared stages and every arm x seed; write ``summary.json``."""
    exp = config if isinstance(config, ExperimentConfig) else load_experiment(config, quick=quick)
    registry = registry or get_registry()
    preflight(exp.run, registry)
    _check_devices(exp)
    if exp.settings.ood_reasoning_gym:
        load_items(tasks_from(exp.settings.ood_tasks, 1))  # installed, and every task's options valid
    root = Path(out)
    say = say or print
    t0 = time.perf_counter()
    paths, rows = _shared(exp, root, registry, say)
    choice: dict[str, float] = {}
    if "sft" in exp.settings.arms:
        choice, more = _sft_search(exp, root, paths, registry, say)
        rows += more
    # seed-major: an interrupted run leaves whole seeds (every arm), not whole arms with missing seeds
    for seed in exp.settings.seeds:
        for arm in (a for a in exp.settings.arms if a != "base"):
            folder = root / "arms" / arm / f"seed{seed}"
            rows += _run(
                arm_stages(exp, arm, seed, folder, paths, registry, choice), folder, say, f"{arm}/seed{seed}"
            )
    summary = gather(exp, root)
    summary["sft_choice"] = choice
    summary["wall_seconds_this_invocation"] = round(time.perf_counter() - t0, 1)
    with atomic_output(root / "summary.json") as fh:
        fh.write(json.dumps(summary, indent=2))
    return ExperimentResult(root, rows, summary)
