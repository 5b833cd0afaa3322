"""``tau2``: the functional verifier that runs actions in tau2's own environments.

For a candidate whose demonstration calls tools: rebuild the state by replaying the prefix's
recorded calls (the task's initial state first, when the trajectory came from a tau2 task), apply
the demonstrated calls and the sampled calls to that state, and pass when both leave the same
databases (tau2's DB hash) and return the same outputs (parsed JSON, else text). Message turns
(and a message where a call was demonstrated, or a call where a message was) go to the core's
``tool_call`` verifier, whose ``message_policy`` decides (default ``any``, NVIDIA's rule).

tau2's communicate check (required strings in the agent's messages) and its NL assertions (an LLM
judge) score whole conversations, not turns; they are part of the episode benchmark's official
reward, not of this per-turn verdict.
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from pivotrl_core import Candidate, Message, Verdict, Verifier, get_registry

from .replay import Call, Effect, Replayer, calls_of, prefix_calls
from .spec import domain_spec
from .world import World, world

__all__ = ["Tau2Verifier"]


class Tau2Verifier(Verifier):
    """Same effect in tau2's environment as the demonstration (see the module docstring).

    Options: ``message_policy`` / ``message_threshold`` (passed to ``tool_call`` for message
    turns), ``check_outputs`` (also require equal tool outputs; default true), ``domain`` (the
    tau2 domain of candidates that do not name one).
    """

    name: ClassVar[str] = "tau2"
    deterministic: ClassVar[bool] = True
    thread_safe: ClassVar[bool] = True
    cost: ClassVar[str] = "cheap"  # type: ignore[assignment]

    def __init__(
        self,
        message_policy: str = "any",
        message_threshold: float | None = None,
        check_outputs: bool = True,
        domain: str | None = None,
    ) -> None:
        opts: dict[str, Any] = {"message_policy": message_policy}
        if message_threshold is not None:
            opts["message_threshold"] = message_threshold
        self._message_options = opts
        self._messages: Any = None
        self.check_outputs = check_outputs
        self.default_domain = domain
        self.replayer = Replayer()
        self._expected: dict[tuple[Any, ...], Effect] = {}
        self._lock = threading.Lock()

    def _message_verifier(self) -> Any:
        if self._messages is None:
            self._messages = get_registry().verifier("tool_call", **self._message_options)
        return self._messages

    def _world(self, candidate: Candidate) -> World:
        meta = candidate.metadata.get("tau2") or {}
        for name in (meta.get("domain"), candidate.domain, self.default_domain):
            if name:
                try:
                    return world(domain_spec(name).name)
                except KeyError:
                    continue
        raise ValueError(f"candidate {candidate.id}: no tau2 domain (metadata.tau2.domain or --domain)")

    def verify(self, candidate: Candidate, action: Message) -> Verdict:
        if not candidate.expected.tool_calls or not action.tool_calls:
            return self._message_verifier().verify(candidate, action)
        start = time.perf_counter()
        w = self._world(candidate)
        meta = candidate.metadata.get("tau2") or {}
        task = w.task(meta["task_id"]) if meta.get("source") == "tau2" and meta.get("task_id") else None
        solo = False if meta.get("user_calls") else None
        prefix = prefix_calls(candidate)
        expected_calls, got_calls = calls_of(candidate.expected), calls_of(action)
        same_calls = [c.key for c in got_calls] == [c.key for c in expected_calls]
        key = (w.spec.name, getattr(task, "id", None), solo, tuple(c.key for c in prefix))
        expected = self._expected_effect(w, task, prefix, expected_calls, solo, key)
        # the same calls on the same state have the same effect: tau2's tools are deterministic
        got = expected if same_calls else self.replayer.effects(w, task, prefix, [got_calls], solo)[0]
        same_db = got.change == expected.change
        same_out = got.outputs == expected.outputs
        ok = same_db and (same_out or not self.check_outputs)
        details = {
            "same_db": same_db,
            "same_outputs": same_out,
            "tool_errors": sum(got.errors),
            "seconds": round(time.perf_counter() - start, 4),
        }
        if ok:
            return Verdict.ok("same effect in tau2's environment", **details)
        why = "different database" if not same_db else "different tool output"
        return Verdict.fail(f"{why} than the demonstration in tau2's environment", **details)

    def _expected_effect(
        self, w: World, task: Any, prefix: list[Call], calls: list[Call], solo: bool | None, key: Any
    ) -> Effect:
        key = (key, tuple(c.key for c in calls))
        with self._lock:
            hit = self._expected.get(key)
        if hit is None:
            hit = self.replayer.effects(w, task, prefix, [calls], solo)[0]
            with self._lock:
                if len(self._expected) > 4096:
                    self._expected.clear()
                self._expected[key] = hit
        return hit
