"""The stages of ``pivotrl run``, each a call of the library function, and :func:`run_pipeline`.

generate -> heldout -> warmup -> extract -> profile -> select -> train (-> sft) -> eval-* -> report.
Each factory takes the :class:`RunContext` and returns a :class:`~.engine.Stage`, or ``None``
when its stage is not configured. A stage's key hashes its config object (the dataclass the
library function takes) and its inputs; its ``command`` is the equivalent ``pivotrl ...`` line,
recorded in ``manifest.json`` for humans.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .. import train as training
from ..errors import ConfigError, PivotrlError
from ..eval.suite import EVAL_PREFIX_CACHE
from ..extract import extract_file
from ..formats.openai_chat import OpenAIChatFormat
from ..jsonl import atomic_output, write_jsonl
from ..plugins import get_registry
from ..profile import profile_candidates
from ..registry import Registry
from ..select import select_pivots, val_path
from ..select_report import print_report
from ..select_report import write_report as write_select_report
from ..types import Trajectory
from . import command_lines as cl
from .config import GenerateSpec, RunConfig, load_run_config
from .context import RunContext, count_rows
from .engine import Manifest, PipelineResult, Stage, run_stage
from .evaluation import eval_stages
from .report import report_stage

__all__ = ["build_stages", "preflight", "run_pipeline"]


def _write_trajectories(path: Path, trajectories: Iterable[Trajectory]) -> int:
    """Write a domain generator's trajectories as OpenAI chat JSONL (what ``extract`` reads)."""
    fmt = OpenAIChatFormat()
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_jsonl(path, (fmt.dump(t) for t in trajectories))


def _generate(ctx: RunContext, spec: GenerateSpec, split: str, path: Path) -> int:
    kwargs = cl.generate_kwargs(spec, split)
    generator = ctx.registry.domain(ctx.cfg.run.domain).generate
    assert generator is not None  # preflight checked it
    return _write_trajectories(path, generator(**kwargs))


def _extract(ctx: RunContext, inputs: list[Path], output: Path) -> int:
    domain = ctx.registry.domain(ctx.cfg.extract.domain)
    fmt = ctx.cfg.data.format
    stats = extract_file(
        inputs,
        output,
        ctx.cfg.extract,
        format=fmt,
        formats=ctx.registry.formats(),
        extractor=domain.extractor,
    )
    return stats.candidates_written


def generate_stage(ctx: RunContext) -> Stage | None:
    spec = ctx.cfg.data.generate
    if spec is None:
        return None
    path = ctx.out / "data" / "trajectories.jsonl"
    call = cl.generate_kwargs(spec, "train")
    return Stage(
        "generate",
        lambda resume: {"rows": _generate(ctx, spec, "train", path)},
        [path],
        config={"domain": ctx.cfg.run.domain, **call},
        description=f"{ctx.cfg.run.domain} generate {call}",
        command=cl.domain_call(ctx.cfg.run.domain, "generate", call, path),
    )


def heldout_stage(ctx: RunContext) -> Stage | None:
    sets = ctx.heldout_sets()
    if not sets:
        return None

    def run(resume: bool) -> dict[str, Any]:
        counts = {}
        for label, (spec, traj, cands) in sets.items():
            if spec is not None:
                _generate(ctx, spec, "heldout", traj)
            cands.parent.mkdir(parents=True, exist_ok=True)
            counts[label] = _extract(ctx, [traj], cands)
        return {"candidates": counts}

    generated = {k: cl.generate_kwargs(s, "heldout") for k, (s, _, _) in sets.items() if s is not None}
    return Stage(
        "heldout",
        run,
        [c for _, _, c in sets.values()] + [t for s, t, _ in sets.values() if s is not None],
        inputs=[t for s, t, _ in sets.values() if s is None],
        config={
            "sets": generated,
            "extract": dataclasses.asdict(ctx.cfg.extract),
            "format": ctx.cfg.data.format,
        },
        description=f"{len(sets)} held-out set(s)",
        command="; ".join(
            [cl.domain_call(ctx.cfg.run.domain, "generate", kw, sets[k][1]) for k, kw in generated.items()]
            + [cl.extract_command([t], c, ctx.cfg.extract, ctx.cfg.data.format) for _, t, c in sets.values()]
        ),
    )


def warmup_stage(ctx: RunContext) -> Stage | None:
    m = ctx.cfg.model
    if not m.warmup:
        return None
    warmup = ctx.registry.domain(ctx.cfg.run.domain).warmup
    assert warmup is not None  # preflight checked it
    cached = (ctx.previous.get("warmup") or {}).get("model")

    def run(resume: bool) -> dict[str, Any]:
        path = str(warmup(m.name, **m.warmup_options))
        return {"model": path, "outputs": [path]}

    call = {"model": m.name, **m.warmup_options}
    return Stage(
        "warmup",
        run,
        [Path(cached)] if cached else [],
        config={"domain": ctx.cfg.run.domain, **call},
        clean=[],
        description=f"{ctx.cfg.run.domain} warm-up of {m.name} (cached after its first build)",
        command=cl.domain_call(ctx.cfg.run.domain, "warmup", call),
    )


def extract_stage(ctx: RunContext) -> Stage:
    inputs, path = ctx.trajectory_files(), ctx.out / "candidates.jsonl"
    generated = ctx.cfg.data.generate is not None
    return Stage(
        "extract",
        lambda resume: {"rows": _extract(ctx, inputs, path)},
        [path],
        config={"extract": dataclasses.asdict(ctx.cfg.extract), "format": ctx.cfg.data.format},
        inputs=[] if generated else inputs,
        after=["generate"] if generated else [],
        description="trajectories -> candidates",
        command=cl.extract_command(inputs, path, ctx.cfg.extract, ctx.cfg.data.format),
    )


def profile_policy(cfg: RunConfig) -> tuple[str, dict[str, Any]]:
    """The rollout backend of ``profile`` and its options (``[model] policy_options`` win).

    For ``hf`` the run sizes the decode batch (candidates x K rows) and the prefix cache (the
    candidates of one trajectory share prefixes), as ``pivotrl profile`` does.
    """
    options: dict[str, Any] = {}
    if cfg.model.policy == "hf":
        batch = cfg.profile.batch_size
        options = {"batch_size": batch * cfg.profile.k, "prefix_cache": max(EVAL_PREFIX_CACHE, 2 * batch)}
    return cfg.model.policy, {**options, **cfg.model.policy_options}


def profile_stage(ctx: RunContext) -> Stage:
    cfg, ref = ctx.cfg.profile, ctx.reference_model()
    cands, path = ctx.out / "candidates.jsonl", ctx.out / "profiles.jsonl"
    name, options = profile_policy(ctx.cfg)

    def run(resume: bool) -> dict[str, Any]:
        policy = ctx.registry.policy(name, model=ref, **options)
        try:
            profile_candidates(
                cands, path, policy, cfg, registry=ctx.registry, resume_mode="resume" if resume else "fresh"
            )
        finally:
            policy.close()
        return {"rows": count_rows(path), "model": ref}

    return Stage(
        "profile",
        run,
        [path],
        config={"profile": dataclasses.asdict(cfg), "model": ref, "policy": name, "options": options},
        after=["extract", "warmup"],
        resumable=True,
        description=f"K={cfg.k} samples per candidate from pi_0 = {ref}",
        clean=[path, path.with_name(path.name + ".settings.json")],
        command=cl.profile_command(cands, path, ref, name, options, cfg),
    )


def select_stage(ctx: RunContext) -> Stage:
    cfg, out = ctx.cfg.select, ctx.out
    path, profiles, cands = out / "pivots.jsonl", out / "profiles.jsonl", out / "candidates.jsonl"

    def run(resume: bool) -> dict[str, Any]:
        res = select_pivots(profiles, path, cfg, candidates=cands)
        print_report(write_select_report(res, out / "select"))
        n = count_rows(path)
        if n == 0:
            raise PivotrlError(
                "select kept no training pivots: every candidate was all-pass or all-fail "
                "under pi_0. Raise [profile] k or [select] max_mean, or profile more candidates."
            )
        return {"train": n, "val": count_rows(val_path(path))}

    return Stage(
        "select",
        run,
        [path, val_path(path), out / "select"],
        config={"select": dataclasses.asdict(cfg)},
        after=["profile"],
        description=f"var > 0 and mean < {cfg.max_mean}",
        command=cl.select_command(profiles, path, cfg, cands, out / "select"),
    )


def _trainer_stage(ctx: RunContext, name: str, inputs: list[Path], after: list[str], what: str) -> Stage:
    folder = ctx.out / name
    cfg = dataclasses.replace(getattr(ctx.cfg, name), model=ctx.reference_model())

    def run(resume: bool) -> dict[str, Any]:
        # an interrupted run continues from its last checkpoint (one killed before its first
        # checkpoint is restarted by the trainer itself); a changed one starts from an empty folder
        resume = resume and (folder / "config.json").exists()
        if not resume and folder.exists():
            shutil.rmtree(folder)
        if name == "train":  # `training` loads torch on first use only
            training.train(cfg, inputs[0], folder, registry=ctx.registry, resume=resume)
        else:
            training.train_sft(cfg, inputs, folder, resume=resume)
        return {"model": str(folder / "final")}

    return Stage(
        name,
        run,
        [folder / "final"],
        config={name: dataclasses.asdict(cfg)},
        after=after,
        resumable=True,
        description=what,
        clean=[],
        command=cl.trainer_command(name, inputs, cfg, folder),
    )


def train_stage(ctx: RunContext) -> Stage:
    pivots = [ctx.out / "pivots.jsonl"]
    return _trainer_stage(ctx, "train", pivots, ["select", "warmup"], "turn-level GRPO on the pivots")


def sft_stage(ctx: RunContext) -> Stage | None:
    if not ctx.cfg.run.with_sft:
        return None
    inputs = ctx.trajectory_files()
    return _trainer_stage(ctx, "sft", inputs, ["generate", "warmup"], "SFT baseline on the same trajectories")


Factory = Callable[[RunContext], Stage | None]


def build_stages() -> list[Factory]:
    """The ordered stage factories of a run (each is called once the stages before it ran)."""
    return [
        generate_stage,
        heldout_stage,
        warmup_stage,
        extract_stage,
        profile_stage,
        select_stage,
        train_stage,
        sft_stage,
        *eval_stages(),
        report_stage,
    ]


def preflight(cfg: RunConfig, registry: Registry) -> None:
    """Check what the registry must provide (domain, its capabilities, policy, benchmark) before work."""
    domain = registry.domain(cfg.run.domain)
    where = f"{cfg.source}: [run] domain = {cfg.run.domain!r}"
    if (cfg.data.generate is not None or cfg.heldout.generate) and domain.generate is None:
        raise ConfigError(f"{where} has no generator; use [data] / [heldout] trajectories = [FILE, ...]")
    if cfg.model.warmup and domain.warmup is None:
        raise ConfigError(f"{where} has no warm-up; set [model] warmup = false")
    if cfg.eval.benchmark and cfg.eval.benchmark not in domain.benchmarks:
        known = ", ".join(domain.benchmarks) or "none"
        raise ConfigError(f"{where} has no benchmark {cfg.eval.benchmark!r} (it has: {known})")
    registry.entry("policy", cfg.model.policy)  # unknown names fail here, with "did you mean"


def run_pipeline(
    config: str | Path | dict[str, Any] | RunConfig,
    run_dir: str | Path | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    with_sft: bool | None = None,
    policy: str | None = None,
    say: Callable[[str], None] | None = None,
    registry: Registry | None = None,
) -> PipelineResult:
    """Run (or resume, or skip) every stage of a run config; return what each stage cost."""
    cfg = config if isinstance(config, RunConfig) else load_run_config(config, overrides)
    if with_sft is not None:
        cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, with_sft=with_sft))
    if policy is not None:
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, policy=policy))
    registry = registry or get_registry()
    preflight(cfg, registry)
    out = Path(run_dir) if run_dir is not None else Path("runs") / cfg.run.name
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(out / "config.json") as fh:
        fh.write(json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
    say = say or _console_say()
    manifest = Manifest(out)
    previous = {name: e.get("result") for name, e in manifest.data["stages"].items()}
    ctx = RunContext(cfg, out, registry, previous)
    rows: list[dict[str, Any]] = []
    for make in build_stages():
        stage = make(ctx)
        if stage is None:
            continue
        rows.append(run_stage(stage, manifest, say))
        ctx.results[stage.name] = (manifest.entry(stage.name) or {}).get("result")
    manifest.data["last_run"] = rows
    manifest.save()
    return PipelineResult(run_dir=out, stages=rows, results=ctx.results)


def _console_say() -> Callable[[str], None]:
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    return lambda msg: console.print(msg)
