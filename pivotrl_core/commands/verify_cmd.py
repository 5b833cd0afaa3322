"""``pivotrl verify`` (score given actions) and ``pivotrl check-verifier`` (verifier QA)."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import ConfigError, PivotrlError
from ..plugins import get_registry
from ..rollouts import VerifierResolver
from ..types import Candidate
from ..verifiers.base import Verifier
from ..verifiers.check import QAReport, run_qa
from ..verifiers.verify_file import read_candidates, verify_file
from ._options import NON_NEGATIVE_INT, POSITIVE_INT, check_io, parse_kv, resume_options


def parse_options(pairs: Iterable[str]) -> dict[str, Any]:
    """``k=v`` pairs; values parse as JSON when they can (``0.3``, ``true``, ``[...]``), else strings."""
    return parse_kv(pairs, flag="--option", syntax="json")


def load_verifier_config(path: str | Path) -> dict[str, Any]:
    """The ``[verifier]`` table of a TOML file (``name`` plus options)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read the verifier config: {e}", path=path, flag="--config") from None
    table = data.get("verifier")
    if not isinstance(table, dict) or not isinstance(table.get("name"), str):
        raise ConfigError(f"{path}: needs a [verifier] table with a 'name' (e.g. name = \"cascade\")")
    return table


class _Chooser:
    """The verifier of each candidate: the ``--config`` table's for all, else the one rollout
    resolver's (``--verifier``, else the verifier the candidate was profiled with, else its domain's
    or ``--domain``'s default), exactly as ``profile``, ``train`` and ``eval`` choose."""

    def __init__(
        self, verifier: str | None, domain: str | None, config: str | None, options: dict[str, Any]
    ) -> None:
        if sum(x is not None for x in (verifier, domain, config)) > 1:
            raise ConfigError("give at most one of --verifier, --domain and --config")
        registry = get_registry()
        self.fixed: Verifier | None = None
        self.used: dict[str, Any] = {}
        if config is not None:
            table = {**load_verifier_config(config), **options}
            self.fixed = registry.verifier_from_spec(table)
            self.used["config"] = table
        self.resolver = VerifierResolver(registry, domain=domain, verifier=verifier, options=options)

    def __call__(self, candidate: Candidate) -> Verifier:
        if self.fixed is not None:
            return self.fixed
        spec = self.resolver.spec_for(candidate)
        self.used[json.dumps(spec.to_dict(), sort_keys=True, default=str)] = spec.to_dict()
        return self.resolver.build(spec)

    def settings(self) -> dict[str, Any]:
        """What decides the verdicts (for the output's resume fingerprint): names and options."""
        return dict(sorted(self.used.items()))


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


_VERIFIER_OPTIONS = [
    click.option(
        "--verifier",
        "verifier",
        metavar="NAME",
        help="A registered verifier (default: each candidate's domain verifier).",
    ),
    click.option("--domain", metavar="NAME", help="Use this domain's verifier for every candidate."),
    click.option(
        "--config",
        "config",
        metavar="FILE.toml",
        help="Build the verifier from the [verifier] table of a TOML file.",
    ),
    click.option(
        "--option",
        "options",
        multiple=True,
        metavar="KEY=VALUE",
        help="A verifier option (repeatable; JSON values).",
    ),
]


def _verifier_options(fn: Any) -> Any:
    for opt in reversed(_VERIFIER_OPTIONS):
        fn = opt(fn)
    return fn


@click.command("verify")
@click.argument("candidates", type=click.Path(dir_okay=False))
@click.option(
    "--actions", "actions", required=True, type=click.Path(dir_okay=False), help="Actions JSONL to score."
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Verdicts JSONL (resumed if it exists).",
)
@_verifier_options
@click.option("--overwrite", is_flag=True, help="Start the output afresh (the same as --fresh).")
@resume_options
@click.option(
    "--batch-size",
    default=64,
    show_default=True,
    type=POSITIVE_INT,
    help="Actions verified per batch (concurrency for slow verifiers).",
)
def verify_command(
    candidates: str,
    actions: str,
    output: str,
    verifier: str | None,
    domain: str | None,
    config: str | None,
    options: tuple[str, ...],
    overwrite: bool,
    batch_size: int,
    resume_mode: str,
) -> None:
    """Score the actions in ACTIONS against CANDIDATES and write one verdict row per action.

    CANDIDATES holds candidate rows or NeMo Gym pivot rows; ACTIONS rows name a candidate_id and
    give an action, a Responses-API response/output or raw text (`pivotrl help cli`).
    """
    check_io(output, [candidates])  # the same file may hold both (NeMo Gym rollouts)
    check_io(output, [actions])
    choose = _Chooser(verifier, domain, config, parse_options(options))
    err = Console(stderr=True)
    with _progress(err) as bar:
        task = bar.add_task("verifying", total=None)
        summary = verify_file(
            candidates,
            actions,
            output,
            choose,
            mode="fresh" if overwrite else resume_mode,
            settings=choose.settings,
            batch_size=batch_size,
            domain=domain,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    mean = "n/a" if summary.mean_reward is None else f"{summary.mean_reward:.4f}"
    resumed = f" ({summary.skipped} already done)" if summary.skipped else ""
    click.echo(
        f"verified {summary.verified} action(s){resumed}: {summary.passed} passed, {summary.failed} failed, "
        f"{summary.errored} errored; mean reward {mean} -> {output}"
    )


def _print_report(console: Console, report: QAReport, limit: int) -> None:
    table = Table(
        title=f"verifier QA: {report.verifier} ({report.n_candidates} candidates, {report.repeats} repeats)"
    )
    for col in ("check", "severity", "ok", "bad"):
        table.add_column(col, justify="right" if col in ("ok", "bad") else "left")
    for check, severity, good, bad in report.table():
        style = "red" if bad and severity == "violation" else ("yellow" if bad else "green")
        table.add_row(check, severity, str(good), f"[{style}]{bad}[/{style}]")
    console.print(table)
    problems = report.violations + report.warnings
    for r in problems[:limit]:
        console.print(
            f"{r.severity.upper()}: candidate {r.candidate_id}: {r.check}: {r.detail}", markup=False
        )
    if len(problems) > limit:
        console.print(f"... and {len(problems) - limit} more")


@click.command("check-verifier")
@click.argument("candidates", type=click.Path(dir_okay=False))
@_verifier_options
@click.option(
    "--repeats",
    default=3,
    show_default=True,
    type=POSITIVE_INT,
    help="Times each action is verified (must agree).",
)
@click.option("--limit", type=NON_NEGATIVE_INT, default=None, help="Check only the first N candidates.")
@click.option("--strict", is_flag=True, help="Warnings (reward-hacking openings) fail too.")
@click.option("--json", "as_json", is_flag=True, help="Print the report(s) as JSON.")
def check_verifier_command(
    candidates: str,
    verifier: str | None,
    domain: str | None,
    config: str | None,
    options: tuple[str, ...],
    repeats: int,
    limit: int | None,
    strict: bool,
    as_json: bool,
) -> None:
    """QA a verifier on CANDIDATES: demonstrations pass, empty and garbage actions fail, runs agree."""
    choose = _Chooser(verifier, domain, config, parse_options(options))
    rows = list(read_candidates(candidates, domain).values())[:limit]
    if not rows:
        raise ConfigError(f"{candidates} has no candidates to check")
    groups: dict[int, tuple[Verifier, list[Candidate]]] = {}
    for c in rows:
        v = choose(c)
        groups.setdefault(id(v), (v, []))[1].append(c)
    console = Console()
    reports = []
    with _progress(Console(stderr=True)) as bar:
        for v, cands in groups.values():
            task = bar.add_task(f"checking {v.name}", total=len(cands))
            reports.append(run_qa(v, cands, repeats=repeats, progress=lambda n, t=task: bar.advance(t, n)))
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        for r in reports:
            _print_report(console, r, limit=20)
    n_bad = sum(len(r.violations) + (len(r.warnings) if strict else 0) for r in reports)
    if n_bad:
        raise PivotrlError(f"verifier QA found {n_bad} problem(s) (see above)")
    if not as_json:
        click.echo("verifier QA passed")


COMMANDS = [verify_command, check_verifier_command]
