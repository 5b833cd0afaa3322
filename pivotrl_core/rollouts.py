"""The one rollout path: K actions per candidate from a policy, each verified.

Profiling, training (and pivot refresh) and held-out evaluation all go through
:func:`sample_and_verify`: the candidate's prompt is built by
:meth:`~pivotrl_core.policies.base.Prompt.for_candidate` with its domain's system prompt, the
policy samples ``k`` completions per prompt in one call, and each completion is scored by the
verifier :class:`VerifierResolver` picks for the candidate. :func:`is_pivot` is the PivotRL filter
applied to the resulting scores (by ``select`` and by the trainer's pivot refresh).

Which verifier scores a candidate (first that applies):

1. an explicit ``verifier`` name (``--verifier``, with its options);
2. the verifier recorded in the candidate (``Candidate.verifier``: the one ``profile`` scored it
   with, carried into the pivots by ``select``);
3. an explicit ``domain``'s default verifier (``--domain``);
4. the candidate's own domain's default verifier.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import PivotrlError
from .policies.base import Completion, Policy, Prompt, SamplingParams
from .registry import Registry
from .types import Candidate, Message, Profile, Verdict, VerifierSpec
from .verifiers.base import Verifier

__all__ = ["Group", "VerifierResolver", "enough_scored", "is_pivot", "sample_and_verify", "verify_groups"]


class VerifierResolver:
    """The verifier and the system prompt each candidate is rolled out under (built once each).

    ``registry`` builds verifiers and finds domains; ``domain``, ``verifier`` and ``options`` are
    the caller's overrides (see the module docstring for the order). ``options`` without a
    ``verifier`` override the options of the domain's default verifier.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        domain: str | None = None,
        verifier: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.registry = registry
        self.domain = domain
        self.verifier = verifier
        self.options = dict(options or {})
        self._built: dict[str, Verifier] = {}
        if domain:
            registry.domain(domain)  # fail fast on an unknown --domain
        if verifier:
            self.build(VerifierSpec(verifier, self.options))  # ... and on an unknown --verifier

    def spec_for(self, candidate: Candidate) -> VerifierSpec:
        """The name and options of the verifier that scores ``candidate``."""
        if self.verifier:
            return VerifierSpec(self.verifier, self.options)
        if candidate.verifier is not None:
            return candidate.verifier
        d = self.registry.domain(self.domain or candidate.domain)
        return VerifierSpec(d.verifier, {**dict(d.verifier_options), **self.options})

    def build(self, spec: VerifierSpec) -> Verifier:
        """The verifier of ``spec``, built once per distinct name and options."""
        key = json.dumps(spec.to_dict(), sort_keys=True, default=str)
        if key not in self._built:
            self._built[key] = self.registry.verifier(spec.name, **spec.options)
        return self._built[key]

    def for_candidate(self, candidate: Candidate) -> Verifier:
        return self.build(self.spec_for(candidate))

    def system_prompt(self, candidate: Candidate) -> str | None:
        """The system prompt of the candidate's domain (``domain`` when given), if registered."""
        name = self.domain or candidate.domain
        return self.registry.domain(name).system_prompt if name in self.registry.names("domain") else None

    def prompt(self, candidate: Candidate) -> Prompt:
        return Prompt.for_candidate(candidate, self.system_prompt(candidate))


@dataclass
class Group:
    """The ``k`` sampled actions of one candidate and their verdicts (empty when the policy skipped
    the prompt, e.g. too long for its context). ``completions`` keep the policy's token ids and
    log-probabilities when it gives them; ``verifier`` is what scored them."""

    candidate: Candidate
    prompt: Prompt
    completions: list[Completion]
    verifier: VerifierSpec
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def skipped(self) -> bool:
        return not self.completions

    @property
    def scores(self) -> list[float | None]:
        """One score per sample, ``None`` where the verdict errored."""
        return [None if v.errored else float(v.score) for v in self.verdicts]


def _policy_error(c: Completion) -> Verdict:
    return Verdict.from_error(str(c.meta.get("error") or "policy error"))


def _verify_batch(verifier: Verifier, pairs: list[tuple[Candidate, Message]]) -> list[Verdict]:
    """``verifier.verify_batch``; a batch API that fails errors its verdicts (never a 0)."""
    if not pairs:
        return []
    try:
        out = verifier.verify_batch(pairs)
    except Exception as e:  # noqa: BLE001 - a plugin's native batch API failed: errored, not failed
        return [Verdict.from_error(f"{type(e).__name__}: {e}", verifier=verifier.name) for _ in pairs]
    if len(out) != len(pairs):
        msg = f"verify_batch returned {len(out)} verdicts for {len(pairs)} actions"
        return [Verdict.from_error(msg, verifier=verifier.name) for _ in pairs]
    return list(out)


def verify_groups(groups: Sequence[Group], resolver: VerifierResolver) -> int:
    """Score every completion of ``groups`` in place (batched per verifier); return the errored count.

    A completion the policy itself failed on (``finish_reason == "error"``) gets an errored verdict
    without being verified.
    """
    by_verifier: dict[int, tuple[Verifier, list[tuple[int, int]]]] = {}
    for gi, g in enumerate(groups):
        g.verdicts = [_policy_error(c) for c in g.completions]
        verifier = resolver.build(g.verifier)
        slots = [(gi, ci) for ci, c in enumerate(g.completions) if c.finish_reason != "error"]
        by_verifier.setdefault(id(verifier), (verifier, []))[1].extend(slots)
    for verifier, slots in by_verifier.values():
        pairs = [(groups[gi].candidate, groups[gi].completions[ci].message) for gi, ci in slots]
        verdicts = _verify_batch(verifier, pairs)
        for (gi, ci), verdict in zip(slots, verdicts, strict=True):
            groups[gi].verdicts[ci] = verdict
    return sum(1 for g in groups for v in g.verdicts if v.errored)


def sample_and_verify(
    policy: Policy,
    candidates: Sequence[Candidate],
    k: int,
    sampling: SamplingParams,
    *,
    resolver: VerifierResolver,
    timings: MutableMapping[str, float] | None = None,
) -> list[Group]:
    """``k`` actions for each candidate from ONE ``policy.sample`` call, each verified.

    Returns one :class:`Group` per candidate, in order. ``timings`` (when given) accumulates the
    seconds spent sampling (``sample_s``) and verifying (``verify_s``).
    """
    prompts = [resolver.prompt(c) for c in candidates]
    t0 = time.perf_counter()
    results = policy.sample(prompts, k, sampling) if prompts else []
    t1 = time.perf_counter()
    if len(results) != len(prompts):
        raise PivotrlError(
            f"policy '{getattr(policy, 'name', policy)}' returned {len(results)} results "
            f"for {len(prompts)} prompts"
        )
    groups = [
        Group(c, p, list(comps), resolver.spec_for(c))
        for c, p, comps in zip(candidates, prompts, results, strict=True)
    ]
    verify_groups(groups, resolver)
    if timings is not None:
        timings["sample_s"] = timings.get("sample_s", 0.0) + t1 - t0
        timings["verify_s"] = timings.get("verify_s", 0.0) + time.perf_counter() - t1
    return groups


def enough_scored(profile: Profile, min_scored: float) -> bool:
    """``n_scored >= max(2, ceil(min_scored x drawn))``: enough non-errored samples to trust the stats."""
    return profile.n_scored >= max(2, math.ceil(min_scored * len(profile.scores) - 1e-9))


def is_pivot(profile: Profile, max_mean: float, min_std: float = 0.0, min_scored: float = 0.0) -> bool:
    """The PivotRL filter: ``std > min_std`` and ``mean < max_mean`` over the scored samples.

    ``min_scored`` is the share of the drawn samples that must be scored (not errored): a profile
    needs ``n_scored >= max(2, ceil(min_scored * len(scores)))``, so a candidate scored on 2 of 8
    samples is not kept at ``min_scored = 0.5``.
    """
    mean, std = profile.mean, profile.std
    if mean is None or std is None:
        return False
    if not enough_scored(profile, min_scored):
        return False
    return std > min_std and mean < max_mean
