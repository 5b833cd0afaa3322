"""The ``terminal`` verifier: schema -> similarity fast path -> sandbox equivalence -> LLM judge.

1. **schema**: the sampled turn must parse as JSON and match its harness's schema (the harness of
   the candidate: ``metadata.harness``, the NeMo Gym row's ``metadata.harness``, else detected
   from the demonstration), and its completion flag must equal the demonstration's. A failure
   here is final.
2. **similarity**: ``difflib`` ratio of the joined keystrokes (:func:`command_similarity`);
   ``>= threshold`` (0.95) passes.
3. **sandbox** (only when the candidate records a sandbox state, ``metadata.sandbox``): both
   keystroke scripts run from that state in fresh sandboxes (``sandbox_exec``); equal effects
   pass. Unequal effects or a sandbox error fall through to the judge.
4. **judge** (``llm_judge`` with the terminal rubric, asked twice with the actions swapped): both
   calls must say equivalent. Without a judge configured, a turn that reached this step fails.

Details carry NVIDIA's fields (``schema_check_passed``, ``task_complete_check_passed``,
``similarity_score``, ``string_similarity_passed``, ``judge_passed``, ``failure_reason``).
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

from pivotrl_core.errors import ConfigError
from pivotrl_core.registry import get_registry
from pivotrl_core.types import Candidate, Message, Verdict
from pivotrl_core.verifiers.base import Verifier, run_verifier

from .judge import JUDGE_DEFAULTS
from .shell import session_script
from .terminus import (
    HARNESSES,
    command_similarity,
    detect_harness,
    final_text,
    keystroke_script,
    parse_turn,
    schema_errors,
    task_complete,
)

__all__ = ["TerminalVerifier", "candidate_harness", "terminus_commands"]


def candidate_harness(candidate: Candidate, expected: Any) -> str:
    """The harness a candidate was recorded with (see the module docstring)."""
    meta = candidate.metadata
    harness = meta.get("harness")
    if harness is None:
        row_meta = ((meta.get("nemo_gym") or {}).get("row") or {}).get("metadata") or {}
        harness = row_meta.get("harness") if isinstance(row_meta, dict) else None
    return harness if harness in HARNESSES else detect_harness(expected)


def terminus_commands(message: Message) -> str | None:
    """The shell script of a Terminus turn, for ``sandbox_exec`` (None when it does not parse).

    It runs inside the terminal session (:func:`~pivotrl_terminal.shell.session_script`), so it
    starts in the directory, with the variables, that the replayed earlier turns left behind.
    """
    try:
        turn = parse_turn(message.content)
    except json.JSONDecodeError:
        return None
    return session_script(keystroke_script(turn)) if isinstance(turn, dict) else None


def _fields(**kw: Any) -> dict[str, Any]:
    base = {
        "schema_check_passed": False, "task_complete_check_passed": False, "similarity_score": -1.0,
        "string_similarity_passed": False, "judge_passed": False, "failure_reason": None,
    }  # fmt: skip
    return {**base, **kw}


class TerminalVerifier(Verifier):
    """Terminus turns: NVIDIA's terminus_judge cascade, plus sandboxed execution (docs/domains/terminal.md)."""

    name: ClassVar[str] = "terminal"
    deterministic: ClassVar[bool] = False
    thread_safe: ClassVar[bool] = True
    cost: ClassVar = "expensive"

    def __init__(
        self, threshold: float = 0.95, separator: str = "", harness: str = "auto", sandbox: Any = "auto",
        judge: Any = "auto", max_concurrency: int = 4,
    ) -> None:  # fmt: skip
        if not 0.0 <= float(threshold) <= 1.0:
            raise ConfigError(f"verifier 'terminal': threshold must be in [0, 1], got {threshold}")
        if harness not in ("auto", *HARNESSES):
            raise ConfigError(
                f"verifier 'terminal': harness must be auto, {' or '.join(HARNESSES)}, got {harness!r}"
            )
        self.threshold, self.separator, self.harness = float(threshold), separator, harness
        self.max_concurrency = int(max_concurrency)
        self.sandbox = self._build_sandbox(sandbox)
        self.judge = self._build_judge(judge)

    @staticmethod
    def _build_sandbox(option: Any) -> Verifier | None:
        if option in (False, None, "off"):
            return None
        opts = dict(option) if isinstance(option, dict) else {}
        if option not in ("auto", True) and not isinstance(option, dict):
            raise ConfigError(
                f"verifier 'terminal': sandbox must be auto, off or a table of sandbox_exec options, got {option!r}"
            )
        return get_registry().verifier("sandbox_exec", **{"commands": terminus_commands, **opts})

    @staticmethod
    def _build_judge(option: Any) -> Verifier | None:
        if option in (False, None, "off"):
            return None
        if option == "auto":
            if not os.environ.get("PIVOTRL_JUDGE_MODEL"):
                return None  # no judge configured: the cascade ends at the sandbox step
            option = {}
        if not isinstance(option, dict):
            raise ConfigError(
                f"verifier 'terminal': judge must be auto, off or a table of llm_judge options, got {option!r}"
            )
        return get_registry().verifier("llm_judge", **{**JUDGE_DEFAULTS, **option})

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "threshold": self.threshold, "sandbox": self.sandbox is not None,
                "judge": None if self.judge is None else self.judge.describe()}  # fmt: skip

    def verify(self, candidate: Candidate, action: Message) -> Verdict:
        expected = json.loads(final_text(candidate.expected.content))  # bad data raises: errored
        if not isinstance(expected, dict):
            raise ValueError("the demonstrated turn is not a JSON object")
        try:
            turn = parse_turn(action.content)
        except json.JSONDecodeError as e:
            return Verdict.fail(
                f"not JSON: {e.msg}", score=0.0, **_fields(failure_reason="json_parsing_failed")
            )
        harness = self.harness if self.harness != "auto" else candidate_harness(candidate, expected)
        errors = schema_errors(turn, harness)
        if errors:
            return Verdict.fail(
                f"{harness} schema: {errors[0]}",
                **_fields(failure_reason="schema_check_failed", harness=harness),
            )
        if task_complete(turn) != task_complete(expected):
            return Verdict.fail("task_complete differs from the demonstration",
                                **_fields(schema_check_passed=True, failure_reason="task_complete_check_failed"))  # fmt: skip
        sim = command_similarity(expected, turn, self.separator)
        fields = _fields(
            schema_check_passed=True, task_complete_check_passed=True, similarity_score=sim, harness=harness
        )
        if sim >= self.threshold:
            fields.update(string_similarity_passed=True, failure_reason="none")
            return Verdict.ok(f"keystroke similarity {sim:.3f} >= {self.threshold}", **fields)
        return self._expensive(candidate, action, fields)

    def _expensive(self, candidate: Candidate, action: Message, fields: dict[str, Any]) -> Verdict:
        errored: str | None = None
        if self.sandbox is not None and candidate.metadata.get("sandbox") is not None:
            sv = run_verifier(self.sandbox, candidate, action)
            fields["sandbox"] = {
                "passed": None if sv.errored else sv.passed,
                "reason": sv.reason,
                "error": sv.error,
            }
            if not sv.errored and sv.passed:
                fields.update(sandbox_passed=True, failure_reason="none")
                return Verdict.ok(f"same effects in the sandbox ({sv.reason})", **fields)
            errored = sv.error
        if self.judge is None:
            if errored:
                return Verdict.from_error(f"sandbox: {errored}; no judge configured", **fields)
            fields["failure_reason"] = "command_correctness_failed"
            return Verdict.fail(
                f"similarity {fields['similarity_score']:.3f} < {self.threshold} and no judge", **fields
            )
        jv = run_verifier(self.judge, candidate, action)
        fields["judge"] = {"reason": jv.reason, "calls": len(jv.details.get("calls", []))}
        if jv.errored:
            return Verdict.from_error(f"judge: {jv.error}", **fields)
        fields.update(
            judge_passed=jv.passed, failure_reason="none" if jv.passed else "judge_evaluation_failed"
        )
        return Verdict(score=1.0 if jv.passed else 0.0, passed=jv.passed, reason=jv.reason, details=fields)
