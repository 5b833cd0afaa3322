"""The trainer's sampler: G actions per prompt from ONE prefill whose keys/values all G rows share.

Each of the B prompts is prefilled once, block by block (``prompt_blocks``: no padding; the
prompts of a step share their common blocks, and the frozen layers' blocks are kept across steps).
Decoding then runs the B x G rows that are still going: each row's attention reads its prompt's
keys/values in place (never copied per row, never padded, see ``layers.grouped_prefix_attention``)
plus its own keys/values, written into preallocated buffers (no per-token concatenation). A row
that has finished its turn leaves the batch. Every sampled token's log-probability under the
tempered distribution is recorded (pi_old for the loss), and, when ``boundary > 0``, so are the
hidden states entering layer ``boundary`` for the prompt and completion tokens: the loss then
skips the frozen layers below it (``train_top_n_layers``).

Random numbers come from one generator per prompt seeded by ``(seed, prompt tokens)`` (the ``hf``
backend's rule), drawn for every row at every step, so the samples depend neither on the batch's
composition nor on when other rows finish.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..policies.base import SamplingParams
from ..policies.hf import prompt_seed
from ..policies.hf_sampler import pick_tokens
from .layers import Decoder, grouped_prefix_attention
from .prompt_blocks import BlockStore, prefill

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


@torch.no_grad()
def sample_shared(
    model: Any,
    prompts: Sequence[Sequence[int]],
    n: int,
    sampling: SamplingParams,
    stop_ids: Collection[int],
    boundary: int = 0,
    frozen: BlockStore | None = None,
) -> list[SampledGroup]:
    """``n`` samples for each prompt (token id lists), sharing each prompt's prefill.

    ``frozen`` keeps the blocks of the layers below ``boundary`` across calls (they must be frozen).
    """
    dec = Decoder(model)
    N, T = len(prompts) * n, sampling.max_new_tokens
    shared = BlockStore()  # the trained layers' blocks, valid for this call only
    pre = [prefill(dec, p, boundary, frozen, shared) for p in prompts]
    prompt_k = [[d.k[i] for d in pre] for i in range(len(dec.layers))]  # layer -> prompt -> (Hkv, P_b, D)
    prompt_v = [[d.v[i] for d in pre] for i in range(len(dec.layers))]
    logits = torch.stack([d.logits for d in pre]).repeat_interleave(n, dim=0)  # (R, V), live rows only
    rows = torch.arange(N)  # the live rows' indices, ascending (so grouped by prompt)
    kv_shape = (N, dec.n_kv, T, dec.head_dim)
    own_k = [logits.new_zeros(kv_shape) for _ in dec.layers]  # (R, Hkv, T, D), live rows only
    own_v = [logits.new_zeros(kv_shape) for _ in dec.layers]
    h_comp = logits.new_zeros((N, T, pre[0].h_boundary.shape[-1])) if boundary > 0 else None
    pos = torch.tensor([len(p) for p in prompts]).repeat_interleave(n)  # (R,) next position per row
    gens = [torch.Generator().manual_seed(prompt_seed(sampling.seed or 0, p)) for p in prompts]
    stops = torch.tensor(sorted(stop_ids), dtype=torch.long)
    tokens: list[list[int]] = [[] for _ in range(N)]
    logps: list[list[float]] = [[] for _ in range(N)]
    for t in range(T):
        u = torch.cat([torch.rand(n, generator=g) for g in gens])  # (N,): drawn for every row, live or not
        tok, lp = pick_tokens(logits, sampling, u[rows].to(logits.device))
        tok_cpu = tok.cpu()
        for r, tk, p in zip(rows.tolist(), tok_cpu.tolist(), lp.cpu().tolist(), strict=True):
            tokens[r].append(tk)
            logps[r].append(p)
        keep = ~torch.isin(tok_cpu, stops)
        if not bool(keep.any()) or t + 1 == T:
            break
        if not bool(keep.all()):  # finished rows leave the batch
            rows, pos, tok = rows[keep], pos[keep], tok[keep.to(tok.device)]
            own_k = [x[keep.to(x.device)] for x in own_k]
            own_v = [x[keep.to(x.device)] for x in own_v]
        counts = torch.bincount(rows // n, minlength=len(prompts)).tolist()  # live rows per prompt
        x = dec.embed(tok[:, None])  # (R, 1, H)
        rope = dec.rope(x, pos[:, None])
        for i in range(len(dec.layers)):
            if h_comp is not None and i == boundary:
                h_comp[rows, t] = x[:, 0]
            q, k, v = dec.qkv(i, x, rope)
            own_k[i][:, :, t], own_v[i][:, :, t] = k[:, :, 0], v[:, :, 0]
            attn = grouped_prefix_attention(
                q,
                prompt_k[i],
                prompt_v[i],
                counts,
                own_k[i][:, :, : t + 1],
                own_v[i][:, :, : t + 1],
                dec.scale,
            )
            x = dec.finish(i, x, attn)
        logits = dec.logits(x[:, -1]).float()
        pos = pos + 1
    hb = [d.h_boundary for d in pre] if boundary > 0 else None
    return _groups(len(prompts), n, tokens, logps, stops, hb, h_comp)


def _groups(
    n_prompts: int,
    n: int,
    tokens: list[list[int]],
    logps: list[list[float]],
    stops: torch.Tensor,
    hb: list[torch.Tensor] | None,
    h_comp: torch.Tensor | None,
) -> list[SampledGroup]:
    stop_set = set(stops.tolist())
    out = []
    for b in range(n_prompts):
        rows = range(b * n, (b + 1) * n)
        out.append(
            SampledGroup(
                tokens=[tokens[r] for r in rows],
                logprobs=[logps[r] for r in rows],
                reasons=["stop" if tokens[r] and tokens[r][-1] in stop_set else "length" for r in rows],
                h_prompt=hb[b] if hb is not None else None,
                h_comp=h_comp[b * n : (b + 1) * n].clone() if h_comp is not None else None,
            )
        )
    return out
