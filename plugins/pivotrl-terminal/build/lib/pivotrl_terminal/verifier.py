"""The ``terminal`` verifier: schema -> similarity fast path -> sandbox equivalence -> LLM judge.

0. **demonstration** (a data check): the demonstrated turn (after ``</think>``) must be a JSON
   object that fits its harness's schema, and a declared harness must be ``terminus_1`` or
   ``terminus_2``; otherwise the verdict is *errored* (``expected_answer_invalid`` /
   ``unknown_harness``), never a 0: a broken pivot says nothing about the sample.
1. **schema**: the sampled turn must parse as JSON and match the harness's schema (the declared
   harness: ``metadata.harness``, the NeMo Gym row's ``metadata.harness``; else detected from
   the demonstration), and its completion flag must agree with the demonstration's
   (``task_complete="two_way"``: equal; ``"one_way"``, NVIDIA's: a demonstration that completes
   needs a completing sample). A failure here is final.
2. **similarity**: ``difflib`` ratio of the joined keystrokes (:func:`command_similarity`);
   ``>= threshold`` passes (the row's own ``threshold`` when it has one, as NVIDIA's server).
3. **sandbox** (only when the candidate records a sandbox state, ``metadata.sandbox``): both
   keystroke scripts run from that state in fresh sandboxes (``sandbox_exec``); equal effects
   pass. Unequal effects or a sandbox error fall through to the judge.
4. **judge** (:class:`~pivotrl_terminal.judge.TerminalJudge`): the label is found anywhere in
   the answer by NVIDIA's rule; with swap both calls must say equivalent. Without a judge
   configured, a turn that reached this step fails.

Details carry NVIDIA's fields (``schema_check_passed``, ``task_complete_check_passed``,
``similarity_score``, ``string_similarity_passed``, ``judge_passed``, ``failure_reason``).
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

from pivotrl_core import Candidate, ConfigError, Message, Verdict, Verifier, get_registry, run_verifier

from .judge import TerminalJudge
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

__all__ = ["TerminalVerifier", "candidate_harness", "row_threshold", "terminus_commands"]

TASK_COMPLETE_RULES = ("two_way", "one_way")


def _row(candidate: Candidate) -> dict[str, Any]:
    row = (candidate.metadata.get("nemo_gym") or {}).get("row")
    return row if isinstance(row, dict) else {}


def candidate_harness(candidate: Candidate, expected: Any) -> str:
    """The declared harness (``metadata.harness``, else the NeMo Gym row's), else detected.

    A declared harness that is not ``terminus_1``/``terminus_2`` raises ``ValueError``.
    """
    harness = candidate.metadata.get("harness")
    if harness is None:
        row_meta = _row(candidate).get("metadata")
        harness = row_meta.get("harness") if isinstance(row_meta, dict) else None
    if harness is None:
        return detect_harness(expected)
    if harness not in HARNESSES:
        raise ValueError(f"unknown harness {harness!r} (metadata.harness); use {' or '.join(HARNESSES)}")
    return harness


def row_threshold(candidate: Candidate) -> float | None:
    """The pivot's own similarity threshold (``metadata.threshold`` or the NeMo Gym row's ``threshold``)."""
    value = candidate.metadata.get("threshold", _row(candidate).get("threshold"))
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"threshold of candidate {candidate.id} must be a number in [0, 1], got {value!r}")
    return float(value)


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
        "schema_check_passed": False,
        "task_complete_check_passed": False,
        "similarity_score": -1.0,
        "string_similarity_passed": False,
        "judge_passed": False,
        "failure_reason": None,
    }
    return {**base, **kw}


def _demonstration(candidate: Candidate, forced: str) -> tuple[dict[str, Any], str] | Verdict:
    """The demonstrated turn and its harness, or an errored verdict saying what is wrong with it."""
    try:
        expected = json.loads(final_text(candidate.expected.content))
    except json.JSONDecodeError as e:
        return Verdict.from_error(
            f"the demonstration is not JSON: {e.msg}", **_fields(failure_reason="expected_answer_invalid")
        )
    try:
        harness = forced if forced != "auto" else candidate_harness(candidate, expected)
    except ValueError as e:
        return Verdict.from_error(str(e), **_fields(failure_reason="unknown_harness"))
    errors = schema_errors(expected, harness)
    if errors:
        return Verdict.from_error(
            f"the demonstration fails the {harness} schema: {errors[0]}",
            **_fields(failure_reason="expected_answer_invalid", harness=harness),
        )
    return expected, harness


class TerminalVerifier(Verifier):
    """Terminus turns: NVIDIA's terminus_judge cascade plus sandboxed execution (docs/domains/terminal.md)."""

    name: ClassVar[str] = "terminal"
    deterministic: ClassVar[bool] = False
    thread_safe: ClassVar[bool] = True
    cost: ClassVar = "expensive"

    def __init__(
        self,
        threshold: float = 0.95,
        separator: str = "",
        harness: str = "auto",
        sandbox: Any = "auto",
        judge: Any = "auto",
        max_concurrency: int = 4,
        task_complete: str = "two_way",
    ) -> None:
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not 0.0 <= threshold <= 1.0
        ):
            raise ConfigError(f"verifier 'terminal': threshold must be a number in [0, 1], got {threshold!r}")
        if harness not in ("auto", *HARNESSES):
            raise ConfigError(
                f"verifier 'terminal': harness must be auto, {' or '.join(HARNESSES)}, got {harness!r}"
            )
        if task_complete not in TASK_COMPLETE_RULES:
            raise ConfigError(
                f"verifier 'terminal': task_complete must be {' or '.join(TASK_COMPLETE_RULES)}, "
                f"got {task_complete!r}"
            )
        if not isinstance(separator, str):
            raise ConfigError(f"verifier 'terminal': separator must be a string, got {separator!r}")
        self.threshold, self.separator, self.harness = float(threshold), separator, harness
        self.task_complete_rule = task_complete
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
                "verifier 'terminal': sandbox must be auto, off or a table of sandbox_exec options, "
                f"got {option!r}"
            )
        return get_registry().verifier("sandbox_exec", **{"commands": terminus_commands, **opts})

    @staticmethod
    def _build_judge(option: Any) -> TerminalJudge | None:
        if option in (False, None, "off"):
            return None
        if option == "auto":
            if not os.environ.get("PIVOTRL_JUDGE_MODEL"):
                return None  # no judge configured: the cascade ends at the sandbox step
            option = {}
        if not isinstance(option, dict):
            raise ConfigError(
                "verifier 'terminal': judge must be auto, off or a table of llm_judge options, "
                f"got {option!r}"
            )
        return TerminalJudge(**option)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "threshold": self.threshold,
            "separator": self.separator,
            "task_complete": self.task_complete_rule,
            "sandbox": self.sandbox is not None,
            "judge": None if self.judge is None else self.judge.describe(),
        }

    def _complete_ok(self, turn: dict[str, Any], expected: dict[str, Any]) -> bool:
        if self.task_complete_rule == "one_way":  # NVIDIA's check_task_complete
            return task_complete(turn) or not task_complete(expected)
        return task_complete(turn) == task_complete(expected)

    def verify(self, candidate: Candidate, action: Message) -> Verdict:
        demo = _demonstration(candidate, self.harness)
        if isinstance(demo, Verdict):
            return demo
        expected, harness = demo
        own = row_threshold(candidate)  # a bad per-row threshold raises: errored, naming it
        threshold = self.threshold if own is None else own
        try:
            turn = parse_turn(action.content)
        except json.JSONDecodeError as e:
            return Verdict.fail(
                f"not JSON: {e.msg}", **_fields(failure_reason="json_parsing_failed", harness=harness)
            )
        errors = schema_errors(turn, harness)
        if errors:
            return Verdict.fail(
                f"{harness} schema: {errors[0]}",
                **_fields(failure_reason="schema_check_failed", harness=harness),
            )
        if not self._complete_ok(turn, expected):
            return Verdict.fail(
                "task_complete differs from the demonstration",
                **_fields(
                    schema_check_passed=True, failure_reason="task_complete_check_failed", harness=harness
                ),
            )
        sim = command_similarity(expected, turn, self.separator)
        fields = _fields(
            schema_check_passed=True,
            task_complete_check_passed=True,
            similarity_score=sim,
            harness=harness,
            threshold=threshold,
        )
        if sim >= threshold:
            fields.update(string_similarity_passed=True, failure_reason="none")
            return Verdict.ok(f"keystroke similarity {sim:.3f} >= {threshold}", **fields)
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
                f"similarity {fields['similarity_score']:.3f} < {fields['threshold']} and no judge", **fields
            )
        jv = self.judge.verify(candidate, action)
        calls = jv.details.get("calls", [])
        fields["judge"] = {"reason": jv.reason, "calls": len(calls), "labels": [c["label"] for c in calls]}
        if jv.errored:
            fields["failure_reason"] = jv.details.get("failure_reason", "judge_error")
            return Verdict.from_error(f"judge: {jv.error}", **fields)
        fields.update(
            judge_passed=jv.passed, failure_reason="none" if jv.passed else "judge_evaluation_failed"
        )
        return Verdict(score=1.0 if jv.passed else 0.0, passed=jv.passed, reason=jv.reason, details=fields)
