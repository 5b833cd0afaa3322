"""Shared-prefix attention inside the model's own modules, and running a model from a layer on.

The G samples of a prompt share its keys/values. :func:`prefix_attention` is registered with
transformers' ``AttentionInterface`` (as ``pivotrl_prefix``): the model's own attention modules
compute the queries, keys and values of the rows' OWN tokens (QK-norm, rope variants, MoE, fused
projections all come from the model), and the function attends over (the prompt's keys, read in
place from a :class:`PrefixKV` passed in the forward kwargs) + (the row's own keys, causal). The
two softmax parts are normalised together: the same attention as over the concatenated sequence,
exactly, without copying the prompt G times. It serves single-token decode steps (the samplers)
and whole completions with gradient (the loss). Sliding windows and logit soft-capping are applied
from the kwargs the model's module passes. Scores are (own tokens x (prompt + own tokens)) per
row: never (prompt x prompt) per sample.

:func:`start_at_layer` runs a model's forward from decoder layer ``boundary`` on, given the hidden
states entering it (the bottom layers are swapped for a module returning them), and
:func:`record_layer_input` records those hidden states while the model runs in full.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "ATTN_NAME",
    "PrefixKV",
    "decoder_layers",
    "prefix_attention",
    "record_layer_input",
    "start_at_layer",
    "using_prefix_attention",
]

ATTN_NAME = "pivotrl_prefix"


@dataclass
class PrefixKV:
    """The prompts' keys/values per layer (``(B, Hkv, L, D)``, left-padded, right-aligned at the
    prompt's end) and which prompt each row reads (``row_prompt`` (R,))."""

    keys: list[torch.Tensor | None]
    values: list[torch.Tensor | None]
    valid: torch.Tensor  # (B, L) bool: False at left padding
    row_prompt: torch.Tensor  # (R,)
    groups: list[tuple[int, torch.Tensor | slice]] = field(default_factory=list)
    one_row_each: slice | torch.Tensor | None = None  # rows -> prompts when each row reads its own
    blocks: tuple[torch.Tensor | slice, int] | None = None  # (prompts, g): rows in equal blocks, in order

    def __post_init__(self) -> None:
        self.regroup()

    def select_rows(self, keep: torch.Tensor) -> None:
        """Keep only the rows ``keep`` (indices into the current rows)."""
        self.row_prompt = self.row_prompt[keep]
        self.regroup()

    def regroup(self) -> None:
        self.one_row_each, self.blocks = None, None
        if self.valid.shape[0] == 1:
            self.groups = [(0, slice(None))]
            return
        prompts, counts = torch.unique_consecutive(self.row_prompt, return_counts=True)
        self.groups = [
            (int(b), (self.row_prompt == b).nonzero().squeeze(-1))
            for b in torch.unique(self.row_prompt).tolist()
        ]
        R = len(self.row_prompt)
        if len(self.groups) == R:  # greedy / n = 1: one batched product instead of a loop over prompts
            rows = torch.arange(R, device=self.row_prompt.device)
            same = self.valid.shape[0] == R and bool((self.row_prompt == rows).all())
            self.one_row_each = slice(None) if same else self.row_prompt
        elif len(prompts) == len(self.groups) and bool((counts == counts[0]).all()):
            # every prompt's rows form one block of the same size, in order: one batched product
            whole = len(prompts) == self.valid.shape[0]
            self.blocks = (slice(None) if whole else prompts, int(counts[0]))


def _masked(
    s: torch.Tensor, allowed: torch.Tensor | None, softcap: float | None
) -> torch.Tensor:  # scores -> capped, masked scores
    if softcap:
        s = torch.tanh(s / softcap) * softcap
    return s if allowed is None else s.masked_fill(~allowed, float("-inf"))


def _merge(sp: torch.Tensor, own: torch.Tensor, pv: torch.Tensor, v: torch.Tensor, spec: str) -> torch.Tensor:
    """Softmax over (prompt scores, own scores) together, then the weighted prompt + own values."""
    w = torch.softmax(torch.cat([sp, own], dim=-1), dim=-1)
    L = sp.shape[-1]
    return torch.einsum(spec, w[..., :L], pv) + torch.einsum("nhgqs,nhsd->nhgqd", w[..., L:], v)


def _masks(
    Lq: int, S: int, L: int, sliding_window: int | None, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Causal mask over the row's own keys (Lq, S) and, with a sliding window, the window mask over
    the prompt's keys (Lq, L); ``None`` when every prompt key is in reach."""
    qpos = S - Lq + torch.arange(Lq, device=device)  # own positions of the queries
    own_ok = torch.arange(S, device=device)[None, :] <= qpos[:, None]
    if not sliding_window:
        return own_ok, None
    own_ok = own_ok & (qpos[:, None] - torch.arange(S, device=device)[None, :] < sliding_window)
    dist = qpos[:, None] + L - torch.arange(L, device=device)[None, :]  # query -> prompt key
    return own_ok, dist < sliding_window


def prefix_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    sliding_window: int | None = None,
    softcap: float | None = None,
    pivotrl_prefix: PrefixKV | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention of each row's last Lq own tokens over (its prompt's keys) + (its own keys).

    query: (R, Hq, Lq, D); key/value: (R, Hkv, S, D), the row's own tokens (S >= Lq, query i at own
    position S - Lq + i) -> (R, Lq, Hq, D).
    """
    st = pivotrl_prefix
    if st is None:
        raise RuntimeError("pivotrl_prefix attention needs pivotrl_prefix=PrefixKV(...) in the kwargs")
    R, Hq, Lq, D = query.shape
    Hkv, S = key.shape[1], key.shape[2]
    scale = scaling if scaling is not None else D**-0.5
    dt = torch.float32
    q = query.to(dt).view(R, Hkv, Hq // Hkv, Lq, D)
    k, v = key.to(dt), value.to(dt)
    pk, pv = st.keys[module.layer_idx], st.values[module.layer_idx]
    assert pk is not None and pv is not None, "no prompt keys for this layer"
    L = pk.shape[2]
    own_ok, pre_ok = _masks(Lq, S, L, sliding_window, q.device)
    own = _masked(torch.einsum("rhgqd,rhsd->rhgqs", q, k) * scale, own_ok, softcap)  # (R, Hkv, g, Lq, S)
    if st.one_row_each is not None:
        sel = st.one_row_each
        ok = st.valid[sel, -L:][:, None, None, None, :]
        ok = ok if pre_ok is None else ok & pre_ok
        sp = _masked(torch.einsum("rhgqd,rhld->rhgql", q, pk[sel].to(dt)) * scale, ok, softcap)
        out = _merge(sp, own, pv[sel].to(dt), v, "nhgql,nhld->nhgqd")
        return out.permute(0, 3, 1, 2, 4).reshape(R, Lq, Hq, D).to(query.dtype), None
    if st.blocks is not None:
        return _blocks(st, q, own, pk, pv, v, pre_ok, scale, softcap).to(query.dtype), None
    out = q.new_empty(q.shape) if len(st.groups) > 1 else None
    for b, idx in st.groups:
        ok = st.valid[b, -L:][None, :]
        ok = ok if pre_ok is None else ok & pre_ok  # (1 | Lq, L)
        sp = _masked(torch.einsum("nhgqd,hld->nhgql", q[idx], pk[b].to(dt)) * scale, ok, softcap)
        ob = _merge(sp, own[idx], pv[b].to(dt), v[idx], "nhgql,hld->nhgqd")
        if out is None:
            out = ob
        else:
            out[idx] = ob
    assert out is not None
    return out.permute(0, 3, 1, 2, 4).reshape(R, Lq, Hq, D).to(query.dtype), None


def _blocks(
    st: PrefixKV,
    q: torch.Tensor,
    own: torch.Tensor,
    pk: torch.Tensor,
    pv: torch.Tensor,
    v: torch.Tensor,
    pre_ok: torch.Tensor | None,
    scale: float,
    softcap: float | None,
) -> torch.Tensor:
    """:func:`prefix_attention` when the rows are equal blocks per prompt, in prompt order: the
    prompts' keys enter one batched product (no loop over prompts) -> (R, Lq, Hq, D)."""
    assert st.blocks is not None
    sel, g = st.blocks
    R, Hkv, G, Lq, D = q.shape
    L, S, dt = pk.shape[2], v.shape[2], q.dtype
    nb = R // g
    ok = st.valid[sel, -L:][:, None, None, None, None, :]  # (nb, 1, 1, 1, 1, L)
    ok = ok if pre_ok is None else ok & pre_ok
    qb = q.view(nb, g, Hkv, G, Lq, D)
    sp = _masked(torch.einsum("bnhgqd,bhld->bnhgql", qb, pk[sel].to(dt)) * scale, ok, softcap)
    w = torch.softmax(torch.cat([sp, own.view(nb, g, Hkv, G, Lq, S)], dim=-1), dim=-1)
    out = torch.einsum("bnhgql,bhld->bnhgqd", w[..., :L], pv[sel].to(dt))
    out = out + torch.einsum("bnhgqs,bnhsd->bnhgqd", w[..., L:], v.view(nb, g, Hkv, S, D))
    return out.reshape(R, Hkv, G, Lq, D).permute(0, 3, 1, 2, 4).reshape(R, Lq, Hkv * G, D)


@contextlib.contextmanager
def using_prefix_attention(model: Any) -> Iterator[None]:
    """Switch the model's attention to :func:`prefix_attention` for the duration."""
    from transformers import AttentionInterface

    AttentionInterface.register(ATTN_NAME, prefix_attention)
    cfgs = {id(c): c for c in (model.config, getattr(model.config, "text_config", None)) if c is not None}
    old = {i: c._attn_implementation for i, c in cfgs.items()}
    for c in cfgs.values():
        c._attn_implementation = ATTN_NAME
    try:
        yield
    finally:
        for i, c in cfgs.items():
            c._attn_implementation = old[i]


def _base(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def decoder_layers(model: Any) -> torch.nn.ModuleList:
    """The decoder layers of a transformers causal LM (``model.model.layers``)."""
    inner = getattr(_base(model), "model", None)
    layers = getattr(inner, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList):
        raise ValueError(f"{type(_base(model)).__name__} has no model.layers decoder stack")
    return layers


class _Inject(torch.nn.Module):
    """Stands in for a skipped bottom layer: returns the given hidden states (the first) or its input."""

    def __init__(self, layer: Any, h: torch.Tensor | None) -> None:
        super().__init__()
        self.h = h
        self.attention_type = getattr(layer, "attention_type", "full_attention")

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return hidden_states if self.h is None else self.h.to(hidden_states.dtype)


@contextlib.contextmanager
def start_at_layer(model: Any, boundary: int, h: torch.Tensor | None) -> Iterator[None]:
    """Run the model from layer ``boundary`` on, its input being ``h`` (N, L, H) (no-op at 0)."""
    if boundary <= 0:
        yield
        return
    if h is None:
        raise ValueError("starting at a layer > 0 needs the hidden states entering it")
    layers = decoder_layers(model)
    saved = list(layers[:boundary])
    for i in range(boundary):
        layers[i] = _Inject(saved[i], h if i == 0 else None)
    try:
        yield
    finally:
        for i, layer in enumerate(saved):
            layers[i] = layer


@contextlib.contextmanager
def record_layer_input(model: Any, layer: int, sink: list[torch.Tensor]) -> Iterator[None]:
    """Append the hidden states entering decoder layer ``layer`` to ``sink`` at every forward."""

    def hook(_mod: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        h = args[0] if args else kwargs["hidden_states"]
        sink.append(h.detach())

    handle = decoder_layers(model)[layer].register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()
