"""The tool-use format warm-up: built once, cached by a hash of its settings, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pivotrl_tool_use.generate", reason="the tool-use plugin is not installed")

from pivotrl_tool_use.warmup import WarmupSettings, warmup_dir, warmup_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def settings(model: str, **over) -> WarmupSettings:
    return WarmupSettings(
        **{
            "base_model": model,
            "n_trajectories": 4,
            "batch_size": 2,
            "micro_batch_size": 2,
            "train_top_n_layers": 1,
            "lr": 1e-3,
            **over,
        }
    )


def test_warmup_is_built_once_and_cached_by_settings(tiny_model_path, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PIVOTRL_CACHE", str(tmp_path))
    s = settings(tiny_model_path)
    path = warmup_model(s, progress=False)
    assert path == str(warmup_dir(s)) and path.startswith(str(tmp_path / "warmup" / "tool-use-"))
    info = json.loads((tmp_path / "warmup" / path.rsplit("/", 1)[1] / "warmup.json").read_text())
    assert info["settings"]["n_trajectories"] == 4 and info["loss_last"] > 0
    assert info["steps"] == -(-info["examples"] // 2) >= 2  # one epoch of batches of 2
    stamp = (tmp_path / path / "model.safetensors").stat().st_mtime_ns
    assert warmup_model(s, progress=False) == path  # cached: not rebuilt
    assert (tmp_path / path / "model.safetensors").stat().st_mtime_ns == stamp
    assert not list((tmp_path / "warmup").glob(".build-*"))
    other = settings(tiny_model_path, seed=1)
    assert warmup_dir(other) != warmup_dir(s)  # every setting is in the key
    # keyword overrides (what `pivotrl run`'s warmup_options pass) address the same cache entry
    assert (
        warmup_model(
            model=tiny_model_path,
            n_trajectories=4,
            batch_size=2,
            micro_batch_size=2,
            train_top_n_layers=1,
            lr=1e-3,
            progress=False,
        )
        == path
    )
    with pytest.raises(Exception, match="unknown warm-up setting"):
        warmup_model(n_trajectoris=3)
    # the same build through the tool-use domain's capability (what `[model] warmup = true` calls)
    from pivotrl_tool_use.plugin import TOOL_USE

    opts = {"n_trajectories": 4, "batch_size": 2, "micro_batch_size": 2, "train_top_n_layers": 1, "lr": 1e-3}
    assert TOOL_USE.warmup(tiny_model_path, progress=False, **opts) == Path(path)


def test_an_interrupted_warmup_resumes(tiny_model_path, tmp_path, monkeypatch) -> None:
    import pivotrl_core

    monkeypatch.setenv("PIVOTRL_CACHE", str(tmp_path))
    s = settings(tiny_model_path, n_trajectories=6)
    real = pivotrl_core.train_sft  # the warm-up reaches the trainer through the public lazy name
    calls = []

    def crash_after_two(cfg, inputs, out, *, resume=False, on_step_end=None):
        calls.append(resume)

        def hook(step, row):
            if step == 2 and len(calls) == 1:
                raise KeyboardInterrupt

        return real(cfg, inputs, out, resume=resume, on_step_end=hook)

    monkeypatch.setattr(pivotrl_core, "train_sft", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        warmup_model(s, progress=False)
    path = warmup_model(s, progress=False)
    assert calls == [False, True]  # the second build resumed from the step-2 checkpoint
    info = json.loads((tmp_path / path / "warmup.json").read_text())
    assert info["steps"] == -(-info["examples"] // 2) > 2
