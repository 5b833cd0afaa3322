"""How plugins are found and loaded: built-ins, then entry points, then plugin files.

Each plugin is imported and registered on its own, so one broken plugin is reported (see
:mod:`~pivotrl_core.plugin_status`) and the others keep working. Environment:
``PIVOTRL_LOAD_PLUGINS=a,b`` (only these entry points), ``PIVOTRL_DISABLE_PLUGINS=a,b`` and
``PIVOTRL_PLUGIN_FILES=a.py:b.py``. Tool-call formats go to the process-wide table of
:mod:`~pivotrl_core.policies.tool_formats` as each plugin registers (a historic hook).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from contextlib import suppress
from functools import partial
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from . import default_plugins, hookspecs
from .errors import PluginError
from .plugin_status import FILE_PREFIX, PluginInfo, infos, report_failure
from .policies.tool_formats import register_tool_format

__all__ = ["ENTRY_POINT_GROUP", "import_plugin_file", "new_plugin_manager"]
ENTRY_POINT_GROUP = "pivotrl"


def _names(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    return None if raw is None else {x.strip() for x in raw.split(",")}


def _register(pm: pluggy.PluginManager, load: Any, info: PluginInfo) -> None:
    """Import (``load()``) and register one plugin; any failure is reported, not a crash."""
    what = "load"
    try:
        if pm.has_plugin(info.name):
            raise PluginError("a plugin with this name is already loaded")
        infos[info.name] = info
        module, what = load(), "register its hooks"
        info.hooks = sorted(n for n in dir(module) if n.startswith("pivotrl_"))
        pm.register(module, name=info.name)
        pm.check_pending()
    except Exception as e:  # noqa: BLE001 - isolation: one broken plugin is a warning
        if pm.has_plugin(info.name) and what == "register its hooks":  # a bad or failing hook
            pm.unregister(name=info.name)
        report_failure(info.name, what, e, info.distribution)


def new_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh plugin manager with built-ins, entry-point plugins (optional) and plugin files."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs.PivotrlSpecs)
    pm.hook.pivotrl_register_tool_formats.call_historic(kwargs={"register": register_tool_format})
    allowed, disabled = (_names(f"PIVOTRL_{v}_PLUGINS") for v in ("LOAD", "DISABLE"))
    core_version = None
    with suppress(PackageNotFoundError):
        core_version = version("pivotrl-core")
    for m in pkgutil.iter_modules(default_plugins.__path__):
        if not m.name.startswith("_") and m.name not in (disabled or ()):
            load = partial(importlib.import_module, f"{default_plugins.__name__}.{m.name}")
            _register(pm, load, PluginInfo(m.name, "pivotrl-core", core_version, builtin=True))
    for ep in entry_points(group=ENTRY_POINT_GROUP) if load_entry_points else ():
        if ep.name not in (disabled or ()) and (allowed is None or ep.name in allowed):
            dist, ver = (ep.dist.name, ep.dist.version) if ep.dist else (None, None)
            _register(pm, ep.load, PluginInfo(ep.name, dist, ver))
    for path in filter(None, os.environ.get("PIVOTRL_PLUGIN_FILES", "").split(os.pathsep)):
        import_plugin_file(path, pm)
    return pm


def import_plugin_file(path: str | Path, pm: pluggy.PluginManager) -> ModuleType:
    """Import and register a ``.py`` file as plugin ``file:NAME``; any failure raises PluginError."""
    p = Path(path).resolve()
    if not p.is_file():
        raise PluginError(f"plugin file {path} does not exist")
    name = f"{FILE_PREFIX}{p.name}"
    if not pm.has_plugin(name):
        spec = importlib.util.spec_from_file_location(f"pivotrl_plugin_file_{p.stem}", p)
        assert spec and spec.loader
        mod = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        _register(pm, lambda: spec.loader.exec_module(mod) or mod, PluginInfo(name, str(p)))  # type: ignore[union-attr]
    return pm.get_plugin(name)
