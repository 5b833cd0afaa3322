"""The run report: ``report.md`` (base vs trained, in-domain and OOD, spread over seeds) and plots.

Plots (PNG, matplotlib's Agg backend) in ``<run>/plots/``:

* ``training.png`` -- GRPO reward mean and fraction of zero-variance groups per step;
* ``pass_rate_hist.png`` -- pi_0's pass rate over the profiled candidates (pivots shaded);
* ``base_vs_trained.png`` -- the headline metrics of each evaluated model, with error bars.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .pipeline import Stage

__all__ = ["comparison_rows", "load_evals", "render_table", "report_factory", "write_report"]

_ORDER = ("base", "pivotrl", "sft")
_NAMES = {"base": "base (pi_0)", "pivotrl": "PivotRL", "sft": "SFT"}


def load_evals(run_dir: Path) -> dict[str, dict[str, Any]]:
    """``label -> eval document`` for the evaluations present in a run folder."""
    out = {}
    for label in _ORDER:
        p = run_dir / "eval" / f"{label}.json"
        if p.exists():
            out[label] = json.loads(p.read_text(encoding="utf-8"))
    return out


def _get(doc: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if not isinstance(doc, dict) or k not in doc:
            return None
        doc = doc[k]
    return doc


def _cell(mean: Any, std: Any = None, n: Any = None, pct: bool = True) -> dict[str, Any]:
    return {"mean": mean, "std": std, "n": n, "pct": pct}


def comparison_rows(evals: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """``[(metric, {label: cell})]``; a cell is ``{"mean", "std", "n", "pct"}``."""
    metrics: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any] | None]]] = [
        ("In-domain held-out accuracy", lambda d: _summary_cell(_get(d, "held_out", "summary"))),
        ("Validation pivots accuracy", lambda d: _summary_cell(_get(d, "validation", "summary"))),
        (
            "Benchmark pass^1",
            lambda d: (
                None
                if _get(d, "benchmark") is None
                else _cell(
                    _get(d, "benchmark", "pass^1"),
                    _get(d, "benchmark", "pass^1_std"),
                    len(_get(d, "benchmark", "seeds") or []),
                )
            ),
        ),
        (
            "OOD accuracy",
            lambda d: (
                None if _get(d, "ood") is None else _cell(_get(d, "ood", "accuracy"), n=_get(d, "ood", "n"))
            ),
        ),
        (
            "OOD retention (base-correct probes)",
            lambda d: (
                None
                if _get(d, "ood") is None
                else _cell(_get(d, "ood", "retention"), n=_get(d, "ood", "n_base_correct"))
            ),
        ),
        (
            "OOD KL to pi_0 (nats/token)",
            lambda d: (
                None
                if _get(d, "ood") is None
                else _cell(
                    _get(d, "ood", "kl", "kl_per_token") or (0.0 if d.get("label") == "base" else None),
                    pct=False,
                )
            ),
        ),
    ]
    skills = sorted({s for d in evals.values() for s in (_get(d, "ood", "by_skill") or {})})
    for s in skills:
        metrics.append(
            (
                f"  OOD {s}",
                lambda d, s=s: (
                    None
                    if _get(d, "ood", "by_skill", s) is None
                    else _cell(
                        _get(d, "ood", "by_skill", s, "accuracy"), n=_get(d, "ood", "by_skill", s, "n")
                    )
                ),
            )
        )
    rows = []
    for name, fn in metrics:
        cells = {label: fn(doc) for label, doc in evals.items()}
        if any(c is not None and c["mean"] is not None for c in cells.values()):
            rows.append((name, {k: v for k, v in cells.items() if v is not None}))
    return rows


def _summary_cell(s: dict[str, Any] | None) -> dict[str, Any] | None:
    if not s or s.get("mean") is None:
        return None
    return _cell(s["mean"], s["std"] if s.get("n", 0) > 1 else None, s.get("n"))


def fmt_cell(c: dict[str, Any] | None) -> str:
    if c is None or c["mean"] is None:
        return "-"
    if c["pct"]:
        text = f"{100 * c['mean']:.1f}%"
        if c.get("std") is not None:
            text += f" ± {100 * c['std']:.1f}"
    else:
        text = f"{c['mean']:.3g}"
    return text


def render_table(evals: dict[str, dict[str, Any]]) -> list[list[str]]:
    """The comparison as rows of strings, header first."""
    labels = [label for label in _ORDER if label in evals]
    table = [["metric", *(_NAMES[label] for label in labels)]]
    for name, cells in comparison_rows(evals):
        table.append([name, *(fmt_cell(cells.get(label)) for label in labels)])
    return table


def improvement(evals: dict[str, dict[str, Any]], label: str = "pivotrl") -> dict[str, Any] | None:
    """In-domain held-out gain of ``label`` over the base and the spread it must beat."""
    base, new = (_get(evals.get(k, {}), "held_out", "summary") for k in ("base", label))
    if not base or not new or base.get("mean") is None or new.get("mean") is None:
        return None
    spread = max(base.get("std") or 0.0, new.get("std") or 0.0)
    delta = new["mean"] - base["mean"]
    return {"delta": delta, "spread": spread, "improved": delta > spread, "n_sets": new.get("n")}


def _markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def _stage_costs(run_dir: Path) -> list[tuple[str, float]]:
    p = run_dir / "manifest.json"
    if not p.exists():
        return []
    stages = json.loads(p.read_text(encoding="utf-8")).get("stages", {})
    done = sorted(
        (e.get("finished", 0), name, e.get("seconds") or 0.0)
        for name, e in stages.items()
        if e.get("status") == "done" and name != "report"
    )
    return [(name, seconds) for _, name, seconds in done]


def write_report(run_dir: Path, cfg: dict[str, Any]) -> Path:
    """Write ``report.md`` and the plots; return the report's path."""
    from .jsonl import atomic_output
    from .report_plots import write_plots

    evals = load_evals(run_dir)
    plots = write_plots(run_dir, evals)
    parts = [
        f"# PivotRL run `{cfg['run']['name']}`",
        "",
        f"Domain `{cfg['run']['domain']}`, starting model `{cfg['model']['name']}`"
        + (f" warmed up by `{cfg['model']['warmup']}`" if cfg["model"]["warmup"] else "")
        + ".",
        "",
    ]
    parts += _counts(run_dir)
    if evals:
        parts += [
            "## Base vs trained",
            "",
            _markdown_table(render_table(evals)),
            "",
            "Accuracies are mean ± std; in-domain held-out: over held-out sets (task seeds not used for "
            "training), benchmark: over its seeds. OOD retention: accuracy on the probes the shipped base "
            "model answers correctly. See docs/evaluation.md.",
            "",
        ]
        for label in ("pivotrl", "sft"):
            imp = improvement(evals, label)
            if imp:
                verdict = "more" if imp["improved"] else "NOT more"
                parts.append(
                    f"- {_NAMES[label]} in-domain gain over base: {100 * imp['delta']:+.1f} points, "
                    f"{verdict} than the spread across seeds ({100 * imp['spread']:.1f})."
                )
        parts.append("")
    costs = _stage_costs(run_dir)
    if costs:
        parts += ["## What each stage cost", "", "| stage | seconds |", "|---|---|"]
        parts += [f"| {n} | {s:.1f} |" for n, s in costs]
        parts += [f"| total | {sum(s for _, s in costs):.1f} |", ""]
    if plots:
        parts += ["## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots] + [""]
    out = run_dir / "report.md"
    with atomic_output(out) as fh:
        fh.write("\n".join(parts))
    return out


def _counts(run_dir: Path) -> list[str]:
    rep = run_dir / "select" / "select_report.json"
    if not rep.exists():
        return []
    c = json.loads(rep.read_text(encoding="utf-8")).get("counts", {})
    keys = ("profiles", "all_pass", "all_fail", "mixed", "errored", "kept", "train", "val")
    shown = ", ".join(f"{k.replace('_', '-')} {c[k]}" for k in keys if k in c)
    return ["## Pivots", "", f"Profiled candidates: {shown}.", ""]


def report_factory(cfg: dict[str, Any], out: Path) -> Callable[[dict[str, Any]], Stage]:
    def make(results: dict[str, Any]) -> Stage:
        after = ["eval-base", "eval-pivotrl", "select", "train"] + (
            ["eval-sft"] if cfg["run"]["with_sft"] else []
        )

        def run(resume: bool) -> dict[str, Any]:
            write_report(out, cfg)
            return {"improvement": improvement(load_evals(out))}

        return Stage(
            "report",
            run,
            [out / "report.md"],
            config={"run": cfg["run"]},
            after=after,
            description="report.md and plots/",
        )

    return make
