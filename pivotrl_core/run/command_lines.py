"""The ``pivotrl ...`` command line equivalent to each stage, written into ``manifest.json``.

The stages call library functions, not the CLI; these lines are for humans who want to re-run
one stage by hand. Options are written only where they differ from the command's default.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..domains import ExtractOptions
from ..eval import EvalConfig
from ..profile import ProfileConfig
from ..select import SelectConfig
from .config import GenerateSpec

__all__ = [
    "domain_call",
    "eval_command",
    "extract_command",
    "profile_command",
    "select_command",
    "toml_value",
    "trainer_command",
]


def toml_value(v: Any) -> str:
    """A Python value as a TOML literal (for ``--set key=value``)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, str)):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
    return json.dumps(str(v))


def _line(argv: Sequence[Any]) -> str:
    return shlex.join(["pivotrl", *map(str, argv)])


def _options(pairs: Mapping[str, Any], flag: str) -> list[str]:
    return [a for k, v in pairs.items() for a in (flag, f"{k}={toml_value(v)}")]


def domain_call(domain: str, what: str, kwargs: Mapping[str, Any], output: Path | None = None) -> str:
    """A domain capability as a call, e.g. ``Domain('tool-use').generate(n=8, seed=1, split='train')``."""
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"Domain({domain!r}).{what}({args})" + (f" -> {output}" if output else "")


def generate_kwargs(spec: GenerateSpec, default_split: str) -> dict[str, Any]:
    return {"n": spec.n, "seed": spec.seed, "split": spec.split or default_split}


def extract_command(inputs: Sequence[Path], output: Path, options: ExtractOptions, fmt: str | None) -> str:
    argv: list[Any] = ["extract", *inputs, "--domain", options.domain, "--reasoning", options.reasoning]
    argv += ["--format", fmt] if fmt else []
    argv += ["--drop-multi-call"] if options.multi_call == "drop" else []
    argv += ["--dedupe"] if options.dedupe else []
    return _line([*argv, "-o", output])


def profile_command(
    candidates: Path, output: Path, model: str, policy: str, options: Mapping[str, Any], cfg: ProfileConfig
) -> str:
    s = cfg.sampling
    argv: list[Any] = ["profile", candidates, "--policy", policy, "--model", model, "--k", cfg.k]
    argv += ["--domain", cfg.domain] if cfg.domain else []
    argv += ["--verifier", cfg.verifier] if cfg.verifier else []
    argv += _options(cfg.verifier_options, "--verifier-option")
    argv += ["--temperature", s.temperature, "--top-p", s.top_p, "--max-new-tokens", s.max_new_tokens]
    argv += ["--seed", s.seed, "--batch-size", cfg.batch_size, "--max-mean", cfg.max_mean]
    argv += ["--early-stop"] if cfg.early_stop else []
    argv += ["--save-samples"] if cfg.save_samples else []
    argv += ["--limit", cfg.limit] if cfg.limit is not None else []
    argv += _options(options, "--policy-option")
    return _line([*argv, "-o", output])


def select_command(
    profiles: Path, output: Path, cfg: SelectConfig, candidates: Path, report_dir: Path
) -> str:
    argv: list[Any] = ["select", profiles, "--max-mean", cfg.max_mean, "--min-std", cfg.min_std]
    argv += ["--val-fraction", cfg.val_fraction, "--seed", cfg.seed, "--candidates", candidates]
    return _line([*argv, "--report-dir", report_dir, "-o", output])


def trainer_command(kind: str, inputs: Sequence[Path], cfg: Any, output: Path) -> str:
    """``pivotrl train|sft INPUTS --set field=value ... -o OUT`` for the fields off their defaults."""
    defaults = type(cfg)()
    changed = {
        f.name: getattr(cfg, f.name)
        for f in dataclasses.fields(cfg)
        if getattr(cfg, f.name) != getattr(defaults, f.name)
    }
    return _line([kind, *inputs, *_options(changed, "--set"), "-o", output])


def eval_command(
    model: str,
    domain: str,
    candidates: Sequence[Path],
    cfg: EvalConfig,
    reference: str | None,
    output: Path,
) -> str:
    argv: list[Any] = ["eval", "--model", model, "--domain", domain]
    argv += [a for c in candidates for a in ("--candidates", c)]
    argv += ["--benchmark", cfg.benchmark] if cfg.benchmark else []
    argv += _options(cfg.benchmark_options, "--benchmark-option")
    argv += ["--ood"] if cfg.ood else []
    argv += ["--ood-limit", cfg.ood_limit_per_skill] if cfg.ood_limit_per_skill is not None else []
    argv += ["--reference", reference] if reference else []
    argv += ["--seeds", ",".join(map(str, cfg.seeds)), "--temperature", cfg.temperature]
    argv += ["--n-samples", cfg.n_samples, "--max-new-tokens", cfg.max_new_tokens]
    argv += ["--limit", cfg.limit] if cfg.limit is not None else []
    return _line([*argv, "--batch-size", cfg.batch_size, "-o", output])
