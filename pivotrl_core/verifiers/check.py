"""Verifier QA: does a verifier accept the demonstrations and reject nonsense, repeatably?

For every candidate, :func:`run_qa` verifies these actions ``repeats`` times each:

==================== ============================================================ =========
check                action                                                       severity
==================== ============================================================ =========
expected passes      the demonstrated action itself                               violation
empty fails          no text and no calls; whitespace-only text                   violation
garbage fails        a call to a tool that does not exist (random arguments);      violation
                     random words when the demonstration calls a tool
repeatable           every repeat of every action above gives the same verdict    violation
message garbage      random words when the demonstration is a message             warning
argument garbage     the demonstrated tool with scrambled argument values         warning
==================== ============================================================ =========

An errored verdict never counts as the wanted outcome. Warnings flag known reward-hacking
openings (NVIDIA's "any message passes" rule, a 0.0 word-overlap threshold) without failing QA.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..types import Candidate, Message, ToolCall, Verdict
from .base import Verifier

__all__ = ["CHECKS", "CheckResult", "QAReport", "qa_actions", "run_qa"]

CHECKS = (
    "expected passes",
    "empty fails",
    "garbage fails",
    "repeatable",
    "message garbage",
    "argument garbage",
)
_WARNING_CHECKS = {"message garbage", "argument garbage"}
_SYLLABLES = ("zor", "plik", "vam", "quex", "dru", "fen", "gla", "tiz", "mub", "yor", "kest", "wub")


@dataclass(frozen=True)
class CheckResult:
    """One check of one candidate: ``ok`` is whether the verifier behaved as required."""

    candidate_id: str
    check: str
    ok: bool
    detail: str = ""

    @property
    def severity(self) -> str:
        return "warning" if self.check in _WARNING_CHECKS else "violation"


@dataclass
class QAReport:
    """All check results of one QA run."""

    verifier: str
    n_candidates: int = 0
    repeats: int = 1
    results: list[CheckResult] = field(default_factory=list)

    @property
    def violations(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok and r.severity == "violation"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok and r.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.violations

    def table(self) -> list[tuple[str, str, int, int]]:
        """``(check, severity, n_ok, n_bad)`` per check that ran."""
        rows = []
        for check in CHECKS:
            mine = [r for r in self.results if r.check == check]
            if mine:
                bad = sum(1 for r in mine if not r.ok)
                rows.append((check, mine[0].severity, len(mine) - bad, bad))
        return rows

    def format(self, limit: int = 20) -> str:
        """A readable summary: one line per check, then the first ``limit`` problems."""
        head = f"verifier '{self.verifier}' on {self.n_candidates} candidate(s), {self.repeats} repeat(s):"
        lines = [head] + [f"  {c:<17} {s:<9} ok={g} bad={b}" for c, s, g, b in self.table()]
        problems = self.violations + self.warnings
        for r in problems[:limit]:
            lines.append(f"  {r.severity.upper()}: candidate {r.candidate_id}: {r.check}: {r.detail}")
        if len(problems) > limit:
            lines.append(f"  ... and {len(problems) - limit} more")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verifier": self.verifier,
            "n_candidates": self.n_candidates,
            "repeats": self.repeats,
            "ok": self.ok,
            "table": [
                dict(zip(("check", "severity", "ok", "bad"), row, strict=True)) for row in self.table()
            ],
            "problems": [r.__dict__ for r in self.violations + self.warnings],
        }


def _words(rng: random.Random, n: int) -> str:
    return " ".join("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(n))


def _scramble(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        return {k: _scramble(v, rng) for k, v in value.items()}
    if isinstance(value, list):
        return [_scramble(v, rng) for v in value]
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 7919
    if isinstance(value, str):
        return _words(rng, max(1, len(value.split())))
    return value


def qa_actions(candidate: Candidate) -> list[tuple[str, Message, bool]]:
    """``(check, action, should_pass)`` for one candidate (deterministic per candidate id)."""
    rng = random.Random(zlib.crc32(candidate.id.encode()))
    expected = candidate.expected
    bogus = ToolCall(f"pivotrl_no_such_tool_{rng.getrandbits(32):08x}", {"garbage": _words(rng, 4)})
    text = Message("assistant", content=_words(rng, 12))
    actions = [
        ("expected passes", expected, True),
        ("empty fails", Message("assistant"), False),
        ("empty fails", Message("assistant", content=" \n\t "), False),
        ("garbage fails", Message("assistant", tool_calls=(bogus,)), False),
    ]
    if expected.tool_calls:
        actions.append(("garbage fails", text, False))
        calls = tuple(
            ToolCall(c.name, _scramble(c.arguments, rng))
            for c in expected.tool_calls
            if c.arguments is not None
        )
        if calls and any(
            c.arguments != e.arguments for c, e in zip(calls, expected.tool_calls, strict=False)
        ):
            actions.append(("argument garbage", Message("assistant", tool_calls=calls), False))
    else:
        actions.append(("message garbage", text, False))
    return actions


def _outcome(v: Verdict) -> str:
    if v.errored:
        return f"errored ({v.error})"
    return f"{'passed' if v.passed else 'failed'} (score {v.score:g}: {v.reason})"


def _judge(candidate_id: str, check: str, want: bool, verdicts: Sequence[Verdict]) -> list[CheckResult]:
    first = verdicts[0]
    good = not first.errored and first.passed == want
    detail = "" if good else f"wanted {'pass' if want else 'fail'}, got {_outcome(first)}"
    out = [CheckResult(candidate_id, check, good, detail)]
    keys = {(v.errored, v.passed, round(v.score, 9)) for v in verdicts}
    if len(verdicts) > 1:
        same = len(keys) == 1
        detail = "" if same else f"{check}: verdicts differ across repeats: {sorted(map(str, keys))}"
        out.append(CheckResult(candidate_id, "repeatable", same, detail))
    return out


def run_qa(
    verifier: Verifier,
    candidates: Iterable[Candidate],
    repeats: int = 3,
    progress: Callable[[int], None] | None = None,
) -> QAReport:
    """Run every check on every candidate (see the module docstring)."""
    repeats = max(1, int(repeats))
    report = QAReport(verifier=verifier.name, repeats=repeats)
    for candidate in candidates:
        report.n_candidates += 1
        actions = qa_actions(candidate)
        pairs = [(candidate, a) for _, a, _ in actions for _ in range(repeats)]
        verdicts = verifier.verify_batch(pairs)
        for i, (check, _, want) in enumerate(actions):
            report.results.extend(
                _judge(candidate.id, check, want, verdicts[i * repeats : (i + 1) * repeats])
            )
        if progress is not None:
            progress(1)
    return report
