"""``pivotrl tau2 replay`` on the 200 real gpt-4o airline trajectories."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from pivotrl_core.cli import build_cli


def test_replay_reproduces_at_least_195_of_200_recorded_rewards(v1_jsonl: Path) -> None:
    result = CliRunner().invoke(build_cli(), ["tau2", "replay", str(v1_jsonl), "--domain", "tau2-airline"])
    assert result.exit_code == 0, result.output
    m = re.search(r"reproduced (\d+) of (\d+) recorded rewards", result.output)
    assert m is not None, result.output
    agree, total = int(m.group(1)), int(m.group(2))
    assert total == 200 and agree >= 195
    listed = re.findall(r"tau-bench-v1-airline-\d+-\d+: recorded", result.output)
    assert len(listed) == total - agree  # every disagreement is listed
