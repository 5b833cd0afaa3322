"""The walkthrough through the real CLI: domains lists web; generate -> extract -> check-verifier."""

from __future__ import annotations

import json

from click.testing import CliRunner

from pivotrl_core.cli import build_cli


def _run(args: list[str]):
    result = CliRunner().invoke(build_cli(), args, catch_exceptions=False)
    return result


def test_domains_lists_web():
    result = _run(["domains"])
    assert result.exit_code == 0
    assert any(line.split()[:1] == ["web"] and "web_search" in line for line in result.output.splitlines())


def test_generate_extract_check_verifier(tmp_path, banking):
    traj, cands = tmp_path / "web.jsonl", tmp_path / "cands.jsonl"
    gen = _run(["web", "generate", "--split", "validation", "-o", str(traj)])
    assert gen.exit_code == 0, gen.output
    rows = [json.loads(line) for line in traj.read_text().splitlines()]
    assert len(rows) >= 5 and all(r["metadata"]["web"]["task_id"].startswith("task_") for r in rows)
    ext = _run(["extract", str(traj), "--domain", "web", "-o", str(cands)])
    assert ext.exit_code == 0, ext.output
    check = _run(["check-verifier", "--domain", "web", str(cands)])
    assert check.exit_code == 0, check.output
    assert "verifier QA passed" in check.output
