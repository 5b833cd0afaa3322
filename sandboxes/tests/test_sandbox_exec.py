"""The ``sandbox_exec`` verifier on real sandboxes (both backends)."""

from __future__ import annotations

import pytest

from pivotrl_core.errors import ConfigError, InputError
from pivotrl_core.plugins import get_registry
from pivotrl_core.types import Candidate, Message, ToolCall
from pivotrl_core.verifiers.base import run_verifier
from pivotrl_core.verifiers.sandbox_exec import action_script, normalize_output

STATE = {
    "files": {"data/nums.txt": "3\n1\n2\n", "notes.md": "# notes\n"},
    "setup": ["mkdir -p out", "cp data/nums.txt out/copy.txt"],
}


def _cand(expected: str, state: dict | None = STATE, cid: str = "t:1") -> Candidate:
    return Candidate(
        id=cid, domain="terminal", trajectory_id="t", turn_index=1,
        messages=(Message("user", "sort the numbers"),), expected=Message("assistant", expected),
        metadata={} if state is None else {"sandbox": state},
    )  # fmt: skip


def _say(text: str) -> Message:
    return Message("assistant", text)


@pytest.fixture
def verifier(backend: str):  # noqa: ANN201
    def _make(**opts):  # noqa: ANN001, ANN202
        base = {"backend": backend, "timeout_s": 5}
        if backend == "docker":
            base["sandbox_options"] = {"pool_size": 2}
        return get_registry().verifier("sandbox_exec", **{**base, **opts})

    return _make


def test_equivalent_commands_pass(verifier) -> None:  # noqa: ANN001
    v = verifier()
    cand = _cand("sort -n data/nums.txt > out/sorted.txt")
    verdict = run_verifier(v, cand, _say("cat data/nums.txt | sort > out/sorted.txt"))
    assert verdict.passed and not verdict.errored, verdict
    assert verdict.details["sampled"]["files"] == 6  # data/, 2 data files, out/, copy (from setup), sorted


def test_different_file_effects_fail(verifier) -> None:  # noqa: ANN001
    v = verifier()
    verdict = run_verifier(
        v, _cand("sort -n data/nums.txt > out/sorted.txt"), _say("sort -rn data/nums.txt > out/sorted.txt")
    )
    assert not verdict.passed and not verdict.errored
    assert verdict.details["differences"] == ["files"]
    assert [p for p, _ in verdict.details["files_differ"]] == ["out/sorted.txt", "out/sorted.txt"]


def test_output_and_exit_status_are_compared(verifier) -> None:  # noqa: ANN001
    v = verifier()
    cand = _cand("cat out/copy.txt")
    assert run_verifier(v, cand, _say("cat   ./out/copy.txt")).passed  # setup ran in both sandboxes
    wrong = run_verifier(v, cand, _say("cat out/missing.txt"))
    assert not wrong.passed and set(wrong.details["differences"]) == {"exit_code", "stdout"}


def test_normalize_lines_ignores_order(verifier) -> None:  # noqa: ANN001
    cand = _cand("cat data/nums.txt")
    assert not run_verifier(verifier(), cand, _say("sort data/nums.txt")).passed
    assert run_verifier(verifier(normalize="lines"), cand, _say("sort data/nums.txt")).passed


def test_tool_calls_and_fenced_blocks_are_actions(verifier) -> None:  # noqa: ANN001
    v = verifier(compare=["stdout"])
    cand = _cand("```bash\nwc -l < data/nums.txt\n```")
    call = Message(
        "assistant", None, tool_calls=(ToolCall("bash", {"command": "cat data/nums.txt | wc -l"}),)
    )
    assert run_verifier(v, cand, call).passed


def test_sampled_timeout_fails_and_expected_timeout_errors(verifier) -> None:  # noqa: ANN001
    v = verifier(timeout_s=1)
    slow = run_verifier(v, _cand("ls"), _say("sleep 30"))
    assert not slow.passed and not slow.errored and slow.reason == "the action timed out"
    stuck = run_verifier(v, _cand("sleep 30", cid="t:2"), _say("ls"))
    assert stuck.errored and "demonstrated action timed out" in stuck.error


def test_missing_state_and_failing_setup_are_errors_not_fails(verifier) -> None:  # noqa: ANN001
    v = verifier()
    no_state = run_verifier(v, _cand("ls", state=None), _say("ls"))
    assert no_state.errored and "no sandbox state" in no_state.error
    bad_setup = run_verifier(v, _cand("ls", state={"setup": ["exit 9"]}), _say("ls"))
    assert bad_setup.errored and "setup command 0 failed (exit 9)" in bad_setup.error


def test_an_action_without_a_command_fails(verifier) -> None:  # noqa: ANN001
    verdict = run_verifier(verifier(), _cand("ls"), _say("   "))
    assert not verdict.passed and not verdict.errored


def test_demonstration_runs_once_per_candidate(verifier) -> None:  # noqa: ANN001
    v = verifier()
    calls = []
    real = v.run_action
    v.run_action = lambda state, script: calls.append(script) or real(state, script)
    cand = _cand("ls data")
    verdicts = v.verify_batch([(cand, _say("ls data")), (cand, _say("ls ./data")), (cand, _say("ls /"))])
    assert [x.passed for x in verdicts] == [True, True, False]
    assert calls.count("ls data") == 2  # once as the demonstration (cached), once as a sample


@pytest.mark.docker
def test_engine_failure_is_an_errored_verdict(docker_ready: None) -> None:
    v = get_registry().verifier(
        "sandbox_exec", backend="docker", image="pivotrl/no-such-image", sandbox_options={"pool": False}
    )
    verdict = run_verifier(v, _cand("ls"), _say("ls"))
    assert verdict.errored and "no-such-image" in verdict.error and "pivotrl sandbox build" in verdict.error


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="compare"):
        get_registry().verifier("sandbox_exec", compare=["stdout", "vibes"])
    with pytest.raises(ConfigError, match="normalize"):
        get_registry().verifier("sandbox_exec", normalize="fuzzy")
    with pytest.raises(ConfigError, match="no option 'timeout'"):
        get_registry().verifier("sandbox_exec", timeout=3)


def test_bad_state_names_the_field() -> None:
    v = get_registry().verifier("sandbox_exec")
    with pytest.raises(InputError, match="metadata.sandbox.files"):
        v.state_of(_cand("ls", state={"files": {"/etc/passwd": "x"}}))
    with pytest.raises(InputError, match="metadata.sandbox.setup"):
        v.state_of(_cand("ls", state={"setup": [1, 2]}))


def test_script_extraction_and_normalisation() -> None:
    assert action_script(_say("```sh\nls\n```\nthen\n```bash\npwd\n```")) == "ls\npwd"
    assert action_script(Message("assistant", None, tool_calls=(ToolCall("search", {"q": "x"}),))) is None
    assert normalize_output("  a   b \n\n c\n", "whitespace") == "a b\nc"
    assert normalize_output("b\na\n", "lines") == "a\nb"
    import re

    assert normalize_output("took 12 ms", "exact", (re.compile(r"\d+ ms"),)) == "took <masked>"
