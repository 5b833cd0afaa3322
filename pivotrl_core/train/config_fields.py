"""Config plumbing shared by the trainer configs and the CLI: documented fields, type coercion,
range checks and the one ``KEY=VALUE`` parser (:func:`parse_kv`) every flag uses.

No torch here: reading and checking a config must stay cheap.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import tomllib
import types
import typing
from collections.abc import Iterable
from dataclasses import field
from typing import Any, Literal

from ..errors import ConfigError

__all__ = ["check", "check_finite", "coerce", "doc_field", "field_docs", "parse_kv", "parse_value"]


def doc_field(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with its documentation in ``metadata["help"]``."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


def check(ok: bool, name: str, value: Any, problem: str, fix: str) -> None:
    """Raise a :class:`ConfigError` naming the field, its value and a fix when ``ok`` is false."""
    if not ok:
        raise ConfigError(
            f"{name} = {value!r} {problem}. Fix it in the config file ({fix}) "
            f"or with --set {fix.replace(' = ', '=')}.",
            key=name,
        )


def check_finite(cfg: Any) -> None:
    """Every float field of a config dataclass is a finite number (no NaN, no inf)."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{f.name} = {value!r} must be a finite number", key=f.name)


def field_docs(cls: type) -> list[tuple[str, str, Any, str]]:
    """``(name, type, default, help)`` of every field of a config class, in order."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        out.append((f.name, _type_name(hints[f.name]), default, f.metadata.get("help", "")))
    return out


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _coerce_union(name: str, args: tuple[Any, ...], value: Any) -> Any:
    if value is None and type(None) in args:
        return None
    errors = []
    for a in args:
        if a is type(None):
            continue
        try:
            return coerce(name, a, value)
        except ConfigError as e:
            errors.append(e)
    raise errors[0]


def _coerce_literal(name: str, args: tuple[Any, ...], value: Any) -> Any:
    if value not in args:
        close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
        pick = close[0] if close else args[0]
        raise ConfigError(
            f"{name} = {value!r} is not one of {', '.join(repr(a) for a in args)}; "
            f"fix it in the config file or with e.g. --set {name}={pick}",
            key=name,
        )
    return value


def coerce(name: str, tp: Any, value: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (ints become floats where needed)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(name, args, value)
    if origin is Literal:
        return _coerce_literal(name, args, value)
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }
    base = origin or tp
    if base in ok:
        if not ok[base]:
            raise ConfigError(
                f"{name} = {value!r} must be a {base.__name__}; fix it in the config file or with "
                f"--set {name}=<{base.__name__}>",
                key=name,
            )
        if base is float and not math.isfinite(value):
            raise ConfigError(f"{name} = {value!r} must be a finite number", key=name)
        return float(value) if base is float else value
    if base is list:
        if not isinstance(value, list):
            raise ConfigError(
                f'{name} = {value!r} must be a list, e.g. --set \'{name}=["a", "b"]\'', key=name
            )
        return [coerce(f"{name}[{i}]", args[0], v) for i, v in enumerate(value)] if args else value
    if base is dict:
        if not isinstance(value, dict):
            raise ConfigError(
                f"{name} = {value!r} must be a table, e.g. --set '{name}={{threshold = 0.1}}'", key=name
            )
        return dict(value)
    return value


def parse_value(raw: str, syntax: str = "toml") -> Any:
    """A TOML (``syntax="toml"``) or JSON value; a bare word that parses as neither is a string."""
    raw = raw.strip()
    if syntax == "toml":
        try:
            return tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            pass
    try:
        return json.loads(raw, parse_constant=lambda c: raw)
    except (json.JSONDecodeError, RecursionError):
        return raw


def parse_kv(items: Iterable[str], *, flag: str = "--set", syntax: str = "toml") -> dict[str, Any]:
    """``["lr=1e-5", "a.b=1"]`` -> ``{"lr": 1e-05, "a": {"b": 1}}``.

    ``syntax="toml"``: values are TOML values (``1e-5``, ``true``, ``"x"``, ``[1, 2]``, ``{a = 1}``),
    else JSON, else the bare string, and dotted keys build nested tables. ``syntax="json"``: JSON
    values, keys taken as they are. A malformed item is a :class:`ConfigError` naming ``flag``.
    """
    if syntax not in ("toml", "json"):
        raise ValueError(f"syntax must be 'toml' or 'json', got {syntax!r}")
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{item!r} must look like KEY=VALUE (e.g. {flag} lr=1e-5)", flag=flag)
        parts = [p.strip() for p in key.split(".")] if syntax == "toml" else [key]
        if not all(parts):
            raise ConfigError(f"{item!r} has an empty part in its key", flag=flag)
        target = out
        for p in parts[:-1]:
            target = target.setdefault(p, {})
            if not isinstance(target, dict):
                raise ConfigError(f"{item!r}: '{p}' already has a value, not a table", flag=flag)
        target[parts[-1]] = parse_value(raw, syntax)
    return out
