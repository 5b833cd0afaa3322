"""``pivotrl select``: keep the pivots (var > 0, mean < lambda), split by trajectory, report."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..select import SelectConfig, select_pivots, val_path
from ..select_report import print_report, write_report
from ._options import FRACTION, NON_NEGATIVE_FLOAT, SEED, check_io

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
@click.option("--max-mean", default=0.6, show_default=True, type=FRACTION, help="Lambda: keep mean < this.")
@click.option(
    "--min-std", default=0.0, show_default=True, type=NON_NEGATIVE_FLOAT, help="Keep std > this (0: var > 0)."
)
@click.option(
    "--val-fraction", default=0.1, show_default=True, type=FRACTION, help="Share of trajectories held out."
)
@click.option("--seed", default=0, show_default=True, type=SEED, help="Seed of the trajectory split hash.")
@click.option(
    "--min-scored",
    default=0.5,
    show_default=True,
    type=FRACTION,
    help="Share of a candidate's samples that must be scored (not errored) to keep it.",
)
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
    min_scored: float,
    candidates: str | None,
    report_dir: str | None,
    fmt: str,
    as_json: bool,
) -> None:
    """Select pivots from PROFILES and write them with a report."""
    inputs = [profiles, *([candidates] if candidates else [])]
    check_io(output, inputs)
    check_io(val_path(output), inputs, flag="-o (its .val.jsonl)")
    config = SelectConfig(
        max_mean=max_mean,
        min_std=min_std,
        val_fraction=val_fraction,
        seed=seed,
        format=fmt,
        min_scored=min_scored,
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
            f"{c['val']} val -> {res.outputs['val']}); "
            f"report in {Path(rep['outputs']['report_json']).parent}",
            err=True,
        )


COMMANDS = [select_command]
