"""``pivotrl swe``: bench, extract (whole-file trajectories), generate, rescore, run-config."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from pivotrl_core import (
    ExtractOptions,
    InputError,
    default_extractor,
    dumps,
    get_registry,
    iter_jsonl,
    write_jsonl,
)

from .bench import AGENTS, swe_tasks
from .generate import generate_expert
from .nvidia import PivotConfig
from .rescore import rescore_rollout

__all__ = ["read_documents", "swe_group"]


@click.group("swe")
def swe_group() -> None:
    """The SWE domain: repository tasks, SWE agent trajectories, NVIDIA's swe_pivot verifier."""


def read_documents(path: Path) -> list[dict[str, Any]]:
    """Rows of a file: one JSON document (an object, or a list of events wrapped as ``events``),
    else JSON lines."""
    text = path.read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return [row for _, row in iter_jsonl(path)]
    if isinstance(doc, list):
        return [{"events": doc}]
    if not isinstance(doc, dict):
        raise InputError(f"expected a JSON object or list, got {type(doc).__name__}", path=path)
    return [doc]


def _detect(row: dict[str, Any], path: Path) -> Any:
    matches = [f for f in get_registry().formats() if _sniffs(f, row)]
    if not matches:
        raise InputError("cannot detect the trajectory format; pass --format", path=path, line=1)
    return max(matches, key=lambda f: getattr(f, "priority", 0))


def _sniffs(fmt: Any, row: dict[str, Any]) -> bool:
    try:
        return bool(fmt.sniff(row))
    except Exception:  # noqa: BLE001 - a sniff that crashes does not match
        return False


@swe_group.command("extract")
@click.argument(
    "inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt_name", default=None, help="Input format (default: detected per file).")
@click.option("--domain", default="swe", show_default=True)
def extract_cmd(inputs: tuple[Path, ...], output: Path, fmt_name: str | None, domain: str) -> None:
    """Cut whole-file trajectories (SWE-agent .traj, OpenHands event lists, JSONL) into candidates."""
    dom = get_registry().domain(domain)
    extractor = dom.extractor or default_extractor
    options = ExtractOptions(domain=domain)
    candidates, n_traj = [], 0
    for path in inputs:
        rows = read_documents(path)
        fmt = get_registry().format(fmt_name) if fmt_name else _detect(rows[0], path)
        for i, row in enumerate(rows):
            try:
                trajectories = list(fmt.parse(row, i))
            except InputError as e:
                raise e.located(path, i + 1) from None
            for traj in trajectories:
                n_traj += 1
                candidates += [c.to_dict() for c in extractor(traj, options)]
        click.echo(f"{path}: format {fmt.name}")
    write_jsonl(output, candidates)
    click.echo(f"Read {n_traj} trajectories; wrote {len(candidates)} candidates to {output}.")


@swe_group.command("bench")
@click.option(
    "--instances",
    type=click.Path(exists=True, dir_okay=False),
    help="Instances JSONL (default: shared pack).",
)
@click.option("--ids", multiple=True, help="Only these instance ids (repeatable).")
@click.option("--limit", type=int, default=None)
@click.option(
    "--agent", type=click.Choice(AGENTS), default=None, help="Default: policy with --model, else expert."
)
@click.option("--model", default=None, help="A model for the hf policy (agent 'policy').")
@click.option("--backend", default=None, help="Sandbox backend: docker, bwrap or auto.")
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--max-turns", type=int, default=20, show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report (JSON)."
)
def bench_cmd(
    instances: str | None,
    ids: tuple[str, ...],
    limit: int | None,
    agent: str | None,
    model: str | None,
    backend: str | None,
    workers: int,
    max_turns: int,
    output: Path | None,
) -> None:
    """Run episodes on repository tasks; print the resolved rate."""
    policy = get_registry().policy("hf", model=model) if model else None
    done = [0]

    def tick(result: Any) -> None:
        done[0] += 1
        if done[0] % 20 == 0:
            click.echo(f"  {done[0]} episodes", err=True)

    report = swe_tasks(
        policy,
        instances=instances,
        ids=list(ids) or None,
        limit=limit,
        agent=agent,
        backend=backend,
        workers=workers,
        max_turns=max_turns,
        progress=tick,
    )
    if output is not None:
        output.write_text(dumps(report) + "\n")
    click.echo(
        f"agent {report['agent']}: resolved {report['n_resolved']}/{report['n_instances']} "
        f"(errored {report['n_errored']}) in {report['seconds']:.1f} s"
    )


@swe_group.command("generate")
@click.option("--n", "n", type=int, required=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--split", type=click.Choice(["train", "validation", "heldout"]), default="train", show_default=True
)
@click.option("--instances", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--backend", default=None)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
def generate_cmd(
    n: int, seed: int, split: str, instances: str | None, backend: str | None, output: Path
) -> None:
    """Expert trajectories (gold fix through the tools), with the repository state of every turn."""
    start = time.monotonic()
    rows = [t.to_dict() for t in generate_expert(n, seed, split, instances=instances, backend=backend)]  # type: ignore[arg-type]
    write_jsonl(output, rows)
    click.echo(f"Wrote {len(rows)} expert trajectories to {output} in {time.monotonic() - start:.1f} s.")


@swe_group.command("rescore")
@click.argument("rollouts", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--tasks",
    "tasks_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The task rows (with expected_action) the rollouts were verified against, joined by uuid.",
)
@click.option(
    "--reward-mode", type=click.Choice(["binary", "continuous"]), default="binary", show_default=True
)
def rescore_cmd(rollouts: Path, tasks_path: Path, reward_mode: str) -> None:
    """Re-score NeMo Gym swe_pivot rollouts; compare with the recorded rewards."""
    config = PivotConfig(reward_mode=reward_mode)
    tasks = {str(row.get("uuid")): row for _, row in iter_jsonl(tasks_path)}
    n = agree = 0
    for lineno, row in iter_jsonl(rollouts):
        task = tasks.get(str(row.get("uuid")))
        if task is None:
            raise InputError(
                f"no task row with uuid {row.get('uuid')!r} in {tasks_path}", path=rollouts, line=lineno
            )
        score = rescore_rollout(row, config, task)
        n += 1
        same = abs(score.reward - float(row.get("reward", -1))) < 1e-9
        agree += same
        if not same:
            click.echo(
                f"line {lineno}: ours {score.reward} ({score.failure_reason}), recorded {row.get('reward')}"
            )
    click.echo(f"{agree}/{n} rollouts re-score to the recorded reward.")


RUN_CONFIG = Path(__file__).with_name("data") / "swe_run.toml"


@swe_group.command("run-config")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write it to a file.")
def run_config_cmd(output: Path | None) -> None:
    """The example `pivotrl run` config of the SWE domain (every stage; docs/domains/swe.md)."""
    text = RUN_CONFIG.read_text(encoding="utf-8")
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"Wrote {output}; run it with `pivotrl run {output}`.")
