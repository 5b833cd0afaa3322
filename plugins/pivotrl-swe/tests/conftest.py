"""Fixtures for the SWE plugin tests: the shared data packs and the sandbox backends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED = REPO_ROOT.parent / "shared" / "data"
PACK = SHARED / "humanevalfix-python"
SWE_PIVOT = SHARED / "nemo-gym" / "swe_pivot"


@pytest.fixture(scope="session")
def pack() -> Path:
    """The HumanEvalFix-python pack (../shared/data/humanevalfix-python); skipped when absent."""
    if not (PACK / "instances.jsonl").is_file():
        pytest.skip(f"HumanEvalFix pack not found at {PACK}")
    return PACK


@pytest.fixture(scope="session")
def swe_pivot_dir() -> Path:
    if not SWE_PIVOT.is_dir():
        pytest.skip(f"NeMo Gym swe_pivot data not found at {SWE_PIVOT}")
    return SWE_PIVOT


@pytest.fixture(scope="session")
def docker_ready() -> str:
    """``docker`` when the engine and the sandbox image are here, else skipped with the reason."""
    from pivotrl_sandboxes.testing import unavailable

    reason = unavailable("docker")
    if reason:
        pytest.skip(f"docker backend unavailable: {reason}")
    return "docker"


@pytest.fixture(scope="session")
def bwrap_ready() -> str:
    from pivotrl_sandboxes.testing import unavailable

    reason = unavailable("bwrap")
    if reason:
        pytest.skip(f"bwrap backend unavailable: {reason}")
    return "bwrap"
