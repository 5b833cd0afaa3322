"""Test helpers for pivotrl and its plugins; an opt-in pytest plugin when pytest is installed.

Without pytest: :func:`use_plugin_manager` (a fresh, process-wide plugin manager for a block),
:func:`check_verifier` and :func:`check_domain` (verifier conformance). With pytest, enable the
fixtures with ``pytest_plugins = ["pivotrl_core.testing"]`` in a ``conftest.py``:

* ``pivotrl_pm``: a fresh plugin manager (built-ins + installed entry points), process-wide for
  the test and restored afterwards;
* ``register_plugin``: ``register_plugin(obj, name=None)`` adds a plugin object (a module or a
  class with hookimpls) for the test's duration and returns the rebuilt registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pluggy

from . import plugins as _plugins
from .plugin_loader import new_plugin_manager
from .plugin_status import PluginInfo, infos
from .registry import Registry
from .types import Candidate
from .verifiers.base import Verifier
from .verifiers.check import QAReport, run_qa

__all__ = ["add_plugin", "check_domain", "check_verifier", "use_plugin_manager"]


@contextmanager
def use_plugin_manager(pm: pluggy.PluginManager | None = None) -> Iterator[pluggy.PluginManager]:
    """Install ``pm`` (default: a fresh one) as the process-wide plugin manager inside the block."""
    old, old_infos = _plugins._pm, dict(infos)
    infos.clear()
    pm = pm or new_plugin_manager()
    _plugins.set_plugin_manager(pm)
    try:
        yield pm
    finally:
        infos.clear()
        infos.update(old_infos)
        _plugins.set_plugin_manager(old)


def add_plugin(pm: pluggy.PluginManager, obj: Any, name: str | None = None) -> Registry:
    """Register ``obj`` as a plugin of the process-wide ``pm``; returns the rebuilt registry."""
    plugin_name = name or getattr(obj, "__name__", None) or type(obj).__name__
    pm.register(obj, name=plugin_name)
    hooks = sorted(n for n in dir(obj) if n.startswith("pivotrl_"))
    infos[plugin_name] = PluginInfo(plugin_name, hooks=hooks)
    pm.check_pending()
    _plugins.set_plugin_manager(pm)  # forgets the registry
    return _plugins.get_registry()


def check_verifier(
    verifier: Verifier | str,
    candidates: Iterable[Candidate],
    repeats: int = 3,
    registry: Registry | None = None,
    **options: Any,
) -> QAReport:
    """Run verifier QA (:mod:`pivotrl_core.verifiers.check`) and raise ``AssertionError`` on a violation.

    ``verifier`` is a :class:`~pivotrl_core.Verifier` or a registered name (built with ``options``
    by ``registry``, default the process-wide one). Every demonstration must pass, empty and garbage
    actions must fail, and repeated runs must agree. Returns the report (warnings included).
    """
    if isinstance(verifier, str):
        verifier = (registry or _plugins.get_registry()).verifier(verifier, **options)
    candidates = list(candidates)
    if not candidates:
        raise AssertionError("check_verifier needs at least one candidate")
    report = run_qa(verifier, candidates, repeats=repeats)
    if not report.ok:
        raise AssertionError(report.format())
    return report


def check_domain(
    domain_name: str,
    candidates: Iterable[Candidate],
    repeats: int = 3,
    registry: Registry | None = None,
    **overrides: Any,
) -> QAReport:
    """:func:`check_verifier` with the domain's default verifier (and its configured options)."""
    verifier = (registry or _plugins.get_registry()).domain_verifier(domain_name, **overrides)
    return check_verifier(verifier, candidates, repeats=repeats)


try:
    import pytest
except ImportError:  # pragma: no cover - the helpers above work without pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def pivotrl_pm() -> Iterator[pluggy.PluginManager]:
        """A fresh plugin manager, process-wide for the duration of the test."""
        with use_plugin_manager() as pm:
            yield pm

    @pytest.fixture
    def register_plugin(pivotrl_pm: pluggy.PluginManager) -> Callable[..., Registry]:
        """``register_plugin(obj, name=None)`` adds a plugin and returns the rebuilt registry."""
        return lambda obj, name=None: add_plugin(pivotrl_pm, obj, name)
