"""The token-level loops behind :class:`~pivotrl_core.policies.hf.HFPolicy`.

``generate``: one left-padded prefill per batch of prompts (chunked for long prompts, logits
only for the last position), the KV cache expanded to ``n`` rows per prompt, then a decode loop
that drops finished rows from the batch. ``score``: log-probabilities of given completions, one
prefill per distinct prompt shared by all its completions.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from .base import SamplingParams

if TYPE_CHECKING:
    from .hf import HFPolicy

__all__ = ["generate", "pick_tokens", "score"]

Row = tuple[list[int], list[float], str]  # tokens, sampling-time logprobs, finish reason


def pick_tokens(
    logits: torch.Tensor, sampling: SamplingParams, u: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one token per row by inverse CDF with uniforms ``u`` (R,); return (tokens, logprobs).

    The log-probability is that of the temperature-scaled distribution (before top-p
    truncation). ``temperature <= 0`` is greedy, scored at temperature 1.
    """
    if sampling.temperature <= 0:
        logp = torch.log_softmax(logits, dim=-1)
        tok = logp.argmax(dim=-1, keepdim=True)
        return tok.squeeze(-1), logp.gather(-1, tok).squeeze(-1)
    logp = torch.log_softmax(logits / sampling.temperature, dim=-1)
    probs = logp.exp()
    if sampling.top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        sorted_p = sorted_p * ((sorted_p.cumsum(-1) - sorted_p) < sampling.top_p)
        cum = sorted_p.cumsum(-1)
        k = torch.searchsorted(cum, (u * cum[:, -1]).unsqueeze(-1), right=True)
        tok = order.gather(-1, k.clamp(max=cum.shape[-1] - 1))
    else:
        cum = probs.cumsum(-1)
        tok = torch.searchsorted(cum, (u * cum[:, -1]).unsqueeze(-1), right=True)
        tok = tok.clamp(max=cum.shape[-1] - 1)
    return tok.squeeze(-1), logp.gather(-1, tok).squeeze(-1)


def _left_pad(
    ids_list: Sequence[Sequence[int]], pad_id: int, device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in ids_list)
    input_ids = torch.full((len(ids_list), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids_list), width), dtype=torch.long)
    for b, ids in enumerate(ids_list):
        input_ids[b, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        mask[b, width - len(ids) :] = 1
    return input_ids.to(device), mask.to(device)


def _new_cache(model: Any, capacity: int) -> Any:
    """A ``DynamicCache`` whose full-attention layers write into preallocated buffers."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    from .kv_cache import GrowingLayer

    cache = DynamicCache(config=model.config)
    cache.layers = [GrowingLayer(capacity) if type(x) is DynamicLayer else x for x in cache.layers]
    return cache


def _prefill(
    policy: HFPolicy, input_ids: torch.Tensor, mask: torch.Tensor, extra: int = 0
) -> tuple[Any, torch.Tensor]:
    """Run the prompts through the model in chunks; return (cache, last-position logits).

    The cache has room for ``extra`` more tokens per row without reallocating.
    """
    cache = _new_cache(policy.model, input_ids.shape[1] + extra)
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


def _generators(ids_list: Sequence[Sequence[int]], seed: int | None) -> list[torch.Generator]:
    from .hf import prompt_seed

    gens = []
    for ids in ids_list:
        s = prompt_seed(seed, ids) if seed is not None else int(torch.randint(0, 1 << 62, (1,)))
        gens.append(torch.Generator().manual_seed(s))
    return gens


def _hit_stop_string(tokenizer: Any, tokens: list[int], stops: Sequence[str]) -> bool:
    tail = tokenizer.decode(tokens[-16:], skip_special_tokens=False)
    return any(s in tail for s in stops)


class _Decoder:
    """The model state of one decode batch: shared-prefix or expanded cache, and row bookkeeping."""

    def __init__(self, policy: HFPolicy, prefix: Any, mask: torch.Tensor, n: int, max_new: int) -> None:
        """``prefix`` is ``(keys, values)`` per layer (shared-prefix decoding) or a prefilled cache."""
        from .shared_prefix import PrefixState

        self.policy, self.model = policy, policy.model
        self.shared = isinstance(prefix, tuple)
        self.next_pos = mask.sum(-1).repeat_interleave(n)  # the first new token's position
        if self.shared:
            self.state: PrefixState | None = PrefixState(
                keys=prefix[0],
                values=prefix[1],
                valid=mask.bool(),
                row_prompt=torch.arange(mask.shape[0], device=mask.device).repeat_interleave(n),
            )
            self.cache, self.mask = _new_cache(self.model, max_new), None
        else:
            self.state = None
            prefix.batch_repeat_interleave(n)
            self.cache, self.mask = prefix, mask.repeat_interleave(n, dim=0)

    def keep(self, keep: torch.Tensor) -> None:
        """Drop finished rows: ``keep`` indexes the rows that continue."""
        keep = keep.to(self.next_pos.device)
        self.cache.batch_select_indices(keep)
        self.next_pos = self.next_pos[keep]
        if self.state is not None:
            self.state.select_rows(keep)
        else:
            assert self.mask is not None
            self.mask = self.mask[keep]

    def step(self, tok: torch.Tensor) -> torch.Tensor:
        """Feed one token per row; return the next logits (float32)."""
        kwargs: dict[str, Any] = {self.policy._cache_kw: self.cache}
        if self.state is not None:
            kwargs["pivotrl_prefix"] = self.state
        else:
            assert self.mask is not None
            self.mask = torch.cat([self.mask, self.mask.new_ones((self.mask.shape[0], 1))], dim=1)
            kwargs["attention_mask"] = self.mask
        out = self.model(
            input_ids=tok.unsqueeze(-1), position_ids=self.next_pos.unsqueeze(-1), use_cache=True, **kwargs
        )
        self.next_pos = self.next_pos + 1
        return out.logits[:, -1, :].float()


@torch.inference_mode()
def generate(
    policy: HFPolicy, ids_list: Sequence[Sequence[int]], n: int, sampling: SamplingParams
) -> list[list[Row]]:
    """Sample ``n`` continuations of each prompt (token id lists); one prefill per batch."""
    from .prefix_store import prefill_shared
    from .shared_prefix import using_shared_prefix

    if policy.shared_prefix:
        keys, values, mask, logits = prefill_shared(policy, ids_list)
        dec = _Decoder(policy, (keys, values), mask, n, sampling.max_new_tokens)
    else:
        input_ids, mask = _left_pad(ids_list, policy.tokenizer.pad_token_id or 0, policy.device)
        cache, logits = _prefill(policy, input_ids, mask, extra=sampling.max_new_tokens)
        dec = _Decoder(policy, cache, mask, n, sampling.max_new_tokens)
    ctx = using_shared_prefix(policy.model) if dec.shared else contextlib.nullcontext()
    with ctx:
        rows = _decode(policy, dec, logits.repeat_interleave(n, dim=0), len(ids_list), n, sampling, ids_list)
    return [rows[b * n : (b + 1) * n] for b in range(len(ids_list))]


def _decode(
    policy: HFPolicy,
    dec: _Decoder,
    logits: torch.Tensor,
    n_prompts: int,
    n: int,
    sampling: SamplingParams,
    ids_list: Sequence[Sequence[int]],
) -> list[Row]:
    gens = _generators(ids_list, sampling.seed)
    total = n_prompts * n
    live = torch.arange(total)
    tokens: list[list[int]] = [[] for _ in range(total)]
    logps: list[list[float]] = [[] for _ in range(total)]
    reasons = ["length"] * total
    stop_ids = torch.tensor(sorted(policy.stop_ids), dtype=torch.long)
    for step in range(sampling.max_new_tokens):
        u = torch.stack([torch.rand(n, generator=g) for g in gens]).flatten()[live]
        tok, lp = pick_tokens(logits, sampling, u.to(logits.device))
        tok_cpu = tok.cpu()
        hit = torch.isin(tok_cpu, stop_ids).tolist()
        for r, t, p, h in zip(live.tolist(), tok_cpu.tolist(), lp.tolist(), hit, strict=True):
            tokens[r].append(t)
            logps[r].append(p)
            if h or (sampling.stop and _hit_stop_string(policy.tokenizer, tokens[r], sampling.stop)):
                reasons[r] = "stop"
        finished = torch.tensor([reasons[r] == "stop" for r in live.tolist()])
        if step + 1 == sampling.max_new_tokens or bool(finished.all()):
            break
        if bool(finished.any()):
            keep = (~finished).nonzero().squeeze(-1)
            live, tok = live[keep], tok[keep.to(tok.device)]
            dec.keep(keep)
        logits = dec.step(tok)
    return [(tokens[r], logps[r], reasons[r]) for r in range(total)]


@torch.inference_mode()
def score(
    policy: HFPolicy, pairs: Sequence[tuple[tuple[int, ...], tuple[int, ...]]], temperature: float = 1.0
) -> list[torch.Tensor]:
    """Log-probabilities of each ``(prompt_ids, completion_ids)`` pair's completion tokens."""
    temp = temperature if temperature > 0 else 1.0
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (prompt, _) in enumerate(pairs):
        groups.setdefault(prompt, []).append(i)
    out: list[torch.Tensor] = [torch.empty(0)] * len(pairs)
    for prompt, members in groups.items():
        ids, mask = _left_pad([prompt], policy.tokenizer.pad_token_id or 0, policy.device)
        base_cache, last = _prefill(policy, ids, mask, extra=max(len(pairs[i][1]) for i in members))
        width = max(1, max(len(pairs[i][1]) for i in members))
        step = max(1, min(policy.batch_size, 2048 // width))
        for s in range(0, len(members), step):
            chunk = members[s : s + step]
            for i, lp in zip(
                chunk,
                _score_chunk(policy, base_cache, last, len(prompt), [pairs[i][1] for i in chunk], temp),
                strict=True,
            ):
                out[i] = lp
    return out


def _score_chunk(
    policy: HFPolicy,
    base_cache: Any,
    last: torch.Tensor,
    plen: int,
    comps: list[tuple[int, ...]],
    temp: float,
) -> list[torch.Tensor]:
    width = max(len(c) for c in comps)
    if width == 0:
        return [torch.empty(0) for _ in comps]
    m = len(comps)
    cache = copy.deepcopy(base_cache)
    cache.batch_repeat_interleave(m)
    inp = torch.full((m, width), policy.tokenizer.pad_token_id or 0, dtype=torch.long)
    cmask = torch.zeros((m, width), dtype=torch.long)
    for j, c in enumerate(comps):
        if c:
            inp[j, : len(c)] = torch.tensor(c, dtype=torch.long)
            cmask[j, : len(c)] = 1
    mask = torch.cat([torch.ones((m, plen), dtype=torch.long), cmask], dim=1).to(policy.device)
    pos = (plen + torch.arange(width)).unsqueeze(0).expand(m, -1).to(policy.device)
    logits = policy.model(
        input_ids=inp.to(policy.device),
        attention_mask=mask,
        position_ids=pos,
        use_cache=True,
        **{policy._cache_kw: cache},
    ).logits
    res = []
    for j, c in enumerate(comps):
        rows = torch.cat([last, logits[j, : max(0, len(c) - 1)].float()], dim=0)[: len(c)]
        lp = torch.log_softmax(rows / temp, dim=-1)
        res.append(
            lp.gather(-1, torch.tensor(c, dtype=torch.long, device=lp.device).unsqueeze(-1)).squeeze(-1).cpu()
        )
    return res
