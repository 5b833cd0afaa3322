"""The swe format warm-up: one SFT sequence per turn (windowed prompts), built once, cached."""

from __future__ import annotations

import json

import pytest
from pivotrl_swe.warmup import WarmupSettings, warmup, warmup_dir

from pivotrl_core.policies.tiny import build_tiny_model

pytestmark = pytest.mark.docker


def test_warmup_trains_per_turn_and_is_cached(docker_ready, pack, tmp_path, monkeypatch):
    monkeypatch.setenv("PIVOTRL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIVOTRL_SWE_INSTANCES", str(pack / "instances.jsonl"))
    model = build_tiny_model(tmp_path / "tiny")
    options = {"n_trajectories": 2, "batch_size": 2, "micro_batch_size": 2, "train_top_n_layers": 1}
    options["max_seq_tokens"] = 2048  # the tiny tokenizer needs more tokens than SmolLM2's
    path = warmup(model, progress=False, **options)
    assert path == warmup_dir(WarmupSettings(base_model=model, **options))
    info = json.loads((path / "warmup.json").read_text())
    assert info["steps"] == 5  # 2 episodes x 5 turns, one sequence each, batches of 2
    assert info["loss_last"] < info["loss_first"]
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert warmup(model, progress=False, **options) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp  # cached, not rebuilt
