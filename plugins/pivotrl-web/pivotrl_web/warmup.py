"""``Domain("web").warmup``: a short SFT that teaches a small model this domain's tool-call format.

SmolLM2-135M as shipped answers a banking prompt with prose, so every sampled turn fails and no
candidate is a pivot. The warm-up fine-tunes the base model with the core's SFT trainer on the
expert's episodes of the ``warmup`` task split (disjoint from ``train``, ``validation`` and
``heldout``). Its trajectories carry the prompt caps of :mod:`pivotrl_web.prompts` on every
message (brief and tool outputs cut as in the candidates) and are packed one sequence per
episode, every assistant turn a target: the history depth differs from a capped candidate's,
but one packed pass costs about a sixth of per-turn sequences. The result is cached under
``<cache>/warmup/web-<hash>`` (the hash covers every setting, the caps and the core's prompt
rendering version), built once under a file lock (``filelock``) and reused afterwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filelock

import pivotrl_core
from pivotrl_core import ConfigError, Trajectory, write_jsonl

from .generate import generate
from .prompts import DEFAULT_CAPS, PromptCaps, cap_messages

__all__ = ["WarmupSettings", "warmup", "warmup_dir"]

_RECIPE = 1


@dataclass(frozen=True)
class WarmupSettings:
    """What the warm-up trains on and how; every field enters the cache key (``tool_format`` only
    when set: ``None`` teaches the base model's own format). ``sft`` holds any other
    :class:`pivotrl_core.SFTConfig` field, passed through."""

    base_model: str = "smollm2-135m"
    n_trajectories: int = 7
    seed: int = 0
    epochs: float = 2.0
    lr: float = 2e-4
    batch_size: int = 1
    micro_batch_size: int = 1
    train_top_n_layers: int = 10
    max_seq_tokens: int = 8192
    tool_format: str | None = None
    sft: dict[str, Any] = field(default_factory=dict)

    def key(self, caps: PromptCaps = DEFAULT_CAPS) -> str:
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k != "tool_format" or v}
        blob = {
            **fields,
            "caps": dataclasses.asdict(caps),
            "render": pivotrl_core.RENDER_VERSION,
            "recipe": _RECIPE,
        }
        return hashlib.blake2b(json.dumps(blob, sort_keys=True).encode(), digest_size=6).hexdigest()

    @classmethod
    def of(cls, model: str, options: dict[str, Any]) -> WarmupSettings:
        """Settings from ``[model] warmup_options``; an unknown name is a :class:`ConfigError`."""
        known = {f.name for f in dataclasses.fields(cls)} - {"base_model"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"unknown web warm-up setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(base_model=model, **options)


def warmup_dir(settings: WarmupSettings) -> Path:
    """Where the warmed model of ``settings`` is (or will be) cached."""
    return pivotrl_core.cache_dir() / "warmup" / f"web-{settings.key()}"


def _capped(traj: Trajectory) -> Trajectory:
    """Per-message caps (brief, tool outputs, replies) on the whole episode; no history cut."""
    caps = dataclasses.replace(DEFAULT_CAPS, max_turns=-1)
    return dataclasses.replace(traj, messages=cap_messages(traj.messages, caps))


def _train(work: Path, settings: WarmupSettings, progress: bool) -> tuple[Path, dict[str, Any]]:
    data = work / "trajectories.jsonl"
    if not data.exists():
        demos = generate(settings.n_trajectories, settings.seed, "warmup")  # type: ignore[arg-type]
        write_jsonl(data, [_capped(t).to_dict() for t in demos])
    names = ("lr", "epochs", "batch_size", "micro_batch_size", "train_top_n_layers", "max_seq_tokens")
    overrides = {
        **{n: getattr(settings, n) for n in names},
        "model": settings.base_model,
        "seed": settings.seed,
        **({"tool_format": settings.tool_format} if settings.tool_format else {}),
        "pack": "trajectory",
        "save_every": 2,
        "keep_checkpoints": 1,
        "progress": progress,
        "tensorboard": False,
        **settings.sft,  # any other SFTConfig field, or a default above replaced
    }
    cfg = pivotrl_core.load_config(pivotrl_core.SFTConfig, overrides=overrides)
    run = work / "run"
    start = time.perf_counter()
    final = pivotrl_core.train_sft(cfg, [data], run, resume=(run / "checkpoints").exists())
    rows = pivotrl_core.read_metrics(run / "metrics.jsonl")
    return final, {
        "settings": dataclasses.asdict(settings),
        "caps": dataclasses.asdict(DEFAULT_CAPS),
        "seconds": round(time.perf_counter() - start, 1),
        "steps": len(rows),
        "loss_first": rows[0]["loss"] if rows else None,
        "loss_last": rows[-1]["loss"] if rows else None,
    }


def warmup(model: str, force: bool = False, progress: bool = True, **options: Any) -> Path:
    """The folder of ``model`` after the web format warm-up (built once, then reused).

    ``options`` are :class:`WarmupSettings` fields; ``force`` rebuilds. An interrupted build
    resumes from its last checkpoint.
    """
    settings = WarmupSettings.of(model, options)
    target = warmup_dir(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(target) + ".lock"):
        if force or not (target / "warmup.json").exists():
            work = target.with_name(f".build-{target.name}")
            work.mkdir(parents=True, exist_ok=True)
            final, info = _train(work, settings, progress)
            (final / "warmup.json").write_text(json.dumps(info, indent=2))
            shutil.rmtree(target, ignore_errors=True)
            final.rename(target)
            shutil.rmtree(work, ignore_errors=True)
    return target
