"""``pivotrl terminal tasks | bench``: list and run Terminal-Bench style tasks."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from pivotrl_core import ConfigError, InputError, get_registry, write_jsonl

from .atif import atif_to_trajectory
from .bench import terminal_bench
from .loading import load_tasks

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
    for t in load_tasks(source):
        parts = (("environment", t.environment), ("setup", t.setup), ("solution", t.solution))
        extras = [name for name, present in parts if present]
        click.echo(f"{t.name:<20} {t.meta.get('difficulty', '?'):<7} {t.format:<15} {', '.join(extras)}")


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
def bench_command(
    source: str | None,
    names: tuple[str, ...],
    oracle: bool,
    model: str | None,
    policy_name: str,
    backend: str | None,
    max_turns: int,
    turn_timeout: float,
    out: str | None,
    as_json: bool,
) -> None:
    """Run agent episodes on the tasks and report the pass rate (exit 1 when any task errored)."""
    if not oracle and not model:
        raise ConfigError("give --model NAME for a model agent, or --oracle to run the reference solutions")
    policy = None if oracle else get_registry().policy(policy_name, model=model)
    report = terminal_bench(
        policy,
        tasks=source,
        names=list(names) or None,
        backend=backend,
        max_turns=max_turns,
        turn_timeout_s=turn_timeout,
        oracle=oracle,
    )
    trajectories = report.pop("trajectories")
    if out:
        write_jsonl(out, trajectories)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for t in report["tasks"]:
            status = "ERROR" if t["error"] else ("pass" if t["passed"] else "FAIL")
            error = f"  {t['error']}" if t["error"] else ""
            click.echo(f"{status:<5} {t['task']:<20} {t['turns']} turn(s)  {t['reason']}{error}")
        acc = report["accuracy"]
        click.echo(
            f"{report['n_passed']}/{report['n_tasks'] - report['n_errored']} passed"
            + (f" ({acc:.0%})" if acc is not None else "")
            + f", {report['n_errored']} errored"
        )
    if report["n_errored"]:
        sys.exit(1)


def _atif_files(paths: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise InputError("no such file or folder", path=p)
        found = sorted(p.rglob("trajectory.json")) if p.is_dir() else [p]
        if not found:
            raise InputError("no trajectory.json under this folder", path=p)
        files += found
    return files


def _atif_doc(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read: {e}", path=path) from None
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON ({e.msg} at column {e.colno})", path=path, line=e.lineno) from None
    if not isinstance(doc, dict):
        raise InputError(f"expected an ATIF trajectory object, got {type(doc).__name__}", path=path)
    try:
        atif_to_trajectory(doc)
    except InputError as e:
        raise InputError(e.message, path=path, field=e.field) from None
    return doc


@terminal_group.command("atif")
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--out", required=True, metavar="FILE.jsonl", help="One ATIF document per line.")
def atif_command(paths: tuple[str, ...], out: str) -> None:
    """Collect Harbor ATIF trajectory.json files (or folders of runs) into a JSONL file.

    The file reads as the ``atif`` format: ``pivotrl extract FILE.jsonl --domain terminal``.
    """
    files = _atif_files(paths)
    n = write_jsonl(out, (_atif_doc(f) for f in files), inputs=files)
    click.echo(f"{n} ATIF trajectories -> {out}")
