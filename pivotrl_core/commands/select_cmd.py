"""``pivotrl select``: keep the pivots (var > 0, mean < lambda), split by trajectory, report."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["COMMANDS"]


@click.command("select")
@click.argument("profiles", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Training pivots JSONL; the validation split goes to <name>.val.jsonl beside it.",
)
@click.option("--max-mean", default=0.6, show_default=True, type=float, help="Lambda: keep mean < this.")
@click.option("--min-std", default=0.0, show_default=True, type=float, help="Keep std > this (0: var > 0).")
@click.option(
    "--val-fraction", default=0.1, show_default=True, type=float, help="Share of trajectories held out."
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the trajectory split hash.")
@click.option(
    "--candidates",
    default=None,
    type=click.Path(dir_okay=False),
    help="Candidates file (default: the one recorded in the profile rows).",
)
@click.option(
    "--report-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Where select_report.json/.md and pass_rate_hist.png go (default: beside OUTPUT).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["pivotrl", "nemo-gym"]),
    default="pivotrl",
    show_default=True,
    help="pivotrl: candidate rows + profile stats; nemo-gym: NeMo Gym pivot rows.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report JSON on stdout.")
def select_command(
    profiles: str,
    output: str,
    max_mean: float,
    min_std: float,
    val_fraction: float,
    seed: int,
    candidates: str | None,
    report_dir: str | None,
    fmt: str,
    as_json: bool,
) -> None:
    """Select pivots from PROFILES and write them with a report."""
    from ..select import SelectConfig, select_pivots
    from ..select_report import print_report, write_report

    config = SelectConfig(
        max_mean=max_mean, min_std=min_std, val_fraction=val_fraction, seed=seed, format=fmt
    )
    res = select_pivots(profiles, output, config, candidates=candidates)
    rep = write_report(res, report_dir or Path(output).resolve().parent)
    print_report(rep)
    if as_json:
        click.echo(json.dumps(rep, indent=2))
    else:
        c = rep["counts"]
        click.echo(
            f"kept {c['kept']} of {c['profiles']} ({c['train']} train -> {res.outputs['train']}, "
            f"{c['val']} val -> {res.outputs['val']}); report in {Path(rep['outputs']['report_json']).parent}",
            err=True,
        )


COMMANDS = [select_command]
