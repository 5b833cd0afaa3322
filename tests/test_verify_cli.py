"""``pivotrl verify`` and ``pivotrl check-verifier`` on real NeMo Gym rows, bad input and resumption."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from verifier_helpers import TOOL_USE, call, cand, candidate_from_row, load_rows, say

from pivotrl_core.cli import build_cli
from pivotrl_core.jsonl import write_jsonl

PIVOTRL = [str(Path(sys.executable).parent / "pivotrl")]


@pytest.fixture
def run(pivotrl_pm):
    cli = build_cli()

    def _run(*args: str):
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return _run


@pytest.fixture(scope="module")
def rollouts(nemo_gym_dir):
    return load_rows(nemo_gym_dir / TOOL_USE / "example_rollouts.jsonl")


@pytest.fixture
def files(tmp_path, rollouts, nemo_gym_dir):
    """candidates.jsonl (the 5 rollout rows + 5 parallel rows) and actions.jsonl (the recorded responses)."""
    parallel = load_rows(nemo_gym_dir / TOOL_USE / "parallel_example.jsonl")
    cands = [candidate_from_row(r, f"r{i}") for i, r in enumerate(rollouts)]
    cands += [candidate_from_row(r, f"p{i}") for i, r in enumerate(parallel)]
    write_jsonl(tmp_path / "candidates.jsonl", cands)
    write_jsonl(
        tmp_path / "actions.jsonl",
        [{"candidate_id": f"r{i}", "response": r["response"]} for i, r in enumerate(rollouts)],
    )
    return tmp_path


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_verify_reproduces_nvidia_rewards(run, files, rollouts):
    result = run(
        "verify", files / "candidates.jsonl", "--actions", files / "actions.jsonl", "-o", files / "v.jsonl"
    )
    assert result.exit_code == 0, result.output
    assert "verified 5 action(s): 3 passed, 2 failed, 0 errored; mean reward 0.6000" in result.output
    rows = read(files / "v.jsonl")
    assert [r["verdict"]["score"] for r in rows] == [r["reward"] for r in rollouts]
    assert [r["action_line"] for r in rows] == [1, 2, 3, 4, 5] and {r["verifier"] for r in rows} == {
        "tool_call"
    }


def test_verify_accepts_every_action_form(run, files):
    actions = [
        {
            "candidate_id": "p3",
            "action": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        },
        {
            "candidate_id": "p3",
            "text": '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
        },
        {
            "id": "p3",
            "output": [{"type": "function_call", "name": "get_weather", "arguments": '{"city": "Rome"}'}],
        },
        {"candidate_id": "p4", "text": "You're welcome, bye!"},
    ]
    write_jsonl(files / "forms.jsonl", actions)
    result = run(
        "verify", files / "candidates.jsonl", "--actions", files / "forms.jsonl", "-o", files / "v.jsonl"
    )
    assert result.exit_code == 0, result.output
    assert [r["verdict"]["passed"] for r in read(files / "v.jsonl")] == [True, True, False, True]


def test_verify_resumes_without_losing_or_duplicating_rows(run, files):
    out = files / "v.jsonl"
    args = ("verify", files / "candidates.jsonl", "--actions", files / "actions.jsonl", "-o", out)
    assert run(*args).exit_code == 0
    full = read(out)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:2]) + lines[2][:25])  # a crash: two rows and a torn third
    result = run(*args)
    assert result.exit_code == 0 and "(2 already done)" in result.output
    assert sorted(read(out), key=lambda r: r["action_line"]) == full
    assert run(*args, "--overwrite").exit_code == 0 and read(out) == full


def test_verify_options_and_config(run, files):
    base = (
        "verify",
        files / "candidates.jsonl",
        "--actions",
        files / "actions.jsonl",
        "-o",
        files / "v.jsonl",
        "--overwrite",
    )
    assert run(*base, "--verifier", "exact").exit_code == 0
    assert [r["verdict"]["passed"] for r in read(files / "v.jsonl")] == [False, True, False, False, False]
    config = files / "verifier.toml"
    config.write_text('[verifier]\nname = "tool_call"\nmessage_policy = "fuzzy"\nmessage_threshold = 0.9\n')
    assert run(*base, "--config", config).exit_code == 0
    assert [r["verdict"]["passed"] for r in read(files / "v.jsonl")] == [False, True, False, False, False]
    assert (
        run(
            *base,
            "--verifier",
            "tool_call",
            "--option",
            'message_policy="overlap"',
            "--option",
            "message_threshold=0.99",
        ).exit_code
        == 0
    )
    assert [r["verdict"]["passed"] for r in read(files / "v.jsonl")] == [False, True, False, False, False]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--verifier", "tool_call", "--option", "treshold=0.2"), "has no option 'treshold'"),
        (("--verifier", "tool_call", "--option", "threshold"), "must look like KEY=VALUE"),
        (("--verifier", "tool-call"), "did you mean 'tool_call'"),
        (("--domain", "generik"), "did you mean 'generic'"),
        (("--domain", "generic", "--verifier", "exact"), "at most one of"),
    ],
)
def test_verify_configuration_errors_exit_2(run, files, args, message):
    result = run(
        "verify",
        files / "candidates.jsonl",
        "--actions",
        files / "actions.jsonl",
        "-o",
        files / "v.jsonl",
        *args,
    )
    assert result.exit_code == 2 and message in result.output
    assert not (files / "v.jsonl").exists()


def test_bad_input_names_file_line_and_field_and_writes_nothing(run, files):
    good = (files / "candidates.jsonl").read_text().splitlines()
    bad_row = json.loads(good[2])
    del bad_row["expected"]["role"]
    (files / "bad.jsonl").write_text("\n".join([good[0], good[1], json.dumps(bad_row)]) + "\n")
    result = run("verify", files / "bad.jsonl", "--actions", files / "actions.jsonl", "-o", files / "v.jsonl")
    assert result.exit_code == 2
    assert f"{files / 'bad.jsonl'}:3: field 'expected.role': missing required field" in result.output
    write_jsonl(
        files / "acts.jsonl", [{"candidate_id": "r0", "text": "hi"}, {"candidate_id": "nope", "text": "x"}]
    )
    result = run(
        "verify", files / "candidates.jsonl", "--actions", files / "acts.jsonl", "-o", files / "v.jsonl"
    )
    assert (
        result.exit_code == 2
        and f"{files / 'acts.jsonl'}:2: field 'candidate_id': no candidate with id 'nope'" in result.output
    )
    write_jsonl(
        files / "acts.jsonl",
        [{"candidate_id": "r0", "output": [{"type": "function_call", "arguments": "{}"}]}],
    )
    result = run(
        "verify", files / "candidates.jsonl", "--actions", files / "acts.jsonl", "-o", files / "v.jsonl"
    )
    assert result.exit_code == 2 and "acts.jsonl:1: field 'output.output[0].name'" in result.output
    assert not (files / "v.jsonl").exists()


def test_check_verifier_passes_on_nvidia_rows(run, files):
    result = run("check-verifier", "--domain", "generic", files / "candidates.jsonl")
    assert result.exit_code == 0, result.output
    assert "expected passes" in result.output and "verifier QA passed" in result.output
    assert "WARNING: candidate r0: message garbage" in result.output
    strict = run("check-verifier", "--domain", "generic", "--strict", files / "candidates.jsonl")
    assert strict.exit_code == 1 and "verifier QA found 3 problem(s)" in strict.output
    fuzzy = run(
        "check-verifier",
        "--domain",
        "generic",
        "--option",
        'message_policy="fuzzy"',
        "--strict",
        files / "candidates.jsonl",
    )
    assert fuzzy.exit_code == 0, fuzzy.output


def test_check_verifier_json_and_limit(run, files):
    result = run(
        "check-verifier",
        "--verifier",
        "exact",
        "--json",
        "--limit",
        "4",
        "--repeats",
        "2",
        files / "candidates.jsonl",
    )
    assert result.exit_code == 0
    report = json.loads(result.output[result.output.index("[") :])
    assert report[0]["verifier"] == "exact" and report[0]["n_candidates"] == 4 and report[0]["repeats"] == 2


LENIENT_PLUGIN = """
from pivotrl_core import hookimpl

@hookimpl
def pivotrl_register_verifiers(register):
    register(lambda candidate, action: True, name="lenient")
"""


def test_check_verifier_fails_a_lenient_plugin_verifier(tmp_path):
    plugin = tmp_path / "lenient.py"
    plugin.write_text(LENIENT_PLUGIN)
    write_jsonl(tmp_path / "c.jsonl", [cand(call("f", q="a b")), cand(say("hello"), cid="t:2")])
    proc = subprocess.run(
        [
            *PIVOTRL,
            "--plugin",
            str(plugin),
            "check-verifier",
            "--verifier",
            "lenient",
            str(tmp_path / "c.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "VIOLATION: candidate t:1: empty fails" in proc.stdout
    assert "Error: verifier QA found" in proc.stderr


def test_nemo_gym_files_are_accepted_directly(run, nemo_gym_dir, tmp_path, rollouts):
    data = nemo_gym_dir / TOOL_USE
    result = run(
        "verify",
        data / "example_rollouts.jsonl",
        "--actions",
        data / "example_rollouts.jsonl",
        "-o",
        tmp_path / "v.jsonl",
    )
    assert result.exit_code == 0, result.output
    assert [r["verdict"]["score"] for r in read(tmp_path / "v.jsonl")] == [r["reward"] for r in rollouts]
    for name in ("example.jsonl", "parallel_example.jsonl"):
        result = run("check-verifier", "--domain", "generic", data / name)
        assert result.exit_code == 0 and "verifier QA passed" in result.output, result.output


def test_judge_failures_are_errored_rows_not_zeros(run, files):
    from judge_server import start_judge_server

    httpd, server = start_judge_server()
    try:
        # judge calls of a batch run concurrently (the semaphore is released between attempts), so
        # every action's first attempt meets a 500, and exactly one action's retry meets the fourth
        server.push("500", "500", "500", "500")
        write_jsonl(files / "acts.jsonl", [{"candidate_id": "p3", "text": "It is sunny."}] * 3)
        args = [
            "verify",
            files / "candidates.jsonl",
            "--actions",
            files / "acts.jsonl",
            "-o",
            files / "v.jsonl",
            "--verifier",
            "llm_judge",
            "--option",
            "model=judge",
            "--option",
            f"base_url={server.url}",
            "--option",
            "max_retries=1",
            "--option",
            "backoff=0.01",
            "--option",
            "max_concurrency=1",
        ]
        result = run(*args)
        assert result.exit_code == 0, result.output
        assert "0 passed, 2 failed, 1 errored" in result.output
        rows = read(files / "v.jsonl")
        assert rows[0]["verdict"]["score"] is None and "HTTP 500" in rows[0]["verdict"]["error"]
        assert [r["verdict"]["passed"] for r in rows[1:]] == [False, False]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_verify_resume_refuses_stale_verdicts(run, files, rollouts):
    """Changed actions, candidates or verifier settings: the old verdicts are not kept silently."""
    out = files / "v.jsonl"
    args = ("verify", files / "candidates.jsonl", "--actions", files / "actions.jsonl", "-o", out)
    assert run(*args, "--verifier", "tool_call", "--option", "threshold=0.3").exit_code == 0
    before = read(out)
    changed = run(*args, "--verifier", "tool_call", "--option", "threshold=0.9")  # other settings
    assert changed.exit_code == 2 and "--fresh" in changed.output and "threshold" in changed.output
    assert read(out) == before  # nothing written
    actions = read(files / "actions.jsonl")
    actions[0] = {"candidate_id": "r0", "action": {"tool_calls": [{"name": "no_such_tool", "arguments": {}}]}}
    write_jsonl(files / "actions.jsonl", actions)  # the actions changed under the same output
    stale = run(*args, "--verifier", "tool_call", "--option", "threshold=0.3")
    assert stale.exit_code == 2 and "actions" in stale.output and read(out) == before
    fresh = run(*args, "--verifier", "tool_call", "--option", "threshold=0.3", "--fresh")
    assert fresh.exit_code == 0 and "verified 5 action(s)" in fresh.output
    assert read(out)[0]["verdict"]["passed"] is False and len(read(out)) == len(rollouts)
    again = run(*args, "--verifier", "tool_call", "--option", "threshold=0.3")  # same settings: resumes
    assert again.exit_code == 0 and "(5 already done)" in again.output
