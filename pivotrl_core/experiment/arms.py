"""The stages of one arm x seed: its training turns, its training run, its evaluation.

Every arm starts from the same pi_0 (the shared warm-up) and is evaluated on the same held-out
sets, OOD probes and reasoning-gym items. GRPO arms differ only in their turns (the shared
pivots, or as many turns drawn uniformly from all candidates) and their reward (the domain's
functional verifier, or ``exact`` string match); SFT trains on the same trajectories with the
epochs and learning rate chosen on the validation split; E2E runs multi-turn GRPO on episodes.
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
from pathlib import Path
from typing import Any

from ..eval import build_eval_policy, evaluate
from ..eval.reasoning_gym import evaluate_reasoning_gym, tasks_from
from ..jsonl import atomic_output, iter_jsonl, write_jsonl
from ..policies.models import load_model
from ..registry import Registry
from ..run.context import count_rows
from ..run.engine import Stage
from ..run.evaluation import eval_summary
from .config import ARMS, ExperimentConfig, e2e_for

__all__ = ["ArmPaths", "arm_stages", "eval_stage", "random_turns"]


@dataclasses.dataclass(frozen=True)
class ArmPaths:
    """The shared files an arm reads (written once by the shared stages)."""

    shared: Path
    reference: str  # pi_0
    heldout: list[Path]
    trajectories: list[Path]

    @property
    def pivots(self) -> Path:
        return self.shared / "pivots.jsonl"

    @property
    def candidates(self) -> Path:
        return self.shared / "candidates.jsonl"


def random_turns(candidates: Path, n: int, seed: int, out: Path) -> int:
    """``n`` turns drawn uniformly (without replacement) from every candidate: the ablation's D_cand."""
    rows = [row for _, row in iter_jsonl(candidates)]
    rng = random.Random(f"random-turns|{seed}")
    picked = rng.sample(rows, min(n, len(rows)))
    return write_jsonl(out, picked)


def evaluate_model(
    exp: ExperimentConfig, paths: ArmPaths, model: str, reference: str | None, registry: Registry
) -> dict[str, Any]:
    """The run's evaluation (held-out, benchmark, OOD probes + KL) plus reasoning-gym OOD."""
    cfg = exp.run
    policy = build_eval_policy(registry, model, cfg.eval, cfg.model.policy, cfg.model.policy_options)
    try:
        doc = evaluate(
            policy,
            cfg.eval,
            registry=registry,
            domain=cfg.run.domain,
            candidates=paths.heldout,
            reference=reference,
        )
        s = exp.settings
        if s.ood_reasoning_gym:
            ref_model = load_model(reference) if reference is not None else None
            tasks = tasks_from(s.ood_tasks, s.ood_n_per_task)
            doc["reasoning_gym"] = evaluate_reasoning_gym(
                policy, tasks, seed=s.ood_seed, reference_model=ref_model
            )
    finally:
        policy.close()
    doc["model"] = model
    return doc


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The numbers the table needs from an eval document."""
    out = eval_summary(doc)
    if "ood" in doc:
        out["ood_kl"] = (doc["ood"].get("kl") or {}).get("kl_per_token")
    if "reasoning_gym" in doc:
        out["rg"] = doc["reasoning_gym"]["accuracy"]
        out["rg_by_task"] = {k: v["accuracy"] for k, v in doc["reasoning_gym"]["by_task"].items()}
        out["rg_kl"] = (doc["reasoning_gym"].get("kl") or {}).get("kl_per_token")
    return out


def eval_stage(
    exp: ExperimentConfig, paths: ArmPaths, model: str, folder: Path, registry: Registry, after: list[str]
) -> Stage:
    """``eval``: evaluate ``model`` into ``folder/eval.json`` (KL against pi_0 unless it is pi_0)."""
    path = folder / "eval.json"
    reference = None if model == paths.reference else paths.reference

    def run(resume: bool) -> dict[str, Any]:
        doc = evaluate_model(exp, paths, model, reference, registry)
        with atomic_output(path) as fh:
            fh.write(json.dumps(doc, indent=2))
        return summary(doc)

    s = exp.settings
    return Stage(
        "eval",
        run,
        [path],
        config={
            "eval": dataclasses.asdict(exp.run.eval),
            "model": model,
            "rg": [s.ood_reasoning_gym, s.ood_n_per_task, s.ood_seed, s.ood_tasks],
        },
        inputs=paths.heldout,
        after=after,
        description=f"evaluate {model}",
    )


def _grpo_stages(
    exp: ExperimentConfig, arm: str, seed: int, folder: Path, paths: ArmPaths, registry: Registry
):
    spec = ARMS[arm]
    turns = folder / "turns.jsonl"

    def make_turns(resume: bool) -> dict[str, Any]:
        n = count_rows(paths.pivots)
        if spec.turns == "pivots":
            shutil.copyfile(paths.pivots, turns)
        else:
            random_turns(paths.candidates, n, seed, turns)
        return {"rows": count_rows(turns)}

    cfg = dataclasses.replace(exp.run.train, model=paths.reference, seed=seed)
    if spec.reward == "exact":
        cfg = dataclasses.replace(cfg, verifier="exact", verifier_options={})
    out = folder / "train"

    def run_train(resume: bool) -> dict[str, Any]:
        from ..train.checkpoint import latest_checkpoint  # torch: loaded only when training
        from ..train.grpo import train

        if resume and latest_checkpoint(out) is None:
            resume = False
        if not resume and out.exists():
            shutil.rmtree(out)
        res = train(cfg, turns, out, registry=registry, resume=resume)
        turns_used = res.steps * cfg.batch_pivots * cfg.group_size
        return {"model": str(res.final), "steps": res.steps, "rollout_turns": turns_used}

    return [
        Stage(
            "turns",
            make_turns,
            [turns],
            config={"turns": spec.turns, "seed": seed},
            inputs=[paths.pivots, paths.candidates],
            description=f"{spec.turns} turns",
        ),
        Stage(
            "train",
            run_train,
            [out / "final"],
            config={"train": dataclasses.asdict(cfg)},
            after=["turns"],
            resumable=True,
            clean=[],
            description=f"GRPO, {spec.reward} reward, seed {seed}",
        ),
    ], str(out / "final")


def _sft_stage(exp: ExperimentConfig, seed: int, folder: Path, paths: ArmPaths, chosen: dict[str, float]):
    cfg = dataclasses.replace(exp.run.sft, model=paths.reference, seed=seed, **chosen)
    out = folder / "sft"

    def run(resume: bool) -> dict[str, Any]:
        from ..train.checkpoint import latest_checkpoint  # torch: loaded only when training
        from ..train.sft import train_sft

        if resume and latest_checkpoint(out) is None:
            resume = False
        if not resume and out.exists():
            shutil.rmtree(out)
        final = train_sft(cfg, paths.trajectories, out, resume=resume)
        return {"model": str(final), **chosen}

    stage = Stage(
        "sft",
        run,
        [out / "final"],
        config={"sft": dataclasses.asdict(cfg)},
        inputs=paths.trajectories,
        resumable=True,
        clean=[],
        description=f"SFT {chosen}, seed {seed}",
    )
    return [stage], str(out / "final")


def _e2e_stage(exp: ExperimentConfig, seed: int, folder: Path, paths: ArmPaths):
    cfg = e2e_for(exp, paths.reference, seed)
    out = folder / "e2e"

    def run(resume: bool) -> dict[str, Any]:
        from ..train.e2e import train_e2e  # torch: loaded only when training

        if out.exists():
            shutil.rmtree(out)
        s = train_e2e(cfg, out)
        return {"model": str(out / "final"), "rollout_turns": s["rollout_turns"], "steps": s["steps"]}

    stage = Stage(
        "e2e",
        run,
        [out / "final"],
        config={"e2e": dataclasses.asdict(cfg)},
        description=f"multi-turn GRPO on episodes, seed {seed}",
    )
    return [stage], str(out / "final")


def arm_stages(
    exp: ExperimentConfig,
    arm: str,
    seed: int,
    folder: Path,
    paths: ArmPaths,
    registry: Registry,
    sft_choice: dict[str, float] | None = None,
) -> list[Stage]:
    """The stages of one arm x seed in ``folder`` (base has none: it is evaluated once, shared)."""
    kind = ARMS[arm].kind
    if kind == "grpo":
        stages, model = _grpo_stages(exp, arm, seed, folder, paths, registry)
    elif kind == "sft":
        stages, model = _sft_stage(exp, seed, folder, paths, sft_choice or {})
    elif kind == "e2e":
        stages, model = _e2e_stage(exp, seed, folder, paths)
    else:
        return []
    return [*stages, eval_stage(exp, paths, model, folder, registry, [stages[-1].name])]
