"""``pivotrl export``: pivots (or candidates) for other trainers: TRL, verl, NeMo Gym."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError
from ..extract import export_candidates
from ..integrations import pivots_dataset, verl_rows
from ..plugins import get_registry
from ._options import check_io

__all__ = ["COMMANDS", "export_pivots"]

_FORMATS = {
    "hf": "a `datasets` folder (save_to_disk) of conversational prompts + `pivot`: TRL's GRPOTrainer",
    "verl": "verl's RL parquet (prompt, reward_model.ground_truth = the pivot)",
    "nemo-gym": "NeMo Gym pivot rows (JSONL)",
}


def export_pivots(pivots: Path, output: Path, fmt: str, domain: str | None = None) -> int:
    """Write ``pivots`` to ``output`` in ``fmt`` (``hf``, ``verl`` or a registered format); the row count."""
    registry = get_registry()
    if fmt == "hf":
        data = pivots_dataset(pivots, registry=registry, domain=domain)
        data.save_to_disk(str(output))
        return len(data)
    if fmt == "verl":
        import datasets

        rows = verl_rows(pivots, registry=registry, domain=domain)
        datasets.Dataset.from_list(rows).to_parquet(str(output))
        return len(rows)
    if fmt not in registry.names("format"):
        raise ConfigError(f"unknown format '{fmt}'; use hf, verl or one of {registry.names('format')}")
    return export_candidates(pivots, output, registry.format(fmt))


@click.command("export")
@click.argument("pivots", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--format",
    "fmt",
    required=True,
    help="; ".join(f"{k}: {v}" for k, v in _FORMATS.items()) + "; or any registered trajectory format.",
)
@click.option("--domain", default=None, help="System prompt of this domain (default: each pivot's own).")
@click.option(
    "-o", "--output", required=True, type=click.Path(path_type=Path), help="Output file (folder for hf)."
)
def export_command(pivots: Path, fmt: str, domain: str | None, output: Path) -> None:
    """Export PIVOTS (pivots or candidates JSONL) for TRL (hf), verl or NeMo Gym."""
    check_io(output, [pivots])
    if domain is not None:
        get_registry().domain(domain)
    n = export_pivots(pivots, output, fmt, domain)
    click.echo(f"exported {n} rows as {fmt}: {output}")


COMMANDS = [export_command]
