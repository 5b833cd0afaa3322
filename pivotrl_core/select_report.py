"""The report of ``pivotrl select``: JSON, Markdown, a PNG histogram and a rich table.

Fields (``docs/profiling.md``, "The select report"): ``counts`` (profiles, all_pass, all_fail,
constant, mixed, mixed_too_easy, mixed_low_std, mixed_too_few_scored, errored, skipped, kept, train, val,
errored_samples, early_stopped, not_profiled, missing_candidates, duplicate_candidates),
``kept_fraction``, ``zero_signal_fraction`` (all_pass + all_fail + constant over scored rows),
``per_domain`` and ``per_tool`` (candidates, kept, kept_fraction), ``trajectories`` (train, val),
``thresholds`` and ``outputs``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .jsonl import atomic_output
from .select import CATEGORIES, SelectResult

__all__ = ["build_report", "print_report", "write_report"]

COUNT_KEYS = (
    "profiles",
    *CATEGORIES,
    "mixed_too_easy",
    "mixed_low_std",
    "mixed_too_few_scored",
    "kept",
    "train",
    "val",
    "errored_samples",
    "early_stopped",
    "not_profiled",
    "missing_candidates",
    "duplicate_candidates",
)


def _breakdown(table: dict[str, Counter]) -> dict[str, dict[str, Any]]:
    return {
        k: {
            "candidates": v["candidates"],
            "kept": v["kept"],
            "kept_fraction": round(v["kept"] / v["candidates"], 4) if v["candidates"] else 0.0,
        }
        for k, v in sorted(table.items(), key=lambda kv: (-kv[1]["candidates"], kv[0]))
    }


def build_report(res: SelectResult) -> dict[str, Any]:
    """The report as a JSON-ready dict."""
    c = res.counts
    counts = {k: int(c.get(k, 0)) for k in COUNT_KEYS}
    scored = counts["all_pass"] + counts["all_fail"] + counts["constant"] + counts["mixed"]
    warnings = []
    other = sorted(x for x in res.early_stop_lambdas if abs(x - res.config.max_mean) > 1e-12)
    if other:
        warnings.append(
            f"early-stopped rows were decided for max_mean {other}, not {res.config.max_mean}; "
            "re-profile without --early-stop to change lambda"
        )
    if counts["missing_candidates"]:
        warnings.append(f"{counts['missing_candidates']} profiled candidates are not in the candidates file")
    return {
        "thresholds": {
            "max_mean": res.config.max_mean,
            "min_std": res.config.min_std,
            "min_scored": res.config.min_scored,
            "val_fraction": res.config.val_fraction,
            "seed": res.config.seed,
        },
        "counts": counts,
        "kept_fraction": round(counts["kept"] / counts["profiles"], 4) if counts["profiles"] else 0.0,
        "zero_signal_fraction": round((scored - counts["mixed"]) / scored, 4) if scored else 0.0,
        "per_domain": _breakdown(res.per_domain),
        "per_tool": _breakdown(res.per_tool),
        "trajectories": {"train": len(res.train_trajectories), "val": len(res.val_trajectories)},
        "outputs": res.outputs,
        "warnings": warnings,
    }


def _markdown(rep: dict[str, Any]) -> str:
    lines = [
        "# Pivot selection report",
        "",
        f"Filter: std > {rep['thresholds']['min_std']} and mean < {rep['thresholds']['max_mean']}, "
        f"at least {rep['thresholds']['min_scored']} of the samples scored; "
        f"validation fraction {rep['thresholds']['val_fraction']} "
        f"(by trajectory, seed {rep['thresholds']['seed']}).",
        "",
        "| count | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in rep["counts"].items()]
    lines += [
        "",
        f"Kept fraction: {rep['kept_fraction']}; zero-signal fraction: {rep['zero_signal_fraction']}.",
        "",
    ]
    for title, key in (("Per domain", "per_domain"), ("Per tool", "per_tool")):
        lines += [f"## {title}", "", "| name | candidates | kept | kept fraction |", "|---|---|---|---|"]
        lines += [
            f"| {k} | {v['candidates']} | {v['kept']} | {v['kept_fraction']} |" for k, v in rep[key].items()
        ]
        lines.append("")
    lines += [
        f"Trajectories: {rep['trajectories']['train']} train, {rep['trajectories']['val']} validation.",
        "",
    ]
    lines += [f"Warning: {w}" for w in rep["warnings"]]
    lines += ["", "![pass rates](pass_rate_hist.png)", ""]
    return "\n".join(lines)


def _histogram(pass_rates: list[float], max_mean: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.hist(pass_rates, bins=[i / 16 for i in range(17)], color="#4477aa", edgecolor="white")
    ax.axvline(max_mean, color="#cc3311", linestyle="--", label=f"lambda = {max_mean}")
    ax.set_xlabel("pass rate of the reference policy (mean over K)")
    ax.set_ylabel("candidates")
    ax.set_title(f"Pass rates of {len(pass_rates)} profiled candidates")
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


def write_report(res: SelectResult, report_dir: str | Path) -> dict[str, Any]:
    """Write ``select_report.json``, ``select_report.md`` and ``pass_rate_hist.png``."""
    d = Path(report_dir)
    d.mkdir(parents=True, exist_ok=True)
    res.outputs = {
        **res.outputs,
        "report_json": str(d / "select_report.json"),
        "report_md": str(d / "select_report.md"),
        "histogram": str(d / "pass_rate_hist.png"),
    }
    rep = build_report(res)
    _histogram(res.pass_rates, res.config.max_mean, d / "pass_rate_hist.png")
    with atomic_output(d / "select_report.json") as fh:
        fh.write(json.dumps(rep, indent=2) + "\n")
    with atomic_output(d / "select_report.md") as fh:
        fh.write(_markdown(rep))
    return rep


def print_report(rep: dict[str, Any], console: Console | None = None) -> None:
    """Print the counts and the per-domain / per-tool tables."""
    console = console or Console(stderr=True)
    t = Table(title="pivot selection", show_header=True)
    t.add_column("count")
    t.add_column("value", justify="right")
    for k, v in rep["counts"].items():
        if v or k in ("profiles", "kept", "mixed", "all_pass", "all_fail", "errored"):
            t.add_row(k, str(v))
    console.print(t)
    for title, key in (("per domain", "per_domain"), ("per tool", "per_tool")):
        bt = Table(title=title)
        for col in ("name", "candidates", "kept", "kept fraction"):
            bt.add_column(col, justify="left" if col == "name" else "right")
        for k, v in rep[key].items():
            bt.add_row(k, str(v["candidates"]), str(v["kept"]), f"{v['kept_fraction']:.2f}")
        console.print(bt)
    for w in rep["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {w}")
