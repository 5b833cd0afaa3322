"""``pivotrl run CONFIG.toml``: the whole loop, every stage resumable and skipped when current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..run.engine import PipelineResult
from ..run.report import improvement, improvement_sentence, load_evals, render_table
from ..run.stages import run_pipeline
from ._options import parse_kv

__all__ = ["COMMANDS", "print_summary", "run_and_print"]


def _costs_table(result: PipelineResult) -> Table:
    costs = Table(title="stages", title_justify="left")
    for col in ("stage", "status", "seconds now", "seconds when built"):
        costs.add_column(col, justify="left" if col in ("stage", "status") else "right")
    for row in result.stages:
        costs.add_row(
            row["name"], row["status"], f"{row['seconds']:.1f}", f"{row.get('recorded_seconds') or 0:.1f}"
        )
    total = sum(r["seconds"] for r in result.stages)
    built = sum(r.get("recorded_seconds") or 0 for r in result.stages)
    costs.add_row("total", "", f"{total:.1f}", f"{built:.1f}")
    return costs


def print_summary(result: PipelineResult) -> None:
    """Print what each stage cost and the base-vs-trained table."""
    console = Console(highlight=False)
    console.print(_costs_table(result))
    evals = load_evals(result.run_dir)
    if evals:
        rows = render_table(evals)
        table = Table(title="base vs trained", title_justify="left")
        for i, head in enumerate(rows[0]):
            table.add_column(head, justify="left" if i == 0 else "right")
        for r in rows[1:]:
            table.add_row(*r)
        console.print(table)
        imp = improvement(evals)
        if imp:
            console.print(improvement_sentence(imp))
    console.print(f"report: {result.run_dir / 'report.md'}")


def run_and_print(
    config: Any,
    output: str | None,
    overrides: tuple[str, ...],
    with_sft: bool | None,
    policy: str | None = None,
) -> None:
    """Run a config (a TOML path or a parsed dict) with ``--set`` overrides and print the summary."""
    result = run_pipeline(
        config, output, overrides=parse_kv(overrides, flag="--set"), with_sft=with_sft, policy=policy
    )
    print_summary(result)


@click.command("run")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    default=None,
    type=click.Path(file_okay=False),
    help="Run folder (default: runs/<[run] name>).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="TABLE.KEY=VALUE",
    help="Override a config field, e.g. --set profile.k=4 --set train.max_steps=10 (TOML values).",
)
@click.option(
    "--with-sft/--no-sft",
    default=None,
    help="Also train and evaluate the SFT baseline (overrides [run] with_sft).",
)
@click.option(
    "--policy",
    default=None,
    help="Rollout backend of profiling and evaluation: hf, vllm, openai or a plugin's "
    "(overrides [model] policy; its options: --set 'model.policy_options={...}').",
)
def run_command(
    config: Path, output: str | None, overrides: tuple[str, ...], with_sft: bool | None, policy: str | None
) -> None:
    """Extract -> profile -> select -> train -> eval -> report, as CONFIG says (`pivotrl help pipeline`).

    Re-running skips every stage whose output is current; an interrupted stage resumes.
    """
    run_and_print(config, output, overrides, with_sft, policy)


COMMANDS = [run_command]
