"""Verifiers of the tool-use domain.

``tool_state`` (the domain default) is a functional reward computed in the simulated world:

1. rebuild the recorded initial database (task + world seed; its hash must match the record);
2. replay the candidate's prefix: run every earlier tool call and check that it gives the
   recorded output (a mismatch means the data does not belong to this world: errored verdict);
3. a **tool-call** turn passes when the sampled calls and the demonstrated calls, each applied
   to a copy of that state, leave the *same database* and return *equivalent outputs* (equal
   JSON, or equal text ignoring case);
4. a **message** turn passes when the message states every fact the turn requires (recorded by
   the generator: e.g. the order id, the refund amount and a confirmation question) and claims
   no action the database does not show (``"has been cancelled"`` before any cancellation).

Candidates without a recorded world (imported tau2 logs) fall back to ``tool_use_call``
(``fallback="tool_call"``, the default) or give an errored verdict (``fallback="error"``).

``tool_use_call`` is the core ``tool_call`` verifier configured as NVIDIA configures it for
conversational tool use (word-overlap threshold 0.1), reused through the registry.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, ClassVar

from pivotrl_core import (
    Candidate,
    ConfigError,
    Message,
    ToolCall,
    Verdict,
    Verifier,
    get_registry,
    run_verifier,
)

from .tasks import Task
from .text import claimed_actions, missing_facts
from .tools import WRITE_TOOLS, execute, is_error
from .world import WORLD_VERSION, canonical_json, db_hash

__all__ = ["ReplayError", "ToolStateVerifier", "ToolUseCallVerifier", "replay_prefix"]


class ReplayError(RuntimeError):
    """The candidate cannot be replayed in the world (becomes an errored verdict)."""


class ToolUseCallVerifier(Verifier):
    """The core ``tool_call`` verifier with NVIDIA's tool-use options (threshold 0.1)."""

    name: ClassVar[str] = "tool_use_call"
    DEFAULTS: ClassVar[dict[str, Any]] = {"threshold": 0.1}

    def __init__(self, **options: Any) -> None:
        self.inner = get_registry().verifier("tool_call", **{**self.DEFAULTS, **options})
        self.pass_threshold = self.inner.pass_threshold

    def verify(self, candidate: Candidate, action: Message) -> Any:
        return self.inner.verify(candidate, action)


def replay_prefix(candidate: Candidate, record: dict[str, Any], check: bool = True) -> tuple[dict, set[str]]:
    """The database after the candidate's prefix, and the write tools that succeeded in it."""
    if record.get("version") != WORLD_VERSION:
        raise ReplayError(
            f"recorded world version {record.get('version')!r}, this plugin has {WORLD_VERSION}"
        )
    if "initial_db" in record:
        text = canonical_json(record["initial_db"])
        digest = db_hash(record["initial_db"])
    else:
        text, digest = _initial_db(json.dumps(record["task"], sort_keys=True))
    if digest != record.get("db_hash"):
        raise ReplayError(
            f"initial database of task {record['task'].get('id')} does not match the recorded hash"
        )
    db = json.loads(text)
    outputs: dict[str, str] = {}
    order: list[str] = []
    done: set[str] = set()
    for m in candidate.messages:
        if m.role == "assistant":
            for i, tc in enumerate(m.tool_calls):
                out = execute(db, tc.name, tc.arguments)
                key = tc.id or f"#{len(order)}:{i}"
                outputs[key] = out
                order.append(key)
                if tc.name in WRITE_TOOLS and not is_error(out):
                    done.add(tc.name)
        elif m.role == "tool" and check and order:
            key = m.tool_call_id if m.tool_call_id in outputs else order[0]
            if outputs.get(key) is not None and not _equivalent(outputs[key], m.content or ""):
                raise ReplayError(f"the replayed output of call {key} differs from the recorded one")
            outputs.pop(key, None)
            order.remove(key)
    return db, done


@functools.lru_cache(maxsize=64)
def _initial_db(task_json: str) -> tuple[str, str]:
    """A task's initial database as canonical JSON, and its hash (cached: turns share a task)."""
    db = Task.from_dict(json.loads(task_json)).initial_db()
    return canonical_json(db), db_hash(db)


def _equivalent(a: str, b: str) -> bool:
    try:
        return json.loads(a) == json.loads(b)
    except (json.JSONDecodeError, TypeError):
        return a.strip().lower() == b.strip().lower()


def _apply(state_json: str, calls: Sequence[ToolCall]) -> tuple[dict[str, Any], list[str]]:
    """Apply calls to a fresh copy of a state (given as JSON text: parsing beats deepcopy)."""
    state = json.loads(state_json)
    outs = [execute(state, c.name, c.arguments) for c in calls]
    return state, outs


class _Replayed:
    """A candidate's replayed prefix state, and the demonstrated calls applied to it (lazily)."""

    def __init__(self, candidate: Candidate, state_json: str, done: frozenset[str]) -> None:
        self.candidate = candidate
        self.state_json = state_json
        self.done = done
        self._expected: tuple[dict[str, Any], list[str]] | None = None

    def expected(self) -> tuple[dict[str, Any], list[str]]:
        if self._expected is None:
            self._expected = _apply(self.state_json, self.candidate.expected.tool_calls)
        return self._expected


class ToolStateVerifier(Verifier):
    """Functional reward by replay in the simulated world (see the module docstring).

    Options: ``fallback`` (``"tool_call"`` or ``"error"``) for candidates with no recorded
    world; ``check_replay`` (default true) compares replayed and recorded tool outputs;
    ``fallback_options`` are passed to ``tool_use_call``.
    """

    name: ClassVar[str] = "tool_state"
    deterministic: ClassVar[bool] = True
    thread_safe: ClassVar[bool] = True
    cost: ClassVar[str] = "cheap"

    def __init__(
        self,
        fallback: str = "tool_call",
        check_replay: bool = True,
        fallback_options: dict[str, Any] | None = None,
        cache_size: int = 256,
    ) -> None:
        if fallback not in ("tool_call", "error"):
            raise ConfigError(f"tool_state: fallback must be 'tool_call' or 'error', not {fallback!r}")
        self.fallback = fallback
        self.check_replay = bool(check_replay)
        self.fallback_options = dict(fallback_options or {})
        self._fallback: Verifier | None = None
        self._cache: OrderedDict[int, _Replayed] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _state(self, candidate: Candidate, record: dict[str, Any]) -> _Replayed:
        with self._lock:
            hit = self._cache.get(id(candidate))
        if hit is not None and hit.candidate is candidate:
            return hit
        db, done = replay_prefix(candidate, record, self.check_replay)
        entry = _Replayed(candidate, canonical_json(db), frozenset(done))
        with self._lock:
            self._cache[id(candidate)] = entry
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return entry

    def verify(self, candidate: Candidate, action: Message) -> Verdict:
        record = candidate.metadata.get("tool_use")
        if not isinstance(record, dict) or "task" not in record:
            return self._no_world(candidate, action)
        replayed = self._state(candidate, record)
        if candidate.expected.tool_calls:
            return self._calls(replayed, action)
        return self._message(replayed.done, record.get("turn"), action)

    def _no_world(self, candidate: Candidate, action: Message) -> Verdict:
        if self.fallback == "error":
            raise ReplayError("candidate has no recorded tool-use world (metadata.tool_use)")
        if self._fallback is None:
            self._fallback = ToolUseCallVerifier(**self.fallback_options)
        v = run_verifier(self._fallback, candidate, action)
        return Verdict(v.score, v.passed, v.reason, {**v.details, "fallback": "tool_use_call"}, v.error)

    def _calls(self, replayed: _Replayed, action: Message) -> Verdict:
        if not action.tool_calls:
            kind = "a message" if (action.content or "").strip() else "nothing"
            return Verdict.fail(f"expected a tool call, got {kind}")
        want_db, want = replayed.expected()
        got_db, got = _apply(replayed.state_json, action.tool_calls)
        details = {"expected_outputs": [o[:200] for o in want], "outputs": [o[:200] for o in got]}
        if got_db != want_db:
            return Verdict.fail("the call leaves a different database state", **details)
        if len(got) != len(want) or not all(_equivalent(a, b) for a, b in zip(got, want, strict=False)):
            return Verdict.fail("same database state but different tool output", **details)
        return Verdict.ok("same database state and equivalent tool output", **details)

    def _message(self, done: frozenset[str], turn: Any, action: Message) -> Verdict:
        if action.tool_calls:
            return Verdict.fail("expected a message to the user, got a tool call")
        text = action.content or ""
        if not text.strip():
            return Verdict.fail("empty message")
        if not isinstance(turn, dict) or not isinstance(turn.get("required"), list):
            raise ReplayError("message turn has no recorded required facts (metadata.tool_use.turn)")
        missing = missing_facts(turn["required"], text)
        allowed = set(done) | ({"refund"} if done & {"cancel_order", "return_items"} else set())
        forbidden = sorted(claimed_actions(text) - allowed)
        if missing:
            return Verdict.fail(
                "the message lacks required information", missing=missing, forbidden=forbidden
            )
        if forbidden:
            return Verdict.fail("the message claims an action that was not taken", forbidden=forbidden)
        return Verdict.ok("the message gives the required information", kind=turn.get("kind"))
