"""Rebuilding tau2 states from recorded tool calls, and the effect of actions on a state.

A state is a tau2 environment after a task's initial state and a sequence of tool calls. In
airline and retail only tools that tau2 marks ``write`` change a database, so a state is keyed by
its write calls alone, and there is one live environment per domain that moves between states:

- every change is measured as a *diff* of ``model_dump()`` against a reference dump (records
  added, removed or changed, by top-level field and key), and undone by re-validating only those
  records from the reference: a dump costs ~30 ms on the airline database where a deep copy of it
  costs ~400 ms and tau2's own evaluator re-parses the 7 MB ``db.json`` (twice);
- two effects on the same state are the same database exactly when their diffs are equal, so
  the diff's hash stands in for tau2's whole-database hash.

Telecom (tiny databases, a device sync after every call) keys every call and deep-copies.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, get_args

from pivotrl_core import Candidate, Message

from .world import World

__all__ = [
    "Call",
    "Effect",
    "EnvPool",
    "Replayer",
    "calls_of",
    "env_pool",
    "normalize_output",
    "prefix_calls",
    "run_calls",
]

THINK = "think"
_GONE = {"__pivotrl_deleted__": True}


@dataclass(frozen=True)
class Call:
    """One tool call: name, arguments and who made it (``assistant`` or ``user``)."""

    name: str
    arguments: Any
    requestor: str = "assistant"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.name, json.dumps(self.arguments, sort_keys=True, default=str), self.requestor)


@dataclass(frozen=True)
class Effect:
    """What calls did: a hash of the databases' change (None: unchanged) and the outputs."""

    change: str | None
    outputs: tuple[Any, ...] = field(default_factory=tuple)
    errors: tuple[bool, ...] = field(default_factory=tuple)


def normalize_output(content: str | None) -> Any:
    """A tool output compared as parsed JSON when it parses, else as text (tau2's ``set_state`` rule)."""
    if content is None:
        return None
    try:
        return json.loads(content)
    except (json.JSONDecodeError, TypeError):
        return content


def calls_of(message: Message) -> list[Call]:
    """The agent calls of one message (arguments that did not parse stay as their raw text)."""
    return [
        Call(tc.name, tc.arguments if tc.arguments is not None else tc.raw_arguments)
        for tc in message.tool_calls
    ]


def prefix_calls(candidate: Candidate) -> list[Call]:
    """Every call before the candidate's turn: the agent's, plus recorded user-side calls."""
    pending = sorted(((candidate.metadata.get("tau2") or {}).get("user_calls")) or [], key=lambda u: u["at"])
    out: list[Call] = []
    j = 0
    for i, m in enumerate(candidate.messages):
        while j < len(pending) and pending[j]["at"] <= i:
            out.append(Call(pending[j]["name"], pending[j].get("arguments") or {}, "user"))
            j += 1
        if m.role == "assistant":
            out.extend(calls_of(m))
    n = len(candidate.messages)
    out.extend(Call(u["name"], u.get("arguments") or {}, "user") for u in pending[j:] if u["at"] <= n)
    return out


def run_calls(world: World, env: Any, calls: Sequence[Call]) -> tuple[tuple[Any, ...], tuple[bool, ...]]:
    """Apply calls with tau2's ``Environment.get_response`` (tool errors become ``Error: ...``)."""
    from tau2.data_model.message import ToolCall as Tau2Call

    outputs: list[Any] = []
    errors: list[bool] = []
    for i, c in enumerate(calls):
        if c.name == THINK and c.name not in world.tool_types:
            outputs.append("")  # tau-bench v1's think tool: returns "" and changes nothing
            errors.append(False)
            continue
        if not isinstance(c.arguments, dict):
            outputs.append(f"Error: arguments are not a JSON object: {c.arguments!r}")
            errors.append(True)
            continue
        msg = env.get_response(
            Tau2Call(id=f"c{i}", name=c.name, arguments=c.arguments, requestor=c.requestor)
        )
        outputs.append(normalize_output(msg.content))
        errors.append(bool(msg.error))
    return tuple(outputs), tuple(errors)


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[tuple[str, ...], Any]:
    """Changed records between two dumps: ``(field, key) -> new record`` (or ``(field,)``)."""
    out: dict[tuple[str, ...], Any] = {}
    for f in before.keys() | after.keys():
        a, b = before.get(f, _GONE), after.get(f, _GONE)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            for k in a.keys() | b.keys():
                x, y = a.get(k, _GONE), b.get(k, _GONE)
                if x != y:
                    out[(f, k)] = y
        else:
            out[(f,)] = b
    return out


def _change_hash(diff: dict[tuple[str, ...], Any]) -> str | None:
    if not diff:
        return None
    items = sorted(([list(k), v] for k, v in diff.items()), key=lambda kv: kv[0])
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()


@functools.lru_cache(maxsize=64)
def _adapter(model: type, name: str, record: bool) -> Any:
    from pydantic import TypeAdapter

    annotation = model.model_fields[name].annotation
    return TypeAdapter(get_args(annotation)[1] if record else annotation)


def _restore(db: Any, target: dict[str, Any], keys: Sequence[tuple[str, ...]]) -> None:
    """Put the records named by ``keys`` back to their value in the ``target`` dump."""
    for key in keys:
        if len(key) == 1:
            setattr(db, key[0], _adapter(type(db), key[0], False).validate_python(target[key[0]]))
            continue
        f, k = key
        records = getattr(db, f)
        if k not in target[f]:
            records.pop(k, None)
        else:
            records[k] = _adapter(type(db), f, True).validate_python(target[f][k])


class _Live:
    """One environment that moves between states of one domain (airline, retail)."""

    def __init__(self, world: World, solo: bool | None) -> None:
        self.world = world
        self.env = world.fresh(solo)
        self.base = self.env.tools.db.model_dump()
        self.key: tuple[Any, ...] = (None, ())
        self.dump = self.base
        self.changed: list[tuple[str, ...]] = []  # records that differ from ``base``
        self.change: str | None = None

    def goto(self, task: Any, calls: Sequence[Call]) -> None:
        key = (getattr(task, "id", None), tuple(c.key for c in calls))
        if key == self.key:
            return
        if key[0] == self.key[0] and key[1][: len(self.key[1])] == self.key[1]:
            todo = calls[len(self.key[1]) :]
        else:
            _restore(self.env.tools.db, self.base, self.changed)
            init = getattr(task, "initial_state", None)
            if init is not None:
                self.env.set_state(
                    init.initialization_data, init.initialization_actions, init.message_history or []
                )
            todo = calls
        run_calls(self.world, self.env, todo)
        self.key, self.dump = key, self.env.tools.db.model_dump()
        diff = _diff(self.base, self.dump)
        self.changed, self.change = list(diff), _change_hash(diff)

    def apply(self, calls: Sequence[Call]) -> Effect:
        outputs, errors = run_calls(self.world, self.env, calls)
        if not any(self.world.is_write(c.name) for c in calls):
            return Effect(None, outputs, errors)
        diff = _diff(self.dump, self.env.tools.db.model_dump())
        _restore(self.env.tools.db, self.dump, list(diff))
        return Effect(_change_hash(diff), outputs, errors)


class Replayer:
    """Moves environments to prefix states and measures effects there (thread-safe, one lock)."""

    def __init__(self) -> None:
        self._live: dict[tuple[str, bool | None], _Live] = {}
        self._lock = threading.RLock()
        self._changes: dict[tuple[Any, ...], str] = {}
        self.moves = 0

    def _relevant(self, world: World, calls: Sequence[Call]) -> list[Call]:
        if world.small:
            return list(calls)
        return [c for c in calls if c.requestor == "user" or world.is_write(c.name)]

    def _small_env(self, world: World, task: Any, calls: Sequence[Call], solo: bool | None) -> Any:
        env = world.fresh(solo)
        init = getattr(task, "initial_state", None)
        if init is not None:
            env.set_state(init.initialization_data, init.initialization_actions, init.message_history or [])
        run_calls(world, env, calls)
        return env

    def state_change(self, world: World, task: Any, calls: Sequence[Call], solo: bool | None = None) -> str:
        """A hash of the whole databases after the task's initial state and ``calls``."""
        relevant = self._relevant(world, calls)
        if world.small:
            env = self._small_env(world, task, relevant, solo)
            return json.dumps([env.get_db_hash(), env.get_user_db_hash()])
        key = (world.spec.name, solo, getattr(task, "id", None), tuple(c.key for c in relevant))
        with self._lock:
            if key not in self._changes:
                live = self._live_for(world, solo)
                live.goto(task, relevant)
                self.moves += 1
                if len(self._changes) > 65536:
                    self._changes.clear()
                self._changes[key] = live.change or "pristine"
            return self._changes[key]

    def effects(
        self,
        world: World,
        task: Any,
        prefix: Sequence[Call],
        actions: Sequence[Sequence[Call]],
        solo: bool | None = None,
    ) -> list[Effect]:
        """The effect of each action (a list of calls) on the state after ``prefix``."""
        relevant = self._relevant(world, prefix)
        if world.small:
            base = self._small_env(world, task, relevant, solo)
            out = []
            for calls in actions:
                env = copy.deepcopy(base)
                outputs, errors = run_calls(world, env, calls)
                out.append(Effect(json.dumps([env.get_db_hash(), env.get_user_db_hash()]), outputs, errors))
            return out
        with self._lock:
            live = self._live_for(world, solo)
            live.goto(task, relevant)
            self.moves += 1
            return [live.apply(calls) for calls in actions]

    def _live_for(self, world: World, solo: bool | None) -> _Live:
        key = (world.spec.name, solo)
        if key not in self._live:
            self._live[key] = _Live(world, solo)
        return self._live[key]


class EnvPool:
    """Environments of one domain handed out for a while (tau2's evaluators build two per
    evaluation) and reset by undoing their changes (a dump and a diff) instead of deep copies."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._free: dict[bool, list[tuple[Any, dict[str, Any]]]] = {True: [], False: []}
        self._lock = threading.Lock()

    def _take(self, solo: bool) -> tuple[Any, dict[str, Any]]:
        with self._lock:
            if self._free[solo]:
                return self._free[solo].pop()
        env = self.world.fresh(solo)
        return env, env.tools.db.model_dump()

    def _give_back(self, solo: bool, env: Any, base: dict[str, Any]) -> None:
        _restore(env.tools.db, base, list(_diff(base, env.tools.db.model_dump())))
        with self._lock:
            self._free[solo].append((env, base))

    @contextmanager
    def borrow(self) -> Iterator[Callable[..., Any]]:
        """``make(solo_mode=False) -> Environment``, valid until the block ends."""
        if self.world.small:  # tiny databases: a deep copy is cheaper than a dump
            yield lambda solo_mode=False: self.world.fresh(solo_mode)
            return
        taken: list[tuple[bool, Any, dict[str, Any]]] = []

        def make(solo_mode: bool = False) -> Any:
            env, base = self._take(bool(solo_mode))
            taken.append((bool(solo_mode), env, base))
            return env

        try:
            yield make
        finally:
            for solo, env, base in taken:
                self._give_back(solo, env, base)


_POOLS: dict[str, EnvPool] = {}
_POOLS_LOCK = threading.Lock()


def env_pool(world: World) -> EnvPool:
    """The process-wide pool of a domain's environments."""
    with _POOLS_LOCK:
        if world.spec.name not in _POOLS:
            _POOLS[world.spec.name] = EnvPool(world)
        return _POOLS[world.spec.name]
