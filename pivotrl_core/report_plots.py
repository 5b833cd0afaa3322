"""The PNG plots of a run report (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .jsonl import iter_jsonl

__all__ = ["write_plots"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _rows(path: Path) -> list[dict[str, Any]]:
    return [r for _, r in iter_jsonl(path)] if path.exists() else []


def plot_training(metrics: list[dict[str, Any]], out: Path, title: str = "GRPO on pivots") -> Path | None:
    """Reward mean and zero-variance fraction per step."""
    steps = [r["step"] for r in metrics if r.get("reward_mean") is not None]
    if not steps:
        return None
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    a.plot(steps, [r["reward_mean"] for r in metrics if r.get("reward_mean") is not None], marker=".")
    a.set(xlabel="step", ylabel="reward mean", title="reward per step", ylim=(-0.02, 1.02))
    zv = [(r["step"], r["frac_zero_variance"]) for r in metrics if r.get("frac_zero_variance") is not None]
    b.plot([s for s, _ in zv], [v for _, v in zv], marker=".", color="tab:red")
    b.set(xlabel="step", ylabel="fraction", title="zero-variance groups", ylim=(-0.02, 1.02))
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_pass_rates(profiles: list[dict[str, Any]], max_mean: float, out: Path) -> Path | None:
    """Histogram of pi_0's per-candidate pass rates; the pivot region is shaded."""
    means = [r["mean"] for r in profiles if r.get("mean") is not None]
    if not means:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.axvspan(0.0001, max_mean, color="tab:green", alpha=0.12, label=f"pivots: 0 < mean < {max_mean}")
    ax.hist(means, bins=[i / 16 for i in range(17)], color="tab:blue", edgecolor="white")
    ax.set(xlabel="pass rate under pi_0", ylabel="candidates", title=f"{len(means)} profiled candidates")
    ax.legend(loc="upper center", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_comparison(evals: dict[str, dict[str, Any]], out: Path) -> Path | None:
    """Grouped bars: each headline metric for each evaluated model, with its spread."""
    from .report import _NAMES, comparison_rows

    rows = [
        (name, cells)
        for name, cells in comparison_rows(evals)
        if not name.startswith(" ") and all(c["pct"] for c in cells.values())
    ]
    if not rows:
        return None
    plt = _plt()
    labels = [label for label in ("base", "pivotrl", "sft") if label in evals]
    width = 0.8 / len(labels)
    fig, ax = plt.subplots(figsize=(1.9 * len(rows) + 1.5, 3.6))
    for i, label in enumerate(labels):
        xs = [j + i * width for j in range(len(rows))]
        ys = [100 * (cells.get(label, {}).get("mean") or 0.0) for _, cells in rows]
        errs = [100 * (cells.get(label, {}).get("std") or 0.0) for _, cells in rows]
        ax.bar(xs, ys, width, yerr=errs, capsize=3, label=_NAMES[label])
    ax.set_xticks([j + width * (len(labels) - 1) / 2 for j in range(len(rows))])
    ax.set_xticklabels(
        [name.replace(" (base-correct probes)", "") for name, _ in rows], fontsize=8, rotation=12
    )
    ax.set(ylabel="%", ylim=(0, 105), title="base vs trained")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def write_plots(run_dir: Path, evals: dict[str, dict[str, Any]]) -> list[Path]:
    """Write every plot whose data exists; return their paths."""
    import json

    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    max_mean = 0.6
    cfg_path = run_dir / "config.json"
    if cfg_path.exists():
        max_mean = json.loads(cfg_path.read_text(encoding="utf-8"))["select"]["max_mean"]
    made = [
        plot_training(_rows(run_dir / "train" / "metrics.jsonl"), plots / "training.png"),
        plot_pass_rates(_rows(run_dir / "profiles.jsonl"), max_mean, plots / "pass_rate_hist.png"),
        plot_comparison(evals, plots / "base_vs_trained.png"),
    ]
    return [p for p in made if p is not None]
