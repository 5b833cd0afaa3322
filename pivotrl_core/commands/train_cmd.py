"""``pivotrl train`` (turn-level GRPO on pivots) and ``pivotrl sft`` (the SFT baseline)."""

from __future__ import annotations

from pathlib import Path

import click

from ..plugins import get_registry
from ._options import check_device, check_io, parse_kv

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
@click.option("--engine", type=click.Choice(["pivotrl", "trl"]), help="Override the config's `engine`.")
@click.option(
    "--trl-set", "trl_set", multiple=True, metavar="KEY=VALUE", help="GRPOConfig field (engine trl)."
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
    pivots: Path,
    config_path: Path | None,
    overrides: tuple[str, ...],
    resume: bool,
    engine: str | None,
    trl_set: tuple[str, ...],
    out: Path,
) -> None:
    """Turn-level GRPO on PIVOTS (the output of `pivotrl select`)."""
    from ..train.config import TrainConfig, load_config
    from ..train.grpo import train
    from ..train.trl_engine import train_trl

    cfg = load_config(TrainConfig, config_path, [*overrides, *([f'engine="{engine}"'] if engine else [])])
    check_device(cfg.device, flag="device (config)")
    check_io(None, [pivots])
    _check_names(cfg.domain, cfg.verifier)
    if cfg.engine == "trl":
        trl_args = parse_kv(trl_set, flag="--trl-set")
        result = train_trl(cfg, pivots, out, registry=get_registry(), trl_args=trl_args)
    else:
        result = train(cfg, pivots, out, registry=get_registry(), resume=resume)
    last = result.last_metrics
    click.echo(
        f"trained {result.steps} steps; final reward_mean={last.get('reward_mean')}; "
        f"model: {result.final}; metrics: {out / 'metrics.jsonl'}"
    )


def _check_names(domain: str | None, verifier: str | None) -> None:
    """Unknown domain or verifier names fail before the model loads (with "did you mean")."""
    registry = get_registry()
    if domain is not None:
        registry.domain(domain)
    if verifier is not None:
        registry.entry("verifier", verifier)


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
    check_device(cfg.device, flag="device (config)")
    check_io(None, inputs)
    final = train_sft(cfg, list(inputs), out, resume=resume)
    click.echo(f"model: {final}; metrics: {out / 'metrics.jsonl'}")


COMMANDS = [train_command, sft_command]
