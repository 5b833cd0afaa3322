"""The trainer's sampler: G actions per prompt from ONE prefill whose keys/values all G rows share.

B prompts are prefilled once (left-padded, one batch). Decoding then runs B x G rows; each
row's attention reads its prompt's keys/values in place (never copied per row, see
``layers.prefix_attention``) plus its own keys/values, written into preallocated buffers (no
per-token concatenation). Every sampled token's log-probability under the tempered distribution
is recorded (pi_old for the loss), and, when ``boundary > 0``, so are the hidden states entering
layer ``boundary`` for the prompt and completion tokens: the loss then skips the frozen layers
below it (``train_top_n_layers``).

Random numbers come from one generator per prompt seeded by ``(seed, prompt tokens)`` (the ``hf``
backend's rule), so the samples do not depend on batch composition.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..policies.base import SamplingParams
from ..policies.hf import prompt_seed
from ..policies.hf_sampler import pick_tokens
from .layers import Decoder, PrefixKV, prefix_attention

__all__ = ["SampledGroup", "sample_shared"]


@dataclass
class SampledGroup:
    """G samples of one prompt: tokens (stop token included), their log-probs, finish reasons,
    and the boundary hidden states (prompt: (P, H); completions: (G, T, H), row g valid for its
    first len(tokens[g]) positions) when a boundary was requested."""

    tokens: list[list[int]]
    logprobs: list[list[float]]
    reasons: list[str]
    h_prompt: torch.Tensor | None = None
    h_comp: torch.Tensor | None = None


def _left_pad(prompts: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.bool)
    for b, p in enumerate(prompts):
        ids[b, width - len(p) :] = torch.tensor(list(p), dtype=torch.long)
        mask[b, width - len(p) :] = True
    return ids, mask


def _prefill(dec: Decoder, ids: torch.Tensor, mask: torch.Tensor, boundary: int) -> tuple[list[PrefixKV], torch.Tensor, torch.Tensor | None]:
    """Run the B prompts once: per-layer shared keys/values, last-position logits, boundary states."""
    pos = (mask.long().cumsum(-1) - 1).clamp(min=0)  # (B, P): left padding does not shift positions
    mask = mask.to(dec.device)
    h = dec.embed(ids)  # (B, P, H)
    rope = dec.rope(h, pos)
    prefix: list[PrefixKV] = []
    h_boundary = None
    for i in range(len(dec.layers)):
        if i == boundary and boundary > 0:
            h_boundary = h
        q, k, v = dec.qkv(i, h, rope)
        prefix.append(PrefixKV(k, v, mask))
        h = dec.finish(i, h, dec.self_attention(q, k, v, mask))
    return prefix, dec.logits(h[:, -1]).float(), h_boundary  # logits: (B, V)


@torch.no_grad()
def sample_shared(
    model: Any,
    prompts: Sequence[Sequence[int]],
    n: int,
    sampling: SamplingParams,
    stop_ids: Collection[int],
    pad_id: int = 0,
    boundary: int = 0,
) -> list[SampledGroup]:
    """``n`` samples for each prompt (token id lists), sharing each prompt's prefill."""
    dec = Decoder(model)
    N, T = len(prompts) * n, sampling.max_new_tokens
    ids, mask = _left_pad(prompts, pad_id)
    prefix, logits, hb = _prefill(dec, ids, mask, boundary)
    logits = logits.repeat_interleave(n, dim=0)  # (N, V)
    kv_shape = (N, dec.n_kv, T, dec.head_dim)
    own_k = [logits.new_zeros(kv_shape) for _ in dec.layers]
    own_v = [logits.new_zeros(kv_shape) for _ in dec.layers]
    h_comp = logits.new_zeros((N, T, hb.shape[-1])) if hb is not None else None
    next_pos = mask.long().sum(-1).repeat_interleave(n).to(dec.device)  # (N,)
    gens = [torch.Generator().manual_seed(prompt_seed(sampling.seed or 0, p)) for p in prompts]
    stops = torch.tensor(sorted(stop_ids), dtype=torch.long)
    tokens: list[list[int]] = [[] for _ in range(N)]
    logps: list[list[float]] = [[] for _ in range(N)]
    done = torch.zeros(N, dtype=torch.bool)
    q_all = logits.new_zeros((N, dec.n_heads, 1, dec.head_dim))
    for t in range(T):
        u = torch.cat([torch.rand(n, generator=g) for g in gens])  # (N,): drawn for every row, live or not
        tok, lp = pick_tokens(logits, sampling, u.to(logits.device))
        tok_cpu, lp_cpu = tok.cpu(), lp.cpu()
        for r in (~done).nonzero().flatten().tolist():
            tokens[r].append(int(tok_cpu[r]))
            logps[r].append(float(lp_cpu[r]))
        done |= torch.isin(tok_cpu, stops)
        if bool(done.all()) or t + 1 == T:
            break
        # finished rows leave the projections and MLPs (most of the compute); attention still runs
        # over all B x G rows, whose shape it needs (finished rows keep a stale query; their output is dropped)
        live = (~done).nonzero().flatten().to(dec.device)  # (R,)
        x = dec.embed(tok[live][:, None])  # (R, 1, H)
        rope = dec.rope(x, next_pos[live][:, None])
        for i in range(len(dec.layers)):
            if h_comp is not None and i == boundary:
                h_comp[live, t] = x[:, 0]
            q, k, v = dec.qkv(i, x, rope)
            own_k[i][live, :, t], own_v[i][live, :, t] = k[:, :, 0], v[:, :, 0]
            q_all[live] = q
            attn = prefix_attention(q_all, prefix[i], own_k[i][:, :, : t + 1], own_v[i][:, :, : t + 1], dec.scale)
            x = dec.finish(i, x, attn[live])
        logits[live] = dec.logits(x[:, -1]).float()
        next_pos = next_pos + 1
    return _groups(prompts, n, tokens, logps, stops, hb, h_comp)


def _groups(
    prompts: Sequence[Sequence[int]], n: int, tokens: list[list[int]], logps: list[list[float]],
    stops: torch.Tensor, hb: torch.Tensor | None, h_comp: torch.Tensor | None,
) -> list[SampledGroup]:
    stop_set = set(stops.tolist())
    out = []
    for b, p in enumerate(prompts):
        rows = range(b * n, (b + 1) * n)
        out.append(SampledGroup(
            tokens=[tokens[r] for r in rows],
            logprobs=[logps[r] for r in rows],
            reasons=["stop" if tokens[r] and tokens[r][-1] in stop_set else "length" for r in rows],
            h_prompt=hb[b, hb.shape[1] - len(p) :].clone() if hb is not None else None,
            h_comp=h_comp[b * n : (b + 1) * n].clone() if h_comp is not None else None,
        ))
    return out
