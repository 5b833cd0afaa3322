"""``pivotrl tool-use ...``: generate trajectories, import tau2 results, play episodes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import click

import pivotrl_core
from pivotrl_core import (
    ConfigError,
    OpenAIChatFormat,
    SamplingParams,
    atomic_output,
    dumps,
    get_registry,
    task_bar,
)

from .benchmark import episodes
from .generate import generate_trajectories
from .tau2 import import_tau2

__all__ = ["tool_use"]


@click.group("tool-use")
def tool_use() -> None:
    """The tool-use domain: a simulated retail store (tau2-Bench style)."""


@tool_use.command("generate")
@click.option(
    "--n", "n", type=click.IntRange(min=1), default=500, show_default=True, help="Trajectories to generate."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the task stream.")
@click.option("--split", default="train", show_default=True, help="Task stream name (not 'eval': held out).")
@click.option("--embed-db", is_flag=True, help="Also store each initial database in the metadata.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def generate_command(n: int, seed: int, split: str, embed_db: bool, output: Path) -> None:
    """Expert trajectories (OpenAI chat JSONL) for tasks 0..N-1 of the (split, seed) stream."""
    if split == "eval":
        raise ConfigError(
            "split 'eval' is the episodes benchmark's held-out split; use --split train (or any other name)"
        )
    fmt = OpenAIChatFormat()
    kinds: Counter[str] = Counter()
    turns: Counter[str] = Counter()
    with task_bar() as bar, atomic_output(output) as fh:
        task = bar.add_task("generating", total=n)
        for traj in generate_trajectories(
            n, seed, split, embed_db, on_progress=lambda k: bar.advance(task, k)
        ):
            fh.write(dumps(fmt.dump(traj)) + "\n")
            kinds[traj.metadata["tool_use"]["task"]["kind"]] += 1
            for m in traj.messages:
                if m.role == "assistant":
                    turns["tool call" if m.tool_calls else "message"] += 1
    click.echo(
        f"wrote {n} trajectories to {output}: {sum(turns.values())} assistant turns "
        f"({turns['tool call']} tool calls, {turns['message']} messages)"
    )
    click.echo("tasks: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))


@tool_use.command("import-tau2")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--min-reward", type=float, default=1.0, show_default=True, help="Keep simulations with reward >= this."
)
@click.option("--keep-failed", is_flag=True, help="Keep every simulation, whatever its reward.")
@click.option("--no-system-prompt", is_flag=True, help="Do not put the domain policy in a system message.")
def import_tau2_command(
    paths: tuple[Path, ...], output: Path, min_reward: float, keep_failed: bool, no_system_prompt: bool
) -> None:
    """Convert tau2-Bench results (results.json files or result folders) to trajectories JSONL.

    For the tau2-airline/retail/telecom domains (real tools, tasks and verifier) use
    ``pivotrl tau2 import`` from pivotrl-tau2 instead."""
    stats = import_tau2(list(paths), output, min_reward, keep_failed, not no_system_prompt)
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(stats.dropped.items())) or "none"
    click.echo(
        f"read {stats.simulations} simulations, wrote {stats.kept} trajectories to {output} "
        f"(dropped: {dropped}; user-side tool messages dropped: {stats.user_tool_messages_dropped})"
    )


def _seeds(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in value.split(",") if x.strip())
    except ValueError:
        raise click.BadParameter("use comma-separated integers, e.g. 1001,1002,1003") from None


@tool_use.command("episodes")
@click.option(
    "--policy", "policy_name", default="tool-use-expert", show_default=True, help="Registered policy."
)
@click.option("--model", default=None, help="Model for the policy (e.g. smollm2-135m for --policy hf).")
@click.option("--n-tasks", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--seeds", default="1001,1002,1003", show_default=True, help="Comma-separated benchmark seeds.")
@click.option("--max-turns", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--temperature", type=float, default=0.0, show_default=True, help="0 = greedy.")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=160, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def episodes_command(
    policy_name: str,
    model: str | None,
    n_tasks: int,
    seeds: str,
    max_turns: int,
    temperature: float,
    max_new_tokens: int,
    output: Path | None,
) -> None:
    """Run the episodes benchmark directly (``pivotrl eval --benchmark episodes`` does the same)."""
    options: dict[str, Any] = {"model": model} if model else {}
    if policy_name == "hf":
        # each turn re-sends the growing transcript: prefill only the new part (a lazy name: torch)
        options["prefix_cache"] = pivotrl_core.DEFAULT_PREFIX_CACHE
    policy = get_registry().policy(policy_name, **options)
    sampling = SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens)
    result = episodes(
        policy, n_tasks=n_tasks, seeds=_seeds(seeds), sampling=sampling, max_turns=max_turns, progress=True
    )
    if output is not None:
        with atomic_output(output) as fh:
            json.dump(result, fh, indent=2)
    for r in result["seeds"]:
        click.echo(
            f"seed {r['seed']}: pass^1 {r['pass^1']:.3f} (db {r['db_match']:.2f}, "
            f"info {r['info_given']:.2f}, auth {r['authenticated']:.2f}, "
            f"{r['mean_turns']:.1f} turns, {r['seconds']:.0f}s)"
        )
    click.echo(
        f"pass^1 {result['pass^1']:.3f} +- {result['pass^1_std']:.3f} over {len(result['seeds'])} seeds "
        f"({result['n_tasks']} tasks each)"
    )
