"""``RunConfig``: the one typed config of ``pivotrl run``, made of the stages' own config classes.

A run TOML has one table per section. ``[extract]`` is :class:`~pivotrl_core.domains.ExtractOptions`,
``[profile]`` :class:`~pivotrl_core.profile.ProfileConfig` (its ``sampling`` fields written flat:
``temperature``, ``top_p``, ``max_new_tokens``, ``stop``), ``[select]``
:class:`~pivotrl_core.select.SelectConfig`, ``[train]`` / ``[sft]`` the trainer's
:class:`~pivotrl_core.train.config.TrainConfig` / ``SFTConfig`` and ``[eval]`` the evaluation's
``EvalConfig``, so every default lives in one place: the class. ``[run]``, ``[model]``, ``[data]``
and ``[heldout]`` are the run's own (below). Fields the run sets itself (the domain, pi_0, the
seed, lambda for early stopping) are refused in the tables with a message naming where they come
from. Every table is checked before any stage runs; an error names the file, line and key.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import math
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..domains import ExtractOptions
from ..errors import ConfigError, UnknownNameError
from ..eval import EvalConfig
from ..plugins import get_plugin_manager
from ..profile import ProfileConfig
from ..select import SelectConfig
from ..train.config import SFTConfig, TrainConfig

__all__ = [
    "DataSettings",
    "GenerateSpec",
    "HeldoutSettings",
    "ModelSettings",
    "RunConfig",
    "RunSettings",
    "TABLES",
    "load_run_config",
    "table_keys",
]


def _f(default: Any, help: str) -> Any:
    """A dataclass field with its documentation (``metadata["help"]``)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class RunSettings:
    """``[run]``: the run as a whole."""

    name: str = _f("run", "Run name; the default run folder is `runs/<name>`.")
    domain: str = _f(
        "generic", "Domain of the data: its extractor, verifier, generator, warm-up and benchmark are used."
    )
    seed: int = _f(0, "Seed of profiling, the train/validation split and training (unless [train] sets one).")
    with_sft: bool = _f(False, "Also train the SFT baseline on the same trajectories and evaluate it.")


@dataclass(frozen=True)
class ModelSettings:
    """``[model]``: the starting model pi_0 and the backend that samples from it."""

    name: str = _f("smollm2-135m", "Starting model: built-in name, local folder or hub id.")
    warmup: bool = _f(
        False,
        "Build pi_0 with the domain's warm-up (`Domain.warmup(name, **warmup_options)`, built once "
        "and cached by the domain); false = pi_0 is `name` itself.",
    )
    warmup_options: dict[str, Any] = _f({}, "Keyword options of the domain's warm-up.")
    policy: str = _f(
        "hf", "Rollout backend of profiling and evaluation (hf, vllm, openai or a plugin's); `--policy`."
    )
    policy_options: dict[str, Any] = _f({}, 'Options of that backend, e.g. `{device = "cuda"}`.')


@dataclass(frozen=True)
class GenerateSpec:
    """One call of the domain's generator: ``Domain.generate(n, seed, split)``."""

    __pydantic_config__ = {"extra": "forbid"}  # a misspelt key is an error, not a default

    n: int = _f(1, "Trajectories to generate.")
    seed: int = _f(0, "Seed of the domain's task stream.")
    split: str | None = _f(None, "Task split (default: `train` in [data], `heldout` in [heldout]).")

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"n must be at least 1 (got {self.n}), e.g. {{n = 8, seed = 1}}")


@dataclass(frozen=True)
class DataSettings:
    """``[data]``: where the training trajectories come from (files, or the domain's generator)."""

    trajectories: list[str] = _f([], "Trajectory files (any format `pivotrl extract` reads).")
    generate: GenerateSpec | None = _f(
        None, "Or: trajectories from the domain's generator, e.g. `{n = 60, seed = 1}` (split `train`)."
    )
    format: str | None = _f(None, "Trajectory format name (default: detected from the first row).")


@dataclass(frozen=True)
class HeldoutSettings:
    """``[heldout]``: the held-out sets every model is evaluated on."""

    generate: list[GenerateSpec] = _f(
        [],
        "Held-out sets from the domain's generator, one per entry, e.g. `[{n = 5, seed = 2001}]` "
        "(split `heldout`; seeds not used for training). Label: `seed<N>`.",
    )
    trajectories: list[str] = _f([], "Held-out sets from trajectory files (one set per file; label: stem).")
    validation: bool = _f(True, "Also evaluate on the validation pivots of `select`.")


@dataclass(frozen=True)
class RunConfig:
    """Every setting of a run, typed; ``source`` is the file it came from (for messages)."""

    run: RunSettings = field(default_factory=RunSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    data: DataSettings = field(default_factory=DataSettings)
    extract: ExtractOptions = field(default_factory=ExtractOptions)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    heldout: HeldoutSettings = field(default_factory=HeldoutSettings)
    eval: EvalConfig = field(default_factory=EvalConfig)
    source: str = "config"

    def to_dict(self) -> dict[str, Any]:
        """Every table with every field (``config.json`` of the run folder)."""
        return {name: dataclasses.asdict(getattr(self, name)) for name in TABLES}


# table -> (class, {field the run sets itself: where it comes from})
TABLES: dict[str, tuple[type, dict[str, str]]] = {
    "run": (RunSettings, {}),
    "model": (ModelSettings, {}),
    "data": (DataSettings, {}),
    "extract": (ExtractOptions, {"domain": "[run] domain"}),
    "profile": (
        ProfileConfig,
        {"domain": "[run] domain", "max_mean": "[select] max_mean", "seed": "[run] seed"},
    ),
    "select": (SelectConfig, {"seed": "[run] seed", "format": "the run (it trains on pivotrl rows)"}),
    "train": (TrainConfig, {"model": "the run (pi_0: [model] name or its warm-up)"}),
    "sft": (SFTConfig, {"model": "the run (pi_0: [model] name or its warm-up)"}),
    "heldout": (HeldoutSettings, {}),
    "eval": (EvalConfig, {}),
}
_PATH_KEYS = {("data", "trajectories"), ("heldout", "trajectories")}


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def table_keys(cls: type) -> dict[str, tuple[str, ...]]:
    """``key -> field path`` of a table: a nested config (``ProfileConfig.sampling``) is written flat."""
    hints = typing.get_type_hints(cls)
    keys: dict[str, tuple[str, ...]] = {}
    for f in dataclasses.fields(cls):
        if _is_dataclass_type(hints[f.name]):
            for sub in dataclasses.fields(hints[f.name]):
                keys.setdefault(sub.name, (f.name, sub.name))
        else:
            keys[f.name] = (f.name,)
    return keys


class _Where:
    """Names the place of a key: ``file:line`` for a value from the TOML, the flag for ``--set``."""

    def __init__(self, path: str, text: str, overridden: set[tuple[str, str]]) -> None:
        self.path, self.lines, self.overridden = path, text.splitlines(), overridden

    def error(self, table: str, key: str | None, message: str) -> ConfigError:
        if key is not None and (table, key) in self.overridden:
            return ConfigError(message, flag=f"--set {table}.{key}")
        line = self._line(table, key)
        return ConfigError(message, path=f"{self.path}:{line}" if line else self.path, key=table)

    def _line(self, table: str, key: str | None) -> int | None:
        current = None
        for i, raw in enumerate(self.lines, 1):
            head = re.match(r"\s*\[\s*([\w.-]+)\s*\]", raw)
            if head:
                current = head.group(1)
                if key is None and current == table:
                    return i
            elif current == table and key and re.match(rf"\s*{re.escape(key)}\s*=", raw):
                return i
        return None


def _check_keys(table: str, given: Mapping[str, Any], where: _Where) -> None:
    cls, fixed = TABLES[table]
    keys = table_keys(cls)
    for key in given:
        if key in fixed:
            raise where.error(table, key, f"{key} is set by {fixed[key]}; remove it from [{table}]")
        if key not in keys:
            close = difflib.get_close_matches(key, list(keys), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            known = ", ".join(k for k in keys if k not in fixed)
            raise where.error(table, key, f"unknown field '{key}'{hint} Known: {known}.")


def _nest(cls: type, given: Mapping[str, Any]) -> dict[str, Any]:
    keys, out = table_keys(cls), {}
    for key, value in given.items():
        path = keys[key]
        target = out
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return out


def _build(table: str, given: Mapping[str, Any], where: _Where, derived: Mapping[str, Any]) -> Any:
    """Check and build one table's config object (pydantic checks the types, the class the values)."""
    from pydantic import TypeAdapter, ValidationError

    cls = TABLES[table][0]
    _check_finite(table, given, where)
    data = _nest(cls, {**derived, **given})
    try:
        obj = TypeAdapter(cls).validate_json(json.dumps(data, default=_not_json), strict=True)
        if hasattr(obj, "validate"):
            obj.validate()
    except ValidationError as e:
        err = e.errors()[0]
        loc = [str(p) for p in err["loc"] if isinstance(p, str)]
        key = next((k for k in reversed(loc) if k in table_keys(cls)), loc[0] if loc else None)
        inner = [p for p in loc[loc.index(key) + 1 :]] if key in loc else []
        detail = f"{'.'.join(inner)}: " if inner else ""
        value = given.get(key) if key else None
        raise where.error(table, key, f"{key} = {value!r}: {detail}{err['msg']}") from None
    except ConfigError as e:
        raise _located(where, table, given, e.message) from None
    return obj


def _not_json(value: Any) -> dict[str, str]:
    """A TOML date or time: no config field takes one, so it must fail validation."""
    return {"toml date/time": str(value)}


def _check_finite(table: str, given: Mapping[str, Any], where: _Where) -> None:
    """TOML allows ``inf`` and ``nan``; no config value is meant to be one."""
    for key, value in given.items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise where.error(table, key, f"{key} = {value!r}: must be a finite number")


def _located(where: _Where, table: str, given: Mapping[str, Any], message: str) -> ConfigError:
    """A class's own check (``k must be at least 1``, ``--max-mean ...``) with its key and place."""
    first = re.match(r"-*([\w-]+)", message)
    key = first.group(1).replace("-", "_") if first else None
    if key not in given:
        return where.error(table, None, message)
    if not message.startswith(f"{key} ="):
        message = f"{key} = {given[key]!r}: {message}"
    return where.error(table, key, message)


def _derived(table: str, built: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``table`` that the run sets itself, from the tables built before it."""
    run, select = built.get("run", RunSettings()), built.get("select", SelectConfig())
    return {
        "extract": {"domain": run.domain},
        "profile": {"domain": run.domain, "max_mean": select.max_mean, "seed": run.seed},
        "select": {"seed": run.seed},
        "train": {"seed": run.seed},
        "sft": {"seed": run.seed},
    }.get(table, {})


def merge_overrides(doc: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Apply nested ``{"table": {"key": value}}`` overrides (``--set table.key=value``)."""
    out = copy.deepcopy(dict(doc))
    for table, fields in overrides.items():
        if not isinstance(fields, Mapping):
            raise ConfigError(
                "needs TABLE.KEY=VALUE, e.g. --set profile.k=8 or --set train.max_steps=10",
                flag=f"--set {table}",
            )
        out.setdefault(table, {}).update(fields)
    return out


def _read(source: str | Path | Mapping[str, Any]) -> tuple[dict[str, Any], str, str, Path | None]:
    if isinstance(source, Mapping):
        return dict(source), "config", "", None
    path = Path(source)
    if not path.is_file():
        raise ConfigError(
            f"config file {path} does not exist; write one (`pivotrl help pipeline`) "
            "or start from `pivotrl quickstart --print-config`"
        )
    text = path.read_text(encoding="utf-8")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML ({e})", path=path) from None
    return doc, str(path), text, path.resolve().parent


def load_run_config(
    source: str | Path | Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    base_dir: Path | None = None,
) -> RunConfig:
    """Read and check a run config (a TOML path or a parsed dict) with ``--set`` overrides.

    Every table is checked here, before any stage runs. Relative trajectory paths are resolved
    against the config file's folder (``base_dir`` for a dict).
    """
    doc, name, text, folder = _read(source)
    base_dir = base_dir or folder
    overrides = overrides or {}
    overridden = {(t, k) for t, f in overrides.items() if isinstance(f, Mapping) for k in f}
    doc = merge_overrides(doc, overrides)
    where = _Where(name, text, overridden)
    for table, given in doc.items():
        if table not in TABLES:
            close = difflib.get_close_matches(table, list(TABLES), n=1)
            hint = f"; did you mean [{close[0]}]?" if close else ""
            raise where.error(table, None, f"unknown table [{table}]{hint} Tables: {', '.join(TABLES)}.")
        if not isinstance(given, Mapping):
            raise where.error(table, None, f"must be a table, e.g. [{table}] on a line of its own")
    for table, key in _PATH_KEYS:
        paths = doc.get(table, {}).get(key)
        if isinstance(paths, list) and all(isinstance(p, str) for p in paths):
            base = Path.cwd() if (table, key) in overridden else base_dir  # --set: relative to here
            doc[table][key] = [str(_resolve(p, base)) for p in paths]
    for table in TABLES:  # every key of every table first, then the values
        _check_keys(table, doc.get(table, {}), where)
    built: dict[str, Any] = {}
    for table in sorted(TABLES, key=lambda t: t == "profile"):  # profile takes lambda from [select]
        built[table] = _build(table, doc.get(table, {}), where, _derived(table, built))
    cfg = RunConfig(**built, source=name)
    _check_run(cfg, where)
    return cfg


def _resolve(p: str, base: Path | None) -> Path:
    path = Path(p).expanduser()
    return path if path.is_absolute() or base is None else base / path


def _check_run(cfg: RunConfig, where: _Where) -> None:
    """Checks across tables (each table's own values were checked by its class)."""
    data = cfg.data
    if not data.trajectories and data.generate is None:
        raise where.error(
            "data", None, 'needs trajectories = ["file.jsonl"] or generate = {n = 60, seed = 1}'
        )
    if data.trajectories and data.generate is not None:
        raise where.error("data", "generate", "takes trajectories or generate, not both; remove one of them")
    p, s = cfg.profile, cfg.profile.sampling
    if p.k < 2:
        raise where.error("profile", "k", f"k = {p.k}: must be >= 2 (variance needs two samples)")
    for key, ok, need in (
        ("temperature", s.temperature > 0, "> 0 (profiling samples; 0 would draw one action K times)"),
        ("top_p", 0 < s.top_p <= 1, "in (0, 1]"),
        ("max_new_tokens", s.max_new_tokens >= 1, ">= 1"),
    ):
        if not ok:
            raise where.error("profile", key, f"{key} = {getattr(s, key)!r}: must be {need}")
    labels = heldout_labels(cfg)
    if len(set(labels)) != len(labels):
        raise where.error("heldout", None, f"two held-out sets share a label ({', '.join(labels)})")
    for table in ("train", "sft"):
        if getattr(cfg, table).tool_format:
            get_plugin_manager()  # plugins register their tool formats when it is built
            try:
                getattr(cfg, table).check_names()
            except UnknownNameError as e:
                raise where.error(table, "tool_format", f"tool_format = {e.name!r}: {e.message}") from None


def heldout_labels(cfg: RunConfig) -> list[str]:
    """Labels of the held-out sets, in order: ``seed<N>`` for generated ones, the file stem else."""
    return [f"seed{g.seed}" for g in cfg.heldout.generate] + [Path(p).stem for p in cfg.heldout.trajectories]
