"""docs/domains/terminal.md: its example runs; the domain passes the verifier QA on NVIDIA's rows."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pivotrl_core import row_to_candidate
from pivotrl_core.testing import check_domain

DOC = Path(__file__).resolve().parents[3] / "docs" / "domains" / "terminal.md"


def test_episode_example_runs(any_backend: str, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("PIVOTRL_SANDBOX", any_backend)
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL).group(1)
    exec(compile(code, "terminal.md", "exec"), {})


def test_domain_verifier_passes_the_qa_checks(terminus_dir: Path, monkeypatch) -> None:  # noqa: ANN001
    """Demonstrations pass, empty and garbage actions fail, verdicts repeat (no judge configured)."""
    monkeypatch.delenv("PIVOTRL_JUDGE_MODEL", raising=False)
    rows = [json.loads(x) for x in (terminus_dir / "example.jsonl").read_text().splitlines() if x.strip()]
    report = check_domain("terminal", [row_to_candidate(r, i, domain="terminal") for i, r in enumerate(rows)])
    assert report.ok
