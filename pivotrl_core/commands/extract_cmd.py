"""``pivotrl extract``: trajectories (JSONL, Parquet, ``datasets`` folders) -> candidates.

``pivotrl export`` (candidates or pivots -> rows of another format) is in :mod:`.export_cmd`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ..domains import ExtractOptions
from ..extract import ExtractStats, extract_file
from ..formats.detect import Progress as ProgressFn
from ..plugins import get_registry
from ._options import check_io

PROGRESS_MIN_BYTES = 16 * 1024 * 1024  # show a progress bar for inputs of at least 16 MB


@contextmanager
def byte_progress(
    paths: tuple[Path, ...], label: str, console: Console | None = None
) -> Iterator[ProgressFn | None]:
    """A rich progress bar over the input bytes (on a terminal, for large inputs)."""
    total = sum(p.stat().st_size for p in paths if p.is_file())
    console = console or Console(stderr=True)
    if total < PROGRESS_MIN_BYTES or not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _summary(stats: ExtractStats, output: Path, seconds: float) -> list[str]:
    fmts = ", ".join(sorted(set(stats.formats.values()))) or "-"
    lines = [
        f"Read {stats.trajectories_read} trajectories ({stats.rows_read} rows, format: {fmts}); "
        f"wrote {stats.candidates_written} candidates to {output} in {seconds:.1f} s.",
    ]
    skipped = {k: v for k, v in sorted(stats.skipped.items()) if v}
    lines.append("Skipped: " + (", ".join(f"{k}={v}" for k, v in skipped.items()) if skipped else "nothing"))
    if stats.errors:
        lines.append("First skipped rows:")
        lines.extend(f"  {e}" for e in stats.errors[:5])
    return lines


@click.command("extract")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Candidates JSONL to write (atomically: nothing is written on error).",
)
@click.option(
    "--format", "fmt", metavar="NAME", help="Input format (default: detected per file from its first row)."
)
@click.option(
    "--domain", default="generic", show_default=True, help="Domain of the candidates (its extractor is used)."
)
@click.option(
    "--drop-multi-call", is_flag=True, help="Skip turns with several tool calls (default: one batch action)."
)
@click.option(
    "--reasoning",
    type=click.Choice(["keep", "drop"]),
    default="keep",
    show_default=True,
    help="Keep or drop reasoning text in prefixes and actions.",
)
@click.option(
    "--dedupe", is_flag=True, help="Drop candidates whose (tools, prefix, action) was already written."
)
@click.option(
    "--skip-invalid", is_flag=True, help="Skip and count bad rows instead of stopping at the first."
)
def extract_command(
    inputs: tuple[Path, ...],
    output: Path,
    fmt: str | None,
    domain: str,
    drop_multi_call: bool,
    reasoning: str,
    dedupe: bool,
    skip_invalid: bool,
) -> None:
    """Cut trajectories (OpenAI chat, ShareGPT, NeMo Gym rows, ...) into candidate turns.

    INPUTS are JSONL files (``.gz`` too), Parquet files or ``datasets`` folders (save_to_disk).
    """
    check_io(output, inputs)
    registry = get_registry()
    if fmt is not None:
        registry.format(fmt)  # unknown names fail here, with "did you mean"
    extractor = registry.domain(domain).extractor
    options = ExtractOptions(
        domain=domain, multi_call="drop" if drop_multi_call else "batch", reasoning=reasoning, dedupe=dedupe
    )  # type: ignore[arg-type]
    start = time.perf_counter()
    with byte_progress(inputs, "extract") as progress:
        stats = extract_file(
            inputs,
            output,
            options,
            format=fmt,
            skip_invalid=skip_invalid,
            progress=progress,
            formats=registry.formats(),
            extractor=extractor,
        )
    for line in _summary(stats, output, time.perf_counter() - start):
        click.echo(line)


COMMANDS = [extract_command]
