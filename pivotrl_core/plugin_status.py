"""What ``pivotrl plugins`` reports: one record per plugin seen, and how a failing plugin is reported.

A failing entry-point plugin is a :class:`PluginLoadWarning` naming its distribution (everything
else keeps working); under ``PIVOTRL_STRICT_PLUGINS=1``, and always for a ``--plugin FILE.py``, it
raises :class:`~pivotrl_core.PluginError`.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

from .errors import PluginError

__all__ = ["FILE_PREFIX", "PluginInfo", "PluginLoadWarning", "infos", "report_failure"]
FILE_PREFIX = "file:"


class PluginLoadWarning(UserWarning):
    """A plugin failed to load or register; everything else keeps working."""


@dataclass
class PluginInfo:
    """What ``pivotrl plugins`` reports for one plugin."""

    name: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    error: str | None = None
    hooks: list[str] = field(default_factory=list)


infos: dict[str, PluginInfo] = {}
"""Every plugin seen in this process, loaded or failed, by name."""


def report_failure(name: str, what: str, exc: BaseException, dist: str | None = None) -> None:
    """Warn about a failing plugin; raise under ``PIVOTRL_STRICT_PLUGINS=1`` and for plugin files."""
    info = infos.setdefault(name, PluginInfo(name=name, distribution=dist))
    label = f"plugin '{name}'" + (f" from distribution '{dist or info.distribution}'" if dist else "")
    info.error = msg = f"{label} failed to {what}: {type(exc).__name__}: {exc}"
    if name.startswith(FILE_PREFIX) or os.environ.get("PIVOTRL_STRICT_PLUGINS", "") not in ("", "0", "false"):
        raise PluginError(msg) from exc
    warnings.warn(msg + " (set PIVOTRL_STRICT_PLUGINS=1 to raise)", PluginLoadWarning, stacklevel=3)
