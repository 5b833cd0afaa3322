"""``pivotrl train`` (turn-level GRPO on pivots) and ``pivotrl sft`` (the SFT baseline)."""

from __future__ import annotations

from pathlib import Path

import click

_SET_HELP = "Override a config field, e.g. --set lr=1e-5 --set lora=true (repeatable; TOML values)."


@click.command("train")
@click.argument("pivots", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file with the fields (top level or a [train] table).",
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@click.option(
    "--resume", is_flag=True, help="Continue the run in -o from its latest checkpoint, bit for bit."
)
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder (checkpoints, metrics.jsonl, final/).",
)
def train_command(
    pivots: Path, config_path: Path | None, overrides: tuple[str, ...], resume: bool, out: Path
) -> None:
    """Turn-level GRPO on PIVOTS (the output of `pivotrl select`)."""
    from ..train.config import TrainConfig, load_config
    from ..train.grpo import train

    cfg = load_config(TrainConfig, config_path, overrides)
    result = train(cfg, pivots, out, resume=resume)
    last = result.last_metrics
    click.echo(
        f"trained {result.steps} steps; final reward_mean={last.get('reward_mean')}; "
        f"model: {result.final}; metrics: {out / 'metrics.jsonl'}"
    )


@click.command("sft")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file with the fields (top level or an [sft] table).",
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@click.option(
    "--resume", is_flag=True, help="Continue the run in -o from its latest checkpoint, bit for bit."
)
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder (checkpoints, metrics.jsonl, final/).",
)
def sft_command(
    inputs: tuple[Path, ...], config_path: Path | None, overrides: tuple[str, ...], resume: bool, out: Path
) -> None:
    """SFT baseline on TRAJECTORIES_OR_CANDIDATES (loss on assistant tokens only)."""
    from ..train.config import SFTConfig, load_config
    from ..train.sft import train_sft

    cfg = load_config(SFTConfig, config_path, overrides)
    final = train_sft(cfg, list(inputs), out, resume=resume)
    click.echo(f"model: {final}; metrics: {out / 'metrics.jsonl'}")


COMMANDS = [train_command, sft_command]
