"""Verifier QA (``run_qa``), the ``check_verifier``/``check_domain`` helpers and the built-in domains."""

from __future__ import annotations

import itertools

import pytest
from verifier_helpers import TOOL_USE, call, cand, candidate_from_row, load_rows, say

from pivotrl_core.plugins import get_registry
from pivotrl_core.testing import check_domain, check_verifier
from pivotrl_core.types import Verdict
from pivotrl_core.verifiers.base import FunctionVerifier
from pivotrl_core.verifiers.check import qa_actions, run_qa


@pytest.fixture(scope="module")
def nemo_candidates(nemo_gym_dir):
    rows = load_rows(nemo_gym_dir / TOOL_USE / "example.jsonl") + load_rows(
        nemo_gym_dir / TOOL_USE / "parallel_example.jsonl"
    )
    return [candidate_from_row(r, f"row{i}") for i, r in enumerate(rows)]


def test_builtin_domains_mirror_nvidia_configs(pivotrl_pm):
    reg = get_registry()
    thresholds = {d: reg.domain_verifier(d).threshold for d in ("generic", "search")}
    assert thresholds == {"generic": 0.1, "search": 0.3}
    assert reg.domain_verifier("generic", threshold=0.5).threshold == 0.5
    assert {
        "exact",
        "fuzzy",
        "json_schema",
        "tool_call",
        "llm_judge",
        "cascade",
        "all",
        "any",
        "weighted",
    } <= set(reg.names("verifier"))


def test_generic_domain_passes_qa_on_nvidia_rows(pivotrl_pm, nemo_candidates):
    report = check_domain("generic", nemo_candidates)
    n_messages = sum(1 for c in nemo_candidates if not c.expected.tool_calls)
    assert report.n_candidates == len(nemo_candidates) == 10 and n_messages == 3
    # NVIDIA's rule "any message passes" is reported, not hidden
    assert [w.check for w in report.warnings] == ["message garbage"] * n_messages
    strict = check_domain("generic", nemo_candidates, message_policy="fuzzy")
    assert strict.warnings == []


@pytest.mark.parametrize("name", ["exact", "fuzzy", "json_schema", "tool_call"])
def test_every_cheap_builtin_passes_qa(pivotrl_pm, nemo_candidates, name):
    report = check_verifier(name, nemo_candidates, repeats=2)
    assert report.ok and report.n_candidates == 10


def test_swe_threshold_zero_is_flagged(pivotrl_pm):
    # NVIDIA's swe_pivot tool_call config (threshold 0.0); the swe domain itself is pivotrl-swe's
    c = cand(call("execute_bash", command="grep -rn needle src/ tests/"))
    report = check_verifier("tool_call", [c], threshold=0.0)
    assert [w.check for w in report.warnings] == ["argument garbage"]


def test_qa_actions_are_deterministic_per_candidate():
    c = cand(call("f", q="some words here"))
    assert qa_actions(c) == qa_actions(c)
    checks = [check for check, _, _ in qa_actions(c)]
    assert checks == [
        "expected passes",
        "empty fails",
        "empty fails",
        "garbage fails",
        "garbage fails",
        "argument garbage",
    ]


def test_a_verifier_that_accepts_everything_fails_qa():
    lenient = FunctionVerifier(lambda c, a: True, name="lenient")
    with pytest.raises(AssertionError) as info:
        check_verifier(lenient, [cand(call("f", q="x")), cand(say("hi"))])
    text = str(info.value)
    assert "verifier 'lenient' on 2 candidate(s)" in text
    assert "VIOLATION: candidate t:1: empty fails: wanted fail, got passed" in text
    assert "garbage fails" in text


def test_nondeterminism_and_errors_are_violations():
    counter = itertools.count()
    flaky = FunctionVerifier(lambda c, a: (a == c.expected) and next(counter) % 2 == 0, name="flaky")
    report = run_qa(flaky, [cand(call("f", q="x"))], repeats=3)
    assert any(r.check == "repeatable" and not r.ok for r in report.violations)

    def broken(c, a):
        raise ConnectionError("judge down")

    report = run_qa(FunctionVerifier(broken, name="broken"), [cand(say("hi"))], repeats=1)
    bad = {r.check: r.detail for r in report.violations}
    assert "errored (ConnectionError: judge down)" in bad["expected passes"]
    assert "errored" in bad["empty fails"]


def test_report_table_and_dict():
    exact = FunctionVerifier(lambda c, a: Verdict.ok() if a == c.expected else Verdict.fail(), name="same")
    report = run_qa(exact, [cand(say("hi")), cand(call("f", a=1), cid="t:2")], repeats=2)
    assert report.ok
    table = {row[0]: row[2:] for row in report.table()}
    assert table["expected passes"] == (2, 0) and table["empty fails"] == (4, 0)
    assert report.to_dict()["ok"] is True
