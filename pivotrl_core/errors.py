"""Exceptions with messages a user can act on.

Every error the CLI reports without a traceback derives from :class:`PivotrlError`;
``InputError`` names the file, line and field of bad input and maps to exit code 2.
"""

from __future__ import annotations

import difflib
from pathlib import Path

__all__ = [
    "ConfigError",
    "InputError",
    "PivotrlError",
    "PluginError",
    "ResumeMismatchError",
    "UnknownNameError",
    "help_hint",
]


def help_hint(topic: str) -> str:
    """Where a user reads more: ``see `pivotrl help TOPIC```` (the doc page ships in the wheel)."""
    return f"see `pivotrl help {topic}`"


class PivotrlError(Exception):
    """Base class for errors reported to the user without a traceback."""

    exit_code: int = 1


class InputError(PivotrlError):
    """Bad input data: carries the file, line (1-based) and field that were wrong."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        field = f"field '{self.field}': " if self.field else ""
        return f"{where}{field}{self.message}"

    def located(self, path: str | Path, line: int | None) -> InputError:
        """The same error, with the file and line filled in where they were unknown."""
        return InputError(
            self.message,
            path=self.path or path,
            line=self.line if self.line is not None else line,
            field=self.field,
        )


class ConfigError(PivotrlError):
    """A configuration value or flag is wrong; the message says how to fix it.

    ``flag`` (``--temperature``), ``path`` (a TOML file) and ``key`` (``train.lr``) name the place.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        flag: str | None = None,
        path: str | Path | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.flag = flag
        self.path = str(path) if path is not None else None
        self.key = key
        where = [f"{self.path}:" if self.path else "", f"[{key}]" if key else "", f"{flag}:" if flag else ""]
        prefix = " ".join(w for w in where if w)
        super().__init__(f"{prefix} {message}" if prefix else message)


class ResumeMismatchError(ConfigError):
    """A resumable output was written with other settings than this run's."""


class PluginError(PivotrlError):
    """A plugin is broken (missing file, import error, failing hook, duplicate or invalid name)."""

    exit_code = 2


class UnknownNameError(PivotrlError, KeyError):
    """A domain, verifier, policy, sandbox or format name that nothing registered."""

    exit_code = 2

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        close = difflib.get_close_matches(name, self.known, n=3, cutoff=0.5)
        msg = f"unknown {kind} '{name}'"
        if close:
            msg += f"; did you mean {' or '.join(repr(c) for c in close)}?"
        plural = {"policy": "policies", "sandbox": "sandboxes"}.get(kind, kind + "s")
        msg += f" Known {plural}: {', '.join(self.known) or '(none)'}."
        if not close:
            msg += " Install the plugin that provides it (see `pivotrl plugins`)."
        self.message = msg
        Exception.__init__(self, msg)

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return self.message
