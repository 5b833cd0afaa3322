"""Training configuration: dataclasses loaded from TOML, with ``--set key=value`` overrides.

Every field carries its documentation in ``metadata["help"]`` (``docs/trainer.md`` shows them as
a table and a test keeps the two in sync). :meth:`validate` raises :class:`ConfigError` with a
message that says how to fix the value, TRL style.

A config file holds either the fields at top level or a ``[train]`` (GRPO) / ``[sft]`` table, so
one ``pivotrl run`` TOML can carry both.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["ModelConfig", "SFTConfig", "TrainConfig", "field_docs", "load_config", "parse_overrides"]


def _f(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with its documentation."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class ModelConfig:
    """Fields shared by GRPO and SFT: the model, what is trained, the optimiser, checkpoints."""

    model: str = _f("smollm2-135m", "Policy to start from: a built-in name, a local folder or a hub id.")
    device: str = _f("cpu", "Torch device (`cpu`, `cuda`, `cuda:1`).")
    dtype: Literal["float32", "bfloat16", "float16"] = _f(
        "float32", "Parameter dtype. Keep float32 on CPU (bf16 matmuls are slow there)."
    )
    num_threads: int = _f(
        0, "Torch CPU threads (0 = torch's default; 1 is faster on a machine shared with other jobs)."
    )
    seed: int = _f(0, "Seed of data order, sampling and initialisation (LoRA).")
    max_steps: int = _f(20, "Optimiser steps to run (GRPO: one step = one batch of pivots).")
    lr: float = _f(1e-5, "AdamW learning rate (constant after warm-up).")
    lr_warmup_steps: int = _f(0, "Linear learning-rate warm-up from 0 over this many steps.")
    weight_decay: float = _f(0.0, "AdamW weight decay.")
    adam_beta1: float = _f(0.9, "AdamW beta1.")
    adam_beta2: float = _f(0.999, "AdamW beta2.")
    adam_eps: float = _f(1e-8, "AdamW epsilon.")
    grad_clip: float = _f(1.0, "Clip the global gradient norm to this value (0 disables clipping).")
    train_top_n_layers: int = _f(
        0, "Train only the top N decoder layers and the final norm, freeze the rest (0 = train all)."
    )
    lora: bool = _f(False, "Train LoRA adapters (peft) instead of the weights; merged into `final/`.")
    lora_r: int = _f(16, "LoRA rank.")
    lora_alpha: int = _f(32, "LoRA alpha (scale = alpha / r).")
    lora_dropout: float = _f(0.0, "LoRA dropout (keep 0 for bit-for-bit resume).")
    lora_target_modules: list[str] = _f(
        ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj", "gate_proj"],
        "Module names that get LoRA adapters.",
    )
    max_prompt_tokens: int = _f(
        2048, "Longest prompt; longer prefixes lose their oldest turns (system prompt and tools kept)."
    )
    save_every: int = _f(10, "Write a checkpoint every N steps (and always at the end).")
    keep_checkpoints: int = _f(2, "How many step checkpoints to keep (older ones are deleted).")
    tensorboard: bool = _f(True, "Also log metrics to TensorBoard when `tensorboard` is installed.")
    progress: bool = _f(True, "Show a progress bar.")

    # -- checks -----------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the field and how to fix it."""
        _check(
            self.num_threads >= 0,
            "num_threads",
            self.num_threads,
            "must be >= 0 (0 = default)",
            "num_threads = 0",
        )
        _check(self.lr > 0, "lr", self.lr, "must be > 0", "lr = 1e-5")
        _check(
            self.lr_warmup_steps >= 0,
            "lr_warmup_steps",
            self.lr_warmup_steps,
            "must be >= 0",
            "lr_warmup_steps = 0",
        )
        _check(
            self.weight_decay >= 0, "weight_decay", self.weight_decay, "must be >= 0", "weight_decay = 0.0"
        )
        for name in ("adam_beta1", "adam_beta2"):
            v = getattr(self, name)
            _check(0 <= v < 1, name, v, "must be in [0, 1)", f"{name} = 0.9")
        _check(
            self.grad_clip >= 0, "grad_clip", self.grad_clip, "must be >= 0 (0 disables)", "grad_clip = 1.0"
        )
        _check(
            self.train_top_n_layers >= 0,
            "train_top_n_layers",
            self.train_top_n_layers,
            "must be >= 0 (0 trains every layer)",
            "train_top_n_layers = 4",
        )
        _check(
            not (self.lora and self.train_top_n_layers),
            "lora",
            self.lora,
            "cannot be combined with train_top_n_layers; choose one way to cut the cost",
            "train_top_n_layers = 0",
        )
        _check(self.lora_r >= 1, "lora_r", self.lora_r, "must be >= 1", "lora_r = 16")
        _check(
            bool(self.lora_target_modules),
            "lora_target_modules",
            self.lora_target_modules,
            "must name at least one module",
            'lora_target_modules = ["q_proj", "v_proj"]',
        )
        _check(
            self.max_prompt_tokens >= 16,
            "max_prompt_tokens",
            self.max_prompt_tokens,
            "must be >= 16",
            "max_prompt_tokens = 2048",
        )
        _check(self.save_every >= 1, "save_every", self.save_every, "must be >= 1", "save_every = 10")
        _check(
            self.keep_checkpoints >= 1,
            "keep_checkpoints",
            self.keep_checkpoints,
            "must be >= 1",
            "keep_checkpoints = 2",
        )
        _check(
            self.device == "cpu" or self.device.startswith(("cuda", "mps")),
            "device",
            self.device,
            "must be cpu, cuda[:N] or mps",
            'device = "cpu"',
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainConfig(ModelConfig):
    """Turn-level GRPO on pivots (``pivotrl train``)."""

    lr: float = _f(1e-5, "AdamW learning rate (constant after warm-up). Public recipes use 1e-6 at scale.")
    domain: str | None = _f(
        None, "Use this domain's verifier for every pivot (default: each pivot's own domain)."
    )
    verifier: str | None = _f(None, "Use this registered verifier instead of the domain's default.")
    verifier_options: dict[str, Any] = _f({}, "Options passed to the verifier (merged over the domain's).")
    batch_pivots: int = _f(4, "B: pivots per step.")
    group_size: int = _f(8, "G: actions sampled per pivot from the current policy (>= 2).")
    max_new_tokens: int = _f(64, "Longest sampled action, in tokens (a truncated action is scored as it is).")
    temperature: float = _f(1.0, "Sampling temperature; log-probabilities are of the tempered distribution.")
    top_p: float = _f(1.0, "Nucleus sampling threshold (1.0 = off).")
    advantage: Literal["group_norm", "loo", "mean"] = _f(
        "group_norm",
        "`group_norm`: (r - mean) / (std + eps) as in the paper; `loo`: r minus the mean of the "
        "other samples (NeMo RL); `mean`: r - mean (Dr. GRPO, no std division).",
    )
    adv_eps: float = _f(1e-4, "eps in the group_norm denominator.")
    clip_eps_low: float = _f(0.2, "Lower clip: the ratio is clipped below at 1 - clip_eps_low.")
    clip_eps_high: float = _f(
        0.2, "Upper clip: the ratio is clipped above at 1 + clip_eps_high (0.28 = DAPO)."
    )
    kl_beta: float = _f(
        0.0, "Weight of the k3 KL(pi_theta || pi_0) penalty to the frozen reference (0 = off)."
    )
    reference: str | None = _f(None, "Reference policy pi_0 for the KL term (default: `model`).")
    entropy_coef: float = _f(0.0, "Entropy bonus weight (0 = off; entropy is always logged).")
    ppo_epochs: int = _f(
        2, "Optimisation passes over each sampled batch (ratios use sampling-time log-probs)."
    )
    num_minibatches: int = _f(
        1, "Optimiser steps per pass: the batch's groups are split into this many parts."
    )
    loss_agg: Literal["token", "sequence"] = _f(
        "token",
        "`token`: mean over all completion tokens of the minibatch (DAPO, public recipes); "
        "`sequence`: mean over sequences of each sequence's token mean (original GRPO).",
    )
    message_pivot_weight: float = _f(
        1.0,
        "Loss weight of pivots whose demonstration is a plain message (down-weight to curb 'any text passes').",
    )
    frozen_cache_mb: int = _f(
        1024,
        "With train_top_n_layers: memory (MiB) for the frozen layers' prompt blocks, kept across "
        "steps so a pivot seen again runs those layers only for tokens not seen before (0 = off).",
    )
    skip_zero_advantage: bool = _f(
        True,
        "Skip the forward/backward of groups whose advantages are all 0 (exact when kl_beta and entropy_coef are 0).",
    )
    refresh: bool = _f(
        False, "Pivot refresh: re-profile the pool with the current policy when groups go flat."
    )
    refresh_window: int = _f(5, "Steps over which the zero-variance fraction is averaged.")
    refresh_threshold: float = _f(0.75, "Refresh when the window's mean zero-variance fraction exceeds this.")
    refresh_k: int = _f(8, "Samples per candidate when re-profiling.")
    refresh_max_mean: float = _f(
        0.6, "lambda: keep re-profiled candidates with mean < this (and variance > 0)."
    )
    refresh_pool: str | None = _f(None, "Candidates JSONL to re-profile (default: the pivots file itself).")
    refresh_max_candidates: int = _f(
        64, "Re-profile at most this many pool candidates per refresh (a seeded sample)."
    )
    refresh_cooldown: int = _f(5, "Steps after a refresh before another may happen.")

    def validate(self) -> None:
        super().validate()
        _check(self.max_steps >= 1, "max_steps", self.max_steps, "must be >= 1", "max_steps = 20")
        _check(self.batch_pivots >= 1, "batch_pivots", self.batch_pivots, "must be >= 1", "batch_pivots = 4")
        _check(
            self.group_size >= 2,
            "group_size",
            self.group_size,
            "must be >= 2: GRPO compares samples within a group",
            "group_size = 8",
        )
        _check(
            self.max_new_tokens >= 1,
            "max_new_tokens",
            self.max_new_tokens,
            "must be >= 1",
            "max_new_tokens = 64",
        )
        _check(
            self.temperature > 0,
            "temperature",
            self.temperature,
            "must be > 0 (greedy sampling gives identical samples and no signal)",
            "temperature = 1.0",
        )
        _check(0 < self.top_p <= 1, "top_p", self.top_p, "must be in (0, 1]", "top_p = 1.0")
        _check(self.adv_eps > 0, "adv_eps", self.adv_eps, "must be > 0", "adv_eps = 1e-4")
        _check(
            0 < self.clip_eps_low < 1,
            "clip_eps_low",
            self.clip_eps_low,
            "must be in (0, 1)",
            "clip_eps_low = 0.2",
        )
        _check(
            self.clip_eps_high > 0, "clip_eps_high", self.clip_eps_high, "must be > 0", "clip_eps_high = 0.2"
        )
        _check(self.kl_beta >= 0, "kl_beta", self.kl_beta, "must be >= 0", "kl_beta = 0.0")
        _check(
            self.entropy_coef >= 0, "entropy_coef", self.entropy_coef, "must be >= 0", "entropy_coef = 0.0"
        )
        _check(self.ppo_epochs >= 1, "ppo_epochs", self.ppo_epochs, "must be >= 1", "ppo_epochs = 2")
        _check(
            1 <= self.num_minibatches <= self.batch_pivots,
            "num_minibatches",
            self.num_minibatches,
            f"must be between 1 and batch_pivots ({self.batch_pivots})",
            "num_minibatches = 1",
        )
        _check(
            self.message_pivot_weight >= 0,
            "message_pivot_weight",
            self.message_pivot_weight,
            "must be >= 0",
            "message_pivot_weight = 1.0",
        )
        _check(
            self.frozen_cache_mb >= 0,
            "frozen_cache_mb",
            self.frozen_cache_mb,
            "must be >= 0 (0 = off)",
            "frozen_cache_mb = 1024",
        )
        _check(
            self.refresh_window >= 1,
            "refresh_window",
            self.refresh_window,
            "must be >= 1",
            "refresh_window = 5",
        )
        _check(
            0 <= self.refresh_threshold <= 1,
            "refresh_threshold",
            self.refresh_threshold,
            "is a fraction of groups, in [0, 1]",
            "refresh_threshold = 0.75",
        )
        _check(
            self.refresh_k >= 2,
            "refresh_k",
            self.refresh_k,
            "must be >= 2 (variance needs two samples)",
            "refresh_k = 8",
        )
        _check(
            0 < self.refresh_max_mean <= 1,
            "refresh_max_mean",
            self.refresh_max_mean,
            "must be in (0, 1]",
            "refresh_max_mean = 0.6",
        )
        _check(
            self.refresh_max_candidates >= 1,
            "refresh_max_candidates",
            self.refresh_max_candidates,
            "must be >= 1",
            "refresh_max_candidates = 64",
        )
        _check(
            self.refresh_cooldown >= 0,
            "refresh_cooldown",
            self.refresh_cooldown,
            "must be >= 0",
            "refresh_cooldown = 5",
        )


@dataclass
class SFTConfig(ModelConfig):
    """The SFT baseline (``pivotrl sft``): cross-entropy on assistant tokens only."""

    max_steps: int = _f(0, "Optimiser steps to run (0 = run `epochs` full passes over the data).")
    epochs: float = _f(1.0, "Passes over the data when max_steps is 0 (fractions allowed).")
    batch_size: int = _f(8, "Sequences per optimiser step.")
    micro_batch_size: int = _f(4, "Sequences per forward/backward (gradient accumulation in between).")
    max_seq_tokens: int = _f(
        2048,
        "Longest training sequence; a longer trajectory is split into per-turn sequences whose oldest turns are dropped.",
    )
    pack: Literal["trajectory", "turn"] = _f(
        "trajectory",
        "`trajectory`: one sequence per trajectory with every assistant turn as a target (cheap); "
        "`turn`: one sequence per candidate (the exact prompt PivotRL sees).",
    )
    lr: float = _f(2e-5, "AdamW learning rate (constant after warm-up).")

    def validate(self) -> None:
        super().validate()
        _check(
            self.max_steps >= 0, "max_steps", self.max_steps, "must be >= 0 (0 = use epochs)", "max_steps = 0"
        )
        _check(self.epochs > 0, "epochs", self.epochs, "must be > 0", "epochs = 1")
        _check(self.batch_size >= 1, "batch_size", self.batch_size, "must be >= 1", "batch_size = 8")
        _check(
            1 <= self.micro_batch_size <= self.batch_size,
            "micro_batch_size",
            self.micro_batch_size,
            f"must be between 1 and batch_size ({self.batch_size})",
            "micro_batch_size = 4",
        )
        _check(
            self.max_seq_tokens >= 16,
            "max_seq_tokens",
            self.max_seq_tokens,
            "must be >= 16",
            "max_seq_tokens = 2048",
        )


# -- loading ----------------------------------------------------------------------------------


def _check(ok: bool, name: str, value: Any, problem: str, fix: str) -> None:
    if not ok:
        raise ConfigError(
            f"{name} = {value!r} {problem}. Fix it in the config file ({fix}) or with --set {fix.replace(' = ', '=')}."
        )


def field_docs(cls: type) -> list[tuple[str, str, Any, str]]:
    """``(name, type, default, help)`` of every field of a config class, in order."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        out.append((f.name, _type_name(hints[f.name]), default, f.metadata.get("help", "")))
    return out


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _coerce(name: str, tp: Any, value: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (ints become floats where needed)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(name, a, value)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0])
    if origin is Literal:
        if value not in args:
            close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
            pick = close[0] if close else args[0]
            raise ConfigError(
                f"{name} = {value!r} is not one of {', '.join(repr(a) for a in args)}. "
                f"Fix it in the config file or with e.g. --set {name}={pick}."
            )
        return value
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }
    base = origin or tp
    if base in ok:
        if not ok[base]:
            raise ConfigError(
                f"{name} = {value!r} must be a {base.__name__}. "
                f"Fix it in the config file or with --set {name}=<{base.__name__}>."
            )
        return float(value) if base is float else value
    if base is list:
        if not isinstance(value, list):
            raise ConfigError(f'{name} = {value!r} must be a list, e.g. --set \'{name}=["a", "b"]\'.')
        return [_coerce(f"{name}[{i}]", args[0], v) for i, v in enumerate(value)] if args else value
    if base is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name} = {value!r} must be a table, e.g. --set '{name}={{threshold = 0.1}}'.")
        return dict(value)
    return value


def _parse_value(raw: str) -> Any:
    """A TOML value (``1e-5``, ``true``, ``"x"``, ``[1, 2]``, ``{a = 1}``); bare words are strings."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Turn ``["lr=1e-5", "lora=true"]`` into a dict; dotted keys ``a.b=1`` set nested tables."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} must look like key=value, e.g. --set lr=1e-5")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"--set {item!r} has an empty key; use e.g. --set lr=1e-5")
        target = out
        parts = key.split(".")
        for p in parts[:-1]:
            target = target.setdefault(p, {})
        target[parts[-1]] = _parse_value(raw.strip())
    return out


def _from_mapping(cls: type, data: Mapping[str, Any], source: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in hints:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"{source}: unknown {cls.__name__} field '{key}'{hint} "
                f"Known fields are listed in docs/trainer.md."
            )
        kwargs[key] = _coerce(key, hints[key], value)
    cfg = cls(**kwargs)
    cfg.validate()
    return cfg


def load_config(
    cls: type,
    path: str | Path | None = None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    section: str | None = None,
) -> Any:
    """Build ``cls`` (TrainConfig or SFTConfig) from a TOML file and overrides, then validate.

    ``section`` (default ``train`` for TrainConfig, ``sft`` for SFTConfig) names the table to read
    when the file has one; otherwise the file's top-level keys are the fields.
    """
    section = section or ("sft" if cls is SFTConfig else "train")
    data: dict[str, Any] = {}
    source = "config"
    if path is not None:
        p = Path(path)
        source = str(p)
        if not p.exists():
            raise ConfigError(f"config file {p} does not exist; pass an existing TOML file to --config")
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: invalid TOML ({e}); check the line it names") from None
        data = dict(doc[section]) if isinstance(doc.get(section), dict) else doc
    over = dict(overrides) if isinstance(overrides, Mapping) else parse_overrides(overrides)
    if over:
        source = f"{source} / --set"
    data.update(over)
    return _from_mapping(cls, data, source)


def config_from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Build and validate a config from a plain dict (e.g. a saved ``config.json``)."""
    return _from_mapping(cls, data, "config")


def dump_json(cfg: Any) -> str:
    return json.dumps(dataclasses.asdict(cfg), indent=2, sort_keys=True)
