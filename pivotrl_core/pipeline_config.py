"""The ``pivotrl run`` TOML schema: one table per stage, every field documented.

``docs/pipeline.md`` shows :data:`SCHEMA` as tables (a test keeps the two in sync). ``[train]``
and ``[sft]`` are passed to the trainer's own config classes (``docs/trainer.md``); every other
table is checked here, and a wrong key or value raises :class:`ConfigError` naming the table,
the field and how to fix it.
"""

from __future__ import annotations

import copy
import difflib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["SCHEMA", "PASSTHROUGH", "load_pipeline_config", "merge_overrides"]

# (table, field) -> (type, default, help)
SCHEMA: dict[str, dict[str, tuple[type | tuple[type, ...], Any, str]]] = {
    "run": {
        "name": (str, "run", "Run name; the default run folder is `runs/<name>`."),
        "domain": (str, "generic", "Domain of the data: its extractor, verifier and benchmark are used."),
        "seed": (
            int,
            0,
            "Seed of profiling, the train/validation split and training (unless [train] sets one).",
        ),
        "with_sft": (bool, False, "Also train the SFT baseline on the same trajectories and evaluate it."),
    },
    "model": {
        "name": (str, "smollm2-135m", "Starting model pi_0: built-in name, local folder or hub id."),
        "warmup": (
            str,
            "",
            "Optional `module:function` that builds (and caches) a warmed-up model and returns "
            "its folder; that folder becomes pi_0. The function gets `warmup_options` as keyword "
            "arguments, plus `model = name` when it has a `model` parameter. Empty = no warm-up.",
        ),
        "warmup_options": (dict, {}, "Keyword arguments of the warm-up function."),
    },
    "data": {
        "trajectories": (list, [], "Trajectory files (any format `pivotrl extract` reads)."),
        "generate": (
            list,
            [],
            "Or: a pivotrl command that writes trajectories when given `-o FILE`, as a "
            'list of arguments, e.g. `["tool-use", "generate", "--n", "60"]`.',
        ),
        "format": (str, "", "Trajectory format name (empty = detected from the first row)."),
    },
    "extract": {
        "drop_multi_call": (bool, False, "Skip turns with several tool calls (default: one batch action)."),
        "reasoning": (str, "keep", "`keep` or `drop` earlier turns' reasoning."),
        "dedupe": (bool, False, "Drop repeated (prefix, action) candidates."),
    },
    "profile": {
        "k": (int, 8, "Samples per candidate from pi_0."),
        "temperature": (float, 1.0, "Sampling temperature."),
        "top_p": (float, 1.0, "Nucleus sampling threshold."),
        "max_new_tokens": (int, 96, "Longest sampled action in tokens."),
        "batch_size": (int, 4, "Candidates sampled together."),
        "early_stop": (bool, False, "Stop sampling a candidate once the filter's outcome is certain."),
        "limit": (int, 0, "Profile only the first N candidates (0 = all)."),
        "save_samples": (bool, False, "Keep the sampled actions in the profile rows."),
    },
    "select": {
        "max_mean": (float, 0.6, "lambda: keep candidates whose mean pass rate is below this."),
        "min_std": (float, 0.0, "Keep candidates whose std is above this (0 = variance > 0)."),
        "val_fraction": (float, 0.1, "Share of trajectories whose pivots form the validation split."),
    },
    "eval": {
        "heldout_generate": (
            list,
            [],
            "Held-out sets: a list of pivotrl commands (argument lists, `-o FILE` "
            "appended), each writing trajectories from seeds not used for training.",
        ),
        "heldout_trajectories": (
            list,
            [],
            "Held-out sets from existing trajectory files (one set per file).",
        ),
        "validation": (bool, True, "Also evaluate on the validation pivots of `select`."),
        "limit": (int, 0, "Evaluate at most N candidates per held-out set (0 = all)."),
        "temperature": (float, 0.0, "Held-out sampling temperature (0 = greedy)."),
        "n_samples": (int, 1, "Actions per held-out candidate."),
        "seeds": (list, [0], "Sampling seeds for sampled (temperature > 0) held-out evaluation."),
        "max_new_tokens": (int, 96, "Longest held-out action in tokens."),
        "batch_size": (int, 16, "Sampling batch size of the evaluation policy."),
        "benchmark": (str, "", "The domain's benchmark adapter to run (e.g. `episodes`; empty = none)."),
        "benchmark_options": (dict, {}, "Keyword arguments of the benchmark adapter, e.g. `{n_tasks = 5}`."),
        "ood": (bool, True, "Run the OOD probe suite (and KL to pi_0 for trained models)."),
        "ood_limit_per_skill": (int, 0, "Use the first N probes of each OOD skill (0 = all)."),
    },
}
PASSTHROUGH = ("train", "sft")  # validated by the trainer's config classes
_PATHS = {("data", "trajectories"), ("eval", "heldout_trajectories")}


def _check_value(table: str, key: str, value: Any) -> Any:
    typ, default, _ = SCHEMA[table][key]
    ok = isinstance(value, typ) and not (isinstance(value, bool) and typ in (int, float))
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        name = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise ConfigError(
            f"[{table}] {key} = {value!r} must be a {name}; e.g. {key} = {_toml(default)} "
            f"(every field is listed in docs/pipeline.md)"
        )
    return value


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v)


def _validate(cfg: dict[str, Any]) -> None:
    ev = cfg["eval"]
    if not cfg["data"]["trajectories"] and not cfg["data"]["generate"]:
        raise ConfigError('[data] needs trajectories = ["file.jsonl"] or generate = ["<command>", ...]')
    if cfg["data"]["trajectories"] and cfg["data"]["generate"]:
        raise ConfigError("[data] takes trajectories or generate, not both; remove one of them")
    _check_argv("[data] generate", cfg["data"]["generate"])
    for i, argv in enumerate(ev["heldout_generate"]):
        _check_argv(f"[eval] heldout_generate[{i}]", argv)
    if cfg["extract"]["reasoning"] not in ("keep", "drop"):
        raise ConfigError('[extract] reasoning must be "keep" or "drop"')
    if cfg["profile"]["k"] < 2:
        raise ConfigError("[profile] k must be >= 2 (variance needs two samples); e.g. k = 8")
    if not 0 < cfg["select"]["max_mean"] <= 1:
        raise ConfigError("[select] max_mean must be in (0, 1]; e.g. max_mean = 0.6")
    if not 0 <= cfg["select"]["val_fraction"] < 1:
        raise ConfigError("[select] val_fraction must be in [0, 1); e.g. val_fraction = 0.1")
    if ev["n_samples"] < 1 or not ev["seeds"] or not all(isinstance(s, int) for s in ev["seeds"]):
        raise ConfigError(
            "[eval] needs n_samples >= 1 and seeds = a non-empty list of integers, e.g. seeds = [0]"
        )
    if ev["benchmark"] and not isinstance(ev["benchmark_options"], dict):
        raise ConfigError("[eval] benchmark_options must be a table, e.g. benchmark_options = {n_tasks = 5}")
    if cfg["model"]["warmup"] and ":" not in cfg["model"]["warmup"]:
        raise ConfigError('[model] warmup must look like "package.module:function"')


def _check_argv(where: str, argv: Any) -> None:
    if argv and (not isinstance(argv, list) or not all(isinstance(a, str) for a in argv)):
        raise ConfigError(f'{where} must be a list of strings, e.g. ["tool-use", "generate", "--n", "60"]')
    if argv and any(a in ("-o", "--output") for a in argv):
        raise ConfigError(
            f"{where}: leave out -o/--output; the pipeline appends it with a path in the run folder"
        )


def merge_overrides(doc: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Apply ``{"table.key": value}`` / nested overrides (from ``--set table.key=value``)."""
    out = copy.deepcopy(doc)
    for key, value in overrides.items():
        if isinstance(value, dict) and key in (*SCHEMA, *PASSTHROUGH):
            out.setdefault(key, {}).update(value)
        elif "." in key:
            table, field = key.split(".", 1)
            out.setdefault(table, {})[field] = value
        else:
            raise ConfigError(
                f"--set {key}=... needs a table, e.g. --set profile.k=8 or --set train.max_steps=10"
            )
    return out


def load_pipeline_config(
    source: str | Path | Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    base_dir: Path | None = None,
) -> dict[str, Any]:
    """Read and validate a run config (a TOML path or an already-parsed dict).

    Relative paths in ``[data] trajectories`` and ``[eval] heldout_trajectories`` are resolved
    against the config file's folder (``base_dir`` for a dict). Returns a dict with every table
    and field filled in; ``[train]`` and ``[sft]`` are kept as given.
    """
    if isinstance(source, Mapping):
        doc, where = dict(source), "config"
    else:
        path = Path(source)
        if not path.exists():
            raise ConfigError(
                f"config file {path} does not exist; write one (docs/pipeline.md) or use `pivotrl quickstart`"
            )
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: invalid TOML ({e})") from None
        where, base_dir = str(path), base_dir or path.resolve().parent
    doc = merge_overrides(doc, overrides or {})
    cfg: dict[str, Any] = {}
    for table in doc:
        if table not in SCHEMA and table not in PASSTHROUGH:
            close = difflib.get_close_matches(table, [*SCHEMA, *PASSTHROUGH], n=1)
            hint = f"; did you mean [{close[0]}]?" if close else ""
            raise ConfigError(
                f"{where}: unknown table [{table}]{hint} Tables: {', '.join([*SCHEMA, *PASSTHROUGH])}."
            )
    for table, fields in SCHEMA.items():
        given = doc.get(table, {})
        if not isinstance(given, dict):
            raise ConfigError(f"{where}: [{table}] must be a table")
        for key in given:
            if key not in fields:
                close = difflib.get_close_matches(key, list(fields), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ConfigError(f"{where}: unknown field [{table}] {key}{hint} Known: {', '.join(fields)}.")
        cfg[table] = {
            k: (_check_value(table, k, given[k]) if k in given else copy.deepcopy(d))
            for k, (_, d, _) in fields.items()
        }
    for table in PASSTHROUGH:
        cfg[table] = dict(doc.get(table, {}))
    for table, key in _PATHS:
        cfg[table][key] = [str(_resolve(p, base_dir)) for p in cfg[table][key]]
    _validate(cfg)
    return cfg


def _resolve(p: Any, base: Path | None) -> Path:
    if not isinstance(p, str):
        raise ConfigError(f"paths must be strings, got {p!r}")
    path = Path(p).expanduser()
    return path if path.is_absolute() or base is None else (base / path)


def table_rows(table: str) -> Sequence[tuple[str, str, str, str]]:
    """``(field, type, default, help)`` rows of one table, for the docs."""
    rows = []
    for key, (typ, default, help_) in SCHEMA[table].items():
        name = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        rows.append((key, name, _toml(default), help_))
    return rows
