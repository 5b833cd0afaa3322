"""Multi-turn agent episodes on Terminal-Bench style tasks, in a sandbox.

An *agent* is any callable ``(messages) -> str`` returning its next Terminus-2 turn as text.
:class:`PolicyAgent` wraps a pivotrl :class:`~pivotrl_core.Policy`; :class:`OracleAgent` types
the task's solution. :func:`run_episode` prepares the sandbox (environment files, setup),
alternates agent turns (Terminus-2's prompts, :mod:`pivotrl_terminal.terminus2`) and terminal
output up to ``max_turns`` or ``task_complete``, then copies the tests in and runs them: a
Harbor task passes with a reward >= 1, a Terminal-Bench 1 task with exit status 0. The
episode's messages come back as a :class:`~pivotrl_core.Trajectory` whose metadata records the
task and its initial sandbox state, ready for ``pivotrl extract --domain terminal``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pivotrl_core import Message, Prompt, SamplingParams, SandboxError, SandboxSpec, Trajectory, open_sandbox

from .shell import TerminalSession
from .task import Task
from .terminus import keystroke_script, parse_turn, schema_errors, task_complete
from .terminus2 import completion_confirmation, initial_prompt, limit_output_length, parse_error_prompt

__all__ = ["AgentError", "EpisodeResult", "OracleAgent", "PolicyAgent", "run_episode"]

Agent = Callable[[Sequence[Message]], str]


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
            "task": self.task,
            "passed": self.passed,
            "turns": self.turns,
            "reason": self.reason,
            "error": self.error,
            "duration_s": round(self.duration_s, 3),
            "test_output": self.test_output[-2000:],
        }


class AgentError(RuntimeError):
    """The agent could not produce a turn (e.g. the prompt is over the model's context)."""


class PolicyAgent:
    """The next turn sampled from a pivotrl policy (one completion per turn)."""

    def __init__(self, policy: Any, sampling: SamplingParams | None = None) -> None:
        self.policy = policy
        self.sampling = sampling or SamplingParams(temperature=0.0, max_new_tokens=512)

    def __call__(self, messages: Sequence[Message]) -> str:
        samples = self.policy.sample([Prompt(messages=tuple(messages))], 1, self.sampling)
        if not samples or not samples[0]:
            raise AgentError("the policy returned no completion (is the prompt over the model's context?)")
        completion = samples[0][0]
        return completion.message.content or completion.text


@dataclass
class OracleAgent:
    """Types the task's reference solution in one turn, declares the task complete, then confirms."""

    task: Task

    def __call__(self, messages: Sequence[Message]) -> str:
        if any(m.role == "assistant" for m in messages):  # asked to confirm: nothing more to type
            commands: list[dict[str, Any]] = []
        else:
            script = self.task.solution or ""
            commands = [{"keystrokes": script if script.endswith("\n") else script + "\n", "duration": 1.0}]
        plan = "run the reference solution" if commands else "confirm"
        return json.dumps(
            {"analysis": "reference solution", "plan": plan, "commands": commands, "task_complete": True}
        )


def _feedback(text: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        turn = parse_turn(text)
    except json.JSONDecodeError as e:
        return (
            None,
            parse_error_prompt(f"Invalid JSON: {e.msg} at line {e.lineno} column {e.colno}"),
        )
    errors = schema_errors(turn, "terminus_2")
    if errors:
        return None, parse_error_prompt(f"The JSON does not follow the format: {errors[0]}")
    return turn, None


def _prepare(box: Any, task: Task) -> None:
    if task.environment:
        box.write_files(task.environment)
    if task.setup:
        res = box.run(task.setup, timeout_s=min(task.agent_timeout_s, 120.0))
        if not res.ok:
            raise SandboxError(
                f"setup of task {task.name} failed (exit {res.exit_code}): "
                f"{res.stdout[-300:]}{res.stderr[-300:]}"
            )


def _run_tests(box: Any, task: Task) -> tuple[bool, str]:
    """Copy the tests in, run them; pass = exit 0 (Terminal-Bench 1) or a reward >= 1 (Harbor)."""
    box.write_files({f".pivotrl-tests/{k}": v for k, v in task.tests.items()})
    script = (
        "mkdir -p /tmp/tests /tmp/logs/verifier && cp -r .pivotrl-tests/. /tmp/tests/ && "
        "rm -rf .pivotrl-tests && "
        f"TEST_DIR=/tmp/tests bash /tmp/tests/{task.test_script}"
    )
    res = box.run(script, timeout_s=task.test_timeout_s)
    output = res.stdout + res.stderr
    if task.reward_file is None:
        return res.ok, output
    written = box.run(f"cat {task.reward_file}", timeout_s=10.0)
    try:
        reward = float(written.stdout.strip())
    except ValueError:
        return False, f"{output}\n[tests/{task.test_script} wrote no reward to {task.reward_file}]"
    return reward >= 1.0, f"{output}\n[reward {reward:g}]"


def _agent_loop(
    agent: Agent,
    session: TerminalSession,
    task: Task,
    messages: list[Message],
    max_turns: int,
    turn_timeout_s: float,
    deadline: float,
) -> tuple[int, str]:
    pending = False  # Terminus-2: the first task_complete asks for confirmation, the second ends
    for turn_no in range(1, max_turns + 1):
        text = agent(tuple(messages))
        messages.append(Message("assistant", text))
        turn, problem = _feedback(text)
        if turn is None:
            messages.append(Message("user", problem or ""))
            continue
        budget = max(1.0, min(turn_timeout_s, deadline - time.monotonic()))
        output = limit_output_length(session.run(keystroke_script(turn), budget).output)
        if task_complete(turn) and pending:
            return turn_no, "agent confirmed the task complete"
        if time.monotonic() >= deadline:
            return turn_no, f"agent time limit ({task.agent_timeout_s:g} s) reached"
        pending = task_complete(turn)
        messages.append(Message("user", completion_confirmation(output) if pending else output))
    return max_turns, f"turn limit ({max_turns}) reached"


def run_episode(
    task: Task,
    agent: Agent,
    *,
    backend: str | None = None,
    max_turns: int = 10,
    turn_timeout_s: float = 30.0,
    spec: SandboxSpec | None = None,
    **sandbox_options: Any,
) -> EpisodeResult:
    """Run one episode of ``agent`` on ``task`` and the task's tests (see the module docstring)."""
    start = time.monotonic()
    messages = [Message("user", initial_prompt(task.instruction))]
    turns, reason, passed, test_output, error = 0, "", False, "", None
    try:
        spec = (spec or SandboxSpec(timeout_s=turn_timeout_s)).replace(workdir=task.workdir)
        if task.memory_mb:
            spec = spec.replace(memory_mb=max(spec.memory_mb, task.memory_mb))
        box = open_sandbox(backend, spec, **sandbox_options)
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
    except AgentError as e:
        error, reason = str(e), "agent error"
    trajectory = Trajectory(
        id=f"{task.name}:{uuid.uuid4().hex[:8]}",
        messages=tuple(messages),
        metadata={
            "task": task.name,
            "harness": "terminus_2",
            "sandbox": task.initial_state(),
            "passed": passed,
        },
    )
    reason = f"{reason}; tests {'passed' if passed else 'failed'}" if error is None else reason
    return EpisodeResult(
        task.name, passed, turns, reason, trajectory, test_output, time.monotonic() - start, error
    )
