"""The run report: ``report.md`` (base vs trained, in-domain and OOD, spread over seeds) and plots.

Plots (PNG, matplotlib's Agg backend: no display needed) in ``<run>/plots/``:

* ``training.png`` -- GRPO reward mean and fraction of zero-variance groups per step;
* ``pass_rate_hist.png`` -- pi_0's pass rate over the profiled candidates (pivots shaded);
* ``base_vs_trained.png`` -- the headline metrics of each evaluated model, with error bars.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..jsonl import atomic_output, iter_jsonl
from .config import RunConfig
from .context import RunContext
from .engine import Stage

__all__ = [
    "comparison_rows",
    "improvement",
    "improvement_sentence",
    "load_evals",
    "render_table",
    "report_stage",
    "write_plots",
    "write_report",
]

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


Metric = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def _benchmark(d: dict[str, Any]) -> dict[str, Any] | None:
    if _get(d, "benchmark") is None:
        return None
    b = d["benchmark"]
    return _cell(b.get("pass^1"), b.get("pass^1_std"), len(b.get("seeds") or []))


def _ood(key: str, n_key: str = "n") -> Metric:
    def cell(d: dict[str, Any]) -> dict[str, Any] | None:
        return None if _get(d, "ood") is None else _cell(_get(d, "ood", key), n=_get(d, "ood", n_key))

    return cell


def _ood_kl(d: dict[str, Any]) -> dict[str, Any] | None:
    if _get(d, "ood") is None:
        return None
    kl = _get(d, "ood", "kl", "kl_per_token")  # pi_0 is its own reference: 0
    kl = 0.0 if kl is None and d.get("label") == "base" else kl
    return _cell(kl, pct=False)


def _skill(s: str) -> Metric:
    def cell(d: dict[str, Any]) -> dict[str, Any] | None:
        r = _get(d, "ood", "by_skill", s)
        return None if r is None else _cell(r.get("accuracy"), n=r.get("n"))

    return cell


def comparison_rows(evals: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """``[(metric, {label: cell})]``; a cell is ``{"mean", "std", "n", "pct"}``."""
    metrics: list[tuple[str, Metric]] = [
        ("In-domain held-out accuracy", lambda d: _summary_cell(_get(d, "held_out", "summary"))),
        ("Validation pivots accuracy", lambda d: _summary_cell(_get(d, "validation", "summary"))),
        ("Benchmark pass^1", _benchmark),
        ("OOD accuracy", _ood("accuracy")),
        ("OOD retention (base-correct probes)", _ood("retention", "n_base_correct")),
        ("OOD KL to pi_0 (nats/token)", _ood_kl),
    ]
    skills = sorted({s for d in evals.values() for s in (_get(d, "ood", "by_skill") or {})})
    metrics += [(f"  OOD {s}", _skill(s)) for s in skills]
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
    n_sets = min(base.get("n") or 1, new.get("n") or 1)
    improved = delta > spread if n_sets > 1 else None  # one set: no spread to judge the gain against
    return {"delta": delta, "spread": spread, "improved": improved, "n_sets": new.get("n")}


def improvement_sentence(imp: dict[str, Any], name: str = "PivotRL") -> str:
    """The gain in words, judged against the spread across held-out sets when there is one."""
    gain = f"{name} in-domain gain over base: {100 * imp['delta']:+.1f} points"
    if imp["improved"] is None:
        return f"{gain}, on one held-out set: no spread to judge it against (add held-out seeds)."
    word = "more" if imp["improved"] else "NOT more"
    return f"{gain}, {word} than the spread across held-out sets ({100 * imp['spread']:.1f})."


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


def write_report(run_dir: Path, cfg: RunConfig) -> Path:
    """Write ``report.md`` and the plots; return the report's path."""
    evals = load_evals(run_dir)
    plots = write_plots(run_dir, evals, cfg.select.max_mean)
    parts = [
        f"# PivotRL run `{cfg.run.name}`",
        "",
        f"Domain `{cfg.run.domain}`, starting model `{cfg.model.name}`"
        + (" warmed up by the domain's warm-up" if cfg.model.warmup else "")
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
                parts.append(f"- {improvement_sentence(imp, _NAMES[label])}")
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


def report_stage(ctx: RunContext) -> Stage:
    """The last stage: ``report.md`` and ``plots/`` from the evaluations and the training metrics."""
    after = ["eval-base", "eval-pivotrl", "select", "train"] + (["eval-sft"] if ctx.cfg.run.with_sft else [])

    def run(resume: bool) -> dict[str, Any]:
        write_report(ctx.out, ctx.cfg)
        return {"improvement": improvement(load_evals(ctx.out))}

    return Stage(
        "report",
        run,
        [ctx.out / "report.md"],
        config={
            "run": dataclasses.asdict(ctx.cfg.run),
            "model": ctx.cfg.model.name,
            "warmup": ctx.cfg.model.warmup,
        },
        after=after,
        description="report.md and plots/",
    )


# -- plots ---------------------------------------------------------------------------------------


def _rows(path: Path) -> list[dict[str, Any]]:
    return [r for _, r in iter_jsonl(path)] if path.exists() else []


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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


def write_plots(run_dir: Path, evals: dict[str, dict[str, Any]], max_mean: float) -> list[Path]:
    """Write every plot whose data exists into ``run_dir/plots``; return their paths."""
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    made = [
        plot_training(_rows(run_dir / "train" / "metrics.jsonl"), plots / "training.png"),
        plot_pass_rates(_rows(run_dir / "profiles.jsonl"), max_mean, plots / "pass_rate_hist.png"),
        plot_comparison(evals, plots / "base_vs_trained.png"),
    ]
    return [p for p in made if p is not None]
