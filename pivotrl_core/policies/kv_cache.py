"""KV caches for the ``hf`` sampler, and its plain (left-padded, chunked) prefill.

A KV-cache layer that appends into preallocated buffers instead of re-concatenating.

transformers' ``DynamicLayer`` does ``torch.cat`` on every decode step, copying the whole cache
(gigabytes for K rows of a long prompt). :class:`GrowingLayer` keeps a buffer with room for
``capacity`` tokens (doubling when full), writes new keys/values in place and hands attention a
view of the filled part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

__all__ = ["GrowingLayer", "left_pad", "new_cache", "prefill"]


class GrowingLayer(DynamicLayer):
    """Drop-in ``DynamicLayer`` with amortised O(1) appends."""

    def __init__(self, capacity: int = 0) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = 0
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None

    def _views(self) -> None:
        assert self._k is not None and self._v is not None
        self.keys = self._k[:, :, : self.length]
        self.values = self._v[:, :, : self.length]

    def _grow(self, like: torch.Tensor, need: int) -> None:
        cap = max(need, self.capacity, 2 * (self._k.shape[2] if self._k is not None else 0))
        k = like.new_empty(like.shape[0], like.shape[1], cap, like.shape[3])
        v = like.new_empty(like.shape[0], like.shape[1], cap, like.shape[3])
        if self._k is not None and self.length:
            k[:, :, : self.length] = self._k[:, :, : self.length]
            v[:, :, : self.length] = self._v[:, :, : self.length]  # type: ignore[index]
        self._k, self._v = k, v

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        need = self.length + key_states.shape[-2]
        if self._k is None or need > self._k.shape[2]:
            self._grow(key_states, need)
        assert self._k is not None and self._v is not None
        self._k[:, :, self.length : need] = key_states
        self._v[:, :, self.length : need] = value_states
        self.length = need
        self._views()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length

    def reset(self) -> None:
        self._k = self._v = None
        self.length = 0
        super().reset()

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove < 0 and self._k is not None:
            self.length = max(0, self.length + tokens_to_remove)
            self._views()
        elif tokens_to_remove > 0:
            raise ValueError("crop() takes a negative number of tokens to remove")

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self._k is not None and self._v is not None:
            self._k = self._k.repeat_interleave(repeats, dim=0)
            self._v = self._v.repeat_interleave(repeats, dim=0)
            self._views()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self._k is not None and self._v is not None:
            self._k = self._k[indices]
            self._v = self._v[indices]
            self._views()


def left_pad(
    ids_list: Sequence[Sequence[int]], pad_id: int, device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in ids_list)
    input_ids = torch.full((len(ids_list), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids_list), width), dtype=torch.long)
    for b, ids in enumerate(ids_list):
        input_ids[b, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        mask[b, width - len(ids) :] = 1
    return input_ids.to(device), mask.to(device)


def new_cache(model: Any, capacity: int) -> Any:
    """A ``DynamicCache`` whose layers (sliding-window ones too: the window is applied by the
    attention mask, and the shared-prefix attention needs every key) write into preallocated buffers."""
    cache = DynamicCache(config=model.config)
    cache.layers = [GrowingLayer(capacity) for _ in cache.layers]
    return cache


def prefill(
    policy: Any, input_ids: torch.Tensor, mask: torch.Tensor, extra: int = 0
) -> tuple[Any, torch.Tensor]:
    """Run the prompts through the model in chunks; return (cache, last-position logits).

    The cache has room for ``extra`` more tokens per row without reallocating.
    """
    cache = new_cache(policy.model, input_ids.shape[1] + extra)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    width = input_ids.shape[1]
    out = None
    for s in range(0, width, policy.prefill_chunk):
        e = min(width, s + policy.prefill_chunk)
        out = policy.model(
            input_ids=input_ids[:, s:e],
            attention_mask=mask[:, :e],
            position_ids=pos[:, s:e],
            use_cache=True,
            logits_to_keep=1,
            **{policy._cache_kw: cache},
        )
    assert out is not None
    policy.stats["prefill_tokens"] += int(mask.sum())
    return cache, out.logits[:, -1, :].float()
