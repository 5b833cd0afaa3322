"""``pivotrl terminal tasks | bench``: list and run Terminal-Bench style tasks."""

from __future__ import annotations

import json
import sys

import click

__all__ = ["terminal_group"]


@click.group("terminal")
def terminal_group() -> None:
    """Terminal-Bench style tasks of the terminal domain."""


@terminal_group.command("tasks")
@click.option(
    "--tasks", "source", default=None, metavar="DIR", help="Task folder(s) (default: the bundled fixtures)."
)
def tasks_command(source: str | None) -> None:
    """List (and validate) the task folders."""
    from .task import load_tasks

    for t in load_tasks(source):
        extras = [
            x
            for x, on in (("environment", t.environment), ("setup.sh", t.setup), ("solution.sh", t.solution))
            if on
        ]
        click.echo(f"{t.name:<20} {t.meta.get('difficulty', '?'):<7} {', '.join(extras)}")


@terminal_group.command("bench")
@click.option(
    "--tasks", "source", default=None, metavar="DIR", help="Task folder(s) (default: the bundled fixtures)."
)
@click.option("--task", "names", multiple=True, help="Only this task (repeatable).")
@click.option("--oracle", is_flag=True, help="Run each task's solution.sh instead of a model.")
@click.option("--model", default=None, help="Model for the agent (e.g. smollm2-135m or a folder).")
@click.option("--policy", "policy_name", default="hf", show_default=True, help="Rollout backend for --model.")
@click.option("--backend", default=None, help="Sandbox backend: docker, bwrap or auto.")
@click.option("--max-turns", type=int, default=10, show_default=True)
@click.option(
    "--turn-timeout", type=float, default=30.0, show_default=True, help="Seconds per turn's commands."
)
@click.option("--out", default=None, metavar="FILE.jsonl", help="Write the episodes' trajectories here.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def bench_command(source: str | None, names: tuple[str, ...], oracle: bool, model: str | None, policy_name: str,
                  backend: str | None, max_turns: int, turn_timeout: float, out: str | None, as_json: bool) -> None:  # fmt: skip
    """Run agent episodes on the tasks and report the pass rate (exit 1 when any task errored)."""
    from pivotrl_core.errors import ConfigError
    from pivotrl_core.jsonl import write_jsonl
    from pivotrl_core.registry import get_registry

    from .bench import terminal_bench

    if not oracle and not model:
        raise ConfigError("give --model NAME for a model agent, or --oracle to run the reference solutions")
    policy = None if oracle else get_registry().policy(policy_name, model=model)
    report = terminal_bench(policy, tasks=source, names=list(names) or None, backend=backend, max_turns=max_turns,
                            turn_timeout_s=turn_timeout, oracle=oracle)  # fmt: skip
    trajectories = report.pop("trajectories")
    if out:
        write_jsonl(out, trajectories)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for t in report["tasks"]:
            status = "ERROR" if t["error"] else ("pass" if t["passed"] else "FAIL")
            click.echo(
                f"{status:<5} {t['task']:<20} {t['turns']} turn(s)  {t['reason']}{'  ' + t['error'] if t['error'] else ''}"
            )
        acc = report["accuracy"]
        click.echo(f"{report['n_passed']}/{report['n_tasks'] - report['n_errored']} passed"
                   + (f" ({acc:.0%})" if acc is not None else "") + f", {report['n_errored']} errored")  # fmt: skip
    if report["n_errored"]:
        sys.exit(1)
