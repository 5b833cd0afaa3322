"""The process-wide plugin manager and registry, built on first use (loading: :mod:`.plugin_loader`).

Only the top floors (``cli``, ``commands``, ``run``, ``testing``) and plugins use these; the layers
below get the registry, or what they need from it, passed in.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from .plugin_loader import import_plugin_file, new_plugin_manager
from .plugin_status import PluginInfo, infos, report_failure
from .registry import Registry
from .sandbox import Sandbox, SandboxSpec

__all__ = ["get_plugin_manager", "get_registry", "load_plugin_file", "new_plugin_manager", "open_sandbox"]
__all__ += ["plugin_infos", "resolve_backend", "set_plugin_manager"]
__all__ += ["PluginInfo", "report_failure"]


_pm: pluggy.PluginManager | None = None
_registry: Registry | None = None


def load_plugin_file(path: str | Path, pm: pluggy.PluginManager | None = None) -> ModuleType:
    """Load a one-off plugin from a ``.py`` file (``pivotrl --plugin FILE.py``); any failure raises."""
    global _registry
    module = import_plugin_file(path, pm or get_plugin_manager())
    _registry = None
    return module


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use."""
    global _pm
    _pm = _pm or new_plugin_manager()
    return _pm


def get_registry() -> Registry:
    """The registry of the process-wide plugin manager, built on first use."""
    global _registry
    _registry = _registry or Registry(get_plugin_manager(), report_failure)
    return _registry


def set_plugin_manager(pm: pluggy.PluginManager | None) -> None:
    """Replace the process-wide plugin manager (``None``: rebuilt on next use); forgets the registry."""
    global _pm, _registry
    _pm, _registry = pm, None


def plugin_infos() -> dict[str, PluginInfo]:
    """Information about every plugin seen (loaded or failed)."""
    get_plugin_manager()
    return infos


def resolve_backend(name: str | None = None) -> str:
    """:meth:`Registry.resolve_backend` of the process-wide registry."""
    return get_registry().resolve_backend(name)


def open_sandbox(backend: str | None = None, spec: SandboxSpec | None = None, **options: Any) -> Sandbox:
    """:meth:`Registry.open_sandbox` of the process-wide registry."""
    return get_registry().open_sandbox(backend, spec, **options)
