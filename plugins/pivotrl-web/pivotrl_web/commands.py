"""``pivotrl web ...``: generate expert trajectories, run the task benchmark, find the run config."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pivotrl_core import OpenAIChatFormat, atomic_output, dumps

from .benchmark import tasks_benchmark
from .expert import ExpertPolicy
from .generate import generate, tasks_of

__all__ = ["RUN_CONFIG", "web"]

RUN_CONFIG = Path(__file__).resolve().parent / "data" / "web_run.toml"
"""The example ``pivotrl run`` config shipped with the plugin (every stage, SmolLM2-135M, CPU)."""

_SPLITS = click.Choice(["train", "validation", "heldout", "warmup"])


@click.group("web")
def web() -> None:
    """The web-search domain: tau2 banking knowledge base, search and open, banking tools."""


@web.command("generate")
@click.option(
    "--n", "n", type=click.IntRange(min=1), default=1000, show_default=True, help="At most N tasks."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Rotates which tasks come first.")
@click.option("--split", type=_SPLITS, default="train", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def generate_command(n: int, seed: int, split: str, output: Path) -> None:
    """Expert trajectories (OpenAI chat JSONL) for the banking tasks of a split."""
    fmt = OpenAIChatFormat()
    count = turns = searches = 0
    with atomic_output(output) as fh:
        for traj in generate(n, seed, split):  # type: ignore[arg-type]
            fh.write(dumps(fmt.dump(traj)) + "\n")
            count += 1
            for m in traj.messages:
                if m.role == "assistant":
                    turns += 1
                    searches += sum(c.name == "search" for c in m.tool_calls)
    total = min(n, len(tasks_of(split)))
    click.echo(
        f"wrote {count} trajectories ({total - count} tasks unsolved) to {output}: "
        f"{turns} assistant turns, {searches} searches"
    )


@web.command("bench")
@click.option("--split", type=_SPLITS, default="heldout", show_default=True)
@click.option("--limit", type=int, default=0, show_default=True, help="First N tasks (0 = all).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def bench_command(split: str, limit: int, output: Path | None) -> None:
    """Play the tasks with the expert policy and print the success rate."""
    result = tasks_benchmark(ExpertPolicy(), split=split, limit=limit)
    if output is not None:
        output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    click.echo(
        f"{result['n_tasks']} tasks: success {result['success_rate']:.3f}, "
        f"{result['searches_per_episode']:.2f} searches/episode, {result['seconds']} s"
    )


@web.command("config")
def config_command() -> None:
    """Print the path of the example `pivotrl run` config of this domain (web_run.toml)."""
    click.echo(str(RUN_CONFIG))
