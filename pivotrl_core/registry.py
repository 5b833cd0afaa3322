"""The typed facade over the plugin hooks: the only code that calls ``pm.hook.*``.

Each ``pivotrl_register_*`` implementation is called on its own with a ``register`` callable
bound to its plugin name, so every entry knows which plugin provided it and a duplicate name is
rejected with both plugins named.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from .domains import Domain
from .errors import PluginError, UnknownNameError

__all__ = ["KINDS", "Entry", "Registry", "get_registry", "reset_registry"]

KINDS = {
    "domain": "pivotrl_register_domains",
    "verifier": "pivotrl_register_verifiers",
    "policy": "pivotrl_register_policies",
    "sandbox": "pivotrl_register_sandboxes",
    "format": "pivotrl_register_formats",
}


@dataclass
class Entry:
    kind: str
    name: str
    obj: Any
    plugin: str
    meta: dict[str, Any] = field(default_factory=dict)


def _validate(kind: str, obj: Any) -> None:
    if kind == "domain" and not isinstance(obj, Domain):
        raise PluginError(f"register() for domains takes a Domain, got {type(obj).__name__}")
    if kind == "format" and not all(hasattr(obj, a) for a in ("sniff", "parse", "dump")):
        raise PluginError("a format must have sniff(), parse() and dump() (see TrajectoryFormat)")
    if kind in ("verifier", "policy", "sandbox") and not callable(obj):
        from .verifiers.base import Verifier

        if not isinstance(obj, Verifier):
            raise PluginError(f"a {kind} must be a class or a callable, got {type(obj).__name__}")


class Registry:
    """Everything the loaded plugins registered, by kind and name."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._entries: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        for kind, hook in KINDS.items():
            for impl in getattr(pm.hook, hook).get_hookimpls():
                self._collect(kind, impl)

    def _collect(self, kind: str, impl: pluggy.HookImpl) -> None:
        from .plugins import report_failure

        def register(obj: Any, name: str | None = None, **meta: Any) -> None:
            entry_name = name or getattr(obj, "name", None)
            if not isinstance(entry_name, str) or not entry_name:
                raise PluginError(f"plugin '{impl.plugin_name}' registered a {kind} without a name")
            _validate(kind, obj)
            if kind == "verifier" and inspect.isfunction(obj):
                obj._pivotrl_meta = {**meta, "name": entry_name}  # read by build_verifier
            taken = self._entries[kind].get(entry_name)
            if taken is not None:
                raise PluginError(
                    f"{kind} '{entry_name}' is registered by both plugin '{taken.plugin}' and "
                    f"plugin '{impl.plugin_name}'; disable one with PIVOTRL_DISABLE_PLUGINS"
                )
            self._entries[kind][entry_name] = Entry(kind, entry_name, obj, impl.plugin_name, meta)

        try:
            impl.function(register=register)
        except Exception as e:  # noqa: BLE001 - isolation, see report_failure
            report_failure(impl.plugin_name, f"register {kind}s", e)

    # -- generic access -------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        return sorted(self._entries[kind])

    def entries(self, kind: str) -> list[Entry]:
        return [self._entries[kind][n] for n in self.names(kind)]

    def entry(self, kind: str, name: str) -> Entry:
        try:
            return self._entries[kind][name]
        except KeyError:
            raise UnknownNameError(kind, name, self.names(kind)) from None

    def get(self, kind: str, name: str) -> Any:
        return self.entry(kind, name).obj

    # -- typed access ---------------------------------------------------------------------
    def domain(self, name: str) -> Domain:
        return self.get("domain", name)

    def verifier(self, name: str, **options: Any) -> Any:
        """Build the named verifier with ``options`` (a :class:`~pivotrl_core.Verifier`)."""
        from .verifiers.base import build_verifier

        return build_verifier(self.get("verifier", name), options, name=name)

    def domain_verifier(self, domain: str, **overrides: Any) -> Any:
        """The domain's default verifier, with its configured options (plus overrides)."""
        d = self.domain(domain)
        return self.verifier(d.verifier, **{**dict(d.verifier_options), **overrides})

    def policy(self, name: str, **options: Any) -> Any:
        return self.get("policy", name)(**options)

    def sandbox(self, name: str, **options: Any) -> Any:
        return self.get("sandbox", name)(**options)

    def format(self, name: str) -> Any:
        return self.get("format", name)

    def summary(self) -> dict[str, dict[str, list[str]]]:
        """``{plugin: {kind: [names]}}`` for ``pivotrl plugins``."""
        out: dict[str, dict[str, list[str]]] = {}
        for kind in KINDS:
            for e in self.entries(kind):
                out.setdefault(e.plugin, {}).setdefault(kind, []).append(e.name)
        return out


_registry: Registry | None = None


def get_registry() -> Registry:
    """The registry of the process-wide plugin manager, built on first use."""
    global _registry
    if _registry is None:
        from .plugins import get_plugin_manager

        _registry = Registry(get_plugin_manager())
    return _registry


def reset_registry() -> None:
    global _registry
    _registry = None


def call_command_hooks(
    cli: Any, pm: pluggy.PluginManager, on_error: Callable[[str, Exception], None]
) -> None:
    """Let every plugin add CLI commands; a failing plugin is reported, not fatal."""
    for impl in pm.hook.pivotrl_register_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as e:  # noqa: BLE001
            on_error(impl.plugin_name, e)
