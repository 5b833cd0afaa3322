"""The code example of docs/sandboxes.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "sandboxes.md"


def test_contract_example_runs(any_backend_name: str, monkeypatch) -> None:  # noqa: ANN001
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL).group(1)
    monkeypatch.setenv("PIVOTRL_SANDBOX", any_backend_name)
    exec(
        compile(
            code.replace('open_sandbox("auto", spec)', "open_sandbox(None, spec)"), "sandboxes.md", "exec"
        ),
        {},
    )
