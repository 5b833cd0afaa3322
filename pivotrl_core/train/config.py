"""Training configuration: dataclasses loaded from TOML, with ``--set key=value`` overrides.

Every field carries its documentation in ``metadata["help"]`` (``docs/trainer.md`` shows them as
a table and a test keeps the two in sync). :meth:`validate` raises :class:`ConfigError` with a
message that says how to fix the value, TRL style.

A config file holds either the fields at top level or a ``[train]`` (GRPO) / ``[sft]`` table (the
class's ``toml_section``), so one ``pivotrl run`` TOML can carry both; loading is
:mod:`.config_load`'s (re-exported here).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from dataclasses import dataclass
from typing import Any, Literal

from ..policies.tool_formats import get_tool_format
from .config_fields import check, check_finite, doc_field, field_docs
from .config_load import config_from_dict, dump_json, load_config, parse_overrides

__all__ = ["ModelConfig", "SFTConfig", "TrainConfig", "field_docs", "load_config", "parse_overrides"]
__all__ += ["config_from_dict", "dump_json"]


_f = doc_field
_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def _rules(cfg: Any, *rules: tuple[str, bool, str, str]) -> None:
    """``(field, ok, problem, fix)`` rules: the first one that fails raises a :class:`ConfigError`."""
    for name, ok, problem, fix in rules:
        check(ok, name, getattr(cfg, name), problem, fix)


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
    lora: bool = _f(
        False, "Train LoRA adapters (peft) instead of the weights; merged into `final/`, kept in `adapter/`."
    )
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
    tool_format: str | None = _f(
        None,
        "Tool-call format of the model (default: detected from the chat template): `sft` writes the "
        "demonstrations' calls in it, `train` renders earlier calls and parses sampled actions with it.",
    )
    save_every: int = _f(10, "Write a checkpoint every N steps (and always at the end).")
    keep_checkpoints: int = _f(2, "How many step checkpoints to keep (older ones are deleted).")
    tensorboard: bool = _f(True, "Also log metrics to TensorBoard when `tensorboard` is installed.")
    tracker: Literal["none", "wandb"] = _f(
        "none", "Also send metrics to this experiment tracker (`wandb`: needs `pip install wandb`)."
    )
    tracker_project: str = _f("pivotrl", "Tracker project name (W&B project).")
    progress: bool = _f(True, "Show a progress bar.")

    # -- checks -----------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the field and how to fix it."""
        check_finite(self)
        _rules(
            self,
            ("num_threads", self.num_threads >= 0, "must be >= 0 (0 = default)", "num_threads = 0"),
            ("seed", 0 <= self.seed < 2**32, "must be in [0, 2**32)", "seed = 0"),
            ("lr", self.lr > 0, "must be > 0", "lr = 1e-5"),
            ("lr_warmup_steps", self.lr_warmup_steps >= 0, "must be >= 0", "lr_warmup_steps = 0"),
            ("weight_decay", self.weight_decay >= 0, "must be >= 0", "weight_decay = 0.0"),
            ("adam_beta1", 0 <= self.adam_beta1 < 1, "must be in [0, 1)", "adam_beta1 = 0.9"),
            ("adam_beta2", 0 <= self.adam_beta2 < 1, "must be in [0, 1)", "adam_beta2 = 0.999"),
            ("adam_eps", self.adam_eps > 0, "must be > 0", "adam_eps = 1e-8"),
            ("grad_clip", self.grad_clip >= 0, "must be >= 0 (0 disables)", "grad_clip = 1.0"),
            (
                "train_top_n_layers",
                self.train_top_n_layers >= 0,
                "must be >= 0 (0 trains every layer)",
                "train_top_n_layers = 4",
            ),
            (
                "lora",
                not (self.lora and self.train_top_n_layers),
                "cannot be combined with train_top_n_layers; choose one way to cut the cost",
                "train_top_n_layers = 0",
            ),
            ("lora_r", self.lora_r >= 1, "must be >= 1", "lora_r = 16"),
            ("lora_alpha", self.lora_alpha >= 1, "must be >= 1", "lora_alpha = 32"),
            ("lora_dropout", 0 <= self.lora_dropout < 1, "must be in [0, 1)", "lora_dropout = 0.0"),
            (
                "lora_target_modules",
                bool(self.lora_target_modules),
                "must name at least one module",
                'lora_target_modules = ["q_proj", "v_proj"]',
            ),
            ("max_prompt_tokens", self.max_prompt_tokens >= 16, "must be >= 16", "max_prompt_tokens = 2048"),
            ("save_every", self.save_every >= 1, "must be >= 1", "save_every = 10"),
            ("keep_checkpoints", self.keep_checkpoints >= 1, "must be >= 1", "keep_checkpoints = 2"),
            (
                "device",
                bool(_DEVICE.match(self.device)),
                "must be cpu, cuda, cuda:N or mps",
                'device = "cpu"',
            ),
            (
                "tracker",
                self.tracker != "wandb" or importlib.util.find_spec("wandb") is not None,
                "needs the wandb package (pip install 'pivotrl-core[wandb]')",
                'tracker = "none"',
            ),
        )

    def check_names(self) -> None:
        """Check the names plugins may register (``tool_format``) when a run starts, once plugins are
        loaded: :class:`~pivotrl_core.errors.UnknownNameError` (exit 2) with "did you mean"."""
        if self.tool_format:
            get_tool_format(self.tool_format)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainConfig(ModelConfig):
    """Turn-level GRPO on pivots (``pivotrl train``)."""

    toml_section = "train"  # the table read from a config file (not a field)

    lr: float = _f(1e-5, "AdamW learning rate (constant after warm-up). Public recipes use 1e-6 at scale.")
    domain: str | None = _f(
        None, "Use this domain's verifier for every pivot (default: each pivot's own domain)."
    )
    verifier: str | None = _f(None, "Use this registered verifier instead of the domain's default.")
    verifier_options: dict[str, Any] = _f({}, "Options passed to the verifier (merged over the domain's).")
    engine: Literal["pivotrl", "trl"] = _f("pivotrl", "`pivotrl`, or `trl`: TRL's GRPOTrainer (see scaling).")
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
    clip_eps_high: float = _f(0.2, "Upper clip: the ratio is clipped above at 1 + clip_eps_high (DAPO: 0.28)")
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
        "Loss weight of pivots whose demonstration is a plain message "
        "(down-weight to curb 'any text passes').",
    )
    frozen_cache_mb: int = _f(
        1024,
        "With train_top_n_layers: memory (MiB) for the frozen layers' prompt blocks, kept across "
        "steps so a pivot seen again runs those layers only for tokens not seen before (0 = off).",
    )
    skip_zero_advantage: bool = _f(
        True,
        "Skip the forward/backward of groups whose advantages are all 0 "
        "(exact when kl_beta and entropy_coef are 0).",
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
        b = self.batch_pivots
        _rules(
            self,
            ("max_steps", self.max_steps >= 1, "must be >= 1", "max_steps = 20"),
            ("batch_pivots", b >= 1, "must be >= 1", "batch_pivots = 4"),
            (
                "group_size",
                self.group_size >= 2,
                "must be >= 2: GRPO compares samples within a group",
                "group_size = 8",
            ),
            ("max_new_tokens", self.max_new_tokens >= 1, "must be >= 1", "max_new_tokens = 64"),
            (
                "temperature",
                self.temperature > 0,
                "must be > 0 (greedy sampling gives identical samples and no signal)",
                "temperature = 1.0",
            ),
            ("top_p", 0 < self.top_p <= 1, "must be in (0, 1]", "top_p = 1.0"),
            ("adv_eps", self.adv_eps > 0, "must be > 0", "adv_eps = 1e-4"),
            ("clip_eps_low", 0 < self.clip_eps_low < 1, "must be in (0, 1)", "clip_eps_low = 0.2"),
            ("clip_eps_high", self.clip_eps_high > 0, "must be > 0", "clip_eps_high = 0.2"),
            ("kl_beta", self.kl_beta >= 0, "must be >= 0", "kl_beta = 0.0"),
            ("entropy_coef", self.entropy_coef >= 0, "must be >= 0", "entropy_coef = 0.0"),
            ("ppo_epochs", self.ppo_epochs >= 1, "must be >= 1", "ppo_epochs = 2"),
            (
                "num_minibatches",
                1 <= self.num_minibatches <= b,
                f"must be between 1 and batch_pivots ({b})",
                "num_minibatches = 1",
            ),
            (
                "message_pivot_weight",
                self.message_pivot_weight >= 0,
                "must be >= 0",
                "message_pivot_weight = 1.0",
            ),
            (
                "frozen_cache_mb",
                self.frozen_cache_mb >= 0,
                "must be >= 0 (0 = off)",
                "frozen_cache_mb = 1024",
            ),
        )
        self._check_refresh()

    def _check_refresh(self) -> None:
        _rules(
            self,
            ("refresh_window", self.refresh_window >= 1, "must be >= 1", "refresh_window = 5"),
            (
                "refresh_threshold",
                0 <= self.refresh_threshold <= 1,
                "is a fraction of groups, in [0, 1]",
                "refresh_threshold = 0.75",
            ),
            ("refresh_k", self.refresh_k >= 2, "must be >= 2 (variance needs two samples)", "refresh_k = 8"),
            (
                "refresh_max_mean",
                0 < self.refresh_max_mean <= 1,
                "must be in (0, 1]",
                "refresh_max_mean = 0.6",
            ),
            (
                "refresh_max_candidates",
                self.refresh_max_candidates >= 1,
                "must be >= 1",
                "refresh_max_candidates = 64",
            ),
            ("refresh_cooldown", self.refresh_cooldown >= 0, "must be >= 0", "refresh_cooldown = 5"),
        )


@dataclass
class SFTConfig(ModelConfig):
    """The SFT baseline (``pivotrl sft``): cross-entropy on assistant tokens only."""

    toml_section = "sft"

    max_steps: int = _f(0, "Optimiser steps to run (0 = run `epochs` full passes over the data).")
    epochs: float = _f(1.0, "Passes over the data when max_steps is 0 (fractions allowed).")
    batch_size: int = _f(8, "Sequences per optimiser step.")
    micro_batch_size: int = _f(4, "Sequences per forward/backward (gradient accumulation in between).")
    max_seq_tokens: int = _f(
        2048,
        "Longest training sequence; a longer trajectory is split into per-turn sequences "
        "whose oldest turns are dropped.",
    )
    pack: Literal["trajectory", "turn"] = _f(
        "trajectory",
        "`trajectory`: one sequence per trajectory with every assistant turn as a target (cheap); "
        "`turn`: one sequence per candidate (the exact prompt PivotRL sees).",
    )
    lr: float = _f(2e-5, "AdamW learning rate (constant after warm-up).")

    def validate(self) -> None:
        super().validate()
        b = self.batch_size
        _rules(
            self,
            ("max_steps", self.max_steps >= 0, "must be >= 0 (0 = use epochs)", "max_steps = 0"),
            ("epochs", self.epochs > 0, "must be > 0", "epochs = 1"),
            ("batch_size", b >= 1, "must be >= 1", "batch_size = 8"),
            (
                "micro_batch_size",
                1 <= self.micro_batch_size <= b,
                f"must be between 1 and batch_size ({b})",
                "micro_batch_size = 4",
            ),
            ("max_seq_tokens", self.max_seq_tokens >= 16, "must be >= 16", "max_seq_tokens = 2048"),
        )
