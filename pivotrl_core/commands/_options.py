"""Shared option parsing for the commands: ``KEY=VALUE`` flags, checked numbers, devices, resume modes.

Every numeric option is a click type below, so a bad value stops the command before any work
with ``Error: Invalid value for '--FLAG': ...`` and exit 2.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError, InputError
from ..jsonl import check_not_input, check_writable
from ..train.config_fields import parse_kv, parse_value

__all__ = [
    "DEVICE",
    "DTYPE",
    "DTYPES",
    "FINITE_FLOAT",
    "FRACTION",
    "NON_NEGATIVE_FLOAT",
    "NON_NEGATIVE_INT",
    "POSITIVE_FLOAT",
    "POSITIVE_INT",
    "SEED",
    "TEMPERATURE",
    "TOP_P",
    "check_device",
    "check_io",
    "parse_kv",
    "parse_value",
    "resume_options",
]

DTYPES = ("float32", "float16", "bfloat16")
_DEVICE_RE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def check_io(output: str | Path | None, inputs: Iterable[str | Path] = (), flag: str = "-o") -> None:
    """Before any work: every input exists, none is given twice, the output is not an input and
    can be written."""
    inputs = list(inputs)
    seen: dict[Path, str] = {}
    for raw in inputs:
        if not Path(raw).exists():
            raise InputError("no such file", path=raw)
        key = Path(raw).resolve()
        if key in seen:
            raise ConfigError(f"{raw} is given twice as an input (its rows would be read twice)")
        seen[key] = str(raw)
    if output is not None:
        check_not_input(output, inputs, flag=flag)
        check_writable(output, flag=flag)


class _Number(click.ParamType):
    """A float checked against a rule (finite always), e.g. ``(0, 1]``."""

    def __init__(self, name: str, ok: Callable[[float], bool], rule: str) -> None:
        self.name = name
        self._ok = ok
        self._rule = rule

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or not self._ok(number):
            self.fail(f"{value!r} must be {self._rule}", param, ctx)
        return number


POSITIVE_INT = click.IntRange(min=1)
SEED = click.IntRange(0, 2**32 - 1)
NON_NEGATIVE_INT = click.IntRange(min=0)
FINITE_FLOAT = _Number("number", lambda x: True, "a finite number")
POSITIVE_FLOAT = _Number("number", lambda x: x > 0, "a finite number > 0")
NON_NEGATIVE_FLOAT = _Number("number", lambda x: x >= 0, "a finite number >= 0")
FRACTION = _Number("fraction", lambda x: 0 <= x <= 1, "in [0, 1]")
TEMPERATURE = _Number("temperature", lambda x: x >= 0, ">= 0 (0 means greedy)")
TOP_P = _Number("top_p", lambda x: 0 < x <= 1, "in (0, 1]")


class _Device(click.ParamType):
    name = "device"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        if not _DEVICE_RE.match(text):
            self.fail(f"{value!r} is not a device (cpu, cuda, cuda:N or mps)", param, ctx)
        return text


DEVICE = _Device()
DTYPE = click.Choice(DTYPES)


def check_device(device: str | None, flag: str = "--device") -> None:
    """Refuse ``cuda``/``cuda:N``/``mps`` that this machine does not have (before loading a model)."""
    if not device or device == "cpu":
        return
    import torch

    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        if index >= count:
            have = f"{count} CUDA device(s)" if count else "no CUDA GPU"
            raise ConfigError(f"{device} asked for, but this machine has {have}; use --device cpu", flag=flag)
    elif device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("mps asked for, but this machine has no MPS device; use --device cpu", flag=flag)
    elif not _DEVICE_RE.match(device):
        raise ConfigError(f"{device!r} is not a device (cpu, cuda, cuda:N or mps)", flag=flag)


def resume_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--fresh`` / ``--force-resume`` and pass ``resume_mode`` ("resume", "fresh" or "force")."""

    @click.option(
        "--fresh", is_flag=True, help="Discard rows a previous run left in the output and start over."
    )
    @click.option(
        "--force-resume", is_flag=True, help="Resume even though the output was written with other settings."
    )
    @functools.wraps(func)
    def wrapper(*args: Any, fresh: bool, force_resume: bool, **kwargs: Any) -> Any:
        if fresh and force_resume:
            raise click.UsageError("--fresh and --force-resume cannot be used together")
        mode = "fresh" if fresh else "force" if force_resume else "resume"
        return func(*args, resume_mode=mode, **kwargs)

    return wrapper
