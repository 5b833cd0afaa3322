"""One multi-turn episode on a repository task, in ONE sandbox, scored by the hidden tests.

:func:`run_episode` opens a sandbox, puts the repository in (the task's files, or a copy of the
instance image's ``repo_dir``), alternates agent turns and tool observations up to ``max_turns`` or
``submit``, then adds the hidden tests (test files, or ``test_patch`` applied with ``git apply``)
and runs ``test_command``. The sandbox is closed in every case. A sandbox failure
(:class:`~pivotrl_core.SandboxError`) makes the result *errored*, never unresolved.

The episode comes back as a :class:`~pivotrl_core.Trajectory` whose ``metadata["swe"]`` records
what extraction and the functional verifier need: the task id, hidden tests and test command,
the message indices of error turns, and (with ``record_states``) the repository before each
assistant turn (``states`` + ``turn_states``).
"""

from __future__ import annotations

import difflib
import re
import shlex
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from pivotrl_core import Message, Sandbox, SandboxError, SandboxSpec, Trajectory, open_sandbox

from .agents import Agent
from .history import DEFAULT_WINDOW
from .tasks import Task
from .tools import TOOLS, ToolBox

__all__ = ["SYSTEM_PROMPT", "EpisodeResult", "initial_messages", "run_episode", "run_tests"]

SYSTEM_PROMPT = (
    "You fix an issue in a repository with the tools, one tool call per turn. Hidden tests decide."
)
SHIM_DIR = "/tmp/.pivotrl-swe-bin"
DEFAULT_SPEC = SandboxSpec(
    memory_mb=512,
    pids=64,
    timeout_s=30.0,
    disk_mb=64,
    env={"PATH": f"{SHIM_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
)
_SHIM = (
    f"mkdir -p {SHIM_DIR} && "
    f'(command -v python >/dev/null || ln -sf "$(command -v python3)" {SHIM_DIR}/python)'
)
_PYTEST_LINE = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS|SKIPPED)\s+(\S+)", re.M)


@dataclass
class EpisodeResult:
    """The outcome of one episode. ``error`` set: an infrastructure failure (not unresolved)."""

    instance_id: str
    resolved: bool
    turns: int
    submitted: bool
    trajectory: Trajectory
    patch: str = ""
    test_output: str = ""
    tests: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "resolved": self.resolved,
            "turns": self.turns,
            "submitted": self.submitted,
            "error": self.error,
            "duration_s": round(self.duration_s, 3),
            "patch": self.patch,
            "tests": self.tests,
            "test_output": self.test_output[-2000:],
        }


def initial_messages(task: Task) -> list[Message]:
    user = f"{task.problem_statement}\n\nThe repository is the current directory. Fix the issue, then submit."
    return [Message(role="system", content=SYSTEM_PROMPT), Message(role="user", content=user)]


def _text(files: dict[str, bytes]) -> dict[str, str]:
    """The work dir's files as text, without directories and git's own metadata (``.git/``)."""
    return {
        p: v.decode("utf-8", "replace")
        for p, v in files.items()
        if not p.endswith("/") and p != ".git" and not p.startswith(".git/")
    }


def unified_patch(before: dict[str, str], after: dict[str, str]) -> str:
    """A unified diff (``a/``, ``b/`` prefixes) from one file map to another."""
    out: list[str] = []
    for path in sorted(set(before) | set(after)):
        a, b = before.get(path), after.get(path)
        if a == b:
            continue
        out += difflib.unified_diff(
            (a or "").splitlines(keepends=True),
            (b or "").splitlines(keepends=True),
            "/dev/null" if a is None else f"a/{path}",
            "/dev/null" if b is None else f"b/{path}",
        )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in out)


def prepare(box: Sandbox, task: Task) -> None:
    """Put the task's repository into the sandbox's work dir (and ``python`` on the PATH: the
    sandbox image has only ``python3``; the shim lives in ``/tmp``, outside the repository)."""
    shim = box.run(_SHIM, timeout_s=30)
    if not shim.ok:
        raise SandboxError(f"preparing the sandbox failed: {shim.stderr[-300:]}")
    if task.files:
        box.write_files(dict(task.files))
        return
    res = box.run(f"cp -a {shlex.quote(task.repo_dir or '/testbed')}/. .", timeout_s=120)
    if not res.ok:
        raise SandboxError(f"copying the repository of {task.image} failed: {res.stderr[-300:]}")


def run_tests(box: Sandbox, task: Task, timeout_s: float) -> tuple[bool, dict[str, str], str]:
    """Add the hidden tests and run them: ``(resolved, per-test status, output)``."""
    if task.test_files:
        box.write_files(dict(task.test_files))
    if task.test_patch:
        box.write_files({".pivotrl_test.patch": task.test_patch})
        applied = box.run("git apply -v .pivotrl_test.patch && rm .pivotrl_test.patch", timeout_s=60)
        if not applied.ok:
            return False, {}, f"test patch did not apply: {applied.stderr[-500:]}"
    names = [*task.fail_to_pass, *task.pass_to_pass]
    swe_style = bool(names) and not all(n in task.test_files for n in names)
    command = (
        f"{task.test_command} {' '.join(shlex.quote(n) for n in names)}" if swe_style else task.test_command
    )
    res = box.run(command, timeout_s=timeout_s)
    output = res.stdout + res.stderr
    if not swe_style:
        status = "PASSED" if res.ok else ("TIMEOUT" if res.timed_out else "FAILED")
        tests = {n: status for n in names or ["<test_command>"]}
        return res.ok, tests, output
    seen = {name: kind for kind, name in _PYTEST_LINE.findall(output)}
    tests = {n: seen.get(n, "MISSING") for n in names}
    return all(s in ("PASSED", "XFAIL") for s in tests.values()), tests, output


def _metadata(
    task: Task,
    agent: Agent,
    error_turns: list[int],
    states: list[dict[str, str]],
    turn_states: dict[str, int],
) -> dict:
    window = getattr(agent, "window", DEFAULT_WINDOW)
    swe: dict[str, Any] = {
        "instance_id": task.instance_id,
        "test_files": dict(task.test_files),
        "test_command": task.test_command,
        "fail_to_pass": list(task.fail_to_pass),
        "pass_to_pass": list(task.pass_to_pass),
        "error_turns": error_turns,
        "image": task.image,
        "window": window.to_dict() if window is not None else None,
    }
    if states:
        swe["states"], swe["turn_states"] = states, turn_states
    return {"swe": swe, "source": "pivotrl-swe episode"}


def _loop(
    box: Sandbox, agent: Agent, task: Task, max_turns: int, turn_timeout_s: float, record: bool
) -> tuple:
    tools = ToolBox(box, turn_timeout_s)
    messages = initial_messages(task)
    error_turns: list[int] = []
    states: list[dict[str, str]] = []
    turn_states: dict[str, int] = {}
    submitted, turns = False, 0
    while turns < max_turns and not submitted:
        if record:
            state = _text(box.read_files())
            if not states or states[-1] != state:
                states.append(state)
            turn_states[str(len(messages))] = len(states) - 1
        action = agent(messages)
        turns += 1
        messages.append(action)
        if not action.tool_calls:
            error_turns.append(len(messages) - 1)
            messages.append(
                Message(role="user", content="No tool call found: answer with exactly one tool call.")
            )
            continue
        for call in action.tool_calls:
            outcome = tools.execute(call)
            if outcome.error and (len(messages) - 1) not in error_turns:
                error_turns.append(len(messages) - 1)
            messages.append(
                Message(role="tool", content=outcome.observation, tool_call_id=call.id, name=call.name)
            )
            submitted = submitted or outcome.submitted
    return messages, error_turns, states, turn_states, submitted, turns


def run_episode(
    task: Task,
    agent: Agent,
    *,
    backend: str | None = None,
    spec: SandboxSpec | None = None,
    max_turns: int = 20,
    turn_timeout_s: float = 30.0,
    test_timeout_s: float = 30.0,
    record_states: bool = False,
) -> EpisodeResult:
    """Run ``agent`` on ``task`` in one sandbox and score it by the hidden tests."""
    start = time.monotonic()
    spec = (spec or DEFAULT_SPEC).replace(image=task.image) if task.image else (spec or DEFAULT_SPEC)
    tid = f"swe-{task.instance_id.replace('/', '-')}-{uuid.uuid4().hex[:8]}"
    messages, error_turns, states, turn_states = initial_messages(task), [], [], {}
    submitted, turns, patch = False, 0, ""
    box: Sandbox | None = None
    try:
        box = open_sandbox(backend, spec)
        prepare(box, task)
        before = _text(box.read_files()) if not task.files else dict(task.files)
        messages, error_turns, states, turn_states, submitted, turns = _loop(
            box, agent, task, max_turns, turn_timeout_s, record_states
        )
        patch = unified_patch(before, _text(box.read_files()))
        resolved, tests, output = run_tests(box, task, test_timeout_s)
        error = None
    except SandboxError as e:
        resolved, tests, output, error = False, {}, "", f"SandboxError: {e}"
    finally:
        if box is not None:
            box.close()
    traj = Trajectory(
        id=tid,
        messages=tuple(messages),
        tools=TOOLS,
        metadata=_metadata(task, agent, error_turns, states, turn_states),
    )
    return EpisodeResult(
        task.instance_id,
        resolved and error is None,
        turns,
        submitted,
        traj,
        patch,
        output,
        tests,
        time.monotonic() - start,
        error,
    )
