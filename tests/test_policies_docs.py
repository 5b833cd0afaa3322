"""The runnable examples of docs/policies.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "policies.md"


def test_the_tool_format_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    runnable = [b for b in blocks if "get_tool_format" in b]
    assert runnable, "docs/policies.md lost its tool-format example"
    for block in runnable:
        exec(compile(block, str(DOC), "exec"), {})
