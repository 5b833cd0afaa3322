"""A pure, typed registry over the plugin hooks: it and the loader's one historic call (the tool-format
hook) are the only code calling ``pm.hook.*``. No globals: the process-wide one is in :mod:`.plugins`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import click
import pluggy

from .domains import Domain
from .errors import PluginError, UnknownNameError
from .formats.base import TrajectoryFormat
from .hookspecs import KINDS
from .policies.base import Policy
from .sandbox import Sandbox, SandboxSpec, choose_backend
from .verifiers.base import Verifier, build_verifier
from .verifiers.combinators import from_spec

__all__ = ["KINDS", "Entry", "OnError", "Registry"]

OnError = Callable[[str, str, BaseException], None]  # on_error(plugin, what, exc): report or raise


@dataclass
class Entry:
    """One registered thing; ``meta`` holds the keywords given to ``register``."""

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
    if kind in ("verifier", "policy", "sandbox") and not (callable(obj) or isinstance(obj, Verifier)):
        raise PluginError(f"a {kind} must be a class or a callable, got {type(obj).__name__}")


class Registry:
    """What the plugins of ``pm`` registered, by kind and name; each hook implementation gets a
    ``register`` bound to its plugin (a duplicate name is rejected naming both); ``on_error`` hears
    of failures."""

    def __init__(self, pm: pluggy.PluginManager, on_error: OnError) -> None:
        self.pm, self.on_error = pm, on_error
        self._entries: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        self._services = {"resolve": self.verifier_from_spec, "open_sandbox": self.open_sandbox}
        for kind, hook in KINDS.items():
            for impl in getattr(pm.hook, hook).get_hookimpls():
                self._collect(kind, impl)

    def _collect(self, kind: str, impl: pluggy.HookImpl) -> None:
        try:
            impl.function(register=partial(self._add, kind, impl.plugin_name))
        except Exception as e:  # noqa: BLE001 - isolation: on_error decides
            self.on_error(impl.plugin_name, f"register {kind}s", e)

    def _add(self, kind: str, plugin: str, obj: Any, name: str | None = None, **meta: Any) -> None:
        name = name or getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin '{plugin}' registered a {kind} without a name")
        _validate(kind, obj)
        if (taken := self._entries[kind].get(name)) is not None:
            raise PluginError(
                f"{kind} '{name}' is registered by both plugin '{taken.plugin}' and plugin '{plugin}'; "
                "disable one with PIVOTRL_DISABLE_PLUGINS"
            )
        self._entries[kind][name] = Entry(kind, name, obj, plugin, meta)

    def names(self, kind: str) -> list[str]:
        return sorted(self._entries[kind])

    def entries(self, kind: str) -> list[Entry]:
        return [self._entries[kind][n] for n in self.names(kind)]

    def entry(self, kind: str, name: str) -> Entry:
        try:
            return self._entries[kind][name]
        except KeyError:
            raise UnknownNameError(kind, name, self.names(kind)) from None

    def get(self, kind: str, name: str) -> object:
        return self.entry(kind, name).obj

    def domain(self, name: str) -> Domain:
        return self.entry("domain", name).obj

    def verifier(self, name: str, **options: Any) -> Verifier:
        """Build the named verifier with ``options``; host services it names are handed in."""
        e = self.entry("verifier", name)
        return build_verifier(e.obj, options, name=name, meta=e.meta, services=self._services)

    def verifier_from_spec(self, spec: Any) -> Verifier:
        """A verifier from a name, a ``{"name": ..., **options}`` table, an instance or a function."""
        return from_spec(spec, self.verifier)

    def domain_verifier(self, domain: str, **overrides: Any) -> Verifier:
        """The domain's default verifier, with its configured options (plus overrides)."""
        d = self.domain(domain)
        return self.verifier(d.verifier, **{**dict(d.verifier_options), **overrides})

    def policy(self, name: str, **options: Any) -> Policy:
        return self.entry("policy", name).obj(**options)

    def format(self, name: str) -> TrajectoryFormat:
        return self.entry("format", name).obj

    def formats(self) -> list[TrajectoryFormat]:
        return [e.obj for e in self.entries("format")]

    def sandbox(self, name: str, spec: SandboxSpec | None = None, **options: Any) -> Sandbox:
        return self.entry("sandbox", name).obj(spec=spec or SandboxSpec(), **options)

    def resolve_backend(self, name: str | None = None) -> str:
        """``name``, else ``$PIVOTRL_SANDBOX``, else the first available (see :func:`choose_backend`)."""
        return choose_backend({e.name: e.obj for e in self.entries("sandbox")}, name)

    def open_sandbox(
        self, backend: str | None = None, spec: SandboxSpec | None = None, **options: Any
    ) -> Sandbox:
        """Open a sandbox of the named backend (``None``/``auto``: see :meth:`resolve_backend`)."""
        return self.sandbox(self.resolve_backend(backend), spec=spec, **options)

    def add_commands(self, cli: click.Group) -> None:
        """Let every plugin add CLI commands; a failing plugin goes to ``on_error``."""
        for impl in self.pm.hook.pivotrl_register_commands.get_hookimpls():
            try:
                impl.function(cli=cli)
            except Exception as e:  # noqa: BLE001
                self.on_error(impl.plugin_name, "add commands", e)
