"""``engine = "trl"``: turn-level GRPO on pivots with TRL's ``GRPOTrainer``.

Pivots become a ``datasets`` dataset of conversational prompts (tools in the system message);
the reward is each pivot's own verifier (:func:`pivotrl_core.integrations.reward_function`; an
errored verdict is ``None``, left out by TRL). Prompts and the reward's parsing use the model's
tool-call format (``detect_tool_format(tokenizer, cfg.tool_format)``), as the ``pivotrl`` engine
does. :func:`grpo_args` maps our config onto ``GRPOConfig`` (the table is in docs/scaling.md). It
runs under ``accelerate launch`` (DDP, DeepSpeed, FSDP: TRL's own), and with vLLM when
``use_vllm=true`` is passed through ``trl_args``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..integrations import pivots_dataset, reward_function
from ..jsonl import dumps, write_jsonl
from ..policies.models import load_tokenizer, resolve_model
from ..policies.tool_formats import detect_tool_format
from ..registry import Registry
from .config import TrainConfig
from .data import load_candidates
from .grpo import TrainResult

__all__ = ["grpo_args", "train_trl"]

_UNSUPPORTED = {  # field: (its neutral value, why TRL cannot take another)
    "entropy_coef": (0.0, "TRL's GRPOTrainer has no entropy bonus"),
    "reference": (None, "TRL's reference model is the starting model"),
    "refresh": (False, "pivot refresh needs the pivotrl engine"),
    "message_pivot_weight": (1.0, "per-pivot loss weights need the pivotrl engine"),
    "train_top_n_layers": (0, "partial-layer training needs the pivotrl engine"),
}


def _check_supported(cfg: TrainConfig) -> None:
    for name, (neutral, why) in _UNSUPPORTED.items():
        if getattr(cfg, name, neutral) != neutral:
            raise ConfigError(f"engine 'trl': {why}; set {name} back to {neutral!r}", key=name)
    if cfg.advantage == "loo":
        raise ConfigError("engine 'trl': advantage 'loo' is TRL's RLOOTrainer; use group_norm or mean")


def grpo_args(cfg: TrainConfig, out: Path, trl_args: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``GRPOConfig`` keyword arguments for ``cfg`` (``trl_args`` override any of them)."""
    _check_supported(cfg)
    per_step = cfg.batch_pivots * cfg.group_size
    if per_step % cfg.num_minibatches:
        raise ConfigError(
            f"engine 'trl': batch_pivots x group_size ({per_step}) must divide into num_minibatches "
            f"({cfg.num_minibatches})",
            key="num_minibatches",
        )
    args: dict[str, Any] = {
        "output_dir": str(out),
        "num_generations": cfg.group_size,
        "per_device_train_batch_size": per_step // cfg.num_minibatches,
        "steps_per_generation": cfg.num_minibatches,
        "num_iterations": cfg.ppo_epochs,
        "max_steps": cfg.max_steps * cfg.ppo_epochs * cfg.num_minibatches,
        "learning_rate": cfg.lr,
        "warmup_steps": cfg.lr_warmup_steps,
        "weight_decay": cfg.weight_decay,
        "adam_epsilon": cfg.adam_eps,
        "max_grad_norm": cfg.grad_clip if cfg.grad_clip > 0 else 1e9,
        "epsilon": cfg.clip_eps_low,
        "epsilon_high": cfg.clip_eps_high,
        "beta": cfg.kl_beta,
        "loss_type": "dapo" if cfg.loss_agg == "token" else "grpo",
        "scale_rewards": "group" if cfg.advantage == "group_norm" else "none",
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "max_completion_length": cfg.max_new_tokens,
        "seed": cfg.seed,
        "bf16": cfg.dtype == "bfloat16",
        "fp16": cfg.dtype == "float16",
        "use_cpu": cfg.device == "cpu",
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": ["wandb"] if cfg.tracker == "wandb" else [],
        "disable_tqdm": not cfg.progress,
        "model_init_kwargs": {"dtype": cfg.dtype},
    }
    return {**args, **dict(trl_args or {})}


def _peft_config(cfg: TrainConfig) -> Any:
    if not cfg.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.lora_target_modules),
        task_type="CAUSAL_LM",
    )


def train_trl(
    cfg: TrainConfig,
    pivots: str | Path,
    out: str | Path,
    *,
    registry: Registry,
    trl_args: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Run TRL's ``GRPOTrainer`` on ``pivots``; the model goes to ``out/final``, the logs to
    ``out/metrics.jsonl`` (one row per logged step, TRL's names)."""
    cfg.check_names()  # an unknown tool_format fails before TRL loads or writes anything
    from trl import GRPOConfig, GRPOTrainer

    out = Path(out)
    candidates = load_candidates(pivots)
    model = resolve_model(cfg.model)
    fmt = detect_tool_format(load_tokenizer(model), cfg.tool_format)  # the model's own, as GRPO's
    dataset = pivots_dataset(candidates, registry=registry, domain=cfg.domain, tool_format=fmt)
    reward = reward_function(
        registry=registry,
        domain=cfg.domain,
        verifier=cfg.verifier,
        options=cfg.verifier_options,
        tool_format=fmt,
    )
    args = GRPOConfig(**grpo_args(cfg, out, trl_args))
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward,
        args=args,
        train_dataset=dataset,
        peft_config=_peft_config(cfg),
    )
    trainer.train()
    final = out / "final"
    trainer.save_model(str(final))
    history = [dict(row) for row in trainer.state.log_history]
    if trainer.accelerator.is_main_process:
        write_jsonl(out / "metrics.jsonl", history)
        (out / "config.json").write_text(_config_json(cfg, args, trainer.accelerator.num_processes))
    last = next((row for row in reversed(history) if "reward" in row), {})
    return TrainResult(
        out=out,
        final=final,
        steps=trainer.state.global_step,
        last_metrics={"reward_mean": last.get("reward")},
    )


def _config_json(cfg: TrainConfig, args: Any, num_processes: int) -> str:
    doc = {"engine": "trl", "num_processes": num_processes, "train": dataclasses.asdict(cfg)}
    return dumps({**doc, "grpo": args.to_dict()}) + "\n"
