"""The plugin contract: every hook a pivotrl plugin can implement.

Plugins implement hooks with :data:`hookimpl`. Each ``pivotrl_register_*`` hook receives a typed
``register`` callable (the simonw/llm style): call it once per thing you provide. The host
validates what you register, records which plugin registered it (shown by ``pivotrl plugins``)
and rejects a name that another plugin already took, naming both plugins.

``docs/plugins/hooks.md`` has one section per hook; a test fails when a hook is undocumented.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import click
import pluggy

from .domains import Domain
from .sandbox import Sandbox

if TYPE_CHECKING:  # annotations only: hookspecs sits on the bottom floor, below these
    from .formats.base import TrajectoryFormat
    from .policies.base import Policy
    from .policies.tool_formats import ToolCallFormat
    from .verifiers.base import Verifier, VerifyResult

__all__ = ["KINDS", "PivotrlSpecs", "Register", "RegisterDomain", "RegisterFormat", "RegisterPolicy"]
__all__ += ["RegisterSandbox", "RegisterToolFormat", "RegisterVerifier", "hookimpl", "hookspec"]

PROJECT = "pivotrl"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

KINDS = {
    "domain": "pivotrl_register_domains",
    "verifier": "pivotrl_register_verifiers",
    "policy": "pivotrl_register_policies",
    "sandbox": "pivotrl_register_sandboxes",
    "format": "pivotrl_register_formats",
}
"""Registrable kinds and the hook that registers each."""


class RegisterDomain(Protocol):
    def __call__(self, domain: Domain, name: str | None = None) -> None: ...


class RegisterVerifier(Protocol):
    """``meta`` (e.g. ``deterministic=``, ``cost=``) is kept with the entry; functions get it."""

    def __call__(
        self,
        verifier: type[Verifier] | Verifier | Callable[..., VerifyResult],
        name: str | None = None,
        **meta: Any,
    ) -> None: ...


class RegisterPolicy(Protocol):
    def __call__(self, factory: Callable[..., Policy], name: str | None = None) -> None: ...


class RegisterSandbox(Protocol):
    def __call__(self, backend: Callable[..., Sandbox], name: str | None = None) -> None: ...


class RegisterFormat(Protocol):
    def __call__(self, fmt: TrajectoryFormat, name: str | None = None) -> None: ...


class RegisterToolFormat(Protocol):
    def __call__(self, fmt: ToolCallFormat, detect: Callable[[str], bool] | None = None) -> None: ...


Register = Callable[..., None]
"""Any of the typed ``register`` callables: ``register(obj, name=None, **meta)``."""


class PivotrlSpecs:
    """Hook specifications (project name ``"pivotrl"``)."""

    @hookspec
    def pivotrl_register_domains(self, register: RegisterDomain) -> None:
        """Register :class:`pivotrl_core.Domain` objects: ``register(Domain(name=..., ...))``. A domain
        bundles a turn extractor, a default verifier (by name, with options), benchmark adapters,
        optional prompt settings and optional ``generate``/``warmup`` capabilities."""

    @hookspec
    def pivotrl_register_verifiers(self, register: RegisterVerifier) -> None:
        """Register verifier factories: a :class:`pivotrl_core.Verifier` subclass, or a plain
        function ``(candidate, action) -> Verdict | float | bool`` with ``name=``:
        ``register(ExactVerifier)`` or ``register(my_fn, name="my_check", deterministic=True)``.
        Options from config or the CLI are passed to the factory as keyword arguments; a class
        whose constructor names ``resolve`` or ``open_sandbox`` gets the host's (see hooks.md)."""

    @hookspec
    def pivotrl_register_policies(self, register: RegisterPolicy) -> None:
        """Register rollout backends: factories of :class:`pivotrl_core.Policy`, called as
        ``factory(model=..., **options)``. Built-ins: ``hf``, ``openai``, ``vllm``."""

    @hookspec
    def pivotrl_register_sandboxes(self, register: RegisterSandbox) -> None:
        """Register sandbox backends: classes implementing :class:`pivotrl_core.Sandbox`,
        constructed as ``cls(spec: SandboxSpec, **options)``. Built-ins: ``docker``, ``bwrap``."""

    @hookspec
    def pivotrl_register_formats(self, register: RegisterFormat) -> None:
        """Register trajectory readers/writers implementing :class:`pivotrl_core.TrajectoryFormat`.
        Built-ins: ``openai``, ``sharegpt``, ``nemo-gym``."""

    @hookspec(historic=True)  # called as each plugin registers: the formats table is process-wide
    def pivotrl_register_tool_formats(self, register: RegisterToolFormat) -> None:
        """Add tool-call formats (:class:`~pivotrl_core.policies.tool_formats.ToolCallFormat`) to the
        process-wide table: ``register(fmt, detect=lambda chat_template: ...)``; ``detect`` picks it for
        a matching template before the built-in families. Registering a name again replaces it."""

    @hookspec
    def pivotrl_register_commands(self, cli: click.Group) -> None:
        """Add subcommands to the ``pivotrl`` click group: ``cli.add_command(my_command)``."""
