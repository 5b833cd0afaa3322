"""Local rollouts during training: G actions per pivot from the current policy, then verified.

A pivot's prompt is rendered, fitted to the context and encoded by the ``hf`` backend's
:meth:`~pivotrl_core.policies.hf.HFPolicy.prepare` -- exactly as in profiling. Sampling uses
``sampler.sample_shared`` for Llama-style models: the B prompts of a step are prefilled ONCE
(block by block, common blocks shared, frozen layers' blocks kept across steps) and each prompt's
keys/values are shared in place by its G rows; other models go through the ``hf``
backend's sampler (one prefill per prompt, its cache expanded to the G rows). Both record the
sampling-time log-probability of every token (of the temperature-scaled distribution) and draw
the same samples for the same seed.

The step's seed is derived from the run seed and the step number, so a resumed run samples the
same actions as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..policies.base import Completion, Prompt, SamplingParams
from ..policies.chat import parse_completion
from ..types import Candidate, Verdict
from ..verifiers.base import verify_many
from .layers import supports
from .prompt_blocks import BlockStore
from .sampler import SampledGroup, sample_shared

__all__ = [
    "GroupRollout",
    "Verifiers",
    "make_policy",
    "rollout_prompt",
    "sample_groups",
    "step_seed",
    "verify_groups",
]


@dataclass
class GroupRollout:
    """The G sampled actions of one pivot, as tensors ready for the loss.

    ``tokens``/``mask``/``old_logp`` are (G, T), right-padded; ``mask`` is 0 on padding and on
    the whole row of an errored sample (set by :func:`verify_groups`). ``h_prompt`` (P, H) and
    ``h_comp`` (G, T, H) are the hidden states entering layer ``boundary`` when the sampler
    recorded them (frozen bottom layers).
    """

    candidate: Candidate
    prompt_ids: torch.Tensor  # (P,)
    completions: list[Completion]
    tokens: torch.Tensor  # (G, T) long
    mask: torch.Tensor  # (G, T) float
    old_logp: torch.Tensor  # (G, T) float
    verdicts: list[Verdict] = field(default_factory=list)
    ref_logp: torch.Tensor | None = None  # (G, T), when a KL to the reference is needed
    h_prompt: torch.Tensor | None = None  # (P, H)
    h_comp: torch.Tensor | None = None  # (G, T, H)

    @property
    def group_size(self) -> int:
        return self.tokens.shape[0]

    def rewards(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(G,) rewards (0 where errored) and (G,) validity."""
        r = torch.tensor([0.0 if v.errored else float(v.score) for v in self.verdicts])
        ok = torch.tensor([not v.errored for v in self.verdicts])
        return r, ok


def step_seed(seed: int, step: int, salt: str = "rollout") -> int:
    """A 63-bit seed for one step's sampling, from the run seed and the step number."""
    h = hashlib.blake2b(f"{salt}|{seed}|{step}".encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little") & ((1 << 63) - 1)


def rollout_prompt(candidate: Candidate) -> Prompt:
    """The prompt profiling uses: the prefix, with the domain's system prompt when it has none."""
    from ..profile import candidate_prompt
    from ..registry import get_registry

    registry = get_registry()
    system = (
        registry.domain(candidate.domain).system_prompt
        if candidate.domain in registry.names("domain")
        else None
    )
    return candidate_prompt(candidate, system)


def make_policy(model: Any, tokenizer: Any, max_prompt_tokens: int, device: str = "cpu") -> Any:
    """An ``hf`` sampler around an in-memory (possibly LoRA-wrapped) model."""
    from ..policies.hf import HFPolicy

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft: adapters stay active
    return HFPolicy(base, tokenizer=tokenizer, device=device, max_prompt_tokens=max_prompt_tokens)


def _pad_right(
    rows: Sequence[Sequence[Any]], value: Any, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(1, max(len(r) for r in rows))
    out = torch.full((len(rows), width), value, dtype=dtype)
    mask = torch.zeros((len(rows), width), dtype=torch.float32)
    for i, r in enumerate(rows):
        if len(r):
            out[i, : len(r)] = torch.tensor(list(r), dtype=dtype)
            mask[i, : len(r)] = 1.0
    return out, mask


def _completion(policy: Any, tokens: list[int], logps: list[float], reason: str) -> Completion:
    body = tokens[:-1] if reason == "stop" and tokens else tokens
    text = policy.tokenizer.decode(body, skip_special_tokens=False)
    return Completion(
        text=text,
        message=parse_completion(text, policy.end_token),
        token_ids=tuple(tokens),
        logprobs=tuple(logps),
        finish_reason=reason,
    )


def _sample(
    policy: Any,
    model: Any,
    ids: list[tuple[int, ...]],
    n: int,
    sampling: SamplingParams,
    boundary: int,
    frozen: BlockStore | None,
) -> list[SampledGroup]:
    if supports(model):
        return sample_shared(model, ids, n, sampling, policy.stop_ids, boundary=boundary, frozen=frozen)
    from ..policies.hf import ContextInfo

    rows = policy.sample_prepared([ContextInfo(i, len(i)) for i in ids], n, sampling)
    return [
        SampledGroup(
            [list(c.token_ids or ()) for c in r],
            [list(c.logprobs or ()) for c in r],
            [c.finish_reason for c in r],
        )
        for r in rows
    ]


def sample_groups(
    policy: Any,
    candidates: Sequence[Candidate],
    group_size: int,
    sampling: SamplingParams,
    boundary: int = 0,
    frozen: BlockStore | None = None,
) -> list[GroupRollout | None]:
    """Sample ``group_size`` actions for each candidate (``None`` where the prompt cannot fit).

    ``policy`` is the ``hf`` policy around the trained model (:func:`make_policy`); with
    ``boundary > 0`` the hidden states entering that layer are kept for the loss, and ``frozen``
    (a :class:`~pivotrl_core.train.prompt_blocks.BlockStore` kept by the caller) holds the frozen
    layers' prompt blocks across calls.
    """
    model = policy.model
    was_training = model.training
    model.eval()
    try:
        infos = [policy.prepare(rollout_prompt(c), sampling.max_new_tokens) for c in candidates]
        live = [i for i, info in enumerate(infos) if info.ids is not None]
        sampled = (
            _sample(policy, model, [infos[i].ids for i in live], group_size, sampling, boundary, frozen)
            if live
            else []
        )
    finally:
        model.train(was_training)
    out: list[GroupRollout | None] = [None] * len(candidates)
    pad = policy.tokenizer.pad_token_id or 0
    for i, s in zip(live, sampled, strict=True):
        comps = [
            _completion(policy, t, lp, r) for t, lp, r in zip(s.tokens, s.logprobs, s.reasons, strict=True)
        ]
        tokens, mask = _pad_right(s.tokens, pad, torch.long)
        old_logp, _ = _pad_right(s.logprobs, 0.0, torch.float32)
        out[i] = GroupRollout(
            candidate=candidates[i],
            prompt_ids=torch.tensor(infos[i].ids, dtype=torch.long),
            completions=comps,
            tokens=tokens,
            mask=mask,
            old_logp=old_logp,
            h_prompt=s.h_prompt,
            h_comp=s.h_comp[:, : tokens.shape[1]] if s.h_comp is not None else None,
        )
    return out


class Verifiers:
    """Verifier per domain, built once: ``override`` (a registered name) or the domain's default."""

    def __init__(
        self, domain: str | None = None, override: str | None = None, options: dict | None = None
    ) -> None:
        from ..registry import get_registry

        self.registry = get_registry()
        self.domain = domain
        self.override = override
        self.options = dict(options or {})
        self._cache: dict[str, Any] = {}

    def for_candidate(self, cand: Candidate) -> Any:
        key = self.override or self.domain or cand.domain
        if key not in self._cache:
            if self.override:
                self._cache[key] = self.registry.verifier(self.override, **self.options)
            else:
                self._cache[key] = self.registry.domain_verifier(key, **self.options)
        return self._cache[key]


def verify_groups(groups: Sequence[GroupRollout], verifiers: Verifiers) -> int:
    """Score every sampled action; errored verdicts zero their row's mask. Returns the error count."""
    by_verifier: dict[int, tuple[Any, list[tuple[int, int]]]] = {}
    for gi, g in enumerate(groups):
        v = verifiers.for_candidate(g.candidate)
        by_verifier.setdefault(id(v), (v, []))[1].extend((gi, j) for j in range(g.group_size))
        g.verdicts = [Verdict.from_error("not verified") for _ in range(g.group_size)]
    for v, slots in by_verifier.values():
        pairs = [(groups[gi].candidate, groups[gi].completions[j].message) for gi, j in slots]
        for (gi, j), verdict in zip(slots, verify_many(v, pairs), strict=True):
            groups[gi].verdicts[j] = verdict
    n_err = 0
    for g in groups:
        _, ok = g.rewards()
        g.mask = g.mask * ok[:, None].to(g.mask.dtype)
        n_err += int((~ok).sum())
    return n_err
