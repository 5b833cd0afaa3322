"""Combinators: ``cascade``, ``all``, ``any`` and ``weighted``, built from verifier names.

Each takes ``steps``: a list whose items are a verifier name (``"fuzzy"``), a mapping with
``name`` plus that verifier's options (``{"name": "fuzzy", "threshold": 0.95}``), a
:class:`Verifier` instance or a plain function. Mappings may also carry control keys that are not
passed to the verifier: ``stop_on`` (cascade), ``weight`` (weighted) and ``label``.

``cascade`` runs steps in order and stops at the first decisive verdict. What is decisive
depends on each step's ``stop_on``: ``"fail"`` (a gate: its fail is final, its pass goes on),
``"pass"`` (a shortcut: its pass is final, its fail goes on), ``"any"`` (both are final) or
``"never"``. The default comes from the verifier's ``cascade_role``: ``json_schema`` is a gate,
``exact`` and ``fuzzy`` are shortcuts, everything else decides. The last step always decides.
An errored step makes the whole verdict errored (the combinator cannot decide).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ConfigError
from ..types import Candidate, Message, Verdict
from ._options import choice, resolve_options, unit_interval
from .base import Verifier, build_verifier, run_verifier

__all__ = [
    "AllVerifier",
    "AnyVerifier",
    "CascadeVerifier",
    "Step",
    "Resolve",
    "WeightedVerifier",
    "from_spec",
]

STOP_ON = ("fail", "pass", "any", "never")
_ROLE_STOP = {"gate": "fail", "shortcut": "pass", "decide": "any"}
_COSTS = ("cheap", "moderate", "expensive")
_CONTROL = ("stop_on", "weight", "label")


Resolve = Callable[[Any], Verifier]
"""``resolve(spec) -> Verifier``: the host's (the registry's) way to build a step."""


def from_spec(spec: Any, build: Callable[..., Verifier]) -> Verifier:
    """A verifier from a name, a ``{"name": ..., **options}`` mapping, an instance or a function.

    ``build(name, **options)`` builds a registered verifier by name (``Registry.verifier``);
    control keys (``stop_on``, ``weight``, ``label``) are not passed on.
    """
    if isinstance(spec, Verifier):
        return spec
    if isinstance(spec, str):
        return build(spec)
    if isinstance(spec, Mapping):
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a verifier step needs a 'name' (a registered verifier), got {dict(spec)!r}")
        return build(name, **{k: v for k, v in spec.items() if k not in ("name", *_CONTROL)})
    if callable(spec):
        return build_verifier(spec)
    raise ConfigError(f"cannot build a verifier from {spec!r}; give a name or a {{'name': ...}} table")


def _no_registry(name: str, **options: Any) -> Verifier:
    raise ConfigError(
        f"this combinator was built without a registry, so it cannot look up verifier '{name}'; "
        "build it through the registry: get_registry().verifier('cascade', steps=[...])"
    )


def _local(spec: Any) -> Verifier:
    """The resolver of a combinator built by hand: instances and functions only."""
    return from_spec(spec, _no_registry)


@dataclass(frozen=True)
class Step:
    """One child verifier of a combinator and its control settings."""

    verifier: Verifier
    label: str
    stop_on: str
    weight: float = 1.0


def _steps(combinator: str, specs: Any, resolve: Resolve) -> tuple[Step, ...]:
    if not isinstance(specs, Sequence) or isinstance(specs, str) or not specs:
        raise ConfigError(
            f"verifier '{combinator}' needs 'steps': a non-empty list of verifier names or tables"
        )
    steps = []
    for i, spec in enumerate(specs):
        verifier = resolve(spec)
        control = spec if isinstance(spec, Mapping) else {}
        role = getattr(verifier, "cascade_role", "decide")
        stop_on = choice(
            combinator, f"steps[{i}].stop_on", control.get("stop_on", _ROLE_STOP.get(role, "any")), STOP_ON
        )
        weight = control.get("weight", 1.0)
        if not isinstance(weight, (int, float)) or weight < 0:
            raise ConfigError(
                f"verifier '{combinator}': steps[{i}].weight must be a number >= 0, got {weight!r}"
            )
        label = str(control.get("label") or f"{i}:{verifier.name}")
        steps.append(Step(verifier, label, stop_on, float(weight)))
    return tuple(steps)


def _summary(step: Step, v: Verdict) -> dict[str, Any]:
    return {
        "step": step.label,
        "score": v.reward,
        "passed": None if v.errored else v.passed,
        "reason": v.reason,
        "error": v.error,
    }


class _Combinator(Verifier):
    """Shared metadata: deterministic/thread-safe when every step is; as costly as the costliest."""

    cascade_role: ClassVar[str] = "decide"
    DEFAULTS: ClassVar[dict[str, Any]] = {"steps": None}

    def __init__(self, *, resolve: Resolve = _local, **options: Any) -> None:
        o = resolve_options(self.name, options, self.DEFAULTS)
        self.steps = _steps(self.name, o["steps"], resolve)
        self.options = o
        self.max_concurrency = max(s.verifier.max_concurrency for s in self.steps)

    @property  # type: ignore[override]
    def deterministic(self) -> bool:
        return all(s.verifier.deterministic for s in self.steps)

    @property  # type: ignore[override]
    def thread_safe(self) -> bool:
        return all(s.verifier.thread_safe for s in self.steps)

    @property  # type: ignore[override]
    def cost(self) -> str:
        return max((s.verifier.cost for s in self.steps), key=_COSTS.index)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "steps": [{"label": s.label, **s.verifier.describe()} for s in self.steps],
        }

    def _errored(self, trace: list[dict[str, Any]], step: Step, v: Verdict) -> Verdict:
        return Verdict.from_error(f"step {step.label}: {v.error}", steps=trace)


class CascadeVerifier(_Combinator):
    """Cheap checks first, the expensive judge last; stop at the first decisive verdict."""

    name: ClassVar[str] = "cascade"

    def _final(self, i: int, v: Verdict) -> bool:
        step = self.steps[i]
        if i == len(self.steps) - 1 or step.stop_on == "any":
            return True
        return (step.stop_on == "pass" and v.passed) or (step.stop_on == "fail" and not v.passed)

    def _decided(self, step: Step, v: Verdict, trace: list[dict[str, Any]]) -> Verdict:
        if v.errored:
            return self._errored(trace, step, v)
        details = {**v.details, "decided_by": step.label, "steps": trace}
        return Verdict(score=v.score, passed=v.passed, reason=f"{step.label}: {v.reason}", details=details)

    def verify(self, candidate: Candidate, action: Message) -> Verdict:
        trace: list[dict[str, Any]] = []
        for i, step in enumerate(self.steps):
            v = run_verifier(step.verifier, candidate, action)
            trace.append(_summary(step, v))
            if v.errored or self._final(i, v):
                return self._decided(step, v, trace)
        raise AssertionError("unreachable: the last step always decides")

    def verify_batch(self, pairs: Sequence[tuple[Candidate, Message]]) -> list[Verdict]:
        """Stage by stage: each step verifies (concurrently, if it is slow) only the undecided pairs."""
        out: list[Verdict | None] = [None] * len(pairs)
        traces: list[list[dict[str, Any]]] = [[] for _ in pairs]
        pending = list(range(len(pairs)))
        for i, step in enumerate(self.steps):
            if not pending:
                break
            verdicts = step.verifier.verify_batch([pairs[j] for j in pending])
            still = []
            for j, v in zip(pending, verdicts, strict=True):
                traces[j].append(_summary(step, v))
                if v.errored or self._final(i, v):
                    out[j] = self._decided(step, v, traces[j])
                else:
                    still.append(j)
            pending = still
        return [v for v in out if v is not None]


class AllVerifier(_Combinator):
    """Pass when every step passes. A definite fail wins over errors; score = the lowest score."""

    name: ClassVar[str] = "all"
    DEFAULTS: ClassVar[dict[str, Any]] = {"steps": None, "short_circuit": True}

    def verify(self, candidate: Candidate, action: Message) -> Verdict:
        trace: list[dict[str, Any]] = []
        first_error: tuple[Step, Verdict] | None = None
        for step in self.steps:
            v = run_verifier(step.verifier, candidate, action)
            trace.append(_summary(step, v))
            if v.errored:
                first_error = first_error or (step, v)
            elif not v.passed and self.options["short_circuit"]:
                return Verdict.fail(f"{step.label}: {v.reason}", score=v.score, steps=trace)
        fails = [t for t in trace if t["passed"] is False]
        if fails:
            return Verdict.fail(
                f"{fails[0]['step']}: {fails[0]['reason']}", score=min(t["score"] for t in fails), steps=trace
            )
        if first_error:
            return self._errored(trace, *first_error)
        return Verdict.ok("every step passed", score=min(t["score"] for t in trace), steps=trace)


class AnyVerifier(_Combinator):
    """Pass when some step passes (stops at the first pass). Score = the highest score."""

    name: ClassVar[str] = "any"

    def verify(self, candidate: Candidate, action: Message) -> Verdict:
        trace: list[dict[str, Any]] = []
        first_error: tuple[Step, Verdict] | None = None
        for step in self.steps:
            v = run_verifier(step.verifier, candidate, action)
            trace.append(_summary(step, v))
            if v.errored:
                first_error = first_error or (step, v)
            elif v.passed:
                return Verdict.ok(f"{step.label}: {v.reason}", score=v.score, steps=trace)
        if first_error:
            return self._errored(trace, *first_error)
        return Verdict.fail("no step passed", score=max(t["score"] for t in trace), steps=trace)


class WeightedVerifier(_Combinator):
    """Score = weighted mean of the steps' scores; passed when it reaches ``threshold``.

    Options: ``threshold`` (default 0.5), ``on_error`` (``error``: any errored step errors the
    verdict; ``skip``: errored steps are left out and the weights renormalised).
    """

    name: ClassVar[str] = "weighted"
    DEFAULTS: ClassVar[dict[str, Any]] = {"steps": None, "threshold": 0.5, "on_error": "error"}

    def __init__(self, *, resolve: Resolve = _local, **options: Any) -> None:
        super().__init__(resolve=resolve, **options)
        self.threshold = unit_interval(self.name, "threshold", self.options["threshold"])
        self.on_error = choice(self.name, "on_error", self.options["on_error"], ("error", "skip"))
        if sum(s.weight for s in self.steps) <= 0:
            raise ConfigError("verifier 'weighted': the step weights must not all be 0")

    def verify(self, candidate: Candidate, action: Message) -> Verdict:
        trace: list[dict[str, Any]] = []
        total = weight = 0.0
        for step in self.steps:
            v = run_verifier(step.verifier, candidate, action)
            trace.append(_summary(step, v))
            if v.errored:
                if self.on_error == "error":
                    return self._errored(trace, step, v)
                continue
            total += step.weight * v.score
            weight += step.weight
        if weight <= 0:
            return Verdict.from_error("every weighted step errored", steps=trace)
        score = total / weight
        passed = score >= self.threshold
        reason = f"weighted score {score:.3f} {'>=' if passed else '<'} {self.threshold}"
        return Verdict(score=score, passed=passed, reason=reason, details={"steps": trace})
