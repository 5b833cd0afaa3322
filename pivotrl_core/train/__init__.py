"""Training: turn-level GRPO on pivots (``train``) and the SFT baseline (``train_sft``).

``docs/trainer.md`` describes the algorithm, the config fields and the metrics. Names are
imported lazily so that reading a config does not import torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SFTConfig", "TrainConfig", "TrainResult", "load_config", "train", "train_sft"]

_WHERE = {
    "SFTConfig": "config",
    "TrainConfig": "config",
    "load_config": "config",
    "TrainResult": "grpo",
    "train": "grpo",
    "train_sft": "sft",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'pivotrl_core.train' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
