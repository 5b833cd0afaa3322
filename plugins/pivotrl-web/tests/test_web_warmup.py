"""The web format warm-up: capped warm-up demonstrations, built once, cached by a key of its settings."""

from __future__ import annotations

import json

import pytest
from pivotrl_web.banking import split_of
from pivotrl_web.generate import tasks_of
from pivotrl_web.prompts import DEFAULT_CAPS, TRUNCATED
from pivotrl_web.warmup import WarmupSettings, warmup, warmup_dir

from pivotrl_core import get_registry

TINY = {
    "n_trajectories": 1,
    "epochs": 1.0,
    "batch_size": 2,
    "train_top_n_layers": 1,
    "lr": 1e-3,
    "max_seq_tokens": 2048,
}


@pytest.fixture
def one_thread():
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_the_warmup_split_is_disjoint_from_training_and_evaluation(banking) -> None:
    warm = set(tasks_of("warmup"))
    assert len(warm) >= 5 and all(split_of(t) == "warmup" for t in warm)
    for split in ("train", "validation", "heldout"):
        assert not warm & set(tasks_of(split))


def test_the_cache_key_covers_every_setting() -> None:
    base = WarmupSettings()
    keys = {warmup_dir(base)}
    for change in (
        {"seed": 1},
        {"epochs": 3.0},
        {"base_model": "other"},
        {"tool_format": "x"},
        {"sft": {"pack": "turn"}},
    ):
        keys.add(warmup_dir(WarmupSettings(**{**base.__dict__, **change})))
    assert len(keys) == 6
    assert base.key() != base.key(caps=DEFAULT_CAPS.__class__(max_turns=5))
    with pytest.raises(Exception, match="unknown web warm-up setting"):
        warmup("m", n_trajectoris=3)


def test_warmup_builds_once_and_reuses_the_folder(tiny_model_path, tmp_path, monkeypatch, one_thread) -> None:
    monkeypatch.setenv("PIVOTRL_CACHE", str(tmp_path))
    web = get_registry().domain("web")
    assert web.warmup is warmup  # what `[model] warmup = true` calls
    path = web.warmup(tiny_model_path, progress=False, **TINY)
    assert path == warmup_dir(WarmupSettings.of(tiny_model_path, TINY))
    assert path.parent == tmp_path / "warmup" and path.name.startswith("web-")
    info = json.loads((path / "warmup.json").read_text())
    assert info["steps"] >= 1 and info["loss_last"] > 0 and info["caps"]["max_brief_chars"] == 800
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert warmup(tiny_model_path, progress=False, **TINY) == path  # cached: not rebuilt
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp
    assert not list((tmp_path / "warmup").glob(".build-*"))
    other = warmup(tiny_model_path, progress=False, **{**TINY, "seed": 1})
    assert other != path and (other / "warmup.json").exists()


def test_warmup_demonstrations_carry_the_caps(banking) -> None:
    from pivotrl_web.generate import generate
    from pivotrl_web.warmup import _capped

    traj = next(iter(generate(1, 0, "warmup")))  # type: ignore[arg-type]
    capped = _capped(traj)
    assert len(capped.messages) == len(traj.messages)  # the whole episode, packed as one sequence
    tools = [m for m in capped.messages if m.role == "tool"]
    assert all(len(m.content) <= DEFAULT_CAPS.max_observation_chars + len(TRUNCATED) for m in tools)
    assert any(m.content.endswith(TRUNCATED) for m in tools)
