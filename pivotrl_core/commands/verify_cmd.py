"""``pivotrl verify`` (score given actions) and ``pivotrl check-verifier`` (verifier QA)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import ConfigError, PivotrlError
from ..registry import get_registry
from ..types import Candidate
from ..verifiers.base import Verifier
from ..verifiers.files import read_candidates, verify_file
from ..verifiers.qa import QAReport, run_qa


def parse_options(pairs: Iterable[str]) -> dict[str, Any]:
    """``k=v`` pairs; values parse as JSON when they can (``0.3``, ``true``, ``[...]``), else strings."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {pair!r} must look like KEY=VALUE (e.g. --option threshold=0.3)")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def load_verifier_config(path: str | Path) -> dict[str, Any]:
    """The ``[verifier]`` table of a TOML file (``name`` plus options)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise ConfigError("--config needs Python 3.11 or newer (tomllib)") from None
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read verifier config {path}: {e}") from None
    table = data.get("verifier")
    if not isinstance(table, dict) or not isinstance(table.get("name"), str):
        raise ConfigError(f"{path}: needs a [verifier] table with a 'name' (e.g. name = \"cascade\")")
    return table


class _Chooser:
    """One verifier for everything (--verifier/--config), or the domain's verifier per candidate."""

    def __init__(
        self, verifier: str | None, domain: str | None, config: str | None, options: dict[str, Any]
    ) -> None:
        if sum(x is not None for x in (verifier, domain, config)) > 1:
            raise ConfigError("give at most one of --verifier, --domain and --config")
        self.options = options
        self.fixed: Verifier | None = None
        self.domain = domain
        self._by_domain: dict[str, Verifier] = {}
        if verifier is not None:
            self.fixed = get_registry().verifier(verifier, **options)
        elif config is not None:
            from ..verifiers.combinators import verifier_from_spec

            self.fixed = verifier_from_spec({**load_verifier_config(config), **options})

    def __call__(self, candidate: Candidate) -> Verifier:
        if self.fixed is not None:
            return self.fixed
        name = self.domain or candidate.domain
        if name not in self._by_domain:
            self._by_domain[name] = get_registry().domain_verifier(name, **self.options)
        return self._by_domain[name]


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
@click.option("--overwrite", is_flag=True, help="Start the output afresh instead of resuming it.")
@click.option(
    "--batch-size",
    default=64,
    show_default=True,
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
) -> None:
    """Score the actions in ACTIONS against CANDIDATES and write one verdict row per action.

    CANDIDATES holds candidate rows or NeMo Gym pivot rows; ACTIONS rows name a candidate_id and
    give an action, a Responses-API response/output or raw text (see docs/cli.md).
    """
    choose = _Chooser(verifier, domain, config, parse_options(options))
    err = Console(stderr=True)
    with _progress(err) as bar:
        task = bar.add_task("verifying", total=None)
        summary = verify_file(
            candidates,
            actions,
            output,
            choose,
            overwrite=overwrite,
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
@click.option("--repeats", default=3, show_default=True, help="Times each action is verified (must agree).")
@click.option("--limit", type=int, default=None, help="Check only the first N candidates.")
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
