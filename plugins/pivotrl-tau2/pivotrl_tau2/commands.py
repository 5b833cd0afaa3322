"""``pivotrl tau2 ...``: import real trajectories, replay them, run the benchmark."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import click

from pivotrl_core import OpenAIChatFormat, PivotrlError, atomic_output, dumps, get_registry, task_bar

from .benchmark import run_benchmark
from .importers import import_file
from .reproduce import replay_file
from .spec import DOMAINS

__all__ = ["tau2_group"]

_DOMAIN = click.Choice(sorted(DOMAINS))


@click.group("tau2")
def tau2_group() -> None:
    """The real tau2-Bench: airline, retail and telecom (solo) with tau2's own environments."""


@tau2_group.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--domain", type=_DOMAIN, default=None, help="Domain (default: from the file name or results).")
def import_command(path: Path, output: Path, domain: str | None) -> None:
    """Convert tau-bench v1 trajectories or tau2 results to trajectories JSONL (OpenAI chat)."""
    fmt = OpenAIChatFormat()
    rewards: Counter[Any] = Counter()
    turns: Counter[str] = Counter()
    n = 0
    with atomic_output(output) as fh:
        for traj in import_file(path, domain):
            fh.write(dumps(fmt.dump(traj)) + "\n")
            n += 1
            rewards[traj.metadata["tau2"].get("reward")] += 1
            for m in traj.messages:
                if m.role == "assistant":
                    turns["tool call" if m.tool_calls else "message"] += 1
    dist = ", ".join(f"{k}: {v}" for k, v in sorted(rewards.items(), key=lambda kv: str(kv[0])))
    click.echo(
        f"wrote {n} trajectories to {output}: {sum(turns.values())} assistant turns "
        f"({turns['tool call']} tool calls, {turns['message']} messages); rewards {dist}"
    )


@tau2_group.command("replay")
@click.argument("trajectories", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--domain", type=_DOMAIN, default=None, help="Domain for rows that do not name one.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def replay_command(trajectories: Path, domain: str | None, as_json: bool) -> None:
    """Replay each trajectory's calls in tau2; count the recorded rewards it reproduces."""
    with open(trajectories, encoding="utf-8") as fh:
        total = sum(1 for _ in fh)
    with task_bar() as bar:
        task = bar.add_task("replaying", total=total)
        report = replay_file(trajectories, domain, progress=lambda k: bar.advance(task, k))
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(f"reproduced {report.agree} of {report.total} recorded rewards ({report.skipped} skipped)")
    for d in report.disagreements:
        click.echo(
            f"  {d['id']}: recorded {d['recorded']:g}, tau2 {d['recomputed']:g} "
            f"({', '.join(f'{k}={v}' for k, v in d['details'].items())})"
        )


@tau2_group.command("episodes")
@click.option("--domain", type=_DOMAIN, default="tau2-telecom", show_default=True)
@click.option("--policy", "policy_name", default="tau2-gold", show_default=True, help="Registered policy.")
@click.option("--model", default=None, help="Model for the policy (e.g. smollm2-135m for --policy hf).")
@click.option(
    "--user-policy", default=None, help="User simulator policy (airline/retail; default: --policy)."
)
@click.option("--user-model", default=None, help="Model for the user simulator policy.")
@click.option("--split", default="test", show_default=True, help="tau2 task split (train, test, base, ...).")
@click.option("--trials", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--n-tasks", type=click.IntRange(min=1), default=None, help="First N tasks of the split.")
@click.option("--max-steps", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Per-task JSONL."
)
@click.option(
    "--simulations", type=click.Path(dir_okay=False, path_type=Path), default=None, help="tau2 results JSON."
)
def episodes_command(
    domain: str,
    policy_name: str,
    model: str | None,
    user_policy: str | None,
    user_model: str | None,
    split: str,
    trials: int,
    n_tasks: int | None,
    max_steps: int,
    max_new_tokens: int,
    temperature: float,
    output: Path | None,
    simulations: Path | None,
) -> None:
    """Run the tau2 benchmark (``pivotrl eval --benchmark tau2`` does the same)."""
    options: dict[str, Any] = {"model": model} if model else {}
    if policy_name == "tau2-gold":
        options["domain"] = domain
    policy = get_registry().policy(policy_name, **options)
    with task_bar() as bar:
        task = bar.add_task("episodes", total=None)
        result = run_benchmark(
            policy,
            domain=domain,
            split=split,
            trials=trials,
            n_tasks=n_tasks,
            user_policy=user_policy,
            user_options={"model": user_model} if user_model else {},
            max_steps=max_steps,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            output=output,
            simulations=simulations,
            on_episode=lambda ep: bar.advance(task, 1),
        )
    if result["n_tasks"] == 0:
        raise PivotrlError(f"no runnable tasks in split {split!r} of {domain}")
    ks = ", ".join(f"{k} {v:.3f}" for k, v in result.items() if k.startswith("pass^"))
    click.echo(
        f"{result['domain']} {result['split']}: {result['n_tasks']} tasks x {trials} trials: {ks} "
        f"(mean reward {result['mean_reward']:.3f}, {result['skipped_tasks']} tasks skipped, "
        f"{result['seconds']:.0f}s)"
    )
