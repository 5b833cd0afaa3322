"""The tool-use format warm-up: a short SFT that teaches a small model the ``<tool_call>`` format.

SmolLM2-135M-Instruct as shipped emits no tool calls. The warm-up fine-tunes it (the SFT
baseline, :func:`pivotrl_core.train.sft.train_sft`) on expert trajectories of a separate task
split (``warmup``; the quickstart trains on ``train`` and evaluates on ``eval``, disjoint seed
streams), so the reference policy pi_0 knows the format and has mixed outcomes on harder turns:
that is what makes pivots. The result is cached under ``<cache>/warmup/tool-use-<hash>`` where
the hash covers every setting, the base model, the world version and the core's prompt
rendering version; it is built once (under a
file lock; an interrupted build resumes from its last checkpoint) and reused afterwards.

Run it by hand with ``python -m pivotrl_tool_use.warmup [--force]``.
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
from pivotrl_core import ConfigError, write_jsonl

from .generate import generate_trajectories
from .world import WORLD_VERSION

__all__ = ["WarmupSettings", "warmup", "warmup_dir", "warmup_model"]


@dataclass(frozen=True)
class WarmupSettings:
    """What the warm-up trains on and how (every field enters the cache key; ``tool_format`` only
    when set: ``None`` teaches the base model's own format, detected from its chat template)."""

    base_model: str = "smollm2-135m"
    n_trajectories: int = 40
    seed: int = 0
    split: str = "warmup"
    lr: float = 2e-4
    epochs: float = 1.0
    batch_size: int = 4
    micro_batch_size: int = 2
    train_top_n_layers: int = 10
    max_seq_tokens: int = 2048
    tool_format: str | None = None

    def key(self) -> str:
        render = pivotrl_core.RENDER_VERSION  # lazy: the chat renderer loads on first use
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k != "tool_format" or v is not None}
        blob = json.dumps(
            {**fields, "world": WORLD_VERSION, "render": render, "recipe": 1},
            sort_keys=True,
        )
        return hashlib.blake2b(blob.encode(), digest_size=6).hexdigest()


def warmup_dir(settings: WarmupSettings | None = None) -> Path:
    """Where the warmed model of ``settings`` is (or will be) cached."""
    settings = settings or WarmupSettings()
    return pivotrl_core.cache_dir() / "warmup" / f"tool-use-{settings.key()}"


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_trajectories(path: Path, settings: WarmupSettings) -> None:
    write_jsonl(path, generate_trajectories(settings.n_trajectories, settings.seed, split=settings.split))


def _build(target: Path, settings: WarmupSettings, progress: bool) -> dict[str, Any]:
    # the trainer (torch) is reached through pivotrl_core's lazy names: loaded only when building
    work = target.with_name(f".build-{target.name}")
    work.mkdir(parents=True, exist_ok=True)
    data = work / "trajectories.jsonl"
    if not data.exists():
        _write_trajectories(data, settings)
    cfg = pivotrl_core.load_config(
        pivotrl_core.SFTConfig,
        overrides={
            "model": settings.base_model,
            "lr": settings.lr,
            "epochs": settings.epochs,
            "batch_size": settings.batch_size,
            "micro_batch_size": settings.micro_batch_size,
            "train_top_n_layers": settings.train_top_n_layers,
            "max_seq_tokens": settings.max_seq_tokens,
            "tool_format": settings.tool_format,
            "seed": settings.seed,
            "save_every": 2,
            "keep_checkpoints": 1,
            "progress": progress,
            "tensorboard": False,
        },
    )
    run = work / "run"
    start = time.perf_counter()
    final = pivotrl_core.train_sft(cfg, [data], run, resume=(run / "checkpoints").exists())
    rows = pivotrl_core.read_metrics(run / "metrics.jsonl")
    info = {
        "settings": dataclasses.asdict(settings),
        "key": settings.key(),
        "seconds": round(time.perf_counter() - start, 1),
        "train_seconds": round(sum(r["step_time"] for r in rows), 1),
        "steps": len(rows),
        "examples": rows[-1]["examples"] if rows else 0,
        "loss_first": rows[0]["loss"] if rows else None,
        "loss_last": rows[-1]["loss"] if rows else None,
    }
    (final / "warmup.json").write_text(json.dumps(info, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    final.rename(target)
    shutil.rmtree(work, ignore_errors=True)
    return info


def warmup_model(
    settings: WarmupSettings | None = None,
    *,
    model: str | None = None,
    force: bool = False,
    progress: bool = True,
    **overrides: Any,
) -> str:
    """Return the folder of the format-warmed model, building it on first use.

    ``model`` (the base model) and ``overrides`` (any :class:`WarmupSettings` field, e.g.
    ``n_trajectories=24``) adjust the default settings; ``force`` rebuilds.
    """
    settings = settings or WarmupSettings()
    if model is not None:
        overrides["base_model"] = model
    if overrides:
        unknown = set(overrides) - {f.name for f in dataclasses.fields(WarmupSettings)}
        if unknown:
            raise ConfigError(
                f"unknown warm-up setting(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(f.name for f in dataclasses.fields(WarmupSettings))}"
            )
        settings = dataclasses.replace(settings, **overrides)
    target = warmup_dir(settings)
    if (target / "warmup.json").exists() and not force:
        return str(target)
    with _lock(target.with_name(target.name + ".lock")):
        if force or not (target / "warmup.json").exists():
            _build(target, settings, progress)
    return str(target)


def warmup(model: str, **options: Any) -> Path:
    """``Domain.warmup``: the folder of ``model`` after the format warm-up (built once, cached).

    ``options`` are :class:`WarmupSettings` fields (e.g. ``n_trajectories=24``) and ``force``/``progress``.
    """
    return Path(warmup_model(model=model, **options))


def main(argv: list[str] | None = None) -> None:
    """``python -m pivotrl_tool_use.warmup [--force]``: build (or find) the warmed model."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    path = warmup_model(force="--force" in args)
    print(path)
    print((Path(path) / "warmup.json").read_text())


if __name__ == "__main__":
    main()
