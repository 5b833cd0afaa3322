"""Shared test fixtures. ``pivotrl_core.testing`` gives the plugin-manager fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pivotrl_core.testing"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
NEMO_GYM = SHARED / "data" / "nemo-gym"


@pytest.fixture(scope="session")
def nemo_gym_dir() -> Path:
    """The real NVIDIA NeMo Gym pivot rows in ../shared/data/nemo-gym (skipped when absent)."""
    if not NEMO_GYM.is_dir():
        pytest.skip(f"NeMo Gym sample data not found at {NEMO_GYM}")
    return NEMO_GYM


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny randomly initialised Llama model folder with a ChatML BPE tokenizer."""
    from pivotrl_core.policies.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Torch on one thread for a module: tiny-model ops are too small to split across threads, and
    spinning threads stall on a busy machine. Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
