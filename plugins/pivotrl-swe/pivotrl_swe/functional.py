"""The sandboxed functional check behind ``swe_exec``.

The demonstrated and the sampled tool call each run in a fresh sandbox holding the repository at
the turn's state (``candidate.metadata["sandbox"]["files"]``), through the same tools an episode
uses (:class:`~pivotrl_swe.tools.ToolBox`). Their *effects* are compared:

1. ``submit`` passes only against ``submit``;
2. when the demonstration is the trajectory's final edit (``metadata["swe"]["final_edit"]``) and
   hidden tests are recorded, the sampled call passes when the hidden tests pass on its result;
3. when either call changed files, the changed files and their contents (trailing blanks of each
   line ignored) must be equal;
4. otherwise the command outcome: exit code and output (blanks collapsed, the call's own path
   argument masked) must be equal.

Outcomes: a sampled call that is not a tool call, is rejected by its tool (an error) or times out
**fails**. A missing repository state, a demonstration that errors or times out, and any
:class:`~pivotrl_core.SandboxError` (engine down, container killed mid-verdict) are **errored**:
the exception reaches :func:`~pivotrl_core.run_verifier`, which makes an errored verdict.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from pivotrl_core import (
    Candidate,
    ConfigError,
    Message,
    SandboxError,
    SandboxSpec,
    ToolCall,
    Verdict,
    dumps,
    open_sandbox,
)

from .episode import DEFAULT_SPEC, prepare, run_tests
from .tasks import Task
from .tools import ToolBox

__all__ = ["Effect", "FunctionalCheck"]


@dataclass(frozen=True)
class Effect:
    """What one call did to the repository and what it printed."""

    error: bool
    timed_out: bool
    exit_code: int | None
    output: str
    changed: dict[str, str | None] = field(default_factory=dict)
    tests_passed: bool | None = None


def _norm_file(text: str | None) -> str | None:
    return None if text is None else "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))


def _norm_output(text: str, call: ToolCall) -> str:
    path = (call.arguments or {}).get("path") if isinstance(call.arguments, dict) else None
    if isinstance(path, str) and path:
        text = text.replace(path, "<path>")
    return " ".join(text.split())


class FunctionalCheck:
    """Runs and compares effects; options: ``backend``, ``timeout_s``, ``memory_mb``, ``disk_mb``,
    ``test_timeout_s``, ``sandbox_options`` (passed to the backend)."""

    def __init__(
        self,
        backend: str | None = None,
        timeout_s: float = 20.0,
        memory_mb: int = 512,
        disk_mb: int = 64,
        test_timeout_s: float = 20.0,
        sandbox_options: dict[str, Any] | None = None,
    ) -> None:
        if timeout_s <= 0 or test_timeout_s <= 0:
            raise ConfigError("swe_exec: timeout_s and test_timeout_s must be > 0")
        self.backend = backend
        self.spec: SandboxSpec = DEFAULT_SPEC.replace(
            timeout_s=timeout_s, memory_mb=memory_mb, disk_mb=disk_mb
        )
        self.test_timeout_s = test_timeout_s
        self.sandbox_options = dict(sandbox_options or {})
        self._cache: dict[str, Effect] = {}
        self._lock = threading.Lock()

    def effect(self, candidate: Candidate, call: ToolCall, with_tests: bool) -> Effect:
        """Run ``call`` on the candidate's repository state in a fresh sandbox."""
        files = ((candidate.metadata.get("sandbox") or {}).get("files")) or {}
        swe = candidate.metadata.get("swe") or {}
        task = Task(
            instance_id=str(swe.get("instance_id", candidate.id)),
            problem_statement="",
            files=files,
            test_files=swe.get("test_files") or {},
            test_command=swe.get("test_command") or "python test.py",
        )
        box = open_sandbox(self.backend, self.spec, **self.sandbox_options)
        try:
            prepare(box, task)
            out = ToolBox(box, self.spec.timeout_s).execute(call)
            after = {
                p: v.decode("utf-8", "replace") for p, v in box.read_files().items() if not p.endswith("/")
            }
            changed = {
                p: after.get(p)
                for p in set(files) | set(after)
                if _norm_file(files.get(p)) != _norm_file(after.get(p))
            }
            passed = run_tests(box, task, self.test_timeout_s)[0] if with_tests and task.test_files else None
        finally:
            box.close()
        return Effect(
            out.error, out.timed_out, out.exit_code, _norm_output(out.observation, call), changed, passed
        )

    def _expected(self, candidate: Candidate, call: ToolCall, with_tests: bool) -> Effect:
        state = dumps(candidate.metadata.get("sandbox"))
        key = f"{candidate.id}\x1e{dumps(call.to_dict())}\x1e{with_tests}\x1e{state}"
        with self._lock:
            hit = self._cache.get(key)
        if hit is None:
            hit = self.effect(candidate, call, with_tests)
            if hit.error or hit.timed_out:
                raise SandboxError(
                    f"the demonstrated call {call.name} {'timed out' if hit.timed_out else 'errored'}"
                )
            with self._lock:
                self._cache[key] = hit
        return hit

    def verify(self, candidate: Candidate, action: Message) -> Verdict:
        if not candidate.expected.tool_calls:
            raise ValueError("the demonstrated turn has no tool call")
        if "sandbox" not in candidate.metadata:
            raise ValueError(
                "the candidate records no repository state (metadata.sandbox): run swe_pivot instead"
            )
        want = candidate.expected.tool_calls[0]
        if not action.tool_calls:
            return Verdict.fail("no tool call")
        got = action.tool_calls[0]
        if want.name == "submit" or got.name == "submit":
            return Verdict.ok("both submit") if want.name == got.name else Verdict.fail("submit mismatch")
        final = bool((candidate.metadata.get("swe") or {}).get("final_edit"))
        expected = self._expected(candidate, want, final)
        sampled = self.effect(candidate, got, final)
        return compare(expected, sampled, final)


def compare(expected: Effect, sampled: Effect, final: bool) -> Verdict:
    """The verdict for two effects (see the module docstring)."""
    details = {"expected_changed": sorted(expected.changed), "sampled_changed": sorted(sampled.changed)}
    if sampled.error:
        return Verdict.fail("the sampled call was rejected by its tool", **details)
    if sampled.timed_out:
        return Verdict.fail("the sampled call timed out", **details)
    if final and expected.tests_passed and sampled.tests_passed is not None:
        ok = sampled.tests_passed
        return Verdict(
            float(ok), ok, "hidden tests pass" if ok else "hidden tests fail", {**details, "tests": True}
        )
    if expected.changed or sampled.changed:
        same = {p: _norm_file(t) for p, t in expected.changed.items()} == {
            p: _norm_file(t) for p, t in sampled.changed.items()
        }
        return Verdict(float(same), same, "same file changes" if same else "different file changes", details)
    same = (expected.exit_code, expected.output) == (sampled.exit_code, sampled.output)
    reason = "same command outcome" if same else "different command outcome"
    return Verdict(
        float(same), same, reason, {**details, "exit_codes": [expected.exit_code, sampled.exit_code]}
    )
