"""Fixtures for the tau2 plugin's tests: the real tau-bench v1 file and tau2's own tasks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[3]
SHARED_DATA = REPO.parent / "shared" / "data"
V1_AIRLINE = SHARED_DATA / "tau-bench" / "gpt-4o-airline.json"


@pytest.fixture(scope="session")
def v1_file() -> Path:
    """200 real gpt-4o tau-bench airline trajectories (``../shared/data/tau-bench``)."""
    if not V1_AIRLINE.exists():
        pytest.skip(f"shared data not found: {V1_AIRLINE}")
    return V1_AIRLINE


@pytest.fixture(scope="session")
def v1_jsonl(v1_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The v1 file imported by ``pivotrl tau2 import`` (OpenAI chat JSONL)."""
    from click.testing import CliRunner

    from pivotrl_core.cli import build_cli

    out = tmp_path_factory.mktemp("tau2") / "t.jsonl"
    result = CliRunner().invoke(build_cli(), ["tau2", "import", str(v1_file), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(autouse=True)
def _fresh_plugins():
    """A fresh process-wide plugin manager for each test: in a long pytest session another test
    can leave behind a manager built without this plugin's entry point."""
    from pivotrl_core.testing import use_plugin_manager

    with use_plugin_manager() as pm:
        yield pm
