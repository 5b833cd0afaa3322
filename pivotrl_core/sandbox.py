"""The sandbox contract: run untrusted commands with no network and hard limits.

Backends (``docker``, ``bwrap``) live in ``sandboxes/`` and register through
``pivotrl_register_sandboxes``; ``docs/sandboxes.md`` is the threat model. This module stays
backend-neutral: the spec, the result, the protocol, the state a candidate records, and
:func:`choose_backend`, the ``auto`` rule over the backends a host passes in. Opening a sandbox is
the registry's job (``pivotrl_core.open_sandbox``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from .errors import ConfigError, InputError, UnknownNameError

__all__ = [
    "BACKEND_ENV",
    "Sandbox",
    "SandboxError",
    "SandboxResult",
    "SandboxSpec",
    "SandboxState",
    "choose_backend",
]

BACKEND_ENV = "PIVOTRL_SANDBOX"
"""Environment variable naming the default backend (``docker``, ``bwrap`` or ``auto``)."""

AUTO_ORDER = ("docker", "bwrap")


class SandboxError(RuntimeError):
    """The sandbox itself failed (engine down, container crashed): an infrastructure error.

    Verifiers turn it into an *errored* verdict, never into a failed one.
    """


@dataclass(frozen=True)
class SandboxSpec:
    """Limits and contents of a sandbox. All limits are enforced by the backend.

    ``disk_mb`` bounds the writable work dir, ``tmp_mb`` the writable ``/tmp``; the rest of the
    file system is read-only. ``output_limit_bytes`` caps stdout and stderr each.
    """

    image: str = "pivotrl/sandbox-py"
    memory_mb: int = 256
    cpus: float = 1.0
    pids: int = 64
    timeout_s: float = 10.0
    output_limit_bytes: int = 1 << 20
    disk_mb: int = 64
    workdir: str = "/work"
    env: Mapping[str, str] = field(default_factory=dict)
    tmp_mb: int = 32

    def key(self) -> tuple[Any, ...]:
        """A hashable identity (``env`` is a mapping): sandboxes with equal keys are interchangeable."""
        return (
            self.image, self.memory_mb, self.cpus, self.pids, self.disk_mb, self.tmp_mb,
            self.workdir, tuple(sorted(dict(self.env).items())),
        )  # fmt: skip

    def replace(self, **changes: Any) -> SandboxSpec:
        return replace(self, **changes)

    @classmethod
    def from_options(cls, spec: SandboxSpec | None = None, **options: Any) -> SandboxSpec:
        """``spec`` with any field given as a keyword overridden; unknown keys are a ConfigError."""
        base = spec or cls()
        unknown = sorted(set(options) - set(cls.__dataclass_fields__))
        if unknown:
            known = ", ".join(cls.__dataclass_fields__)
            raise ConfigError(
                f"unknown sandbox option(s) {', '.join(unknown)}; SandboxSpec fields are: {known}"
            )
        return replace(base, **options) if options else base


@dataclass(frozen=True)
class SandboxResult:
    """The outcome of one command. ``timed_out``/``truncated`` are the limits that fired.

    A timed-out command reports ``exit_code`` 124 (the GNU ``timeout`` convention).
    """

    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    truncated: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


@runtime_checkable
class Sandbox(Protocol):
    """One isolated workspace. ``run`` executes a ``bash`` command inside ``spec.workdir``.

    The work dir and ``/tmp`` persist across ``run`` calls of one sandbox; ``close`` releases it
    (a pooled backend resets it and keeps it warm). Backend classes are constructed as
    ``cls(spec=SandboxSpec(...), **options)`` and may define a classmethod
    ``available() -> (bool, reason)`` used by ``auto`` selection and ``pivotrl sandbox doctor``.
    """

    name: str

    def write_files(self, files: Mapping[str, str | bytes]) -> None: ...

    def run(self, command: str, timeout_s: float | None = None) -> SandboxResult: ...

    def read_files(self) -> dict[str, bytes]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SandboxState:
    """The state a candidate's action runs from: files in the work dir, then setup commands.

    Stored in ``Candidate.metadata["sandbox"]`` as ``{"files": {path: text}, "setup": [cmd, ...],
    "image": optional image}``; paths are relative to the work dir.
    """

    files: Mapping[str, str | bytes] = field(default_factory=dict)
    setup: tuple[str, ...] = ()
    image: str | None = None

    @classmethod
    def from_metadata(cls, raw: Any, where: str = "metadata.sandbox.") -> SandboxState:
        if not isinstance(raw, Mapping):
            raise InputError(f"expected an object, got {type(raw).__name__}", field=where.rstrip("."))
        files = raw.get("files") or {}
        if not isinstance(files, Mapping) or not all(
            isinstance(k, str) and isinstance(v, (str, bytes)) for k, v in files.items()
        ):
            raise InputError("expected an object mapping paths to text", field=f"{where}files")
        for path in files:
            if path.startswith("/") or ".." in path.split("/"):
                raise InputError(f"path {path!r} must be relative to the work dir", field=f"{where}files")
        setup = raw.get("setup") or []
        if isinstance(setup, str):
            setup = [setup]
        if not isinstance(setup, list) or not all(isinstance(c, str) for c in setup):
            raise InputError("expected a list of shell commands", field=f"{where}setup")
        image = raw.get("image")
        if image is not None and not isinstance(image, str):
            raise InputError("expected a string", field=f"{where}image")
        return cls(files=dict(files), setup=tuple(setup), image=image)

    def to_dict(self) -> dict[str, Any]:
        files = {
            k: v.decode("utf-8", "replace") if isinstance(v, bytes) else v for k, v in self.files.items()
        }
        d: dict[str, Any] = {"files": files, "setup": list(self.setup)}
        if self.image:
            d["image"] = self.image
        return d


def _is_available(backend: Any) -> tuple[bool, str]:
    check = getattr(backend, "available", None)
    if check is None:
        return True, "no availability check"
    try:
        ok, reason = check()
    except Exception as e:  # noqa: BLE001 - a broken check means "not available"
        return False, f"{type(e).__name__}: {e}"
    return bool(ok), str(reason)


def choose_backend(backends: Mapping[str, Any], name: str | None = None) -> str:
    """The backend to use among ``backends`` (name -> class): ``name``, else ``$PIVOTRL_SANDBOX``,
    else ``auto``: the first available of ``docker``, ``bwrap``, then any other.

    An unknown name raises :class:`UnknownNameError` with suggestions; when no backend is
    available the ConfigError lists why each one was not. The host passes its registered backends
    in (:meth:`pivotrl_core.registry.Registry.resolve_backend`); this module knows no registry.
    """
    chosen = name or os.environ.get(BACKEND_ENV) or "auto"
    if chosen != "auto":
        if chosen not in backends:
            raise UnknownNameError("sandbox", chosen, sorted(backends))
        return chosen
    order = [n for n in AUTO_ORDER if n in backends] + sorted(n for n in backends if n not in AUTO_ORDER)
    reasons = []
    for n in order:
        ok, reason = _is_available(backends[n])
        if ok:
            return n
        reasons.append(f"{n}: {reason}")
    raise ConfigError(
        "no sandbox backend is available ("
        + ("; ".join(reasons) or "none is registered: install pivotrl-sandboxes")
        + "). Run `pivotrl sandbox doctor` to see what is missing."
    )
