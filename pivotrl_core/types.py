"""The core data types and their JSONL form.

All types are frozen dataclasses. ``to_dict()`` gives the JSON form written to JSONL files and
``from_dict()`` reads it back, raising :class:`~pivotrl_core.errors.InputError` that names the
field when a value is missing or has the wrong type. ``docs/formats.md`` documents each field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError

__all__ = ["ROLES", "Candidate", "Message", "Profile", "ToolCall", "Trajectory", "Verdict", "VerifierSpec"]

ROLES = ("system", "user", "assistant", "tool")


def _req(d: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: str = "") -> Any:
    if not isinstance(d, Mapping):
        raise InputError(f"expected an object, got {type(d).__name__}", field=where or None)
    if key not in d:
        raise InputError("missing required field", field=f"{where}{key}")
    val = d[key]
    if not isinstance(val, typ):
        raise InputError(f"expected {_typename(typ)}, got {type(val).__name__}", field=f"{where}{key}")
    return val


def _opt(d: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: str = "") -> Any:
    val = d.get(key)
    if val is not None and not isinstance(val, typ):
        raise InputError(
            f"expected {_typename(typ)} or null, got {type(val).__name__}", field=f"{where}{key}"
        )
    return val


def _typename(typ: type | tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in (typ if isinstance(typ, tuple) else (typ,)))


@dataclass(frozen=True)
class ToolCall:
    """One function call made by the assistant.

    ``arguments`` is the parsed JSON object, or ``None`` when the raw text did not parse to an
    object; ``raw_arguments`` keeps the original string in that case (a bad call is data to be
    scored, not a crash).
    """

    name: str
    arguments: dict[str, Any] | None = field(default_factory=dict)
    id: str | None = None
    raw_arguments: str | None = None

    @classmethod
    def from_raw(cls, name: str, arguments: Any, id: str | None = None) -> ToolCall:
        """Build from arguments given as a JSON string or an object; keep unparseable text raw."""
        if isinstance(arguments, Mapping):
            return cls(name=name, arguments=dict(arguments), id=id)
        if arguments is None or arguments == "":
            return cls(name=name, arguments={}, id=id)
        if isinstance(arguments, str):
            try:
                parsed = json.loads(arguments)
            except json.JSONDecodeError:
                return cls(name=name, arguments=None, id=id, raw_arguments=arguments)
            if isinstance(parsed, dict):
                return cls(name=name, arguments=parsed, id=id)
            return cls(name=name, arguments=None, id=id, raw_arguments=arguments)
        raise InputError(
            f"arguments must be a JSON string or an object, got {type(arguments).__name__}",
            field="arguments",
        )

    @property
    def arguments_json(self) -> str:
        """The arguments as a compact JSON string (the raw text when they did not parse)."""
        if self.arguments is None:
            return self.raw_arguments or ""
        return json.dumps(self.arguments, ensure_ascii=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "arguments": self.arguments}
        if self.id is not None:
            d["id"] = self.id
        if self.raw_arguments is not None:
            d["raw_arguments"] = self.raw_arguments
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "") -> ToolCall:
        name = _req(d, "name", str, where)
        if not name.strip():
            raise InputError("tool call has an empty name", field=f"{where}name")
        if "raw_arguments" in d and d.get("arguments") is None:
            return cls(name=name, arguments=None, id=d.get("id"), raw_arguments=d["raw_arguments"])
        try:
            return cls.from_raw(name, d.get("arguments"), id=_opt(d, "id", str, where))
        except InputError as e:
            raise InputError(e.message, field=f"{where}arguments") from None


@dataclass(frozen=True)
class Message:
    """One chat message. ``reasoning`` holds thinking text kept apart from ``content``."""

    role: str
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    reasoning: str | None = None

    @property
    def is_tool_call(self) -> bool:
        return bool(self.tool_calls)

    @property
    def is_empty(self) -> bool:
        """True for an assistant turn with neither text nor tool calls."""
        return not self.tool_calls and not (self.content or "").strip()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            d["tool_calls"] = [tc.to_dict() for tc in self.tool_calls]
        if self.tool_call_id is not None:
            d["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            d["name"] = self.name
        if self.reasoning is not None:
            d["reasoning"] = self.reasoning
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "") -> Message:
        role = _req(d, "role", str, where)
        if role not in ROLES:
            raise InputError(
                f"unknown role {role!r} (expected one of {', '.join(ROLES)})", field=f"{where}role"
            )
        content = _opt(d, "content", str, where)
        calls = _opt(d, "tool_calls", list, where) or []
        return cls(
            role=role,
            content=content,
            tool_calls=tuple(ToolCall.from_dict(c, f"{where}tool_calls[{i}].") for i, c in enumerate(calls)),
            tool_call_id=_opt(d, "tool_call_id", str, where),
            name=_opt(d, "name", str, where),
            reasoning=_opt(d, "reasoning", str, where),
        )


def _messages_from(d: Mapping[str, Any], key: str, where: str = "") -> tuple[Message, ...]:
    raw = _req(d, key, list, where)
    return tuple(Message.from_dict(m, f"{where}{key}[{i}].") for i, m in enumerate(raw))


@dataclass(frozen=True)
class Trajectory:
    """A recorded multi-turn episode: the messages and the tools that were available."""

    id: str
    messages: tuple[Message, ...]
    tools: tuple[dict[str, Any], ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "messages": [m.to_dict() for m in self.messages],
            "tools": list(self.tools),
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Trajectory:
        return cls(
            id=str(_req(d, "id", (str, int))),
            messages=_messages_from(d, "messages"),
            tools=tuple(_opt(d, "tools", list) or ()),
            metadata=dict(_opt(d, "metadata", dict) or {}),
        )


@dataclass(frozen=True)
class VerifierSpec:
    """A verifier by registered name and options: the one a candidate was profiled with (``profile``
    records it, ``select`` copies it into the pivots, ``train``/``eval`` score with it by default)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "verifier.") -> VerifierSpec:
        return cls(name=_req(d, "name", str, where), options=dict(_opt(d, "options", dict, where) or {}))


def _spec(d: Mapping[str, Any]) -> VerifierSpec | None:  # a row's optional ``verifier``
    return None if (raw := _opt(d, "verifier", dict)) is None else VerifierSpec.from_dict(raw)


@dataclass(frozen=True)
class Candidate:
    """One assistant decision point: the prefix before it and the demonstrated action.

    ``messages`` is the state s_t (everything before the turn, recorded tool outputs included),
    ``expected`` is the demonstrated assistant message a*_t. The id is
    ``<trajectory_id>:<turn_index>`` where ``turn_index`` is the message index of the turn.
    """

    id: str
    domain: str
    trajectory_id: str
    turn_index: int
    messages: tuple[Message, ...]
    expected: Message
    tools: tuple[dict[str, Any], ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    verifier: VerifierSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "domain": self.domain,
            "trajectory_id": self.trajectory_id,
            "turn_index": self.turn_index,
            "messages": [m.to_dict() for m in self.messages],
            "tools": list(self.tools),
            "expected": self.expected.to_dict(),
            "metadata": self.metadata,
            **({"verifier": self.verifier.to_dict()} if self.verifier is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Candidate:
        expected = Message.from_dict(_req(d, "expected", dict), "expected.")
        return cls(
            id=_req(d, "id", str),
            domain=_req(d, "domain", str),
            trajectory_id=str(_req(d, "trajectory_id", (str, int))),
            turn_index=_req(d, "turn_index", int),
            messages=_messages_from(d, "messages"),
            expected=expected,
            tools=tuple(_opt(d, "tools", list) or ()),
            metadata=dict(_opt(d, "metadata", dict) or {}),
            verifier=_spec(d),
        )


@dataclass(frozen=True)
class Verdict:
    """A verifier's judgement of one action.

    ``error`` set means the verifier could not decide (judge timeout, sandbox crash): the
    verdict is *errored*, not failed, and is excluded from means, variances and GRPO groups.
    """

    score: float
    passed: bool
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def errored(self) -> bool:
        return self.error is not None

    @property
    def reward(self) -> float | None:
        """The score, or ``None`` for an errored verdict."""
        return None if self.errored else self.score

    @classmethod
    def ok(cls, reason: str = "", score: float = 1.0, **details: Any) -> Verdict:
        return cls(score=score, passed=True, reason=reason, details=details)

    @classmethod
    def fail(cls, reason: str = "", score: float = 0.0, **details: Any) -> Verdict:
        return cls(score=score, passed=False, reason=reason, details=details)

    @classmethod
    def from_error(cls, error: str, **details: Any) -> Verdict:
        return cls(score=0.0, passed=False, reason="errored", details=details, error=error)

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": None if self.errored else self.score,
            "passed": None if self.errored else self.passed,
            "reason": self.reason,
            "details": self.details,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Verdict:
        error = _opt(d, "error", str)
        if error is not None:
            return cls.from_error(error, **dict(d.get("details") or {}))
        return cls(
            score=float(_req(d, "score", (int, float))),
            passed=bool(_req(d, "passed", bool)),
            reason=_opt(d, "reason", str) or "",
            details=dict(_opt(d, "details", dict) or {}),
        )


def _mean_std(scores: Sequence[float | None]) -> tuple[float | None, float | None]:
    vals = [s for s in scores if s is not None]
    if not vals:
        return None, None
    mean = sum(vals) / len(vals)
    var = sum((v - mean) ** 2 for v in vals) / len(vals)  # population variance (method.md s.2)
    return mean, math.sqrt(var)


@dataclass(frozen=True)
class Profile:
    """The reference policy's K local rollouts at one candidate: ``scores`` (one per sample, in [0, 1],
    ``None`` where the verdict errored; ``mean``/``std`` over the others), scored by ``verifier``."""

    candidate_id: str
    domain: str
    trajectory_id: str
    policy: str
    k: int
    scores: tuple[float | None, ...]
    sampling: dict[str, Any] = field(default_factory=dict)
    samples: tuple[Message, ...] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    verifier: VerifierSpec | None = None

    @property
    def mean(self) -> float | None:
        return _mean_std(self.scores)[0]

    @property
    def std(self) -> float | None:
        return _mean_std(self.scores)[1]

    @property
    def n_errors(self) -> int:
        return sum(1 for s in self.scores if s is None)

    @property
    def n_scored(self) -> int:
        return sum(1 for s in self.scores if s is not None)

    def to_dict(self) -> dict[str, Any]:
        mean, std = _mean_std(self.scores)
        return {
            "candidate_id": self.candidate_id,
            "domain": self.domain,
            "trajectory_id": self.trajectory_id,
            "policy": self.policy,
            "k": self.k,
            "scores": list(self.scores),
            "mean": mean,
            "std": std,
            "n_errors": self.n_errors,
            "sampling": self.sampling,
            "metadata": self.metadata,
            **({"samples": [m.to_dict() for m in self.samples]} if self.samples is not None else {}),
            **({"verifier": self.verifier.to_dict()} if self.verifier is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Profile:
        scores = _req(d, "scores", list)
        for i, s in enumerate(scores):
            if s is not None and not (type(s) in (int, float) and math.isfinite(s) and 0.0 <= s <= 1.0):
                raise InputError(
                    f"score must be null or a finite number in [0, 1], got {s!r}", field=f"scores[{i}]"
                )
        samples = _opt(d, "samples", list)
        return cls(
            candidate_id=_req(d, "candidate_id", str),
            domain=_opt(d, "domain", str) or "",
            trajectory_id=str(_opt(d, "trajectory_id", (str, int)) or ""),
            policy=_opt(d, "policy", str) or "",
            k=_req(d, "k", int),
            scores=tuple(None if s is None else float(s) for s in scores),
            sampling=dict(_opt(d, "sampling", dict) or {}),
            samples=None
            if samples is None
            else tuple(Message.from_dict(m, f"samples[{i}].") for i, m in enumerate(samples)),
            metadata=dict(_opt(d, "metadata", dict) or {}),
            verifier=_spec(d),
        )
