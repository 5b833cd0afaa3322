"""The SWE verifiers: ``swe_pivot`` (NVIDIA's semantics), ``swe_exec`` (sandboxed) and ``swe`` (both).

- ``swe_pivot``: :func:`~pivotrl_swe.nvidia.score_calls` on the first tool call of the sampled and
  the demonstrated turn; options are NVIDIA's server settings (``reward_mode`` binary = paper mode).
- ``swe_exec``: :mod:`pivotrl_swe.functional` (the sampled call applied to the repository at the
  turn's state inside a sandbox, its effect compared with the demonstration's).
- ``swe``: ``swe_exec`` where the candidate records a repository state, ``swe_pivot`` elsewhere
  (``mode = "auto"``); ``mode = "pivot"`` or ``"exec"`` forces one.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pivotrl_core import Candidate, ConfigError, Message, Verdict, Verifier

from .functional import FunctionalCheck
from .nvidia import PivotConfig, score_calls

__all__ = ["SweExecVerifier", "SwePivotVerifier", "SweVerifier", "first_call"]


def first_call(message: Message) -> tuple[str, Any] | None:
    """``(name, arguments)`` of a turn's first tool call (raw text when the arguments did not parse)."""
    if not message.tool_calls:
        return None
    call = message.tool_calls[0]
    return call.name, call.arguments if call.arguments is not None else (call.raw_arguments or "")


class SwePivotVerifier(Verifier):
    """NVIDIA's ``swe_pivot`` verifier (see :mod:`pivotrl_swe.nvidia`)."""

    name: ClassVar[str] = "swe_pivot"
    cost: ClassVar[str] = "cheap"  # type: ignore[assignment]

    def __init__(self, pass_threshold: float | None = None, **options: Any) -> None:
        unknown = sorted(set(options) - set(PivotConfig.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"swe_pivot: unknown option(s) {', '.join(unknown)}")
        self.config = PivotConfig(**options)
        if self.config.reward_mode not in ("binary", "continuous"):
            raise ConfigError(
                f"swe_pivot: reward_mode must be binary or continuous, got {self.config.reward_mode!r}"
            )
        self.pass_threshold = (
            pass_threshold
            if pass_threshold is not None
            else (1.0 if self.config.reward_mode == "binary" else 0.5)
        )

    def verify(self, candidate: Candidate, action: Message) -> Verdict:
        score = score_calls(first_call(action), first_call(candidate.expected), self.config)
        passed = score.reward >= self.pass_threshold
        return Verdict(
            score=score.reward, passed=passed, reason=score.failure_reason, details=score.to_dict()
        )


class SweExecVerifier(Verifier):
    """The sandboxed functional check (see :mod:`pivotrl_swe.functional`)."""

    name: ClassVar[str] = "swe_exec"
    cost: ClassVar[str] = "expensive"  # type: ignore[assignment]
    max_concurrency = 2

    def __init__(self, **options: Any) -> None:
        self.check = FunctionalCheck(**options)

    def verify(self, candidate: Candidate, action: Message) -> Verdict:
        return self.check.verify(candidate, action)


class SweVerifier(Verifier):
    """``swe_exec`` where a repository state is recorded, else ``swe_pivot`` (``mode``: auto|pivot|exec)."""

    name: ClassVar[str] = "swe"
    cost: ClassVar[str] = "expensive"  # type: ignore[assignment]
    max_concurrency = 2

    def __init__(self, mode: str = "auto", pivot: dict[str, Any] | None = None, **exec_options: Any) -> None:
        if mode not in ("auto", "pivot", "exec"):
            raise ConfigError(f"swe: mode must be auto, pivot or exec, got {mode!r}")
        self.mode = mode
        self.pivot = SwePivotVerifier(**(pivot or {}))
        self.exec = SweExecVerifier(**exec_options) if mode != "pivot" else None

    def verify(self, candidate: Candidate, action: Message) -> Verdict:
        use_exec = self.exec is not None and (self.mode == "exec" or "sandbox" in candidate.metadata)
        verdict = (
            self.exec.verify(candidate, action)
            if use_exec and self.exec
            else self.pivot.verify(candidate, action)
        )
        return Verdict(
            verdict.score,
            verdict.passed,
            verdict.reason,
            {**verdict.details, "strength": "exec" if use_exec else "pivot"},
            verdict.error,
        )
