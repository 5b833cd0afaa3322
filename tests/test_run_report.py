"""The run report: the base-vs-trained table, the improvement verdict, report.md and the plots."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from pivotrl_core.run.config import ModelSettings, RunConfig, RunSettings
from pivotrl_core.run.report import improvement, improvement_sentence, render_table, write_report


def _summary(means: list[float]) -> dict:
    return {
        "mean": statistics.fmean(means),
        "std": statistics.stdev(means) if len(means) > 1 else 0.0,
        "n": len(means),
        "over": "sets",
    }


def doc(label: str, means: list[float], ood: float, kl: float | None) -> dict:
    return {
        "label": label,
        "held_out": {"sets": {}, "summary": _summary(means)},
        "ood": {
            "accuracy": ood,
            "retention": ood,
            "n": 10,
            "n_base_correct": 5,
            "by_skill": {"factual": {"n": 10, "accuracy": ood}},
            **({"kl": {"kl_per_token": kl}} if kl is not None else {}),
        },
    }


def test_report_table_and_improvement_verdict(tmp_path: Path) -> None:
    evals = {
        "base": doc("base", [0.4, 0.5, 0.45], 0.6, None),
        "pivotrl": doc("pivotrl", [0.6, 0.65, 0.55], 0.58, 0.012),
    }
    table = render_table(evals)
    assert table[0] == ["metric", "base (pi_0)", "PivotRL"]
    rows = {r[0]: r[1:] for r in table[1:]}
    assert rows["In-domain held-out accuracy"] == ["45.0% ± 5.0", "60.0% ± 5.0"]
    assert rows["OOD KL to pi_0 (nats/token)"] == ["0", "0.012"]
    assert rows["  OOD factual"] == ["60.0%", "58.0%"]
    imp = improvement(evals)
    assert imp["improved"] and imp["delta"] == pytest.approx(0.15) and imp["spread"] == pytest.approx(0.05)
    unmoved = {**evals, "pivotrl": doc("pivotrl", [0.6, 0.65, 0.55], 0.58, 0.0)}
    assert {r[0]: r[1:] for r in render_table(unmoved)}["OOD KL to pi_0 (nats/token)"] == ["0", "0"]
    evals["pivotrl"] = doc("pivotrl", [0.5, 0.4, 0.55], 0.6, 0.01)
    assert not improvement(evals)["improved"]  # +1.7 points is inside the spread
    one = {k: doc(k, [v], 0.6, None) for k, v in (("base", 0.4), ("pivotrl", 0.45))}
    assert improvement(one)["improved"] is None  # one held-out set: no spread, no verdict
    assert "no spread to judge it against" in improvement_sentence(improvement(one))
    assert "NOT more than the spread" in improvement_sentence(improvement(evals))

    (tmp_path / "eval").mkdir()
    for label, d in evals.items():
        (tmp_path / "eval" / f"{label}.json").write_text(json.dumps(d))
    cfg = RunConfig(run=RunSettings(name="r", domain="d"), model=ModelSettings(name="m", warmup=True))
    text = write_report(tmp_path, cfg).read_text()
    assert text.startswith("# PivotRL run `r`") and "starting model `m` warmed up" in text
    assert "| In-domain held-out accuracy | 45.0% ± 5.0 | 48.3% ± 7.6 |" in text
    assert "NOT more than the spread" in text
    assert (tmp_path / "plots" / "base_vs_trained.png").stat().st_size > 1000
