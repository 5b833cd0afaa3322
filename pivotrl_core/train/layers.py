"""Layer-by-layer forward passes of Llama-style decoders with a SHARED prompt.

The G samples of a pivot share its prompt. Instead of copying the prompt's keys/values G times
(what ``DynamicCache.batch_repeat_interleave`` does, and what every decode step then reads and
re-concatenates), attention reads the prompt's keys/values once per prompt and the G rows'
own keys/values separately, and the two softmax parts are normalised together -- the same
attention, exactly, for a fraction of the memory traffic. Used by the trainer's sampler
(``sampler.py``: :func:`grouped_prefix_attention`, one new token per row, unpadded prompts of
different lengths) and by its loss (``forward.py``: :func:`prefix_attention`).

It also lets the loss skip frozen layers: with ``train_top_n_layers = N`` the bottom layers'
outputs depend on the tokens only, so the sampler records the hidden states entering layer
``L - N`` and the loss runs the top N layers alone.

Supported: decoder-only models whose layers are Llama's (``llama``, ``mistral``, ``qwen2`` --
SmolLM2 is a Llama); :func:`supports` says so, and callers fall back to plain transformers
forward passes otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["Decoder", "PrefixKV", "grouped_prefix_attention", "prefix_attention", "supports"]

SUPPORTED_TYPES = {"llama", "mistral", "qwen2"}


def _base(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def supports(model: Any) -> bool:
    """True when :class:`Decoder` can run this model layer by layer."""
    base = _base(model)
    cfg = getattr(base, "config", None)
    inner = getattr(base, "model", None)
    return (
        getattr(cfg, "model_type", None) in SUPPORTED_TYPES
        and inner is not None
        and all(hasattr(inner, a) for a in ("embed_tokens", "layers", "norm", "rotary_emb"))
        and hasattr(base, "lm_head")
        and getattr(cfg, "sliding_window", None) in (None, 0)
    )


class PrefixKV:
    """One layer's prompt keys/values, shared by G rows each: (B, Hkv, P, D)."""

    def __init__(self, k: torch.Tensor, v: torch.Tensor) -> None:
        # contiguous once here, so the per-step matmuls read the prompt in place (no copies)
        self.k, self.v = k.contiguous(), v.contiguous()


def prefix_attention(
    q: torch.Tensor, prefix: PrefixKV, sk: torch.Tensor, sv: torch.Tensor, scale: float
) -> torch.Tensor:
    """Attention of G rows per prompt over (shared prompt keys) + (their own causal keys).

    q: (B*G, Hq, Lq, D), the last Lq positions of the rows' own sequence;
    prefix.k/v: (B, Hkv, P, D); sk/sv: (B*G, Hkv, S, D), S >= Lq -> (B*G, Lq, Hq*D). Query i
    (own position S - Lq + i) sees every prompt key and own keys 0..S - Lq + i.
    """
    B, Hkv, P, D = prefix.k.shape
    N, Hq, Lq, _ = q.shape
    G, r, S = N // B, Hq // Hkv, sk.shape[2]
    q6 = q.view(B, G, Hkv, r, Lq, D)
    sp = torch.einsum("bghrqd,bhpd->bghrqp", q6, prefix.k) * scale  # (B, G, Hkv, r, Lq, P)
    ss = torch.einsum("bghrqd,bghsd->bghrqs", q6, sk.view(B, G, Hkv, S, D)) * scale  # (B, G, Hkv, r, Lq, S)
    causal = (
        torch.arange(S, device=q.device)[None, :] <= (S - Lq + torch.arange(Lq, device=q.device))[:, None]
    )
    ss = ss.masked_fill(~causal, float("-inf"))
    w = torch.softmax(torch.cat([sp, ss], dim=-1), dim=-1)
    out = torch.einsum("bghrqp,bhpd->bghrqd", w[..., :P], prefix.v)
    out = out + torch.einsum(
        "bghrqs,bghsd->bghrqd", w[..., P:], sv.view(B, G, Hkv, S, D)
    )  # (B, G, Hkv, r, Lq, D)
    return out.permute(0, 1, 4, 2, 3, 5).reshape(N, Lq, Hq * D)


def grouped_prefix_attention(
    q: torch.Tensor,
    prompt_k: Sequence[torch.Tensor],
    prompt_v: Sequence[torch.Tensor],
    counts: Sequence[int],
    sk: torch.Tensor,
    sv: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """One new token per row over (its prompt's keys) + (its own keys), prompts of any lengths.

    q: (R, Hq, 1, D); rows are grouped by prompt: the first ``counts[0]`` rows read prompt 0, and
    so on; prompt_k/v[b]: (Hkv, P_b, D), unpadded; sk/sv: (R, Hkv, S, D), every row's own keys
    (all rows have the same S). -> (R, 1, Hq*D).
    """
    R, Hq, _, D = q.shape
    Hkv = sk.shape[1]
    r = Hq // Hkv
    q4 = q.view(R, Hkv, r, D)
    own = torch.matmul(q4, sk.transpose(-1, -2)) * scale  # (R, Hkv, r, S)
    out = torch.empty_like(q4)
    start = 0
    for b, c in enumerate(counts):
        if not c:
            continue
        rows = slice(start, start + c)
        qb = q4[rows].transpose(0, 1).reshape(Hkv, c * r, D)  # the prompt's rows as one matmul per kv head
        sp = (
            torch.matmul(qb, prompt_k[b].transpose(1, 2)).view(Hkv, c, r, -1).transpose(0, 1) * scale
        )  # (c, Hkv, r, P_b)
        w = torch.softmax(torch.cat([sp, own[rows]], dim=-1), dim=-1)
        P = sp.shape[-1]
        wp = w[..., :P].transpose(0, 1).reshape(Hkv, c * r, P)
        out[rows] = torch.matmul(wp, prompt_v[b]).view(Hkv, c, r, D).transpose(0, 1) + torch.matmul(
            w[..., P:], sv[rows]
        )
        start += c
    return out.reshape(R, 1, Hq * D)


class Decoder:
    """A Llama-style model's pieces, run layer by layer (weights are the model's own modules)."""

    def __init__(self, model: Any) -> None:
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

        base = _base(model)
        self.inner, self.lm_head, cfg = base.model, base.lm_head, base.config
        self.layers = list(self.inner.layers)
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.scale = self.head_dim**-0.5
        self._rope = apply_rotary_pos_emb

    @property
    def device(self) -> torch.device:
        return self.lm_head.weight.device

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.inner.embed_tokens(ids.to(self.device))

    def rope(self, h: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inner.rotary_emb(h, pos.to(self.device))

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.inner.norm(h))

    def qkv(
        self, i: int, h: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, ...]:
        """Layer i's normed input, queries, keys, values: h (N, L, H) -> (N, Hq|Hkv, L, D)."""
        attn = self.layers[i].self_attn
        x = self.layers[i].input_layernorm(h)
        N, L, _ = h.shape
        q = attn.q_proj(x).view(N, L, self.n_heads, self.head_dim).transpose(1, 2)
        k = attn.k_proj(x).view(N, L, self.n_kv, self.head_dim).transpose(1, 2)
        v = attn.v_proj(x).view(N, L, self.n_kv, self.head_dim).transpose(1, 2)
        q, k = self._rope(q, k, *rope)
        return q, k, v

    def finish(self, i: int, h: torch.Tensor, attn_out: torch.Tensor) -> torch.Tensor:
        """Residual, MLP: h (N, L, H), attn_out (N, L, Hq*D) -> (N, L, H)."""
        layer = self.layers[i]
        h = h + layer.self_attn.o_proj(attn_out)
        return h + layer.mlp(layer.post_attention_layernorm(h))

    def self_attention(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, past: int = 0
    ) -> torch.Tensor:
        """Causal attention of L new positions per row: q (N, Hq, L, D), k/v (N, Hkv, past + L, D)
        -> (N, L, Hq*D); query i (position past + i) sees keys 0..past + i."""
        r = self.n_heads // self.n_kv
        k, v = k.repeat_interleave(r, dim=1), v.repeat_interleave(r, dim=1)
        N, _, L, _ = q.shape
        if past == 0:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        else:
            allowed = torch.ones(L, past + L, dtype=torch.bool, device=q.device).tril(past)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=self.scale)
        return out.transpose(1, 2).reshape(N, L, -1)
