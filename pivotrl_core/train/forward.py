"""Model forward passes for the loss: the pivot's prompt once per group, shared by its G rows.

``shared_group_logits`` (Llama-style models, see ``layers.py``) runs the prompt (P tokens, one
row) through the trained layers WITH gradient, and the G completions on top; their attention
reads the prompt's keys/values in place. Autograd sums the G rows' gradients into the one prompt
pass: the loss and the gradient are those of G separate prompt+completion passes
(``naive_group_logits``, kept for tests and benchmarks), for one prompt pass instead of G. Given
``boundary > 0`` and the hidden states the sampler recorded there, the frozen layers below it are
not run at all. ``group_logits`` does the same with plain transformers calls for other models
(the prompt's cache expanded to G rows).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from .layers import Decoder, PrefixKV, prefix_attention

__all__ = ["cache_kwarg", "group_logits", "naive_group_logits", "shared_group_logits"]


def cache_kwarg(model: Any) -> str:
    """The name of the KV-cache argument of ``model.forward`` (``cache`` in transformers >= 5.2x)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = inspect.signature(base.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def group_logits(
    model: Any, prompt_ids: torch.Tensor, tokens: torch.Tensor, lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """Logits predicting each completion token, the prompt computed once.

    prompt_ids: (P,), tokens: (G, T) right-padded -> logits: (G, T, V), where logits[g, t]
    predicts tokens[g, t]. Padding needs no attention mask: it sits after every real token, and
    attention is causal. ``lengths`` is unused (kept for signature parity with the naive path).
    """
    from transformers import DynamicCache

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    kw = cache_kwarg(model)
    device = next(base.parameters()).device
    G, T = tokens.shape
    P = prompt_ids.shape[0]
    cache = DynamicCache(config=base.config)
    out = base(input_ids=prompt_ids[None].to(device), use_cache=True, logits_to_keep=1, **{kw: cache})
    first = out.logits[:, -1:, :]  # (1, 1, V): predicts tokens[:, 0]
    if T == 1:
        return first.expand(G, 1, -1)
    cache.batch_repeat_interleave(G)  # (1, H, P, D) -> (G, H, P, D), differentiable
    pos = torch.arange(P, P + T - 1, device=device).unsqueeze(0).expand(G, -1)  # (G, T-1)
    rest = base(input_ids=tokens[:, :-1].to(device), position_ids=pos, use_cache=True, **{kw: cache}).logits
    return torch.cat([first.expand(G, 1, -1), rest], dim=1)  # (G, T, V)


def naive_group_logits(
    model: Any, prompt_ids: torch.Tensor, tokens: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """The reference computation: one full prompt+completion pass per sample.

    prompt_ids: (P,), tokens: (G, T), lengths: (G,) -> logits: (G, T, V) (zeros past each length).
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
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


def shared_group_logits(
    model: Any,
    prompt_ids: torch.Tensor,
    tokens: torch.Tensor,
    boundary: int = 0,
    h_prompt: torch.Tensor | None = None,
    h_comp: torch.Tensor | None = None,
) -> torch.Tensor:
    """Logits predicting each completion token; layers below ``boundary`` are skipped.

    prompt_ids: (P,), tokens: (G, T) right-padded -> logits: (G, T, V). With ``boundary > 0``,
    h_prompt: (P, H) and h_comp: (G, >= T-1, H) are the hidden states entering layer
    ``boundary`` for the prompt and the completion tokens (recorded by the sampler).
    """
    dec = Decoder(model)
    G, T = tokens.shape
    P = prompt_ids.shape[0]
    if boundary > 0:
        if h_prompt is None or h_comp is None:
            raise ValueError("boundary > 0 needs the sampler's hidden states")
        hp, hc = h_prompt[None].to(dec.device), h_comp[:, : T - 1].to(dec.device)
    else:
        hp, hc = dec.embed(prompt_ids[None]), dec.embed(tokens[:, : T - 1])  # (1, P, H), (G, T-1, H)
    rope_p = dec.rope(hp, torch.arange(P, device=dec.device)[None])
    rope_c = dec.rope(hc, (P + torch.arange(T - 1, device=dec.device))[None].expand(G, -1))
    for i in range(boundary, len(dec.layers)):
        q, k, v = dec.qkv(i, hp, rope_p)  # the prompt, once, with gradient
        prefix = PrefixKV(k, v)
        if T > 1:
            qc, kc, vc = dec.qkv(i, hc, rope_c)
            hc = dec.finish(i, hc, prefix_attention(qc, prefix, kc, vc, dec.scale))
        hp = dec.finish(i, hp, dec.self_attention(q, k, v))
    first = dec.logits(hp[:, -1:]).expand(G, 1, -1)  # (G, 1, V): predicts tokens[:, 0]
    if T == 1:
        return first
    return torch.cat([first, dec.logits(hc)], dim=1)  # (G, T, V)
