"""``pivotrl experiment CONFIG.toml [--quick | --gpu]``: the paper's claims in miniature (arms x seeds)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from ..experiment.config import load_experiment
from ..experiment.runner import run_experiment
from ..experiment.table import write_table

__all__ = ["COMMANDS"]


@click.command("experiment")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--quick", is_flag=True, help="Use the config's [quick] settings (1 seed, fewer steps).")
@click.option("--gpu", is_flag=True, help="Use the config's [gpu] settings (larger sizes, on a CUDA device).")
@click.option(
    "-o",
    "--output",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Experiment folder (default: runs/<[experiment] name>[-quick|-gpu]).",
)
@click.option(
    "--table",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the table here (e.g. benchmarks/results/paper_table.md; plots beside it).",
)
def experiment_command(config: Path, quick: bool, gpu: bool, output: Path | None, table: Path | None) -> None:
    """Train and evaluate every arm of CONFIG from the same pi_0 and data (`pivotrl help results`).

    Shared stages run once; every arm x seed is resumable and skipped when done.
    """
    exp = load_experiment(config, quick=quick, gpu=gpu)
    out = output or Path("runs") / (exp.settings.name + ("" if exp.size == "full" else f"-{exp.size}"))
    console = Console(stderr=True, highlight=False)
    result = run_experiment(exp, out, say=console.print)
    written = write_table(result.summary, out / "paper_table.md", run=out)
    if table is not None:
        written = write_table(result.summary, table, run=out)
    click.echo(f"table: {written}")


COMMANDS = [experiment_command]
