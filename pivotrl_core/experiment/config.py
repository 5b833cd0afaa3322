"""``ExperimentConfig``: the TOML of ``pivotrl experiment`` (arms, seeds, SFT search, E2E, OOD).

The experiment builds on one ``pivotrl run`` config (``run_config``, the shared data, pi_0,
profiling, held-out sets and evaluation settings) and says which arms to train from it, with
which seeds. ``[quick]`` replaces some of these for ``--quick`` and ``[gpu]`` for ``--gpu`` (the
same arms at sizes for one CUDA device). Every key is checked before
anything runs; a wrong one stops with exit code 2 naming the file, the line and the key.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from ..errors import ConfigError
from ..run.config import GenerateSpec, RunConfig, load_run_config, merge_overrides
from ..train.e2e import E2EConfig

__all__ = ["ARMS", "ArmSpec", "ExperimentConfig", "load_experiment"]


@dataclass(frozen=True)
class ArmSpec:
    """One arm: which turns it trains on and with which reward (``kind`` for the other arms)."""

    kind: str  # base | sft | grpo | e2e
    turns: str = "pivots"  # pivots | random
    reward: str = "functional"  # functional | exact
    label: str = ""


ARMS: dict[str, ArmSpec] = {
    "base": ArmSpec("base", label="Base (pi_0)"),
    "sft": ArmSpec("sft", label="SFT"),
    "pivotrl": ArmSpec("grpo", "pivots", "functional", "PivotRL (pivots + functional)"),
    "random-functional": ArmSpec("grpo", "random", "functional", "random turns + functional"),
    "random-exact": ArmSpec("grpo", "random", "exact", "random turns + exact match"),
    "pivots-exact": ArmSpec("grpo", "pivots", "exact", "pivots + exact match"),
    "e2e": ArmSpec("e2e", label="E2E RL (episodes)"),
}


@dataclass(frozen=True)
class Settings:
    """``[experiment]``, ``[sft_search]``, ``[e2e]``, ``[ood]``, ``[validation]``, ``[quick]``, ``[gpu]``."""

    __pydantic_config__ = {"extra": "forbid"}

    name: str = "paper-miniature"
    run_config: str = "quickstart.toml"
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    arms: list[str] = field(default_factory=lambda: list(ARMS))
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    validation: list[GenerateSpec] = field(default_factory=list)
    sft_lr: list[float] = field(default_factory=lambda: [2e-5])
    sft_epochs: list[float] = field(default_factory=lambda: [1.0])
    e2e: dict[str, Any] = field(default_factory=dict)
    ood_reasoning_gym: bool = True
    ood_n_per_task: int = 10
    ood_seed: int = 0
    ood_tasks: dict[str, dict[str, Any]] | None = None
    quick: dict[str, Any] = field(default_factory=dict)
    gpu: dict[str, Any] = field(default_factory=dict)


SIZES = ("full", "quick", "gpu")


@dataclass(frozen=True)
class ExperimentConfig:
    """The checked experiment: its settings, the run config the arms share, and the E2E settings."""

    settings: Settings
    run: RunConfig
    e2e: E2EConfig
    source: str
    quick: bool = False
    size: str = "full"  # full | quick | gpu: which replacement table was applied


def _flatten(doc: dict[str, Any]) -> dict[str, Any]:
    """TOML tables -> the flat ``Settings`` fields (``[ood] n_per_task`` -> ``ood_n_per_task``)."""
    flat = dict(doc.pop("experiment", {}))
    flat.update({f"ood_{k}": v for k, v in doc.pop("ood", {}).items()})
    flat.update({f"sft_{k}": v for k, v in doc.pop("sft_search", {}).items()})
    for key in ("overrides", "e2e", "quick", "gpu"):
        if key in doc:
            flat[key] = doc.pop(key)
    if "validation" in doc:
        flat["validation"] = doc.pop("validation").get("generate", [])
    if doc:
        raise KeyError(next(iter(doc)))
    return flat


def _line(text: str, key: str) -> str:
    for i, ln in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*\[?\s*{re.escape(key)}\b", ln):
            return f":{i}"
    return ""


def _apply_size(flat: dict[str, Any], size: str) -> dict[str, Any]:
    table = dict(flat.get(size, {}))
    out = dict(flat)
    out["overrides"] = merge_overrides(flat.get("overrides", {}), table.pop("overrides", {}))
    out["e2e"] = {**flat.get("e2e", {}), **table.pop("e2e", {})}
    out.update(table)
    return out


def load_experiment(path: str | Path, quick: bool = False, gpu: bool = False) -> ExperimentConfig:
    """Read and check an experiment TOML (``quick`` / ``gpu``: with that table's replacements)."""
    p = Path(path)
    if quick and gpu:
        raise ConfigError("--quick and --gpu are two sizes of the experiment: choose one")
    if not p.is_file():
        raise ConfigError(f"experiment config {p} does not exist")
    text = p.read_text(encoding="utf-8")
    try:
        flat = _flatten(tomllib.loads(text))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML ({e})", path=p) from None
    except KeyError as e:
        raise ConfigError(f"{p}{_line(text, e.args[0])}: unknown table [{e.args[0]}]") from None
    size = "quick" if quick else "gpu" if gpu else "full"
    if size != "full":
        if not flat.get(size):
            raise ConfigError(f"{p}: --{size} needs a [{size}] table (`pivotrl help results`)")
        flat = _apply_size(flat, size)
    try:
        settings = pydantic.TypeAdapter(Settings).validate_python(flat)
    except pydantic.ValidationError as e:
        err = e.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else "?"
        raise ConfigError(
            f"{p}{_line(text, key.removeprefix('ood_').removeprefix('sft_'))}: {key}: {err['msg']}"
        ) from None
    unknown = [a for a in settings.arms if a not in ARMS]
    if unknown:
        raise ConfigError(f"{p}{_line(text, 'arms')}: unknown arm {unknown[0]!r}; known: {', '.join(ARMS)}")
    if not settings.seeds:
        raise ConfigError(f"{p}{_line(text, 'seeds')}: seeds must list at least one training seed")
    run = load_run_config(p.parent / settings.run_config, settings.overrides)
    try:
        e2e = E2EConfig(
            **{
                "max_new_tokens": run.train.max_new_tokens,
                "tool_format": run.train.tool_format,
                **settings.e2e,
                "domain": run.run.domain,
            }
        )
    except TypeError as e:
        raise ConfigError(f"{p}{_line(text, 'e2e')}: [e2e] {e}") from None
    return ExperimentConfig(settings, run, e2e, str(p), quick, size)


def e2e_for(cfg: ExperimentConfig, model: str, seed: int) -> E2EConfig:
    """The E2E settings of one seed, starting from pi_0."""
    return dataclasses.replace(cfg.e2e, model=model, seed=seed)
