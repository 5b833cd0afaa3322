"""The ``pivotrl`` command line: a thin click layer over the library.

Subcommands live one area per module in ``pivotrl_core/commands/`` (each module exposes
``COMMANDS``, a list of click commands); plugins add more through ``pivotrl_register_commands``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import warnings

import click

from . import __version__
from .errors import PivotrlError

__all__ = ["cli", "main"]


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except PivotrlError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(e.exit_code)


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
    """
    # --plugin files are loaded in main() before parsing, so their commands exist too.


def _builtin_command_modules() -> list[str]:
    from . import commands

    return sorted(
        f"{commands.__name__}.{m.name}"
        for m in pkgutil.iter_modules(commands.__path__)
        if not m.name.startswith("_")
    )


def _preload_plugin_files(argv: list[str]) -> None:
    from .plugins import load_plugin_file

    for i, arg in enumerate(argv):
        if arg == "--plugin" and i + 1 < len(argv):
            load_plugin_file(argv[i + 1])
        elif arg.startswith("--plugin="):
            load_plugin_file(arg.split("=", 1)[1])


def build_cli() -> click.Group:
    """Attach built-in and plugin subcommands to the group (idempotent)."""
    for modname in _builtin_command_modules():
        mod = importlib.import_module(modname)
        for cmd in getattr(mod, "COMMANDS", []):
            if cmd.name not in cli.commands:
                cli.add_command(cmd)
    from .plugins import get_plugin_manager, report_failure
    from .registry import call_command_hooks

    call_command_hooks(cli, get_plugin_manager(), lambda name, e: report_failure(name, "add commands", e))
    return cli


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    click.echo(f"Warning: {message}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    warnings.showwarning = _show_warning
    try:
        _preload_plugin_files(args)
        build_cli()
    except PivotrlError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(e.exit_code)
    cli.main(args=args, prog_name="pivotrl")
