"""Multi-turn agent episodes on Terminal-Bench style tasks, in a sandbox.

An *agent* is any callable ``(messages) -> str`` returning its next Terminus-2 turn as text.
:class:`PolicyAgent` wraps a pivotrl :class:`~pivotrl_core.Policy`; :class:`OracleAgent` types
the task's ``solution.sh``. :func:`run_episode` prepares the sandbox (environment files, setup),
alternates agent turns and terminal output up to ``max_turns`` or ``task_complete``, then copies
the tests in and runs ``run-tests.sh``: exit status 0 is a pass. The episode's messages come back
as a :class:`~pivotrl_core.Trajectory` whose metadata records the task and its initial sandbox
state, ready for ``pivotrl extract --domain terminal``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pivotrl_core.policies.base import Prompt, SamplingParams
from pivotrl_core.sandbox import SandboxError, SandboxSpec, open_sandbox
from pivotrl_core.types import Message, Trajectory

from .shell import TerminalSession
from .task import Task
from .terminus import keystroke_script, parse_turn, schema_errors, task_complete

__all__ = ["AGENT_PROMPT", "EpisodeResult", "OracleAgent", "PolicyAgent", "run_episode"]

Agent = Callable[[Sequence[Message]], str]

AGENT_PROMPT = """You are an AI agent solving a task in a Linux shell. Each of your answers is one JSON
object, and nothing else:

{{"analysis": "what the terminal shows and what is left to do",
  "plan": "what the commands below will do",
  "commands": [{{"keystrokes": "ls -la\\n", "duration": 0.1}}],
  "task_complete": false}}

"keystrokes" are typed verbatim: end a command with a newline to run it. "duration" is how many
seconds to wait for it. Set "task_complete" to true once the task is done; your commands of that
answer still run. The shell runs as an unprivileged user without network access.

Task:
{instruction}

Current terminal screen:
{screen}"""


@dataclass
class EpisodeResult:
    """The outcome of one task episode. ``error`` is an infrastructure failure (not a fail)."""

    task: str
    passed: bool
    turns: int
    reason: str
    trajectory: Trajectory
    test_output: str = ""
    duration_s: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task, "passed": self.passed, "turns": self.turns, "reason": self.reason,
            "error": self.error, "duration_s": round(self.duration_s, 3), "test_output": self.test_output[-2000:],
        }  # fmt: skip


class PolicyAgent:
    """The next turn sampled from a pivotrl policy (one completion per turn)."""

    def __init__(self, policy: Any, sampling: SamplingParams | None = None) -> None:
        self.policy = policy
        self.sampling = sampling or SamplingParams(temperature=0.0, max_new_tokens=512)

    def __call__(self, messages: Sequence[Message]) -> str:
        completion = self.policy.sample([Prompt(messages=tuple(messages))], 1, self.sampling)[0][0]
        return completion.message.content or completion.text


@dataclass
class OracleAgent:
    """Types the task's reference solution in one turn and declares the task complete."""

    task: Task

    def __call__(self, messages: Sequence[Message]) -> str:
        script = self.task.solution or ""
        keys = script if script.endswith("\n") else script + "\n"
        return json.dumps({"analysis": "reference solution", "plan": "run solution.sh",
                           "commands": [{"keystrokes": keys, "duration": 1.0}], "task_complete": True})  # fmt: skip


def _feedback(text: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        turn = parse_turn(text)
    except json.JSONDecodeError as e:
        return (
            None,
            f"Your answer is not valid JSON ({e.msg} at column {e.colno}). Answer with one JSON object.",
        )
    errors = schema_errors(turn, "terminus_2")
    if errors:
        return None, f"Your answer does not follow the format: {errors[0]}. Answer with one JSON object."
    return turn, None


def _prepare(box: Any, task: Task) -> None:
    if task.environment:
        box.write_files(task.environment)
    if task.setup:
        res = box.run(task.setup, timeout_s=min(task.agent_timeout_s, 120.0))
        if not res.ok:
            raise SandboxError(
                f"setup.sh of task {task.name} failed (exit {res.exit_code}): {res.stdout[-300:]}{res.stderr[-300:]}"
            )


def _run_tests(box: Any, task: Task) -> tuple[bool, str]:
    box.write_files({f".pivotrl-tests/{k}": v for k, v in task.tests.items()})
    script = (
        "mkdir -p /tmp/tests && cp -r .pivotrl-tests/. /tmp/tests/ && rm -rf .pivotrl-tests && "
        "TEST_DIR=/tmp/tests bash /tmp/tests/run-tests.sh"
    )
    res = box.run(script, timeout_s=task.test_timeout_s)
    return res.ok, (res.stdout + res.stderr)


def _agent_loop(agent: Agent, session: TerminalSession, task: Task, messages: list[Message],
                max_turns: int, turn_timeout_s: float, deadline: float) -> tuple[int, str]:  # fmt: skip
    for turn_no in range(1, max_turns + 1):
        text = agent(tuple(messages))
        messages.append(Message("assistant", text))
        turn, problem = _feedback(text)
        if turn is None:
            messages.append(Message("user", problem or ""))
            continue
        budget = max(1.0, min(turn_timeout_s, deadline - time.monotonic()))
        out = session.run(keystroke_script(turn), budget)
        if task_complete(turn):
            return turn_no, "agent declared the task complete"
        if time.monotonic() >= deadline:
            return turn_no, f"agent time limit ({task.agent_timeout_s:g} s) reached"
        messages.append(Message("user", f"New terminal output:\n{out.output}"))
    return max_turns, f"turn limit ({max_turns}) reached"


def run_episode(
    task: Task, agent: Agent, *, backend: str | None = None, max_turns: int = 10, turn_timeout_s: float = 30.0,
    spec: SandboxSpec | None = None, **sandbox_options: Any,
) -> EpisodeResult:  # fmt: skip
    """Run one episode of ``agent`` on ``task`` and the task's tests (see the module docstring)."""
    start = time.monotonic()
    messages = [Message("user", AGENT_PROMPT.format(instruction=task.instruction, screen="$ "))]
    turns, reason, passed, test_output, error = 0, "", False, "", None
    try:
        box = open_sandbox(backend, spec or SandboxSpec(timeout_s=turn_timeout_s), **sandbox_options)
        try:
            _prepare(box, task)
            deadline = time.monotonic() + task.agent_timeout_s
            turns, reason = _agent_loop(
                agent, TerminalSession(box), task, messages, max_turns, turn_timeout_s, deadline
            )
            passed, test_output = _run_tests(box, task)
        finally:
            box.close()
    except SandboxError as e:
        error, reason = str(e), "sandbox error"
    trajectory = Trajectory(
        id=f"{task.name}:{uuid.uuid4().hex[:8]}", messages=tuple(messages),
        metadata={"task": task.name, "harness": "terminus_2", "sandbox": task.initial_state(), "passed": passed},
    )  # fmt: skip
    reason = f"{reason}; tests {'passed' if passed else 'failed'}" if error is None else reason
    return EpisodeResult(
        task.name, passed, turns, reason, trajectory, test_output, time.monotonic() - start, error
    )
