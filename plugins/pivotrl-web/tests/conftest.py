"""Fixtures for the web plugin's tests: the real tau2-banking data from ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pivotrl_core.testing import pivotrl_pm, register_plugin  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "data" / "tau2-banking"
os.environ.setdefault("PIVOTRL_WEB_DATA", str(DATA))


@pytest.fixture(scope="session")
def banking():
    from pivotrl_web.banking import load_banking

    if not (DATA / "tasks").is_dir():
        pytest.skip(f"tau2-banking data not found at {DATA}")
    return load_banking(DATA)


@pytest.fixture(scope="session")
def corpus(banking):
    from pivotrl_web.corpus import load_corpus

    return load_corpus(banking.documents_dir)


@pytest.fixture(scope="session")
def trajectories(banking):
    """Expert trajectories of every train task (63)."""
    from pivotrl_web.generate import generate

    return list(generate(1000, 0, "train"))


@pytest.fixture(scope="session")
def candidates(trajectories):
    from pivotrl_core import ExtractOptions, default_extractor

    opts = ExtractOptions(domain="web")
    return [c for t in trajectories for c in default_extractor(t, opts)]


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> str:
    """A tiny randomly initialised Llama model folder (the core's test model)."""
    from pivotrl_core.policies.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
