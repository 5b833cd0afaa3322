"""The shipped `pivotrl run` example of the SWE domain is valid and drives every stage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pivotrl_swe.cli import RUN_CONFIG

from pivotrl_core.run.config import load_run_config


def test_the_example_config_loads_and_reaches_every_stage(tmp_path):
    out = tmp_path / "swe.toml"
    pivotrl = str(Path(sys.executable).with_name("pivotrl"))
    res = subprocess.run([pivotrl, "swe", "run-config", "-o", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert out.read_text() == RUN_CONFIG.read_text()
    cfg = load_run_config(out)
    assert cfg.run.domain == "swe" and cfg.model.warmup
    assert cfg.data.generate is not None and cfg.heldout.generate
    assert cfg.train.max_steps >= 1 and cfg.eval.benchmark == "swe-tasks"
    assert cfg.eval.benchmark_options["ids"]
