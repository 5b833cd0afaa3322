"""The stages of ``pivotrl run`` and how each maps onto a ``pivotrl`` command or library call.

Stages call the same commands a user would type (``pivotrl extract``, ``profile``, ``select``,
``train``, ``sft``), in-process, so a run folder can be reproduced by hand from
``docs/pipeline.md``. Each factory returns ``None`` when its stage is not configured.
"""

from __future__ import annotations

import importlib
import inspect
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ConfigError, PivotrlError
from .jsonl import atomic_output, iter_jsonl
from .pipeline import Stage

__all__ = ["build_stages", "invoke", "toml_value"]

Factory = Callable[[dict[str, Any]], Stage | None]


def invoke(argv: list[str]) -> None:
    """Run ``pivotrl ARGV`` in this process; a failing command raises :class:`PivotrlError`."""
    import click

    from .cli import build_cli, cli

    build_cli()
    try:
        cli.main(args=argv, prog_name="pivotrl", standalone_mode=False)
    except click.ClickException as e:
        raise ConfigError(f"`pivotrl {' '.join(argv)}`: {e.format_message()}") from None
    except SystemExit as e:  # the group prints "Error: ..." and exits with the error's code
        if e.code not in (0, None):
            err = PivotrlError(
                f"`pivotrl {' '.join(argv[:2])} ...` failed (exit {e.code}); see the error above"
            )
            err.exit_code = e.code if isinstance(e.code, int) else 1
            raise err from None


def toml_value(v: Any) -> str:
    """A Python value as a TOML literal (for ``--set key=value``)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise ConfigError(f"cannot write {v!r} as a TOML value")


def _sets(fields: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for k, v in fields.items():
        out += ["--set", f"{k}={toml_value(v)}"]
    return out


def _label(argv: list[str], i: int) -> str:
    if "--seed" in argv and argv.index("--seed") + 1 < len(argv):
        return f"seed{argv[argv.index('--seed') + 1]}"
    return f"set{i}"


def count_rows(path: Path) -> int:
    return sum(1 for _ in iter_jsonl(path)) if path.exists() else 0


def reference_model(cfg: dict[str, Any], results: dict[str, Any]) -> str:
    """pi_0: the warmed-up model when ``[model] warmup`` is set, else ``[model] name``."""
    warm = results.get("warmup") if cfg["model"]["warmup"] else None
    return warm["model"] if warm else cfg["model"]["name"]


def trajectory_files(cfg: dict[str, Any], out: Path) -> list[Path]:
    if cfg["data"]["generate"]:
        return [out / "data" / "trajectories.jsonl"]
    return [Path(p) for p in cfg["data"]["trajectories"]]


def heldout_sets(cfg: dict[str, Any], out: Path) -> dict[str, tuple[list[str] | None, Path, Path]]:
    """``label -> (generate argv or None, trajectories file, candidates file)``."""
    sets: dict[str, tuple[list[str] | None, Path, Path]] = {}
    for i, argv in enumerate(cfg["eval"]["heldout_generate"]):
        label = _label(argv, i)
        sets[label] = (argv, out / "data" / f"heldout-{label}.jsonl", out / "heldout" / f"{label}.jsonl")
    for p in cfg["eval"]["heldout_trajectories"]:
        label = Path(p).stem
        sets[label] = (None, Path(p), out / "heldout" / f"{label}.jsonl")
    return sets


def _extract_args(cfg: dict[str, Any], inputs: list[Path], output: Path) -> list[str]:
    ex = cfg["extract"]
    argv = [
        "extract",
        *map(str, inputs),
        "--domain",
        cfg["run"]["domain"],
        "--reasoning",
        ex["reasoning"],
        "-o",
        str(output),
    ]
    if cfg["data"]["format"]:
        argv += ["--format", cfg["data"]["format"]]
    if ex["drop_multi_call"]:
        argv.append("--drop-multi-call")
    if ex["dedupe"]:
        argv.append("--dedupe")
    return argv


# -- stage factories --------------------------------------------------------------------------


def build_stages(cfg: dict[str, Any], out: Path) -> list[Factory]:
    """The ordered stage factories of a run."""
    from .pipeline_eval import eval_factories
    from .report import report_factory

    return [
        _generate(cfg, out),
        _heldout(cfg, out),
        _warmup(cfg, out),
        _extract(cfg, out),
        _profile(cfg, out),
        _select(cfg, out),
        _train(cfg, out),
        _sft(cfg, out),
        *eval_factories(cfg, out),
        report_factory(cfg, out),
    ]


def _generate(cfg: dict[str, Any], out: Path) -> Factory:
    def make(results: dict[str, Any]) -> Stage | None:
        argv = cfg["data"]["generate"]
        if not argv:
            return None
        path = out / "data" / "trajectories.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        return Stage(
            "generate",
            lambda resume: invoke([*argv, "-o", str(path)]) or {"rows": count_rows(path)},
            [path],
            config={"argv": argv},
            description="pivotrl " + " ".join(argv),
        )

    return make


def _heldout(cfg: dict[str, Any], out: Path) -> Factory:
    def make(results: dict[str, Any]) -> Stage | None:
        sets = heldout_sets(cfg, out)
        if not sets:
            return None

        def run(resume: bool) -> dict[str, Any]:
            counts = {}
            for label, (argv, traj, cands) in sets.items():
                traj.parent.mkdir(parents=True, exist_ok=True)
                if argv is not None:
                    invoke([*argv, "-o", str(traj)])
                invoke(_extract_args(cfg, [traj], cands))
                counts[label] = count_rows(cands)
            return {"candidates": counts}

        outputs = [c for _, _, c in sets.values()] + [t for a, t, _ in sets.values() if a is not None]
        external = [t for a, t, _ in sets.values() if a is None]
        return Stage(
            "heldout",
            run,
            outputs,
            inputs=external,
            config={
                "sets": {k: v[0] for k, v in sets.items()},
                "extract": cfg["extract"],
                "domain": cfg["run"]["domain"],
            },
            description=f"{len(sets)} held-out set(s)",
        )

    return make


def _warmup(cfg: dict[str, Any], out: Path) -> Factory:
    def make(results: dict[str, Any]) -> Stage | None:
        spec = cfg["model"]["warmup"]
        if not spec:
            return None
        module, _, fn_name = spec.partition(":")
        try:
            fn = getattr(importlib.import_module(module), fn_name)
        except (ImportError, AttributeError) as e:
            raise ConfigError(
                f"[model] warmup = {spec!r} cannot be loaded ({e}); install the plugin that provides it"
            ) from None
        cached = ((results.get("_previous") or {}).get("warmup") or {}).get("model")
        opts = dict(cfg["model"]["warmup_options"])
        if "model" in inspect.signature(fn).parameters:  # else the function picks its own base model
            opts.setdefault("model", cfg["model"]["name"])

        def run(resume: bool) -> dict[str, Any]:
            path = str(fn(**opts))
            return {"model": path, "outputs": [path]}

        outputs = [Path(cached)] if cached else []
        return Stage(
            "warmup",
            run,
            outputs,
            config={"warmup": spec, "options": opts},
            clean=[],
            description=f"{spec} (cached after its first build)",
        )

    return make


def _extract(cfg: dict[str, Any], out: Path) -> Factory:
    def make(results: dict[str, Any]) -> Stage:
        inputs = trajectory_files(cfg, out)
        path = out / "candidates.jsonl"
        return Stage(
            "extract",
            lambda resume: invoke(_extract_args(cfg, inputs, path)) or {"rows": count_rows(path)},
            [path],
            config={
                "extract": cfg["extract"],
                "domain": cfg["run"]["domain"],
                "format": cfg["data"]["format"],
            },
            inputs=[] if cfg["data"]["generate"] else inputs,
            after=["generate"] if cfg["data"]["generate"] else [],
            description="trajectories -> candidates",
        )

    return make


def _profile(cfg: dict[str, Any], out: Path) -> Factory:
    def make(results: dict[str, Any]) -> Stage:
        p, ref = cfg["profile"], reference_model(cfg, results)
        path = out / "profiles.jsonl"
        argv = [
            "profile",
            str(out / "candidates.jsonl"),
            "--model",
            ref,
            "--k",
            str(p["k"]),
            "--domain",
            cfg["run"]["domain"],
            "--temperature",
            str(p["temperature"]),
            "--top-p",
            str(p["top_p"]),
            "--max-new-tokens",
            str(p["max_new_tokens"]),
            "--seed",
            str(cfg["run"]["seed"]),
            "--batch-size",
            str(p["batch_size"]),
            "--max-mean",
            str(cfg["select"]["max_mean"]),
            "-o",
            str(path),
        ]
        argv += ["--early-stop"] if p["early_stop"] else []
        argv += ["--save-samples"] if p["save_samples"] else []
        argv += ["--limit", str(p["limit"])] if p["limit"] else []
        return Stage(
            "profile",
            lambda resume: invoke(argv) or {"rows": count_rows(path), "model": ref},
            [path],
            config={"argv": argv},
            after=["extract", "warmup"],
            resumable=True,
            description=f"K={p['k']} samples per candidate from pi_0 = {ref}",
        )

    return make


def _select(cfg: dict[str, Any], out: Path) -> Factory:
    def make(results: dict[str, Any]) -> Stage:
        s = cfg["select"]
        path, val = out / "pivots.jsonl", out / "pivots.val.jsonl"
        argv = [
            "select",
            str(out / "profiles.jsonl"),
            "--max-mean",
            str(s["max_mean"]),
            "--min-std",
            str(s["min_std"]),
            "--val-fraction",
            str(s["val_fraction"]),
            "--seed",
            str(cfg["run"]["seed"]),
            "--candidates",
            str(out / "candidates.jsonl"),
            "--report-dir",
            str(out / "select"),
            "-o",
            str(path),
        ]

        def run(resume: bool) -> dict[str, Any]:
            invoke(argv)
            n = count_rows(path)
            if n == 0:
                raise PivotrlError(
                    "select kept no training pivots: every candidate was all-pass or all-fail "
                    "under pi_0. Raise [profile] k or [select] max_mean, or profile more candidates."
                )
            return {"train": n, "val": count_rows(val)}

        return Stage(
            "select",
            run,
            [path, val, out / "select"],
            config={"argv": argv},
            after=["profile"],
            description=f"var > 0 and mean < {s['max_mean']}",
        )

    return make


def _trainer_sets(cfg: dict[str, Any], table: str, ref: str) -> list[str]:
    fields = {"seed": cfg["run"]["seed"], **cfg[table], "model": ref}
    return _sets(fields)


def _train_like(
    name: str,
    cfg: dict[str, Any],
    out: Path,
    argv_head: list[str],
    ref: str,
    after: list[str],
    description: str,
) -> Stage:
    folder = out / name
    argv = [*argv_head, *_trainer_sets(cfg, "train" if name == "train" else "sft", ref), "-o", str(folder)]

    def run(resume: bool) -> dict[str, Any]:
        from .train.checkpoint import latest_checkpoint

        if resume and latest_checkpoint(folder) is None:
            resume = False
        if not resume and folder.exists():
            shutil.rmtree(folder)
        invoke([*argv, "--resume"] if resume else argv)
        return {"model": str(folder / "final")}

    return Stage(
        name,
        run,
        [folder / "final"],
        config={"argv": argv},
        after=after,
        resumable=True,
        description=description,
        clean=[],
    )


def _train(cfg: dict[str, Any], out: Path) -> Factory:
    def make(results: dict[str, Any]) -> Stage:
        ref = reference_model(cfg, results)
        return _train_like(
            "train",
            cfg,
            out,
            ["train", str(out / "pivots.jsonl")],
            ref,
            ["select", "warmup"],
            "turn-level GRPO on the pivots",
        )

    return make


def _sft(cfg: dict[str, Any], out: Path) -> Factory:
    def make(results: dict[str, Any]) -> Stage | None:
        if not cfg["run"]["with_sft"]:
            return None
        ref = reference_model(cfg, results)
        inputs = trajectory_files(cfg, out)
        return _train_like(
            "sft",
            cfg,
            out,
            ["sft", *map(str, inputs)],
            ref,
            ["generate", "warmup"],
            "SFT baseline on the same trajectories",
        )

    return make


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as fh:
        fh.write(json.dumps(doc, indent=2))
