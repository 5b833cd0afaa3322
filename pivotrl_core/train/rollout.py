"""Local rollouts during training: G actions per pivot from the current policy, then verified.

The trainer samples through the one rollout path, :func:`pivotrl_core.rollouts.sample_and_verify`
(prompt building, verifier choice and verification shared with profiling and evaluation), with
:class:`TrainerPolicy` as the policy: the model being trained, behind the rollout-policy contract.
A pivot's prompt is rendered, fitted to the context and encoded by the ``hf`` backend's
:meth:`~pivotrl_core.policies.hf.HFPolicy.prepare` -- exactly as in profiling -- and sampled by that
backend's sampler on the model's own modules: one prefill per prompt, its keys/values shared in
place by its G rows (``policies.attention``), the sampling-time log-probability of every token (of
the temperature-scaled distribution) recorded and, with frozen bottom layers, the hidden states
entering the first trained layer. :func:`sample_groups` turns the verified groups into the loss's tensors.
Earlier calls in a prompt are written, and sampled calls parsed, in the model's tool-call format
(``tool_format`` of :func:`make_policy`, default: detected from the chat template), the one SFT teaches.

The step's seed is derived from the run seed and the step number, so a resumed run samples the
same actions as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..policies.base import Completion, Prompt, SamplingParams
from ..policies.hf import HFPolicy
from ..policies.prefix_cache import BlockStore
from ..rollouts import Group, VerifierResolver, sample_and_verify
from ..types import Candidate, Verdict

__all__ = ["GroupRollout", "TrainerPolicy", "make_policy", "sample_groups", "step_seed"]


@dataclass
class GroupRollout:
    """The G sampled actions of one pivot, as tensors ready for the loss.

    ``tokens``/``mask``/``old_logp`` are (G, T), right-padded; ``mask`` is 0 on padding and on
    the whole row of an errored sample. ``h_prompt`` (P, H) and ``h_comp`` (G, T, H) are the
    hidden states entering layer ``boundary`` when the sampler recorded them (frozen bottom layers).
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

    @classmethod
    def from_group(cls, group: Group, pad: int) -> GroupRollout:
        """The tensors of a verified group sampled by :class:`TrainerPolicy`."""
        comps = group.completions
        tokens, mask = _pad_right([c.token_ids or () for c in comps], pad, torch.long)
        old_logp, _ = _pad_right([c.logprobs or () for c in comps], 0.0, torch.float32)
        ok = torch.tensor([not v.errored for v in group.verdicts])
        meta = comps[0].meta  # the group's shared tensors (see TrainerPolicy.sample)
        h_comp = meta.get("h_comp")
        return cls(
            candidate=group.candidate,
            prompt_ids=torch.tensor(meta["prompt_ids"], dtype=torch.long),
            completions=comps,
            tokens=tokens,
            mask=mask * ok[:, None].to(mask.dtype),
            old_logp=old_logp,
            verdicts=list(group.verdicts),
            h_prompt=meta.get("h_prompt"),
            h_comp=h_comp[:, : tokens.shape[1]] if h_comp is not None else None,
        )


def step_seed(seed: int, step: int, salt: str = "rollout") -> int:
    """A 63-bit seed for one step's sampling, from the run seed and the step number."""
    h = hashlib.blake2b(f"{salt}|{seed}|{step}".encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little") & ((1 << 63) - 1)


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


class TrainerPolicy:
    """The model being trained as a rollout policy (``name = "train"``).

    ``sample`` returns completions with token ids and sampling-time log-probabilities; the G
    completions of a prompt share one ``meta`` dict holding the prompt's token ids
    (``prompt_ids``), and, with ``boundary > 0``, the hidden states entering that layer
    (``h_prompt`` (P, H), ``h_comp`` (G, T, H)). ``frozen`` keeps the frozen layers' prompt blocks
    across calls. A prompt that cannot fit the context gets ``[]``, as with every backend.
    """

    name = "train"

    def __init__(self, hf: HFPolicy, boundary: int = 0, frozen: BlockStore | None = None) -> None:
        self.hf = hf
        self.boundary = boundary
        self.frozen = frozen

    @property
    def model_id(self) -> str:
        return self.hf.model_id

    @property
    def model(self) -> Any:
        return self.hf.model

    @property
    def tokenizer(self) -> Any:
        return self.hf.tokenizer

    def plain(self) -> TrainerPolicy:
        """The same model without boundary states or frozen-block store (pivot refresh)."""
        return TrainerPolicy(self.hf)

    def close(self) -> None:
        """Nothing to release: the trainer owns the model."""

    def sample(self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams) -> list[list[Completion]]:
        model = self.hf.model
        was_training = model.training
        model.eval()
        try:
            infos = [self.hf.prepare(p, sampling.max_new_tokens) for p in prompts]
            return self.hf.sample_prepared(infos, n, sampling, record_layer=self.boundary, frozen=self.frozen)
        finally:
            model.train(was_training)


def make_policy(
    model: Any,
    tokenizer: Any,
    max_prompt_tokens: int,
    device: str = "cpu",
    *,
    boundary: int = 0,
    frozen: BlockStore | None = None,
    tool_format: str | None = None,
) -> TrainerPolicy:
    """A :class:`TrainerPolicy` around an in-memory (possibly LoRA-wrapped) model; ``tool_format``
    names its tool-call format (prompts' earlier calls, parsing of samples; default: detected)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft: adapters stay active
    hf = HFPolicy(
        base, tokenizer=tokenizer, device=device, max_prompt_tokens=max_prompt_tokens, tool_format=tool_format
    )
    return TrainerPolicy(hf, boundary, frozen)


def sample_groups(
    policy: TrainerPolicy,
    candidates: Sequence[Candidate],
    group_size: int,
    sampling: SamplingParams,
    resolver: VerifierResolver,
    timings: MutableMapping[str, float] | None = None,
) -> list[GroupRollout | None]:
    """``group_size`` verified actions per candidate as loss tensors (``None`` where the prompt
    cannot fit), through :func:`~pivotrl_core.rollouts.sample_and_verify`."""
    groups = sample_and_verify(policy, candidates, group_size, sampling, resolver=resolver, timings=timings)
    pad = policy.tokenizer.pad_token_id or 0
    return [None if g.skipped else GroupRollout.from_group(g, pad) for g in groups]
