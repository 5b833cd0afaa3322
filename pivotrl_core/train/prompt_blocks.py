"""Prompt prefill in fixed blocks, so prompts share the blocks they have in common.

The sampler prefills each prompt in blocks of ``BLOCK`` tokens. Block ``j`` of a prompt depends
only on the prompt's first ``(j + 1) * BLOCK`` tokens, and it is always computed the same way
(its tokens on top of the keys/values of blocks ``0 .. j - 1``), so a block computed for one prompt
is, bit for bit, the block any other prompt with the same leading tokens would compute: the
result never depends on which prompts came before (vLLM's block-hash prefix caching, on CPU).

Two stores use it (:func:`prefill`):

* the frozen layers below ``train_top_n_layers`` never change, so their blocks are kept across
  training steps in a byte-bounded LRU :class:`BlockStore` -- a pivot seen again, or a new turn of
  a trajectory already seen, runs those layers only for its new tokens;
* the trained layers change at every optimiser step, so their blocks live for one sampling call:
  the B prompts of a step share the system prompt and their common history once.

No padding is computed: each prompt runs alone, its own length.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .layers import Decoder

__all__ = ["BLOCK", "BlockStore", "PromptPrefill", "prefill"]

BLOCK = 64


@dataclass
class _Block:
    """One block's keys/values for the layers of a range ((Hkv, L, D) each) and the hidden states
    leaving the range ((L, H))."""

    k: list[torch.Tensor]
    v: list[torch.Tensor]
    h: torch.Tensor

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.k, *self.v, self.h))


class BlockStore:
    """Blocks of one layer range, keyed by the tokens up to the block's end; LRU within ``max_bytes``."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._blocks: OrderedDict[tuple[int, ...], _Block] = OrderedDict()

    def __len__(self) -> int:
        return len(self._blocks)

    def get(self, key: tuple[int, ...]) -> _Block | None:
        block = self._blocks.get(key)
        if block is None:
            self.misses += 1
            return None
        self.hits += 1
        self._blocks.move_to_end(key)
        return block

    def put(self, key: tuple[int, ...], block: _Block) -> None:
        if key in self._blocks or (self.max_bytes is not None and block.nbytes > self.max_bytes):
            return
        self._blocks[key] = block
        self.bytes += block.nbytes
        while self.max_bytes is not None and self.bytes > self.max_bytes:
            _, old = self._blocks.popitem(last=False)
            self.bytes -= old.nbytes


@dataclass
class PromptPrefill:
    """One prompt's prefill: per-layer keys/values (Hkv, P, D), the last position's logits (V,)
    and, with a boundary, the hidden states entering layer ``boundary`` (P, H)."""

    k: list[torch.Tensor]
    v: list[torch.Tensor]
    logits: torch.Tensor
    h_boundary: torch.Tensor | None


def _run_block(
    dec: Decoder,
    layers: range,
    h: torch.Tensor,
    start: int,
    past_k: list[list[torch.Tensor]],
    past_v: list[list[torch.Tensor]],
) -> _Block:
    """Layers ``layers`` over one block: h (L, H) at positions start.. -> the block's keys/values and output."""
    L = h.shape[0]
    rope = dec.rope(h[None], torch.arange(start, start + L)[None])
    ks, vs = [], []
    x = h[None]  # (1, L, H)
    for n, i in enumerate(layers):
        q, k, v = dec.qkv(i, x, rope)  # (1, Hq|Hkv, L, D)
        ks.append(k[0])
        vs.append(v[0])
        keys = torch.cat([*past_k[n], k[0]], dim=1) if start else k[0]  # (Hkv, start + L, D)
        vals = torch.cat([*past_v[n], v[0]], dim=1) if start else v[0]
        # query i (position start + i) sees every earlier block and its own block up to itself
        x = dec.finish(i, x, dec.self_attention(q, keys[None], vals[None], past=start))
    return _Block(ks, vs, x[0])


def prefill(
    dec: Decoder,
    ids: Sequence[int],
    boundary: int = 0,
    frozen: BlockStore | None = None,
    shared: BlockStore | None = None,
) -> PromptPrefill:
    """Prefill one prompt block by block.

    Layers ``[0, boundary)`` read and fill ``frozen`` (valid only while those layers and the
    embeddings do not change), layers ``[boundary, L)`` read and fill ``shared``. Only full
    blocks are stored; the last, partial block is recomputed each time.
    """
    ranges = (
        [range(0, boundary), range(boundary, len(dec.layers))]
        if boundary > 0
        else [range(0, len(dec.layers))]
    )
    stores = [frozen, shared] if boundary > 0 else [shared]
    ids = list(ids)
    k: list[list[torch.Tensor]] = [[] for _ in dec.layers]
    v: list[list[torch.Tensor]] = [[] for _ in dec.layers]
    h_boundary: list[torch.Tensor] = []
    h = None
    for start in range(0, len(ids), BLOCK):
        end = min(start + BLOCK, len(ids))
        key = tuple(ids[:end]) if end - start == BLOCK else None
        h = None
        for layers, store in zip(ranges, stores, strict=True):
            if boundary > 0 and layers.start == boundary:
                h_boundary.append(h)
            block = store.get(key) if store is not None and key is not None else None
            if block is None:
                if h is None:  # only the bottom range starts from the embeddings
                    h = dec.embed(torch.tensor(ids[start:end]))
                block = _run_block(
                    dec, layers, h, start, k[layers.start : layers.stop], v[layers.start : layers.stop]
                )
                if store is not None and key is not None:
                    store.put(key, block)
            for n, i in enumerate(layers):
                k[i].append(block.k[n])
                v[i].append(block.v[n])
            h = block.h
    assert h is not None, "an empty prompt cannot be prefilled"
    return PromptPrefill(
        k=[torch.cat(parts, dim=1) for parts in k],
        v=[torch.cat(parts, dim=1) for parts in v],
        logits=dec.logits(h[-1]).float(),
        h_boundary=torch.cat(h_boundary) if boundary > 0 else None,
    )
