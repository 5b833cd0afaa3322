"""``Domain("swe").warmup``: a short SFT that teaches a small model the SWE tool-call format.

SmolLM2-135M as shipped emits no tool calls, so every sampled turn fails and no candidate is a
pivot. The warm-up fine-tunes the base model (the core's SFT trainer) on expert episodes of the
``warmup`` task split (disjoint from ``train``/``validation``/``heldout``), so pi_0 knows the format:
one sequence per turn (``pack = "turn"``), its prompt cut to the history window exactly as
profiling, training and the benchmark's policy will see it (:mod:`.history`). The result is
cached under ``<cache>/warmup/swe-<hash>`` (the hash covers every setting, the base model and the
core's prompt rendering version) and built once, under a file lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pivotrl_core
from pivotrl_core import ConfigError, ExtractOptions, write_jsonl

from .extract import extract_swe
from .generate import generate_expert

__all__ = ["WarmupSettings", "warmup", "warmup_dir"]


@dataclass(frozen=True)
class WarmupSettings:
    """What the warm-up trains on and how (every field enters the cache key; ``tool_format`` only
    when set: ``None`` teaches the base model's own format, detected from its chat template)."""

    base_model: str = "smollm2-135m"
    n_trajectories: int = 16
    seed: int = 0
    lr: float = 2e-4
    epochs: float = 1.0
    batch_size: int = 4
    micro_batch_size: int = 1
    train_top_n_layers: int = 10
    max_seq_tokens: int = 1536
    tool_format: str | None = None

    def key(self) -> str:
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k != "tool_format" or v is not None}
        blob = json.dumps({**fields, "render": pivotrl_core.RENDER_VERSION, "recipe": 2}, sort_keys=True)
        return hashlib.blake2b(blob.encode(), digest_size=6).hexdigest()


def warmup_dir(settings: WarmupSettings) -> Path:
    return pivotrl_core.cache_dir() / "warmup" / f"swe-{settings.key()}"


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _build(target: Path, settings: WarmupSettings, progress: bool) -> None:
    work = target.with_name(f".build-{target.name}")
    work.mkdir(parents=True, exist_ok=True)
    data = work / "candidates.jsonl"
    if not data.exists():  # one example per turn, windowed as pi_0 will see it (.history)
        demos = generate_expert(settings.n_trajectories, settings.seed, "warmup")  # type: ignore[arg-type]
        opts = ExtractOptions(domain="swe")
        write_jsonl(data, [c.to_dict() for t in demos for c in extract_swe(t, opts)])
    fields = (
        "lr",
        "epochs",
        "batch_size",
        "micro_batch_size",
        "train_top_n_layers",
        "max_seq_tokens",
        "seed",
        "tool_format",
    )
    overrides = {f: getattr(settings, f) for f in fields}
    cfg = pivotrl_core.load_config(
        pivotrl_core.SFTConfig,
        overrides={
            "model": settings.base_model,
            **overrides,
            "pack": "turn",
            "save_every": 2,
            "keep_checkpoints": 1,
            "progress": progress,
            "tensorboard": False,
        },
    )
    start = time.perf_counter()
    run = work / "run"
    final = pivotrl_core.train_sft(cfg, [data], run, resume=(run / "checkpoints").exists())
    rows = pivotrl_core.read_metrics(run / "metrics.jsonl")
    info = {
        "settings": dataclasses.asdict(settings),
        "seconds": round(time.perf_counter() - start, 1),
        "steps": len(rows),
        "loss_first": rows[0]["loss"] if rows else None,
        "loss_last": rows[-1]["loss"] if rows else None,
    }
    (final / "warmup.json").write_text(json.dumps(info, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    final.rename(target)
    shutil.rmtree(work, ignore_errors=True)


def warmup(model: str, force: bool = False, progress: bool = True, **options: Any) -> Path:
    """The folder of ``model`` after the SWE format warm-up (built once, cached); ``options`` are
    :class:`WarmupSettings` fields."""
    known = {f.name for f in dataclasses.fields(WarmupSettings)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"unknown swe warm-up setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    settings = WarmupSettings(base_model=model, **options)
    target = warmup_dir(settings)
    with _lock(target.with_name(target.name + ".lock")):
        if force or not (target / "warmup.json").exists():
            _build(target, settings, progress)
    return target
