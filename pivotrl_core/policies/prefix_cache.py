"""Block prefix caching of a model's frozen bottom layers, on the model's own modules.

When only the top layers of a model train (``train_top_n_layers``), the bottom layers' keys/values
and the hidden states leaving them depend on the tokens only. :func:`prefill_frozen` prefills a
prompt's bottom layers in fixed blocks of ``BLOCK`` tokens: block ``j`` depends only on the
prompt's first ``(j + 1) * BLOCK`` tokens and is always computed the same way (its tokens on top of
the keys/values of blocks ``0 .. j - 1``), so a block computed for one prompt is, bit for bit, the
block any prompt with the same leading tokens computes (vLLM's block-hash prefix caching). Full
blocks are kept in a byte-bounded LRU :class:`BlockStore` across training steps: a pivot seen
again, or a later turn of a trajectory already seen, runs the frozen layers only for its new
tokens. The top layers then run from the recorded hidden states
(:func:`~pivotrl_core.policies.attention.start_at_layer`).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .attention import decoder_layers, start_at_layer
from .kv_cache import new_cache

__all__ = ["BLOCK", "Block", "BlockStore", "FrozenPrefill", "prefill_frozen", "prefill_split"]

BLOCK = 64


@dataclass
class Block:
    """One block's keys/values of the frozen layers ((Hkv, L, D) each) and the hidden states
    leaving them ((L, H))."""

    k: list[torch.Tensor]
    v: list[torch.Tensor]
    h: torch.Tensor

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.k, *self.v, self.h))


class BlockStore:
    """Blocks keyed by the tokens up to the block's end; least recently used evicted past ``max_bytes``."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._blocks: OrderedDict[tuple[int, ...], Block] = OrderedDict()

    def __len__(self) -> int:
        return len(self._blocks)

    def get(self, key: tuple[int, ...]) -> Block | None:
        block = self._blocks.get(key)
        if block is None:
            self.misses += 1
            return None
        self.hits += 1
        self._blocks.move_to_end(key)
        return block

    def put(self, key: tuple[int, ...], block: Block) -> None:
        if key in self._blocks or (self.max_bytes is not None and block.nbytes > self.max_bytes):
            return
        self._blocks[key] = block
        self.bytes += block.nbytes
        while self.max_bytes is not None and self.bytes > self.max_bytes:
            _, old = self._blocks.popitem(last=False)
            self.bytes -= old.nbytes


@dataclass
class FrozenPrefill:
    """A prompt's frozen layers: keys/values per layer below the boundary ((Hkv, P, D)) and the
    hidden states entering the boundary layer ((P, H))."""

    k: list[torch.Tensor]
    v: list[torch.Tensor]
    h: torch.Tensor


class _Stop(torch.nn.Module):
    """Stands in for a layer at or above the boundary: records (the first) or passes its input."""

    def __init__(self, layer: Any, sink: list[torch.Tensor] | None) -> None:
        super().__init__()
        self.sink = sink
        self.attention_type = getattr(layer, "attention_type", "full_attention")

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.sink is not None:
            self.sink.append(hidden_states)
        return hidden_states


@contextlib.contextmanager
def _bottom_only(model: Any, boundary: int, sink: list[torch.Tensor]) -> Iterator[None]:
    layers = decoder_layers(model)
    saved = list(layers[boundary:])
    for n in range(len(saved)):
        layers[boundary + n] = _Stop(saved[n], sink if n == 0 else None)
    try:
        yield
    finally:
        for n, layer in enumerate(saved):
            layers[boundary + n] = layer


def _run_block(
    model: Any, cache_kw: str, boundary: int, ids: Sequence[int], start: int, past: list[Block]
) -> Block:
    """The frozen layers over ``ids`` at positions ``start..`` on top of the blocks ``past``."""
    cache = new_cache(model, start + len(ids))
    for i in range(boundary):
        if past:
            cache.layers[i].update(
                torch.cat([b.k[i] for b in past], dim=1)[None], torch.cat([b.v[i] for b in past], dim=1)[None]
            )
    device = next(model.parameters()).device
    sink: list[torch.Tensor] = []
    with _bottom_only(model, boundary, sink):
        model(
            input_ids=torch.tensor([list(ids)], device=device),
            position_ids=torch.arange(start, start + len(ids), device=device)[None],
            use_cache=True,
            logits_to_keep=1,
            **{cache_kw: cache},
        )
    return Block(
        [cache.layers[i].keys[0, :, start:].clone() for i in range(boundary)],
        [cache.layers[i].values[0, :, start:].clone() for i in range(boundary)],
        sink[0][0].clone(),
    )


def prefill_frozen(
    model: Any, cache_kw: str, boundary: int, ids: Sequence[int], store: BlockStore | None
) -> FrozenPrefill:
    """The layers below ``boundary`` over one prompt, block by block; full blocks read and fill
    ``store`` (valid only while those layers and the embeddings do not change)."""
    ids = list(ids)
    blocks: list[Block] = []
    for start in range(0, len(ids), BLOCK):
        end = min(start + BLOCK, len(ids))
        key = tuple(ids[:end]) if end - start == BLOCK else None
        block = store.get(key) if store is not None and key is not None else None
        if block is None:
            block = _run_block(model, cache_kw, boundary, ids[start:end], start, blocks)
            if store is not None and key is not None:
                store.put(key, block)
        blocks.append(block)
    return FrozenPrefill(
        [torch.cat([b.k[i] for b in blocks], dim=1) for i in range(boundary)],
        [torch.cat([b.v[i] for b in blocks], dim=1) for i in range(boundary)],
        torch.cat([b.h for b in blocks]),
    )


def prefill_split(
    model: Any, cache_kw: str, boundary: int, ids: Sequence[int], store: BlockStore | None
) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """One prompt's prefill, the frozen layers block by block (:func:`prefill_frozen`), the layers
    from ``boundary`` up in one pass from the hidden states entering it: per-layer keys/values
    ((Hkv, P, D)) and the last position's logits ((V,))."""
    frozen = prefill_frozen(model, cache_kw, boundary, ids, store)
    device = next(model.parameters()).device
    cache = new_cache(model, len(ids))
    with start_at_layer(model, boundary, frozen.h[None]):
        out = model(
            input_ids=torch.tensor([list(ids)], device=device),
            position_ids=torch.arange(len(ids), device=device)[None],
            use_cache=True,
            logits_to_keep=1,
            **{cache_kw: cache},
        )
    top = cache.layers[boundary:]
    return (
        [*frozen.k, *(x.keys[0] for x in top)],
        [*frozen.v, *(x.values[0] for x in top)],
        out.logits[0, -1].float(),
    )
