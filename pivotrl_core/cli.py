"""The ``pivotrl`` command line: a thin click layer over the library.

Subcommands live one area per module in ``pivotrl_core/commands/`` (each module exposes
``COMMANDS``, a list of click commands); plugins add more through ``pivotrl_register_commands``.

Every command runs inside one error boundary (:meth:`_Group.main`): an expected failure (bad
input, a wrong option or config value, an unknown name, a broken plugin file, a file that cannot
be read or written, a truncated gzip, input nested too deeply) prints ``Error: ...`` naming the
file, line and field or the flag, and exits 2; no traceback. Anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import sys
import warnings
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import click

from . import __version__, commands
from .errors import PivotrlError, PluginError
from .plugins import get_registry, load_plugin_file

__all__ = ["EXPECTED_ERRORS", "UserError", "build_cli", "cli", "error_message", "main"]

EXPECTED_ERRORS = (PivotrlError, OSError, EOFError, zlib.error, UnicodeError, RecursionError)


def error_message(e: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for an expected failure."""
    if isinstance(e, PivotrlError):
        return str(e), e.exit_code
    if isinstance(e, RecursionError):
        return "input nested too deeply to process (Python's recursion limit)", 2
    if isinstance(e, UnicodeDecodeError):
        return f"a file is not valid UTF-8 ({e})", 2
    if isinstance(e, UnicodeError):
        return f"cannot encode or decode text ({e}); use UTF-8", 2
    if isinstance(e, OSError) and e.filename is not None:
        where = f"{e.filename} -> {e.filename2}" if e.filename2 else str(e.filename)
        return f"{where}: {e.strerror or e}", 2
    return f"{type(e).__name__}: {e}", 2


def _fail(e: BaseException) -> NoReturn:
    message, code = error_message(e)
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def load_plugin_files(paths: Iterable[str]) -> None:
    """Load ``--plugin`` files strictly: a missing file, an import error, a failing hook or a
    duplicate name is a :class:`PluginError` (exit 2), not a warning."""
    paths = list(paths)
    seen: dict[str, Path] = {}
    for raw in paths:
        p = Path(raw).resolve()
        if not p.is_file():
            raise PluginError(f"--plugin {raw}: " + ("not a file" if p.exists() else "no such file"))
        if p.suffix != ".py":
            raise PluginError(f"--plugin {raw}: a plugin file must be a .py file")
        if p.name in seen and seen[p.name] != p:
            raise PluginError(f"--plugin {raw}: another plugin file is also named {p.name}; rename one")
        seen[p.name] = p
    for raw in paths:
        load_plugin_file(raw)
    if paths:
        get_registry()  # runs every register hook now: a failing one in a plugin file raises
        build_cli()


class UserError(click.ClickException):
    """An expected failure, shown by click as ``Error: <message>`` with its exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@contextlib.contextmanager
def _boundary() -> Iterator[None]:
    try:
        yield
    except BrokenPipeError:  # output piped into e.g. `head`: click exits quietly
        raise
    except EXPECTED_ERRORS as e:
        raise UserError(*error_message(e)) from None


class _Group(click.Group):
    """The ``pivotrl`` group: parsing (plugin files included) and every command run inside the
    error boundary, before click's own handling (which would turn an ``EOFError`` into "Aborted!")."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except EXPECTED_ERRORS as e:  # raised outside parsing and invoking (e.g. while closing)
            _fail(e)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with _boundary():
            rest = super().parse_args(ctx, args)
            load_plugin_files(ctx.params.get("plugin_files") or ())
        return rest

    def invoke(self, ctx: click.Context) -> Any:
        with _boundary():
            return super().invoke(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pivotrl")
@click.option(
    "--plugin",
    "plugin_files",
    multiple=True,
    metavar="FILE.py",
    help="Load a one-off plugin from a Python file (repeatable).",
)
def cli(plugin_files: tuple[str, ...]) -> None:
    """PivotRL: turn-level RL on the informative turns of agentic SFT trajectories.

    Pipeline: extract -> profile -> select -> train -> eval (or all at once: pivotrl run).
    `pivotrl help` lists the documentation pages.
    """
    # --plugin files are loaded in main() before parsing, so their commands exist too.


def _builtin_command_modules() -> list[str]:
    return sorted(
        f"{commands.__name__}.{m.name}"
        for m in pkgutil.iter_modules(commands.__path__)
        if not m.name.startswith("_")
    )


def _plugin_args(argv: list[str]) -> list[str]:
    out = []
    for i, arg in enumerate(argv):
        if arg == "--plugin" and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith("--plugin="):
            out.append(arg.split("=", 1)[1])
    return out


def build_cli() -> click.Group:
    """Attach built-in and plugin subcommands to the group (idempotent)."""
    for modname in _builtin_command_modules():
        mod = importlib.import_module(modname)
        for cmd in getattr(mod, "COMMANDS", []):
            if cmd.name not in cli.commands:
                cli.add_command(cmd)
    get_registry().add_commands(cli)
    return cli


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    click.echo(f"Warning: {message}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    warnings.showwarning = _show_warning
    try:
        build_cli()
        load_plugin_files(_plugin_args(args))  # before parsing, so a plugin's commands exist
    except EXPECTED_ERRORS as e:
        _fail(e)
    cli.main(args=args, prog_name="pivotrl")
