"""Terminal-Bench style tasks: loading, and multi-turn episodes that really run in a sandbox."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from pivotrl_terminal.bench import summarize, terminal_bench
from pivotrl_terminal.episode import OracleAgent, run_episode
from pivotrl_terminal.loading import load_tasks
from pivotrl_terminal.task import Task

from pivotrl_core import InputError, Message, SandboxSpec

BUNDLED = ["count-errors", "fix-calculator", "hello-file", "sum-column"]


def _answer(*keys: str, done: bool = False) -> str:
    return json.dumps(
        {
            "analysis": "",
            "plan": "",
            "commands": [{"keystrokes": k, "duration": 0.1} for k in keys],
            "task_complete": done,
        }
    )


class Scripted:
    """An agent that answers from a list, recording what it was shown."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.seen: list[Sequence[Message]] = []

    def __call__(self, messages: Sequence[Message]) -> str:
        self.seen.append(messages)
        return self.answers.pop(0) if self.answers else _answer(done=True)


def test_bundled_tasks_load_with_their_layout() -> None:
    tasks = load_tasks()
    assert [t.name for t in tasks] == BUNDLED
    by = {t.name: t for t in tasks}
    assert "logs/app.log" in by["count-errors"].environment and by["sum-column"].setup
    assert all(
        t.format == "harbor" and t.solution and "test.sh" in t.tests and len(t.tests) >= 2 for t in tasks
    )
    assert all("/tmp/tests/check_outputs.py" in t.tests["test.sh"].decode() for t in tasks)  # Harbor's /tests
    assert by["hello-file"].test_timeout_s == 20.0
    assert by["count-errors"].initial_state()["files"]["logs/app.log"].count("ERROR") == 3


def test_oracle_solves_every_bundled_task(backend: str) -> None:
    report = terminal_bench(oracle=True, backend=backend, progress=False)
    assert report["n_tasks"] == 4 and report["n_errored"] == 0, report["tasks"]
    assert report["n_passed"] == 4 and report["accuracy"] == 1.0, report["tasks"]
    assert all("PASSED" in t["test_output"] for t in report["tasks"])
    assert len(report["trajectories"]) == 4


def test_an_agent_that_does_nothing_fails(backend: str) -> None:
    task = load_tasks(names=["fix-calculator"])[0]
    result = run_episode(task, Scripted(_answer(done=True)), backend=backend)
    assert not result.passed and result.error is None and result.turns == 2  # complete, then confirm
    assert result.trajectory.messages[2].content.startswith("Current terminal state:")
    assert "calc.py 2 3 printed '-1'" in result.test_output


def test_multi_turn_episode_keeps_the_shell_state(backend: str) -> None:
    task = load_tasks(names=["count-errors"])[0]
    agent = Scripted(
        _answer("cd logs\n", "export PATTERN=ERROR\n"),
        _answer("pwd\n"),
        _answer('grep -c "$PATTERN" app.log > ../error_count.txt\n', done=True),
    )
    result = run_episode(task, agent, backend=backend, max_turns=5)
    assert result.passed, result.test_output
    assert result.turns == 4 and len(agent.seen) == 4  # the fourth confirms the completion
    assert agent.seen[2][-1].content == "/work/logs\n"  # cwd survived the turn
    roles = [m.role for m in result.trajectory.messages]
    assert roles == ["user", "assistant", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert "Are you sure you want to mark the task as complete?" in agent.seen[3][-1].content
    assert (
        result.trajectory.metadata["task"] == "count-errors" and result.trajectory.metadata["passed"] is True
    )


def test_invalid_answers_get_feedback_and_the_turn_limit_ends_the_episode(backend: str) -> None:
    task = load_tasks(names=["hello-file"])[0]
    agent = Scripted("Sure! Let me list the files.", '{"analysis": "a"}', "{", "{")
    result = run_episode(task, agent, backend=backend, max_turns=3)
    assert not result.passed and result.turns == 3 and "turn limit (3)" in result.reason
    feedback = [m.content for m in result.trajectory.messages[2::2]]
    assert feedback[0].startswith("Previous response had parsing errors:\nERROR: Invalid JSON")
    assert "does not follow the format" in feedback[1]


def test_a_runaway_command_is_killed_and_reported(backend: str) -> None:
    task = load_tasks(names=["hello-file"])[0]
    agent = Scripted(
        _answer("while :; do :; done\n"), _answer("echo 'Hello, world!' > hello.txt\n", done=True)
    )
    result = run_episode(task, agent, backend=backend, turn_timeout_s=1.0, spec=SandboxSpec(timeout_s=1.0))
    assert result.passed
    assert "timed out after 1 s" in result.trajectory.messages[2].content


@pytest.mark.docker
def test_sandbox_failure_is_an_error_not_a_fail(docker_ready: None) -> None:
    task = load_tasks(names=["hello-file"])[0]
    result = run_episode(
        task, OracleAgent(task), backend="docker", spec=SandboxSpec(image="pivotrl/no-such-image"), pool=False
    )
    assert result.error and "pivotrl sandbox build" in result.error and not result.passed
    report = summarize([result])
    assert report["n_errored"] == 1 and report["accuracy"] is None


def _write_task(root: Path, yaml_text: str, runner: bool = True) -> Path:
    root.mkdir(parents=True)
    (root / "task.yaml").write_text(yaml_text)
    if runner:
        (root / "run-tests.sh").write_text("#!/bin/bash\ntrue\n")
    return root


@pytest.mark.parametrize(
    ("yaml_text", "runner", "match"),
    [
        ("author_name: x\n", True, "task.yaml: field 'instruction': missing or empty instruction"),
        ("instruction: do it\nmax_agent_timeout_sec: -5\n", True, "field 'max_agent_timeout_sec'"),
        ("instruction: do it\nparser_name: junit\n", True, "field 'parser_name': unknown parser"),
        ("instruction: [unclosed\n", True, "task.yaml:2: invalid YAML"),
        ("instruction: do it\n", False, "run-tests.sh: a task folder needs run-tests.sh"),
    ],
)
def test_bad_task_folders_name_the_file_and_field(
    tmp_path: Path, yaml_text: str, runner: bool, match: str
) -> None:
    folder = _write_task(tmp_path / "t", yaml_text, runner)
    with pytest.raises(InputError, match=match):
        Task.load(folder)


def test_unknown_task_names_are_listed(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown task.*nope.*found count-errors"):
        load_tasks(names=["nope"])
    with pytest.raises(InputError, match="no task folders"):
        load_tasks(tmp_path)


def test_a_real_model_drives_an_episode(any_backend: str, tmp_path: Path) -> None:
    """A (tiny, untrained) transformers model runs as the agent: its turns go through the loop.

    Once, on the ``auto`` backend: the loop is backend-neutral and model loading is the slow part."""
    from pivotrl_core import get_registry
    from pivotrl_core.policies.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny")
    config = json.loads((Path(model) / "config.json").read_text())  # the official Terminus-2 prompt is
    config["max_position_embeddings"] = 4096  # ~2.1k tokens for this tokenizer; RoPE takes any length
    (Path(model) / "config.json").write_text(json.dumps(config))
    policy = get_registry().policy("hf", model=model)
    report = terminal_bench(
        policy, names=["hello-file"], backend=any_backend, max_turns=2, max_new_tokens=24, progress=False
    )
    (task,) = report["tasks"]
    assert task["error"] is None and not task["passed"] and task["turns"] == 2
    assistant = [m for m in report["trajectories"][0]["messages"] if m["role"] == "assistant"]
    assert len(assistant) == 2


def test_a_policy_that_returns_nothing_is_an_agent_error(any_backend: str) -> None:
    """Fault injection: a policy that returns no completion (a prompt over its context) errors the episode."""
    from pivotrl_terminal.episode import PolicyAgent

    class Silent:
        def sample(self, prompts, n, sampling):  # noqa: ANN001, ANN202
            return []

    task = load_tasks(names=["hello-file"])[0]
    result = run_episode(task, PolicyAgent(Silent()), backend=any_backend)
    assert result.error and "no completion" in result.error and result.reason == "agent error"
    assert summarize([result])["n_errored"] == 1
