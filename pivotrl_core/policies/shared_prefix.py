"""Shared-prefix decoding: the K samples of a prompt read its KV cache once per step.

After the prefill, the prompt's keys and values stay in ONE copy per prompt (they are not
expanded to K rows). Each decode step, an attention function registered with transformers
(``pivotrl_shared_prefix``) computes, for every prompt, the scores of all its live rows against
the prompt's keys in one matrix product, the scores of each row against its own generated
tokens (a small per-row cache), and merges the two softmax parts exactly (a shared maximum).
Reading the prompt once instead of K times is what makes decoding fast when prompts are long
(the NeMo Gym tool-use prompts are 2-3k tokens): on CPU the per-row attention over the prompt
was most of a decode step.

Used only for plain causal attention (no sliding window, no logit soft-capping); other models
fall back to an expanded cache (``HFPolicy(shared_prefix=False)`` forces that).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "ATTN_NAME",
    "PrefixState",
    "shared_prefix_attention",
    "supports_shared_prefix",
    "using_shared_prefix",
]

ATTN_NAME = "pivotrl_shared_prefix"


@dataclass
class PrefixState:
    """The prompts' cached keys/values (per layer, ``(B, Hkv, L, D)``) and which rows read which."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    valid: torch.Tensor  # (B, L) bool: False at left padding
    row_prompt: torch.Tensor  # (R,) prompt index of each live row
    groups: list[tuple[int, torch.Tensor]] = field(default_factory=list)
    one_row_each: bool = False  # every live row reads a different prompt (greedy, n = 1)
    rows_are_prompts: bool = False  # ... and row i reads prompt i

    def __post_init__(self) -> None:
        self.regroup()

    def select_rows(self, keep: torch.Tensor) -> None:
        """Keep only the rows ``keep`` (indices into the current rows)."""
        self.row_prompt = self.row_prompt[keep]
        self.regroup()

    def regroup(self) -> None:
        self.groups = [
            (int(b), (self.row_prompt == b).nonzero().squeeze(-1))
            for b in torch.unique(self.row_prompt).tolist()
        ]
        self.one_row_each = len(self.groups) == len(self.row_prompt)
        n = len(self.row_prompt)
        self.rows_are_prompts = bool(
            self.one_row_each
            and n == self.keys[0].shape[0]
            and (self.row_prompt == torch.arange(n, device=self.row_prompt.device)).all()
        )


def shared_prefix_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    pivotrl_prefix: PrefixState | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention of one new token per row over (shared prompt prefix + the row's own tokens)."""
    st = pivotrl_prefix
    if st is None or query.shape[2] != 1:
        raise RuntimeError("pivotrl_shared_prefix attention is only for single-token decode steps")
    rows, heads, _, dim = query.shape
    kv_heads = key.shape[1]
    scale = scaling if scaling is not None else dim**-0.5
    q = query.view(rows, kv_heads, heads // kv_heads, dim).float()  # (R, Hkv, g, D)
    s_suffix = torch.einsum("rhgd,rhtd->rhgt", q, key.float()) * scale  # (R, Hkv, g, T)
    pk, pv = st.keys[module.layer_idx], st.values[module.layer_idx]
    if st.one_row_each:  # one row per prompt (greedy): one batched product, no loop over prompts
        pick = slice(None) if st.rows_are_prompts else st.row_prompt
        ks, vs, valid = pk[pick].float(), pv[pick].float(), st.valid[pick]
        sp = torch.einsum("rhgd,rhld->rhgl", q, ks) * scale  # (R, Hkv, g, L)
        sp = sp.masked_fill(~valid[:, None, None, :], float("-inf"))
        m = torch.maximum(sp.amax(-1, keepdim=True), s_suffix.amax(-1, keepdim=True))
        ep, es = (sp - m).exp(), (s_suffix - m).exp()
        num = torch.einsum("rhgl,rhld->rhgd", ep, vs) + torch.einsum("rhgt,rhtd->rhgd", es, value.float())
        out = num / (ep.sum(-1, keepdim=True) + es.sum(-1, keepdim=True))
        return out.reshape(rows, 1, heads, dim).to(query.dtype), None
    out = torch.empty_like(q)
    for b, idx in st.groups:
        qb = q[idx]
        sp = torch.einsum("nhgd,hld->nhgl", qb, pk[b].float()) * scale  # (n, Hkv, g, L)
        sp = sp.masked_fill(~st.valid[b], float("-inf"))
        ss = s_suffix[idx]
        m = torch.maximum(sp.amax(-1, keepdim=True), ss.amax(-1, keepdim=True))
        ep, es = (sp - m).exp(), (ss - m).exp()
        num = torch.einsum("nhgl,hld->nhgd", ep, pv[b].float()) + torch.einsum(
            "nhgt,nhtd->nhgd", es, value[idx].float()
        )
        out[idx] = num / (ep.sum(-1, keepdim=True) + es.sum(-1, keepdim=True))
    return out.reshape(rows, 1, heads, dim).to(query.dtype), None


def supports_shared_prefix(model: Any) -> bool:
    """True for plain causal attention (what :func:`shared_prefix_attention` computes exactly)."""
    cfg = model.config
    sliding = getattr(cfg, "sliding_window", None)
    if sliding and getattr(cfg, "use_sliding_window", True) is not False:
        return False
    if (
        getattr(cfg, "attn_logit_softcapping", None)
        or getattr(cfg, "layer_types", None)
        and any(t != "full_attention" for t in cfg.layer_types)
    ):
        return False
    attn = getattr(cfg, "_attn_implementation", None)
    return attn in (None, "sdpa", "eager", ATTN_NAME)


def _register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(ATTN_NAME, shared_prefix_attention)


@contextlib.contextmanager
def using_shared_prefix(model: Any) -> Iterator[None]:
    """Switch the model's attention to the shared-prefix function for the duration."""
    _register()
    cfg = model.config
    old = cfg._attn_implementation
    cfg._attn_implementation = ATTN_NAME
    try:
        yield
    finally:
        cfg._attn_implementation = old
