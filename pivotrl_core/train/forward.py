"""Model forward passes for the loss: the pivot's prompt once per group, shared by its G rows.

:func:`group_logits` runs the prompt (P tokens, one row) through the model WITH gradient, keeping
its keys/values, then the G completions with the model's attention switched to
:func:`~pivotrl_core.policies.attention.prefix_attention`: each row attends over the one copy of
the prompt's keys/values and its own tokens. Everything else (norms, rope, QK-norm, MoE, sliding
windows) is the model's own modules. Autograd sums the G rows' gradients into the one prompt
pass: the loss and gradient equal those of G separate prompt+completion passes
(:func:`naive_group_logits`, the reference kept for tests and benchmarks), for one prompt pass
instead of G. Given ``boundary > 0`` and the hidden states the sampler recorded entering that
layer, the frozen layers below it are not run at all
(:func:`~pivotrl_core.policies.attention.start_at_layer`).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from ..policies.attention import PrefixKV, start_at_layer, using_prefix_attention

__all__ = ["cache_kwarg", "group_logits", "naive_group_logits"]


def _base(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def cache_kwarg(model: Any) -> str:
    """The name of the KV-cache argument of ``model.forward`` (``cache`` in transformers >= 5.2x)."""
    params = inspect.signature(_base(model).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def group_logits(
    model: Any,
    prompt_ids: torch.Tensor,
    tokens: torch.Tensor,
    boundary: int = 0,
    h_prompt: torch.Tensor | None = None,
    h_comp: torch.Tensor | None = None,
) -> torch.Tensor:
    """Logits predicting each completion token, the prompt computed once.

    prompt_ids: (P,), tokens: (G, T) right-padded -> logits: (G, T, V), where logits[g, t]
    predicts tokens[g, t] (padding sits after every real token and attention is causal, so it
    changes nothing before it). With ``boundary > 0``, h_prompt: (P, H) and h_comp: (G, >= T-1, H)
    are the hidden states entering layer ``boundary`` (recorded by the sampler).
    """
    from transformers import DynamicCache

    base = _base(model)
    device = next(base.parameters()).device
    G, T = tokens.shape
    P = prompt_ids.shape[0]
    if boundary > 0 and (h_prompt is None or h_comp is None):
        raise ValueError("boundary > 0 needs the sampler's hidden states")
    cache = DynamicCache(config=base.config)
    hp = h_prompt[None].to(device) if h_prompt is not None and boundary > 0 else None
    with start_at_layer(base, boundary, hp):
        out = base(
            input_ids=prompt_ids[None].to(device),
            position_ids=torch.arange(P, device=device)[None],
            use_cache=True,
            logits_to_keep=1,
            **{cache_kwarg(base): cache},
        )
    first = out.logits[:, -1:, :].expand(G, 1, -1)  # (G, 1, V): predicts tokens[:, 0]
    if T == 1:
        return first
    prefix = PrefixKV(
        keys=[x.keys if x.is_initialized else None for x in cache.layers],
        values=[x.values if x.is_initialized else None for x in cache.layers],
        valid=torch.ones((1, P), dtype=torch.bool, device=device),
        row_prompt=torch.zeros(G, dtype=torch.long, device=device),
    )
    hc = h_comp[:, : T - 1].to(device) if h_comp is not None and boundary > 0 else None
    pos = torch.arange(P, P + T - 1, device=device)[None].expand(G, -1)
    with using_prefix_attention(base), start_at_layer(base, boundary, hc):
        rest = base(
            input_ids=tokens[:, :-1].to(device), position_ids=pos, use_cache=False, pivotrl_prefix=prefix
        ).logits
    return torch.cat([first, rest], dim=1)  # (G, T, V)


def naive_group_logits(
    model: Any, prompt_ids: torch.Tensor, tokens: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """The reference computation: one full prompt+completion pass per sample.

    prompt_ids: (P,), tokens: (G, T), lengths: (G,) -> logits: (G, T, V) (zeros past each length).
    """
    base = _base(model)
    device = next(base.parameters()).device
    G, T = tokens.shape
    P = prompt_ids.shape[0]
    rows = []
    for g in range(G):
        n = int(lengths[g])
        ids = torch.cat([prompt_ids, tokens[g, : max(n, 1)]])[None].to(device)  # (1, P + n)
        logits = base(input_ids=ids, use_cache=False).logits[0, P - 1 : P - 1 + max(n, 1)]  # (n, V)
        pad = logits.new_zeros((T - logits.shape[0], logits.shape[-1]))
        rows.append(torch.cat([logits, pad], dim=0))
    return torch.stack(rows)  # (G, T, V)
