"""Domains: what a plugin brings for one kind of agent data."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from .types import Candidate, Message, Trajectory

__all__ = [
    "PIVOT_TURN",
    "Domain",
    "ExtractOptions",
    "Extractor",
    "Generator",
    "Split",
    "Warmup",
    "candidate_at",
]


@dataclass(frozen=True)
class ExtractOptions:
    """How trajectories are cut into candidates (``docs/formats.md``, "Turn extraction").

    - ``multi_call``: ``"batch"`` keeps a turn with several tool calls as one batch action;
      ``"drop"`` skips such turns (counted).
    - ``reasoning``: ``"keep"`` keeps earlier turns' reasoning in the prefix (the chat template
      decides whether it is rendered); ``"drop"`` removes reasoning from prefix and action.
    - ``dedupe``: drop a candidate whose (prefix, action) pair was already emitted.
    """

    domain: str = "generic"
    multi_call: Literal["batch", "drop"] = "batch"
    reasoning: Literal["keep", "drop"] = "keep"
    dedupe: bool = False


Extractor = Callable[[Trajectory, ExtractOptions], Iterable[Candidate]]
"""``extractor(trajectory, options) -> candidates``; skipped turns are simply not yielded."""

Split = Literal["train", "validation", "heldout"]
"""Which part of a domain's task space a generator draws from. ``train`` feeds extraction and SFT,
``validation`` chooses settings, ``heldout`` is evaluation only: a domain keeps them disjoint."""


class Generator(Protocol):
    """``generate(n, seed, split) -> trajectories``: a domain's own demonstration data."""

    def __call__(self, n: int, seed: int, split: Split) -> Iterable[Trajectory]: ...


class Warmup(Protocol):
    """``warmup(model, **options) -> folder``: build (and cache) a warmed-up pi_0 from ``model``
    (a name or folder) and return the folder of the result; options come from ``[model]
    warmup_options``."""

    def __call__(self, model: str, **options: Any) -> Path: ...


@dataclass(frozen=True)
class Domain:
    """A domain plugin's bundle.

    - ``verifier`` / ``verifier_options``: the default functional verifier, by registered name.
    - ``extractor``: a custom turn extractor; ``None`` uses the default one.
    - ``benchmarks``: benchmark adapters by name, each ``adapter(policy, **options) -> dict``.
    - ``system_prompt``: an optional prompt prepended at rollout time when the prefix has none.
    - ``generate``: optional :class:`Generator` of demonstration trajectories (``[data] generate``
      in ``pivotrl run``), so a domain can produce its own training and held-out data.
    - ``warmup``: optional :class:`Warmup` that turns a base model into the reference policy pi_0
      (``[model] warmup = true``), e.g. a short SFT on a few demonstrations.
    """

    name: str
    description: str = ""
    verifier: str = "tool_call"
    verifier_options: Mapping[str, Any] = field(default_factory=dict)
    extractor: Extractor | None = None
    benchmarks: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    system_prompt: str | None = None
    generate: Generator | None = None
    warmup: Warmup | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


PIVOT_TURN = "pivot_turn"
"""Trajectory metadata key: the message index of the single pivot turn of this trajectory."""


def candidate_at(
    trajectory: Trajectory, index: int, domain: str, messages: tuple[Message, ...] | None = None
) -> Candidate:
    """The candidate at message ``index`` of a trajectory (``messages`` overrides its messages)."""
    msgs = trajectory.messages if messages is None else messages
    meta = trajectory.metadata
    if PIVOT_TURN in meta:
        meta = {k: v for k, v in meta.items() if k != PIVOT_TURN}
    return Candidate(
        id=f"{trajectory.id}:{index}",
        domain=domain,
        trajectory_id=trajectory.id,
        turn_index=index,
        messages=msgs[:index],
        expected=msgs[index],
        tools=trajectory.tools,
        metadata=meta,
    )
