"""``pivotrl quickstart`` (``make demo``): the bundled run config, end to end on a laptop CPU."""

from __future__ import annotations

from pathlib import Path

import click

from .run_cmd import run_and_print

__all__ = ["COMMANDS", "quickstart_config_path"]


def quickstart_config_path() -> Path:
    """The bundled ``quickstart.toml``."""
    return Path(__file__).resolve().parents[1] / "data" / "quickstart.toml"


@click.command("quickstart")
@click.option(
    "-o",
    "--output",
    default="runs/quickstart",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Run folder.",
)
@click.option(
    "--with-sft", is_flag=True, help="Also train the SFT baseline on the same trajectories and compare."
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="TABLE.KEY=VALUE",
    help="Override a field of the bundled config, e.g. --set train.max_steps=10.",
)
@click.option("--policy", default=None, help="Rollout backend of profiling and evaluation (default: hf).")
@click.option(
    "--print-config",
    is_flag=True,
    help="Print the bundled config (a starting point for `pivotrl run`) and exit.",
)
def quickstart_command(
    output: str, with_sft: bool, overrides: tuple[str, ...], policy: str | None, print_config: bool
) -> None:
    """Run the whole PivotRL loop on the tool-use world with SmolLM2-135M and print base vs trained.

    Needs the pivotrl-tool-use plugin. Re-running reuses every finished stage (`pivotrl help quickstart`).
    """
    path = quickstart_config_path()
    if print_config:
        click.echo(path.read_text(encoding="utf-8"), nl=False)
        return
    run_and_print(path, output, overrides, with_sft or None, policy)


COMMANDS = [quickstart_command]
