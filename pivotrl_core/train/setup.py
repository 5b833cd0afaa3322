"""Building what a training run needs: the model (full, top-N layers or LoRA) and the optimiser."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError
from ..policies.attention import decoder_layers
from ..policies.models import load_model, load_tokenizer
from .config import ModelConfig

__all__ = [
    "build_model",
    "build_optimizer",
    "first_trained_layer",
    "set_lr",
    "set_seed",
    "trainable_parameters",
]


def set_seed(seed: int) -> None:
    """Seed Python's and torch's global generators."""
    import random

    random.seed(seed)
    torch.manual_seed(seed)


def _decoder_layers(model: Any) -> Any:
    try:
        return decoder_layers(model)
    except ValueError:
        raise ConfigError(
            f"train_top_n_layers: cannot find the decoder layers (model.layers) of {type(model).__name__}; "
            "set train_top_n_layers = 0 or use lora = true"
        ) from None


def _final_norm(model: Any) -> Any | None:
    return getattr(getattr(model, "model", None), "norm", None)


def build_model(cfg: ModelConfig, model_path: str | None = None) -> tuple[Any, Any]:
    """Load the policy and its tokenizer and mark what is trained.

    ``train_top_n_layers = N`` freezes everything but the top N decoder layers and the final norm
    (embeddings and a tied LM head stay frozen); ``lora = true`` wraps the model with peft LoRA
    adapters (their initialisation uses the run seed).
    """
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    name = model_path or cfg.model
    tokenizer = load_tokenizer(name)
    model = load_model(name, device=cfg.device, dtype=cfg.dtype)
    model.eval()  # no dropout: sampling and the loss see the same function
    if cfg.lora:
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError:
            raise ConfigError("lora = true needs peft: pip install 'pivotrl-core[lora]'") from None
        torch.manual_seed(cfg.seed)
        lcfg = LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=list(cfg.lora_target_modules),
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lcfg)
        model.eval()
    elif cfg.train_top_n_layers:
        layers = _decoder_layers(model)
        if cfg.train_top_n_layers > len(layers):
            raise ConfigError(
                f"train_top_n_layers = {cfg.train_top_n_layers} but the model has {len(layers)} layers; "
                f"set train_top_n_layers <= {len(layers)}"
            )
        for p in model.parameters():
            p.requires_grad_(False)
        train_mods = list(layers[-cfg.train_top_n_layers :])
        norm = _final_norm(model)
        if norm is not None:
            train_mods.append(norm)
        for mod in train_mods:
            for p in mod.parameters():
                p.requires_grad_(True)
    return model, tokenizer


def first_trained_layer(model: Any, cfg: ModelConfig) -> int:
    """Index of the lowest trained decoder layer when only the top layers train, else 0.

    Layers below it (and the embeddings) are frozen, so their outputs depend on the tokens only:
    the sampler records the hidden states entering this layer and the loss starts there.
    """
    if not cfg.train_top_n_layers or cfg.lora:
        return 0
    return len(_decoder_layers(model)) - cfg.train_top_n_layers


def trainable_parameters(model: Any) -> dict[str, torch.nn.Parameter]:
    """Name -> parameter for every parameter that is trained."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def build_optimizer(model: Any, cfg: ModelConfig) -> torch.optim.Optimizer:
    """AdamW over the trained parameters (the learning rate is set per step by :func:`set_lr`)."""
    params = list(trainable_parameters(model).values())
    if not params:
        raise ConfigError("nothing to train: every parameter is frozen; check train_top_n_layers / lora")
    return torch.optim.AdamW(
        params,
        lr=cfg.lr,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        eps=cfg.adam_eps,
        weight_decay=cfg.weight_decay,
    )


def set_lr(optimizer: torch.optim.Optimizer, cfg: ModelConfig, step: int) -> float:
    """Constant ``lr`` after a linear warm-up over ``lr_warmup_steps`` (step is 1-based)."""
    warm = cfg.lr_warmup_steps
    lr = cfg.lr * (min(1.0, step / warm) if warm > 0 else 1.0)
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr
