"""Loading the trainer configs: a TOML file (fields at top level or in the class's table), ``--set``
overrides and saved ``config.json`` dicts, checked by the class's ``validate``.

Every error names the file (or ``--set``) and the ``[table].key``. Generic over config dataclasses:
a class names its TOML table in ``toml_section`` (``train`` when it has none).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import tomllib
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, help_hint
from .config_fields import coerce, parse_kv

__all__ = ["config_from_dict", "dump_json", "load_config", "parse_overrides"]


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Turn ``["lr=1e-5", "lora=true"]`` into a dict; dotted keys ``a.b=1`` set nested tables."""
    return parse_kv(items, flag="--set")


def _from_mapping(
    cls: type, data: Mapping[str, Any], path: str | None = None, section: str | None = None, over: Any = ()
) -> Any:
    """Build and validate; every error names the file (or ``--set``) and the ``[section].key``."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    try:
        kwargs = {}
        for key, value in data.items():
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ConfigError(
                    f"unknown {cls.__name__} field '{key}'{hint} ({help_hint('trainer')})", key=key
                )
            kwargs[key] = coerce(key, hints[key], value)
        cfg = cls(**kwargs)
        cfg.validate()
    except ConfigError as e:
        key = getattr(e, "key", None)
        flag = "--set" if key is not None and key.split("[")[0] in over else getattr(e, "flag", None)
        where = None if flag else path
        full = f"{section}.{key}" if section and key and where else key
        raise ConfigError(getattr(e, "message", str(e)), path=where, key=full, flag=flag) from None
    return cfg


def load_config(
    cls: type,
    path: str | Path | None = None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    section: str | None = None,
) -> Any:
    """Build ``cls`` (TrainConfig or SFTConfig) from a TOML file and overrides, then validate.

    ``section`` (default: the class's ``toml_section``, ``train`` for TrainConfig, ``sft`` for
    SFTConfig) names the table to read when the file has one; otherwise the file's top-level keys
    are the fields.
    """
    section = section or getattr(cls, "toml_section", "train")
    data: dict[str, Any] = {}
    table = None
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist; pass an existing TOML file", flag="--config")
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"invalid TOML ({e})", path=p) from None
        except UnicodeDecodeError:
            raise ConfigError("not a UTF-8 text file", path=p) from None
        table = section if isinstance(doc.get(section), dict) else None
        data = dict(doc[section]) if table else doc
    over = dict(overrides) if isinstance(overrides, Mapping) else parse_overrides(overrides)
    data.update(over)
    return _from_mapping(cls, data, str(path) if path is not None else None, table, over)


def config_from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Build and validate a config from a plain dict (e.g. a saved ``config.json``)."""
    return _from_mapping(cls, data)


def dump_json(cfg: Any) -> str:
    return json.dumps(dataclasses.asdict(cfg), indent=2, sort_keys=True)
