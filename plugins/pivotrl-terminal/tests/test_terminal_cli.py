"""``pivotrl terminal tasks | bench`` and the path bench -> trajectories -> ``pivotrl extract``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner


@pytest.fixture(scope="module")
def cli():  # noqa: ANN201
    from pivotrl_core.cli import build_cli

    return build_cli()


def test_tasks_lists_the_bundled_fixtures(cli) -> None:  # noqa: ANN001
    res = CliRunner().invoke(cli, ["terminal", "tasks"])
    assert res.exit_code == 0, res.output
    assert [line.split()[0] for line in res.output.splitlines()] == [
        "count-errors",
        "fix-calculator",
        "hello-file",
        "sum-column",
    ]
    assert all(" harbor " in line for line in res.output.splitlines())
    assert "setup" in res.output.splitlines()[3]  # sum-column's Dockerfile RUN


def test_bench_needs_a_model_or_the_oracle(cli) -> None:  # noqa: ANN001
    res = CliRunner().invoke(cli, ["terminal", "bench"])
    assert res.exit_code == 2 and "--model NAME" in res.output


def test_bench_trajectories_feed_extract(cli, any_backend: str, tmp_path: Path) -> None:  # noqa: ANN001
    out, cands = tmp_path / "episodes.jsonl", tmp_path / "cands.jsonl"
    args = [
        "terminal",
        "bench",
        "--oracle",
        "--task",
        "sum-column",
        "--task",
        "hello-file",
        "--backend",
        any_backend,
        "--out",
        str(out),
        "--json",
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert (report["n_tasks"], report["n_passed"], report["agent"]) == (2, 2, "oracle")
    res = CliRunner().invoke(cli, ["extract", str(out), "--domain", "terminal", "-o", str(cands)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in cands.read_text().splitlines()]
    # two turns per task: the solution (task_complete), then Terminus-2's confirmation
    assert [r["metadata"]["task"] for r in rows] == ["hello-file", "hello-file", "sum-column", "sum-column"]
    setup = rows[2]["metadata"]["sandbox"]["setup"][0]
    assert "python3 make_sales.py" in setup  # the Dockerfile's RUN rebuilds the state
    assert "make_sales.py" in rows[2]["metadata"]["sandbox"]["files"]
    assert all(r["metadata"]["harness"] == "terminus_2" for r in rows)
