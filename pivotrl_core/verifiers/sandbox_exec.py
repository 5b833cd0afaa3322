"""``sandbox_exec``: run the demonstrated and the sampled action from the same state and compare
their effects.

The state is :class:`~pivotrl_core.sandbox.SandboxState` (files, then setup commands), read from
``candidate.metadata["sandbox"]`` or given by a ``state`` callable (a domain's snapshot). Each
action becomes one shell script (``commands``: how, see :data:`COMMANDS`) and runs in a fresh
sandbox. The verdict passes when every field of ``compare`` matches:

* ``exit_code``: the script's exit status;
* ``stdout`` / ``stderr``: the output after ``normalize`` (and ``mask`` regexes) are applied;
* ``files``: the work dir afterwards (paths, directories, symlinks and content hashes), minus the
  ``ignore_paths`` globs. Both runs start from the same state, so equal final trees mean equal
  file-system changes.

Sandbox failures (engine down, setup failing, the *demonstrated* action timing out) raise, and
:func:`~pivotrl_core.verifiers.base.run_verifier` turns them into errored verdicts; a *sampled*
action that times out or contains no command fails. The demonstrated action's effect is computed
once per (candidate, state) and cached (``cache_expected``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ConfigError
from ..sandbox import Sandbox, SandboxError, SandboxSpec, SandboxState
from ..types import Candidate, Message, Verdict
from ._options import choice, resolve_options
from .base import Verifier

__all__ = ["COMMANDS", "Effect", "SandboxExecVerifier", "action_script", "normalize_output"]

FIELDS = ("exit_code", "stdout", "stderr", "files")
NORMALIZE = ("exact", "whitespace", "lines")
_CMD_ARGS = ("command", "cmd", "script", "code", "bash", "shell")
_FENCE = re.compile(r"```(?:bash|sh|shell|console)?[ \t]*\n(.*?)```", re.DOTALL)


def _from_calls(message: Message) -> str | None:
    parts = []
    for call in message.tool_calls:
        args = call.arguments or {}
        value = next((args[k] for k in _CMD_ARGS if isinstance(args.get(k), str)), None)
        if value is None:
            return None  # a call that is not a shell command: not comparable here
        parts.append(value)
    return "\n".join(parts) if parts else None


def _from_content(message: Message) -> str | None:
    text = (message.content or "").strip()
    if not text:
        return None
    blocks = _FENCE.findall(text)
    return "\n".join(b.strip() for b in blocks) if blocks else text


def _auto(message: Message) -> str | None:
    return _from_calls(message) if message.tool_calls else _from_content(message)


COMMANDS: dict[str, Callable[[Message], str | None]] = {
    "auto": _auto,  # tool calls with a command argument, else the text (fenced code blocks if any)
    "tool_call": _from_calls,  # only tool calls: arguments command/cmd/script/code/bash/shell
    "content": _from_content,  # only the text: its fenced ``bash``/``sh`` blocks, else all of it
}


def action_script(message: Message, commands: str | Callable[[Message], str | None] = "auto") -> str | None:
    """The shell script an action runs, or ``None`` when it contains no command."""
    fn = commands if callable(commands) else COMMANDS[commands]
    return fn(message)


def normalize_output(text: str, how: str, masks: tuple[re.Pattern[str], ...] = ()) -> str:
    """``exact``: unchanged; ``whitespace``: runs of blanks collapsed, blank lines dropped;
    ``lines``: as ``whitespace``, then lines sorted (order-insensitive). Masks apply first."""
    for m in masks:
        text = m.sub("<masked>", text)
    if how == "exact":
        return text
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    return "\n".join(sorted(lines) if how == "lines" else lines)


@dataclass(frozen=True)
class Effect:
    """What an action did: its exit status, normalised output and final work-dir tree."""

    exit_code: int
    stdout: str
    stderr: str
    files: Mapping[str, str]
    timed_out: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code, "stdout": self.stdout[-500:], "stderr": self.stderr[-300:],
            "files": len(self.files), "timed_out": self.timed_out,
        }  # fmt: skip


def _state_key(candidate: Candidate, state: SandboxState, script: str) -> str:
    blob = json.dumps([candidate.id, state.to_dict(), script], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


OpenSandbox = Callable[..., Sandbox]
"""``open_sandbox(backend, spec, **options) -> Sandbox``: the host's (``Registry.open_sandbox``)."""


class SandboxExecVerifier(Verifier):
    """Effects of the sampled action equal those of the demonstration (options in docs/sandboxes.md)."""

    name: ClassVar[str] = "sandbox_exec"
    deterministic: ClassVar[bool] = False
    thread_safe: ClassVar[bool] = True
    cost: ClassVar = "expensive"
    cascade_role: ClassVar[str] = "decide"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "backend": None, "compare": ("exit_code", "stdout", "files"), "normalize": "whitespace",
        "mask": (), "ignore_paths": (), "commands": "auto", "state": None, "state_key": "sandbox",
        "timeout_s": 10.0, "memory_mb": 256, "disk_mb": 64, "pids": 64, "image": None,
        "cache_expected": True, "max_concurrency": 4, "sandbox_options": None,
    }  # fmt: skip

    def __init__(self, *, open_sandbox: OpenSandbox | None = None, **options: Any) -> None:
        o = resolve_options(self.name, options, self.DEFAULTS)
        if open_sandbox is None:
            raise ConfigError(
                "verifier 'sandbox_exec' needs the host's sandboxes: build it through the registry "
                "(get_registry().verifier('sandbox_exec', ...))"
            )
        self.open_sandbox = open_sandbox
        compare = (o["compare"],) if isinstance(o["compare"], str) else tuple(o["compare"])
        bad = [f for f in compare if f not in FIELDS]
        if bad or not compare:
            raise ConfigError(
                f"verifier 'sandbox_exec': compare must list some of {', '.join(FIELDS)}, got {compare!r}"
            )
        self.compare = compare
        self.normalize = choice(self.name, "normalize", o["normalize"], NORMALIZE)
        self.masks = tuple(re.compile(p) for p in ([o["mask"]] if isinstance(o["mask"], str) else o["mask"]))
        self.ignore_paths = tuple(
            [o["ignore_paths"]] if isinstance(o["ignore_paths"], str) else o["ignore_paths"]
        )
        if not callable(o["commands"]):
            choice(self.name, "commands", o["commands"], tuple(COMMANDS))
        self.commands = o["commands"]
        self.state_fn: Callable[[Candidate], SandboxState | None] | None = o["state"]
        self.state_key = o["state_key"]
        self.backend = o["backend"]
        self.spec = SandboxSpec(
            timeout_s=float(o["timeout_s"]), memory_mb=int(o["memory_mb"]), disk_mb=int(o["disk_mb"]),
            pids=int(o["pids"]), **({"image": o["image"]} if o["image"] else {}),
        )  # fmt: skip
        self.sandbox_options = dict(o["sandbox_options"] or {})
        self.cache_expected = bool(o["cache_expected"])
        self.max_concurrency = int(o["max_concurrency"])
        self._cache: dict[str, Effect] = {}
        self._key_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "backend": self.backend,
            "compare": list(self.compare),
            "normalize": self.normalize,
        }

    def state_of(self, candidate: Candidate) -> SandboxState | None:
        """The candidate's state: the ``state`` callable's, else ``metadata[state_key]``, else None."""
        if self.state_fn is not None:
            return self.state_fn(candidate)
        raw = candidate.metadata.get(self.state_key)
        return None if raw is None else SandboxState.from_metadata(raw, where=f"metadata.{self.state_key}.")

    def run_action(self, state: SandboxState, script: str) -> Effect:
        """Run ``script`` in a fresh sandbox built from ``state``; setup failures raise SandboxError."""
        spec = self.spec.replace(image=state.image) if state.image else self.spec
        box = self.open_sandbox(self.backend, spec, **self.sandbox_options)
        try:
            if state.files:
                box.write_files(state.files)
            for i, cmd in enumerate(state.setup):
                res = box.run(cmd)
                if not res.ok:
                    raise SandboxError(
                        f"setup command {i} failed (exit {res.exit_code}): {res.stderr.strip()[-300:]}"
                    )
            res = box.run(script)
            tree = box.read_files()
        finally:
            box.close()
        files = {
            path: hashlib.sha256(data).hexdigest()[:16]
            for path, data in tree.items()
            if not any(fnmatch.fnmatch(path.rstrip("/"), g) for g in self.ignore_paths)
        }
        out, err = (normalize_output(t, self.normalize, self.masks) for t in (res.stdout, res.stderr))
        return Effect(exit_code=res.exit_code, stdout=out, stderr=err, files=files, timed_out=res.timed_out)

    def _expected_effect(self, candidate: Candidate, state: SandboxState, script: str) -> Effect:
        if not self.cache_expected:
            return self._reference(state, script)
        key = _state_key(candidate, state, script)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # concurrent samples of one candidate wait for a single reference run
            with self._lock:
                hit = self._cache.get(key)
            if hit is None:
                hit = self._reference(state, script)
                with self._lock:
                    self._cache[key] = hit
            return hit

    def _reference(self, state: SandboxState, script: str) -> Effect:
        effect = self.run_action(state, script)
        if effect.timed_out:
            raise SandboxError("the demonstrated action timed out: its effect is unknown (raise timeout_s?)")
        return effect

    def verify(self, candidate: Candidate, action: Message) -> Verdict:
        state = self.state_of(candidate)
        if state is None:
            raise SandboxError(
                f"candidate {candidate.id} records no sandbox state (metadata.{self.state_key})"
            )
        expected_script = action_script(candidate.expected, self.commands)
        if expected_script is None:
            raise SandboxError("the demonstrated action contains no shell command")
        script = action_script(action, self.commands)
        if script is None:
            return Verdict.fail("the action contains no shell command")
        expected = self._expected_effect(candidate, state, expected_script)
        got = self.run_action(state, script)
        details = {"expected": expected.summary(), "sampled": got.summary()}
        if got.timed_out:
            return Verdict.fail("the action timed out", **details)
        diff = [f for f in self.compare if getattr(expected, f) != getattr(got, f)]
        if diff:
            if "files" in diff:
                details["files_differ"] = sorted(set(expected.files.items()) ^ set(got.files.items()))[:20]
            return Verdict.fail(f"effects differ: {', '.join(diff)}", differences=diff, **details)
        return Verdict.ok(f"same effects ({', '.join(self.compare)})", **details)
