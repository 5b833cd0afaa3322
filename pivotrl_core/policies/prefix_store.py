"""Prefill for shared-prefix decoding, optionally reusing earlier prefills (prefix caching).

``HFPolicy(prefix_cache=N)`` keeps the keys/values (and last logits) of up to N prefilled
prompts. A new prompt reuses the longest common token prefix it has with any kept prompt and
prefills only the rest:

* a prompt sampled again (the rounds of ``pivotrl profile --early-stop``) skips its prefill;
* the candidates of one trajectory (turn 2, 4, 6, ...) are prefixes of one another, and every
  candidate of a domain starts with the same system prompt and tool list, so profiling and
  evaluating a file of candidates prefills little more than each trajectory once;
* an episode (the tool-use benchmark) re-sends its growing transcript every turn.

On CPU prefill is the dominant cost for long prompts. A kept prompt that is a prefix of a newly
kept one is dropped (the longer one serves every lookup it served), so N entries hold about N
trajectories. Use it only with a frozen model: the keys/values of a model being trained go stale.
``N = 0`` (the default) keeps nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .kv_cache import left_pad, new_cache, prefill
from .prefix_cache import BlockStore, prefill_split

if TYPE_CHECKING:
    from .hf import HFPolicy

__all__ = ["DEFAULT_PREFIX_CACHE", "PrefixEntry", "PrefixStore", "prefill_shared"]


@dataclass
class PrefixEntry:
    """One prompt's cache without padding: per layer ``(Hkv, L, D)`` keys and values."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    logits: torch.Tensor  # (V,) logits after the last prompt token


#: Prompts kept by the commands that turn prefix caching on for a frozen model (eval, episodes).
DEFAULT_PREFIX_CACHE = 8

#: Fewest shared tokens worth a separate continuation prefill instead of a batched full one.
MIN_REUSE = 16


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    lo = 0
    step = 256
    while lo + step <= n and a[lo : lo + step] == b[lo : lo + step]:  # compare in blocks first
        lo += step
    while lo < n and a[lo] == b[lo]:
        lo += 1
    return lo


class PrefixStore:
    """A small LRU of :class:`PrefixEntry` keyed by the prompt's token ids."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[tuple[int, ...], PrefixEntry] = OrderedDict()
        self.hits = 0

    def longest(self, ids: tuple[int, ...]) -> tuple[PrefixEntry | None, int]:
        """The kept entry sharing the longest prefix with ``ids`` and that length (< len(ids))."""
        best, best_n, best_key = None, 0, None
        for key, entry in self.items.items():
            n = min(common_prefix_length(key, ids), len(ids) - 1)  # >= 1 token left to get logits
            if n > best_n:
                best, best_n, best_key = entry, n, key
        if best_key is not None:
            self.items.move_to_end(best_key)
        return best, best_n

    def get(self, ids: tuple[int, ...]) -> PrefixEntry | None:
        entry = self.items.get(ids)
        if entry is not None:
            self.items.move_to_end(ids)
            self.hits += 1
        return entry

    def put(self, ids: tuple[int, ...], entry: PrefixEntry) -> None:
        for key in [k for k in self.items if len(k) <= len(ids) and ids[: len(k)] == k]:
            del self.items[key]  # a prefix of the new prompt: the new entry serves its lookups
        self.items[ids] = entry
        self.items.move_to_end(ids)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


Prefilled = tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor, torch.Tensor]


def prefill_shared(
    policy: HFPolicy, ids_list: Sequence[Sequence[int]], boundary: int = 0, frozen: BlockStore | None = None
) -> Prefilled:
    """Per-layer ``(B, Hkv, L, D)`` keys/values (left-padded), the ``(B, L)`` mask, last logits.

    With ``boundary > 0`` each prompt is prefilled alone, the layers below ``boundary`` block by
    block, their full blocks read from and kept in ``frozen`` (:mod:`.prefix_cache`).
    """
    pad = policy.tokenizer.pad_token_id or 0
    store: PrefixStore | None = policy.prefix_store
    if boundary > 0:
        if store is not None:
            raise ValueError("a prefix cache and frozen-layer blocks cannot be combined")
        parts = [prefill_split(policy.model, policy._cache_kw, boundary, ids, frozen) for ids in ids_list]
        policy.stats["prefill_tokens"] += sum(len(ids) for ids in ids_list)
        entries = [PrefixEntry(*p) for p in parts]
        return _assemble(entries, [len(ids) for ids in ids_list], policy.device)
    if store is None:
        input_ids, mask = left_pad(ids_list, pad, policy.device)
        cache, logits = prefill(policy, input_ids, mask)
        return [x.keys for x in cache.layers], [x.values for x in cache.layers], mask, logits
    keys_of = [tuple(int(t) for t in ids) for ids in ids_list]
    found = {k: e for k in keys_of if (e := store.get(k)) is not None}
    policy.stats["reused_prefix_tokens"] += sum(len(k) for k in found)
    # one prompt at a time, shortest first (turns of a conversation are prefixes of later turns):
    # each reuses what the store holds, then joins it for the next
    for k in sorted(dict.fromkeys(k for k in keys_of if k not in found), key=len):
        entry, n = store.longest(k)
        if entry is None or n < MIN_REUSE:
            entry, n = None, 0
        found[k] = _extend(policy, entry, n, k)
        policy.stats["reused_prefix_tokens"] += n
        store.put(k, found[k])
    return _assemble([found[k] for k in keys_of], [len(k) for k in keys_of], policy.device)


def _extend(policy: HFPolicy, entry: PrefixEntry | None, n: int, ids: tuple[int, ...]) -> PrefixEntry:
    """Prefill ``ids[n:]`` on top of the first ``n`` cached positions of ``entry`` (all of ``ids``
    when ``entry`` is None)."""
    cache = new_cache(policy.model, len(ids))
    if entry is not None:
        for layer, k, v in zip(cache.layers, entry.keys, entry.values, strict=True):
            layer.update(k[None, :, :n], v[None, :, :n])
    suffix = torch.tensor([ids[n:]], dtype=torch.long, device=policy.device)
    out = None
    for s in range(0, suffix.shape[1], policy.prefill_chunk):
        e = min(suffix.shape[1], s + policy.prefill_chunk)
        out = policy.model(
            input_ids=suffix[:, s:e],
            attention_mask=torch.ones((1, n + e), dtype=torch.long, device=policy.device),
            position_ids=torch.arange(n + s, n + e, device=policy.device)[None],
            use_cache=True,
            logits_to_keep=1,
            **{policy._cache_kw: cache},
        )
    assert out is not None
    policy.stats["prefill_tokens"] += len(ids) - n
    return PrefixEntry(
        [x.keys[0].clone() for x in cache.layers],
        [x.values[0].clone() for x in cache.layers],
        out.logits[0, -1, :].float().clone(),
    )


def _assemble(entries: list[PrefixEntry], lengths: list[int], device: str) -> Prefilled:
    width = max(lengths)
    mask = torch.zeros((len(entries), width), dtype=torch.long, device=device)
    keys, values = [], []
    for layer in range(len(entries[0].keys)):
        h, _, d = entries[0].keys[layer].shape
        k = entries[0].keys[layer].new_zeros((len(entries), h, width, d))
        v = entries[0].values[layer].new_zeros((len(entries), h, width, d))
        for b, e in enumerate(entries):
            k[b, :, width - lengths[b] :] = e.keys[layer]
            v[b, :, width - lengths[b] :] = e.values[layer]
        keys.append(k)
        values.append(v)
    for b, n in enumerate(lengths):
        mask[b, width - n :] = 1
    return keys, values, mask, torch.stack([e.logits for e in entries])
