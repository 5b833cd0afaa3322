"""The token-level loops behind :class:`~pivotrl_core.policies.hf.HFPolicy`.

``generate``: one left-padded prefill per batch of prompts (chunked for long prompts, logits
only for the last position), the KV cache expanded to ``n`` rows per prompt, then a decode loop
that drops finished rows from the batch. ``score``: log-probabilities of given completions, one
prefill per distinct prompt shared by all its completions.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from .attention import PrefixKV, record_layer_input, using_prefix_attention
from .base import SamplingParams
from .kv_cache import left_pad, new_cache, prefill
from .prefix_cache import BlockStore
from .prefix_store import prefill_shared

if TYPE_CHECKING:
    from .hf import HFPolicy

__all__ = ["generate", "pick_tokens", "prompt_seed", "score"]

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


def prompt_seed(seed: int, ids: Sequence[int]) -> int:
    """The per-prompt random seed: a hash of the run seed and the prompt's tokens."""
    h = hashlib.blake2b(digest_size=8)
    h.update(str(seed).encode())
    h.update(b"|")
    h.update(",".join(map(str, ids)).encode())
    return int.from_bytes(h.digest(), "little") & ((1 << 63) - 1)


def _generators(ids_list: Sequence[Sequence[int]], seed: int | None) -> list[torch.Generator]:
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
        self.policy, self.model = policy, policy.model
        self.shared = isinstance(prefix, tuple)
        self.next_pos = mask.sum(-1).repeat_interleave(n)  # the first new token's position
        if self.shared:
            self.state: PrefixKV | None = PrefixKV(
                keys=prefix[0],
                values=prefix[1],
                valid=mask.bool(),
                row_prompt=torch.arange(mask.shape[0], device=mask.device).repeat_interleave(n),
            )
            self.cache, self.mask = new_cache(self.model, max_new), None
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
    policy: HFPolicy,
    ids_list: Sequence[Sequence[int]],
    n: int,
    sampling: SamplingParams,
    record: int = 0,
    hidden: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    frozen: BlockStore | None = None,
) -> list[list[Row]]:
    """Sample ``n`` continuations of each prompt (token id lists); one prefill per batch.

    With ``record > 0``, ``hidden`` receives per prompt the hidden states entering decoder layer
    ``record``: the prompt's (P, H) and its rows' (n, max_new_tokens, H) (row g valid for its
    first len(tokens) - 1 positions); the layers below it are prefilled block by block, their
    full blocks kept in ``frozen`` when given (those layers must be frozen).
    """
    if record > 0 and policy.prefix_store is not None:
        raise ValueError("recording layer inputs needs a policy without a prefix cache")
    sink: list[torch.Tensor] = []
    lives: list[torch.Tensor] = []
    rec = record_layer_input(policy.model, record, sink) if record > 0 else contextlib.nullcontext()
    with rec:
        if policy.shared_prefix:
            keys, values, mask, logits = prefill_shared(policy, ids_list, record, frozen)
            dec = _Decoder(policy, (keys, values), mask, n, sampling.max_new_tokens)
        else:
            input_ids, mask = left_pad(ids_list, policy.tokenizer.pad_token_id or 0, policy.device)
            cache, logits = prefill(policy, input_ids, mask, extra=sampling.max_new_tokens)
            dec = _Decoder(policy, cache, mask, n, sampling.max_new_tokens)
        n_pre = len(sink)
        ctx = using_prefix_attention(policy.model) if dec.shared else contextlib.nullcontext()
        with ctx:
            logits = logits.repeat_interleave(n, dim=0)
            rows = _decode(policy, dec, logits, len(ids_list), n, sampling, ids_list, lives)
    if hidden is not None and record > 0:
        lengths = [len(x) for x in ids_list]
        hidden.extend(_hidden(sink, n_pre, lives, lengths, n, sampling.max_new_tokens, policy.shared_prefix))
    return [rows[b * n : (b + 1) * n] for b in range(len(ids_list))]


def _hidden(
    sink: list[torch.Tensor],
    n_pre: int,
    lives: list[torch.Tensor],
    lengths: list[int],
    n: int,
    T: int,
    per_prompt: bool,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The recorded layer inputs, per prompt: (P, H) for the prompt, (n, T, H) for its rows.

    The prefill recorded one (1, P, H) piece per prompt (``per_prompt``) or left-padded (B, w, H) chunks.
    """
    if per_prompt:
        prompts = [x[0] for x in sink[:n_pre]]
    else:
        pre = torch.cat(sink[:n_pre], dim=1)  # (B, W, H), left-padded
        prompts = [pre[b, pre.shape[1] - p :].clone() for b, p in enumerate(lengths)]
    comp = prompts[0].new_zeros((len(lengths) * n, T, prompts[0].shape[-1]))
    for t, (live, h) in enumerate(zip(lives, sink[n_pre:], strict=True)):
        comp[live.to(comp.device), t] = h[:, 0]
    return [(prompts[b], comp[b * n : (b + 1) * n]) for b in range(len(lengths))]


def _decode(
    policy: HFPolicy,
    dec: _Decoder,
    logits: torch.Tensor,
    n_prompts: int,
    n: int,
    sampling: SamplingParams,
    ids_list: Sequence[Sequence[int]],
    lives: list[torch.Tensor] | None = None,
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
        if lives is not None:
            lives.append(live)
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
        ids, mask = left_pad([prompt], policy.tokenizer.pad_token_id or 0, policy.device)
        base_cache, last = prefill(policy, ids, mask, extra=max(len(pairs[i][1]) for i in members))
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
