"""The experiment's table and plots: the paper's Tables 1, 2 and 4 and Figure 3, in miniature.

Every cell is mean +- sd over the training seeds (sd only with >= 2 seeds) beside the paper's
number (``../shared/docs/method.md`` section 6). The machine line and wall time are recorded.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..jsonl import atomic_output, iter_jsonl
from .config import ARMS

__all__ = ["PAPER", "machine_line", "write_table"]

# The paper's numbers (Qwen3-30B-A3B, tau2-Bench and its OOD suite) that each miniature cell sits beside.
PAPER = {
    "in_domain": {"base": 44.35, "sft": 58.44, "pivotrl": 63.81},
    "ood_change": {"sft": -9.83, "pivotrl": +0.21},
    "ablation": {"random-exact": 57.34, "random-functional": 59.68, "pivotrl": 63.81, "sft": 58.44},
    "turns": {"pivotrl": 133_000, "e2e": 542_000},
}


def machine_line() -> str:
    """CPU count, load and platform of the machine that wrote the table."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return (
        f"{platform.machine()} {platform.system()} {platform.release()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} when written, "
        f"Python {platform.python_version()}"
    )


def _values(summary: dict[str, Any], arm: str, key: str) -> list[float]:
    seeds = summary["arms"].get(arm, {}).get("seeds", {})
    vals = [s["eval"].get(key) for s in seeds.values()]
    return [100 * float(v) if key not in ("ood_kl", "rg_kl") else float(v) for v in vals if v is not None]


def _cell(vals: Sequence[float], digits: int = 1) -> str:
    if not vals:
        return "n/a"
    mean = statistics.fmean(vals)
    if len(vals) < 2 and digits >= 0:
        return f"{mean:.{digits}f} (n=1)"
    if digits < 0:  # scientific: KL values span orders of magnitude
        return f"{mean:.2e} (n={len(vals)})" + ("" if len(vals) < 2 else f", sd {statistics.stdev(vals):.1e}")
    return f"{mean:.{digits}f} +- {statistics.stdev(vals):.{digits}f} (n={len(vals)})"


def _turns(summary: dict[str, Any], arm: str) -> list[float]:
    seeds = summary["arms"].get(arm, {}).get("seeds", {})
    out = []
    for s in seeds.values():
        t = s.get("train", {}).get("rollout_turns")
        if t is not None:
            out.append(float(t) + (summary["profile_turns"] if ARMS[arm].kind == "grpo" else 0))
    return out


def _seconds(summary: dict[str, Any], arm: str) -> list[float]:
    seeds = summary["arms"].get(arm, {}).get("seeds", {}).values()
    return [float(s["train"]["seconds"]) for s in seeds if (s.get("train") or {}).get("seconds") is not None]


def _per_seed(vals: Sequence[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in vals) if vals else "n/a"


def _table1(summary: dict[str, Any]) -> list[str]:
    rows = [
        "| arm | held-out turn accuracy (%) | per seed | paper, tau2 (%) | training seconds "
        "| rollout turns |",
        "|---|---|---|---|---|---|",
    ]
    for arm in summary["arms"]:
        paper = PAPER["in_domain"].get(arm)
        vals = _values(summary, arm, "held_out")
        rows.append(
            f"| {ARMS[arm].label} | {_cell(vals)} | {_per_seed(vals)} | "
            f"{paper if paper is not None else '-'} | {_cell(_seconds(summary, arm), 0)} | "
            f"{_cell(_turns(summary, arm), 0)} |"
        )
    return rows


def _table2(summary: dict[str, Any]) -> list[str]:
    base_rg = _values(summary, "base", "rg")
    rows = [
        "| arm | reasoning-gym acc. (%) | change vs base | project OOD probes (%) | KL to pi_0 on "
        "reasoning-gym answers (nats/token) | KL on probes | paper OOD change |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm in summary["arms"]:
        rg = _values(summary, arm, "rg")
        delta = [v - base_rg[0] for v in rg] if base_rg else []
        paper = PAPER["ood_change"].get(arm)
        rows.append(
            f"| {ARMS[arm].label} | {_cell(rg)} | {_cell(delta) if arm != 'base' else '-'} | "
            f"{_cell(_values(summary, arm, 'ood'))} | {_cell(_values(summary, arm, 'rg_kl'), -1)} | "
            f"{_cell(_values(summary, arm, 'ood_kl'), -1)} | {paper if paper is not None else '-'} |"
        )
    return rows


def _table4(summary: dict[str, Any]) -> list[str]:
    rows = ["| turns | reward | held-out (%) | paper, tau2 (%) |", "|---|---|---|---|"]
    for arm in ("random-exact", "random-functional", "pivots-exact", "pivotrl", "sft"):
        if arm in summary["arms"]:
            spec = ARMS[arm]
            paper = PAPER["ablation"].get(arm)
            turns, reward = (spec.turns, spec.reward) if spec.kind == "grpo" else ("(SFT)", "-")
            rows.append(
                f"| {turns} | {reward} | {_cell(_values(summary, arm, 'held_out'))} | "
                f"{paper if paper is not None else 'not reported'} |"
            )
    return rows


def _ratio(summary: dict[str, Any]) -> str:
    p_acc, e_acc = _values(summary, "pivotrl", "held_out"), _values(summary, "e2e", "held_out")
    p_t, e_t = _turns(summary, "pivotrl"), _turns(summary, "e2e")
    if not (p_acc and e_acc and p_t and e_t):
        return "Turn ratio: not measured (PivotRL or E2E missing)."
    pa, ea = statistics.fmean(p_acc), statistics.fmean(e_acc)
    base = _values(summary, "base", "held_out")
    if base and max(pa, ea) <= base[0]:
        return (
            f"Neither PivotRL ({pa:.1f}%) nor E2E ({ea:.1f}%) ends above the base ({base[0]:.1f}%): "
            "no accuracy to compare turns at, so no ratio is reported."
        )
    if pa >= ea:
        return (
            f"PivotRL's final held-out accuracy ({pa:.1f}%) is at least E2E's ({ea:.1f}%), reached with "
            f"{statistics.fmean(p_t):.0f} rollout turns against E2E's {statistics.fmean(e_t):.0f}: "
            f"ratio E2E/PivotRL >= {statistics.fmean(e_t) / statistics.fmean(p_t):.2f} (paper: ~4x). "
            "Single end points, not curves: PivotRL may have reached E2E's accuracy with fewer turns, "
            "so this is a lower bound on the ratio (below 1 it says nothing about which needs fewer)."
        )
    return (
        f"E2E ({ea:.1f}%) ends above PivotRL ({pa:.1f}%): they never reach equal accuracy here, "
        "so no ratio at equal accuracy is reported."
    )


def _zero_var(run: Path, arm: str, seed: str) -> list[tuple[int, float]]:
    path = run / "arms" / arm / f"seed{seed}" / "train" / "metrics.jsonl"
    if not path.exists():
        return []
    return [
        (int(r["step"]), float(r["frac_zero_variance"]))
        for _, r in iter_jsonl(path)
        if r.get("frac_zero_variance") is not None and "step" in r
    ]


def _collapse(summary: dict[str, Any], run: Path) -> list[str]:
    """Figure 3b in numbers: the fraction of zero-variance groups, first and second half of training."""
    rows = [
        "| arm | zero-variance groups, all steps | first half | second half | steps x seeds |",
        "|---|---|---|---|---|",
    ]
    for arm in ("pivotrl", "random-functional", "pivots-exact", "random-exact"):
        pts = [p for seed in summary["arms"].get(arm, {}).get("seeds", {}) for p in _zero_var(run, arm, seed)]
        if not pts:
            continue
        last = max(step for step, _ in pts)
        early = [f for step, f in pts if step <= last / 2]
        late = [f for step, f in pts if step > last / 2]
        rows.append(
            f"| {ARMS[arm].label} | {statistics.fmean(f for _, f in pts):.2f} | "
            f"{statistics.fmean(early) if early else float('nan'):.2f} | "
            f"{statistics.fmean(late) if late else float('nan'):.2f} | {len(pts)} |"
        )
    return rows if len(rows) > 2 else ["No GRPO metrics found."]


def _sft_search_seconds(run: Path) -> float:
    return sum(
        float(e.get("seconds") or 0)
        for m in (run / "sft-search").glob("*/manifest.json")
        for e in json.loads(m.read_text(encoding="utf-8"))["stages"].values()
    )


def write_plots(summary: dict[str, Any], run: Path, folder: Path) -> list[Path]:
    """Figure 3 (accuracy vs rollout turns) and the zero-variance fraction per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for arm in ("pivotrl", "e2e", "random-functional"):
        t, a = _turns(summary, arm), _values(summary, arm, "held_out")
        if t and a:
            ax.scatter(t, a[: len(t)], label=ARMS[arm].label)
    base = _values(summary, "base", "held_out")
    if base:
        ax.axhline(base[0], ls="--", c="grey", label="base")
    ax.set(xlabel="rollout turns (model calls)", ylabel="held-out turn accuracy (%)", xscale="log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out.append(folder / "paper_turns.png")
    fig.savefig(out[-1], dpi=120)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for arm, style in (("pivotrl", "-"), ("random-functional", "--")):
        for seed in summary["arms"].get(arm, {}).get("seeds", {}):
            pts = _zero_var(run, arm, seed)
            if pts:
                ax.plot(*zip(*pts, strict=True), style, label=f"{ARMS[arm].label} s{seed}")
    ax.set(xlabel="GRPO step", ylabel="fraction of zero-variance groups", ylim=(-0.05, 1.05))
    ax.legend(fontsize=7)
    fig.tight_layout()
    out.append(folder / "paper_zero_variance.png")
    fig.savefig(out[-1], dpi=120)
    plt.close("all")
    return out


def write_table(summary: dict[str, Any], path: str | Path, run: Path | None = None) -> Path:
    """Write the markdown table (and its plots beside it); return its path."""
    path = Path(path)
    run = Path(run) if run is not None else Path(summary.get("out", path.parent))
    plots = write_plots(summary, run, path.parent)
    n = len(summary.get("seeds") or ())
    quick = f"QUICK MODE ({n} seed{'s' * (n != 1)}, few steps): a try-out, not a result"
    mode = quick if summary.get("quick") else {"gpu": "GPU sizes"}.get(summary.get("size", ""), "full")
    lines = [
        f"# The paper's tables in miniature ({mode})",
        "",
        f"Experiment `{summary['name']}`, training seeds {summary['seeds']}, wall time "
        f"{summary.get('wall_seconds_this_invocation', 0):.0f} s for the invocation that wrote this "
        f"(stages skipped as current cost 0); {summary.get('stage_seconds_total', 0):.0f} s of stages "
        f"in all, as recorded when each ran. Machine: {machine_line()}.",
        f"Profiling cost (shared by the pivot arms): {summary['profile_turns']} rollout turns.",
        "",
        "## Table 1: in-domain (held-out turns of unseen tasks, the domain's functional verifier)",
        "",
        *_table1(summary),
        "",
        "## Table 2: out-of-domain (third-party reasoning-gym generators with their own scorers)",
        "",
        *_table2(summary),
        "",
        "## Table 4: ablation (turn choice x reward)",
        "",
        *_table4(summary),
        "",
        "## Figure 3: accuracy against rollout turns",
        "",
        _ratio(summary),
        "",
        "Variance collapse (Figure 3b): the fraction of each step's groups whose G samples all scored "
        "the same (no GRPO gradient), over every seed.",
        "",
        *_collapse(summary, run),
        "",
        *[f"![{p.stem}]({p.name})" for p in plots],
        "",
        f"SFT settings chosen on the validation split: {summary.get('sft_choice') or 'n/a'} "
        f"(the search's training cost {_sft_search_seconds(run):.0f} s, besides the SFT arm's own).",
        "",
    ]
    with atomic_output(path) as fh:
        fh.write("\n".join(lines))
    with atomic_output(path.with_suffix(".json")) as fh:
        fh.write(json.dumps(summary, indent=2))
    return path
