"""The field tables of ``docs/pipeline.md``, generated from the config classes (a test keeps them in sync).

Help texts come from each field's ``metadata["help"]``; classes defined outside the run (the
stages' own configs) that carry none get theirs from :data:`FALLBACK_HELP`. ``[train]`` and
``[sft]`` point to ``docs/trainer.md``, whose tables come from the same classes.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

from .config import TABLES, table_keys

__all__ = ["FALLBACK_HELP", "TRAINER_TABLES", "markdown_tables", "table_rows"]

TRAINER_TABLES = {
    "train": "the table of `pivotrl train` in docs/trainer.md (`pivotrl help trainer`)",
    "sft": "the table of `pivotrl sft` in docs/trainer.md (`pivotrl help trainer`)",
}

FALLBACK_HELP: dict[str, str] = {
    # ExtractOptions
    "extract.multi_call": "`batch`: a turn with several tool calls is one action; `drop`: skip such turns.",
    "extract.reasoning": "`keep` or `drop` earlier turns' reasoning (in prefix and action).",
    "extract.dedupe": "Drop a candidate whose (prefix, action) pair was already emitted.",
    # ProfileConfig (+ its sampling, written flat)
    "profile.k": "Samples per candidate from pi_0 (>= 2: variance needs two).",
    "profile.temperature": "Sampling temperature.",
    "profile.top_p": "Nucleus sampling threshold.",
    "profile.max_new_tokens": "Longest sampled action in tokens.",
    "profile.stop": "Stop strings of the sampler.",
    "profile.verifier": "Score with this verifier (by name) instead of the domain's.",
    "profile.verifier_options": "Options of that verifier.",
    "profile.batch_size": "Candidates sampled together.",
    "profile.save_samples": "Keep the sampled actions in the profile rows.",
    "profile.early_stop": "Stop sampling a candidate once the filter's outcome is certain.",
    "profile.min_chunk": "Fewest samples per early-stop round (default: k/4).",
    "profile.limit": "Profile only the first N candidates (default: all).",
    "profile.retry_errored": "Times a candidate with errored samples is profiled again on resume.",
    # SelectConfig
    "select.max_mean": "lambda: keep candidates whose mean pass rate is below this.",
    "select.min_std": "Keep candidates whose std is above this (0 = variance > 0).",
    "select.val_fraction": "Share of trajectories whose pivots form the validation split.",
    "select.min_scored": "Share of a candidate's samples that must be scored (not errored) to keep it.",
}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return " or ".join(json.dumps(a) for a in typing.get_args(tp))
    if origin is not None and origin not in (list, dict, tuple):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "none"
    if origin is tuple:
        return "list"
    if dataclasses.is_dataclass(tp):
        return "table"
    return getattr(origin or tp, "__name__", str(tp))


def _toml(value: Any) -> str:
    if value is None:
        return "(none)"
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)  # type: ignore[arg-type]
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, dict):
        return "`{" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + "}`"
    return f"`{json.dumps(list(value) if isinstance(value, tuple) else value)}`"


def table_rows(table: str) -> list[tuple[str, str, str, str]]:
    """``(key, type, default, help)`` of every key a user may set in ``[table]``."""
    cls, fixed = TABLES[table]
    default = cls()
    rows = []
    for key, path in table_keys(cls).items():
        if key in fixed:
            continue
        owner, value = cls, default
        for part in path:
            hints = typing.get_type_hints(owner)
            f = next(f for f in dataclasses.fields(owner) if f.name == part)
            owner, value = hints[part], getattr(value, part)
        help_text = f.metadata.get("help") or FALLBACK_HELP.get(f"{table}.{key}", "")
        rows.append((key, _type_name(owner), _toml(value), help_text))
    return rows


def markdown_tables() -> str:
    """One ``### [table]`` section per table, each a markdown table of its keys."""
    parts = []
    for table, (cls, fixed) in TABLES.items():
        parts += [f"### [{table}]", "", f"`{cls.__name__}`."]
        if fixed:
            parts[-1] += " Set by the run: " + ", ".join(f"`{k}` ({v})" for k, v in fixed.items()) + "."
        if table in TRAINER_TABLES:
            parts += ["", f"Every other field of `{cls.__name__}`: {TRAINER_TABLES[table]}.", ""]
            continue
        parts += ["", "| key | type | default | meaning |", "|---|---|---|---|"]
        parts += [f"| `{k}` | {t} | {d} | {h} |" for k, t, d, h in table_rows(table)]
        parts.append("")
    return "\n".join(parts)
