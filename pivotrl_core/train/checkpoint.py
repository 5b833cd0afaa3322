"""Checkpoints that a run resumes from bit for bit, and the final model folder.

Layout of a run folder (``-o runs/NAME``)::

    config.json             the resolved config (and what it was run on)
    metrics.jsonl           one row per step
    checkpoints/step-000010/
        trainable.safetensors   the trained parameters (frozen ones come from `model`)
        optimizer.pt            AdamW state
        trainer_state.pt        step, RNG states, data order, refresh state, counters
        config.json, metrics.jsonl   the config and the metrics up to this step, beside the weights
    checkpoints/latest      name of the newest complete checkpoint
    final/                  a plain model folder (LoRA merged) that every backend loads
    adapter/                LoRA runs only: the peft adapter (``PeftModel.from_pretrained(base, ...)``)

A checkpoint is written to a temporary folder and renamed into place, so a crash mid-write leaves
the previous one intact.
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..jsonl import atomic_output
from .setup import trainable_parameters

__all__ = [
    "check_run_dir",
    "latest_checkpoint",
    "load_checkpoint",
    "rng_state",
    "save_checkpoint",
    "save_final",
    "set_rng_state",
]


def rng_state() -> dict[str, Any]:
    """Every random generator the trainer touches."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


_STALE = ("config.json", "metrics.jsonl", "tb", "refreshes", "checkpoints", ".final.tmp")


def _clear_unclaimed(out: Path) -> None:
    """Remove what a run killed before its first checkpoint left (nothing of it can be resumed)."""
    for name in _STALE:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def check_run_dir(out: Path, resume: bool) -> bool:
    """Check the run folder and return whether to resume from a checkpoint.

    A folder is claimed by a run only once it holds a complete checkpoint: one killed or failed
    before that is cleared and started again (with or without ``--resume``), so it never gets
    stuck. A claimed folder needs ``--resume``; ``--resume`` on a folder that never held a run is
    an error.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; give a folder for the run", flag="-o")
    claimed = latest_checkpoint(out) is not None or (out / "final").is_dir()
    if claimed and not resume:
        raise ConfigError(
            f"{out} already holds a run; pass --resume to continue it or choose another -o folder", flag="-o"
        )
    if claimed:
        return True
    started = (out / "config.json").exists()
    if resume and not started:
        raise ConfigError(f"{out} holds no run to resume; start it without --resume", flag="--resume")
    if started:
        _clear_unclaimed(out)
    return False


def latest_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint of a run folder, or None."""
    pointer = out / "checkpoints" / "latest"
    if not (out / "checkpoints").is_dir():
        return None
    if pointer.exists():
        path = out / "checkpoints" / pointer.read_text().strip()
        if (path / "trainer_state.pt").exists():
            return path
    done = sorted(p for p in (out / "checkpoints").glob("step-*") if (p / "trainer_state.pt").exists())
    return done[-1] if done else None


def save_checkpoint(
    out: Path,
    step: int,
    model: Any,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    config: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write ``checkpoints/step-<step>`` atomically and prune older ones beyond ``keep``."""
    from safetensors.torch import save_file

    root = out / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:06d}"
    tmp = root / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    tensors = {n: p.detach().contiguous().cpu() for n, p in trainable_parameters(model).items()}
    save_file(tensors, str(tmp / "trainable.safetensors"))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save({**state, "step": step, "rng": rng_state()}, tmp / "trainer_state.pt")
    (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    metrics = out / "metrics.jsonl"
    if metrics.exists():
        shutil.copyfile(metrics, tmp / "metrics.jsonl")
    final = root / name
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    with atomic_output(root / "latest") as fh:
        fh.write(name)
    for old in sorted(p for p in root.glob("step-*") if p.is_dir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: Path, model: Any, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore weights, optimiser and RNG states; return the trainer state."""
    from safetensors.torch import load_file

    tensors = load_file(str(path / "trainable.safetensors"))
    params = trainable_parameters(model)
    missing = set(params) ^ set(tensors)
    if missing:
        raise ConfigError(
            f"checkpoint {path} does not match the model ({len(missing)} parameters differ, e.g. "
            f"{sorted(missing)[0]}); resume with the config the run was started with"
        )
    with torch.no_grad():
        for n, p in params.items():
            p.copy_(tensors[n].to(p.device, p.dtype))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=False))
    state = torch.load(path / "trainer_state.pt", weights_only=False)
    set_rng_state(state.pop("rng"))
    return state


def save_final(out: Path, model: Any, tokenizer: Any) -> Path:
    """Save a plain model folder at ``out/final`` (LoRA adapters merged into the weights); a LoRA
    run also keeps its peft adapter at ``out/adapter`` (load it over the base model with peft)."""
    if hasattr(model, "merge_and_unload"):
        _replace_dir(out / "adapter", lambda tmp: model.save_pretrained(tmp))
        to_save = copy.deepcopy(model).merge_and_unload()
    else:
        to_save = model

    def write(tmp: Path) -> None:
        to_save.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    return _replace_dir(out / "final", write)


def _replace_dir(target: Path, write: Any) -> Path:
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    write(tmp)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target
