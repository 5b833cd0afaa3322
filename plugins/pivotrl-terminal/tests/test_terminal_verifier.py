"""The terminal cascade past the fast path: sandboxed execution, then the judge."""

from __future__ import annotations

import json

import pytest
from pivotrl_terminal.verifier import TerminalVerifier

from pivotrl_core import Candidate, Message, get_registry, run_verifier

LOG = "INFO a\nERROR b\nWARN c\nERROR d\n"


def _turn(*keys: str, done: bool = False) -> Message:
    cmds = [{"keystrokes": k, "duration": 0.1} for k in keys]
    return Message(
        "assistant", json.dumps({"analysis": "", "plan": "", "commands": cmds, "task_complete": done})
    )


def _cand(state: dict | None = None) -> Candidate:
    meta = {"harness": "terminus_2"}
    if state is not None:
        meta["sandbox"] = state
    return Candidate(
        id="t:3",
        domain="terminal",
        trajectory_id="t",
        turn_index=3,
        messages=(Message("user", "count"),),
        expected=_turn("grep -c ERROR logs/app.log > n.txt\n"),
        metadata=meta,
    )


STATE = {"files": {"logs/app.log": LOG}, "setup": []}


def _verifier(backend: str, **kw) -> TerminalVerifier:  # noqa: ANN003
    sandbox = {
        "backend": backend,
        "timeout_s": 5,
        **({"sandbox_options": {"pool_size": 2}} if backend == "docker" else {}),
    }
    return TerminalVerifier(sandbox=sandbox, **kw)


def test_equivalent_commands_pass_in_the_sandbox(backend: str) -> None:
    verdict = run_verifier(
        _verifier(backend, judge="off"),
        _cand(STATE),
        _turn("cat logs/app.log | grep ERROR | wc -l > n.txt\n"),
    )
    assert verdict.passed, verdict
    assert verdict.details["similarity_score"] < 0.95 and verdict.details["sandbox_passed"]


def test_state_replay_puts_the_action_where_the_agent_was(backend: str) -> None:
    state = {
        "files": {"logs/app.log": LOG},
        "setup": ["mkdir -p /tmp/.pivotrl-shell && echo /work/logs > /tmp/.pivotrl-shell/cwd"],
    }
    cand = Candidate(
        id="t:5",
        domain="terminal",
        trajectory_id="t",
        turn_index=5,
        messages=(Message("user", "x"),),
        expected=_turn("grep -c ERROR app.log > ../n.txt\n"),
        metadata={"sandbox": state},
    )
    ok = run_verifier(_verifier(backend, judge="off"), cand, _turn("grep ERROR app.log | wc -l > ../n.txt\n"))
    assert ok.passed, ok


def test_different_effects_without_a_judge_fail(backend: str) -> None:
    verdict = run_verifier(
        _verifier(backend, judge="off"), _cand(STATE), _turn("grep -c WARN logs/app.log > n.txt\n")
    )
    assert not verdict.passed and not verdict.errored
    assert verdict.details["failure_reason"] == "command_correctness_failed"
    assert verdict.details["sandbox"]["reason"].startswith("effects differ")


def test_sandbox_mismatch_falls_through_to_the_swapped_judge(backend: str, judge_server) -> None:  # noqa: ANN001
    v = _verifier(backend, judge=judge_server.options())
    judge_server.answers.extend(["same intent\n[[A=B]]", "looks the same\n[[A=B]]"])
    sampled = _turn("grep ERROR logs/app.log | tail -1 > n.txt\n")  # below the fast path, other effects
    verdict = run_verifier(v, _cand(STATE), sampled)
    assert verdict.details["similarity_score"] < 0.95 and verdict.details["sandbox"]["passed"] is False
    assert verdict.passed and verdict.details["judge_passed"] and len(judge_server.prompts) == 2
    judge_server.answers.extend(["ok\n[[A=B]]", "no: the swapped one differs\n[[A!=B]]"])
    verdict = run_verifier(v, _cand(STATE), sampled)
    assert not verdict.passed and verdict.details["failure_reason"] == "judge_evaluation_failed"


def test_without_state_the_sandbox_is_skipped(judge_server) -> None:  # noqa: ANN001
    v = TerminalVerifier(sandbox={"backend": "bwrap"}, judge=judge_server.options())
    judge_server.answers.append("different files\n[[A!=B]]")
    verdict = run_verifier(v, _cand(None), _turn("ls\n"))
    assert not verdict.passed and "sandbox" not in verdict.details and len(judge_server.prompts) == 1


def test_judge_unreachable_is_an_error_not_a_fail() -> None:
    v = TerminalVerifier(
        sandbox="off",
        judge={"model": "m", "base_url": "http://127.0.0.1:9/v1", "max_retries": 0, "timeout": 2},
    )
    verdict = run_verifier(v, _cand(None), _turn("ls\n"))
    assert verdict.errored and verdict.error.startswith("judge:")
    assert verdict.details["failure_reason"] == "judge_error"


@pytest.mark.docker
def test_sandbox_error_without_a_judge_is_an_error(docker_ready: None) -> None:
    v = TerminalVerifier(
        judge="off",
        sandbox={"backend": "docker", "image": "pivotrl/no-such-image", "sandbox_options": {"pool": False}},
    )
    verdict = run_verifier(v, _cand(STATE), _turn("grep ERROR logs/app.log | tail -1 > n.txt\n"))
    assert verdict.errored and "pivotrl sandbox build" in verdict.error


def test_judge_auto_uses_the_environment(monkeypatch: pytest.MonkeyPatch, judge_server) -> None:  # noqa: ANN001
    monkeypatch.delenv("PIVOTRL_JUDGE_MODEL", raising=False)
    assert TerminalVerifier(judge="auto", sandbox="off").judge is None
    monkeypatch.setenv("PIVOTRL_JUDGE_MODEL", "judge-test")
    monkeypatch.setenv("PIVOTRL_JUDGE_BASE_URL", judge_server.url)
    v = get_registry().domain_verifier("terminal", sandbox="off")
    assert v.judge is not None and v.judge.describe()["swap"] is True


def test_bad_options_are_config_errors() -> None:
    from pivotrl_core import ConfigError

    with pytest.raises(ConfigError, match="threshold"):
        TerminalVerifier(threshold=2)
    with pytest.raises(ConfigError, match="harness"):
        TerminalVerifier(harness="terminus_9")
    with pytest.raises(ConfigError, match="sandbox must be"):
        TerminalVerifier(sandbox="yes please")
