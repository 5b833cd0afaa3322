"""``web_search``: a functional verifier for web-search agent turns.

Judged by what an action *does*, not by how it is worded:

- **search** turn: the sampled ``search`` passes when its top k (k capped at the demonstration's)
  contains every document the demonstration's search surfaced and the agent then opened
  (``targets``), or a required document of the task not opened yet (other evidence the task
  needs). Opening a target or an unopened required document directly also serves the turn.
- **open** turn: the sampled ``open`` passes for the same document or another required one.
- **action** turn (any other tool call): the prefix's calls are replayed in a fresh world; the
  sampled calls pass when they leave the same state as the demonstration's: database hash,
  unlocked and given tools, and the same tool outputs (so a read returns the same records).
- **message** turn: a message passes when it carries every value the customer needs to act
  (``hints``); a closing message passes when it is a non-empty statement.

NVIDIA's rule for search data (word overlap >= 0.3 on string arguments) stays available as the
core's ``tool_call`` verifier with ``threshold = 0.3`` (the ``search`` domain).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar

from pivotrl_core import Candidate, InputError, Message, Verdict, Verifier

from .banking import BankingData, load_banking
from .corpus import Corpus, load_corpus
from .reward import new_world
from .world import DEFAULT_K, World

__all__ = ["WebSearchVerifier"]


def _k(args: Mapping[str, Any] | None, default: int = DEFAULT_K) -> int:
    try:
        return max(1, int((args or {}).get("k", default)))
    except (TypeError, ValueError):
        return default


class WebSearchVerifier(Verifier):
    """The ``web_search`` verifier (see the module docstring); needs the candidate's ``web`` metadata."""

    name: ClassVar[str] = "web_search"
    deterministic: ClassVar[bool] = True
    thread_safe: ClassVar[bool] = True
    cost: ClassVar = "cheap"

    def __init__(self, data_dir: str | None = None, cache_size: int = 64) -> None:
        self.data_dir = data_dir
        self._prefix = functools.lru_cache(maxsize=cache_size)(self._prefix_world)

    @functools.cached_property
    def data(self) -> BankingData:
        return load_banking(self.data_dir)

    @functools.cached_property
    def corpus(self) -> Corpus:
        return load_corpus(self.data.documents_dir)

    # -- dispatch -----------------------------------------------------------------------------
    def verify(self, candidate: Candidate, action: Message) -> Verdict:
        web = candidate.metadata.get("web")
        if not isinstance(web, Mapping) or "task_id" not in web:
            raise InputError("candidate has no 'web' metadata (generate it with `pivotrl web generate`)")
        if action.is_empty:
            return Verdict.fail("empty action")
        note = dict((web.get("turns") or {}).get(str(candidate.turn_index)) or {})
        expected = candidate.expected.tool_calls
        kind = expected[0].name if expected else "message"
        if kind == "search":
            return self._search(candidate, action, web, note)
        if kind == "open":
            return self._open(candidate, action, web, note)
        if expected:
            return self._state(candidate, action, web)
        return self._message(action, note)

    def _seen(self, candidate: Candidate, web: Mapping[str, Any]) -> set[str]:
        return {
            str((e[3] or {}).get("doc_id"))
            for e in web.get("events") or ()
            if e[0] < candidate.turn_index and e[2] == "open" and isinstance(e[3], Mapping)
        }

    def _targets(self, candidate: Candidate, note: Mapping[str, Any], web: Mapping[str, Any]) -> list[str]:
        if note.get("targets"):
            return list(note["targets"])
        call = candidate.expected.tool_calls[0]
        hits = [
            h.id for h in self.corpus.search(str((call.arguments or {}).get("query", "")), _k(call.arguments))
        ]
        required = set(web.get("required_documents") or ())
        return [h for h in hits if h in required] or hits[:1]

    # -- search and open ----------------------------------------------------------------------
    def _search(self, candidate: Candidate, action: Message, web: Mapping[str, Any], note: Any) -> Verdict:
        targets = self._targets(candidate, note, web)
        fresh = set(web.get("required_documents") or ()) - self._seen(candidate, web)
        if len(action.tool_calls) != 1:
            return Verdict.fail("expected one search (or open) call")
        call = action.tool_calls[0]
        args = call.arguments or {}
        if call.name == "open":
            doc = str(args.get("doc_id", ""))
            if doc in targets or doc in fresh:
                return Verdict.ok("opened the evidence directly", doc=doc)
            return Verdict.fail("opened a document the turn does not need", doc=doc)
        if call.name != "search" or not isinstance(args.get("query"), str):
            return Verdict.fail(f"expected a search, got {call.name}")
        k = min(_k(args), _k(candidate.expected.tool_calls[0].arguments))
        hits = [h.id for h in self.corpus.search(args["query"], k)]
        if all(t in hits for t in targets):
            return Verdict.ok("top-k covers the demonstration's evidence", hits=hits, targets=targets)
        new = sorted(fresh & set(hits))
        if new:
            return Verdict.ok("top-k surfaces other required evidence", hits=hits, found=new)
        return Verdict.fail("top-k misses the evidence", hits=hits, targets=targets)

    def _open(self, candidate: Candidate, action: Message, web: Mapping[str, Any], note: Any) -> Verdict:
        targets = set(note.get("targets") or ())
        targets.add(str((candidate.expected.tool_calls[0].arguments or {}).get("doc_id")))
        required = set(web.get("required_documents") or ())
        if len(action.tool_calls) != 1 or action.tool_calls[0].name != "open":
            return Verdict.fail("expected one open call")
        doc = str((action.tool_calls[0].arguments or {}).get("doc_id", ""))
        if doc in targets:
            return Verdict.ok("same document", doc=doc)
        if doc in required:
            return Verdict.ok("another required document", doc=doc)
        return Verdict.fail("not a document the task needs", doc=doc)

    # -- actions and messages -----------------------------------------------------------------
    def _prefix_world(self, trajectory_id: str, turn: int, task_id: str, events: tuple[Any, ...]) -> World:
        world = new_world(self.data.tasks[task_id], self.data)
        world.replay((e[1], e[2], e[3]) for e in events if e[0] < turn)
        return world

    def _outcome(self, world: World, message: Message) -> tuple[Any, ...]:
        outputs = [world.execute(c.name, c.arguments, "assistant") for c in message.tool_calls]
        return (world.db_hash(), sorted(world.unlocked), sorted(world.given), outputs)

    def _state(self, candidate: Candidate, action: Message, web: Mapping[str, Any]) -> Verdict:
        if not action.tool_calls:
            return Verdict.fail("expected a tool call, got a message")
        task_id = str(web["task_id"])
        if task_id not in self.data.tasks:
            raise InputError(f"unknown task {task_id!r}", field="metadata.web.task_id")
        events = tuple((e[0], e[1], e[2], _frozen(e[3])) for e in web.get("events") or ())
        base = self._prefix(candidate.trajectory_id, candidate.turn_index, task_id, events)
        want = self._outcome(base.fork(), candidate.expected)
        got = self._outcome(base.fork(), action)
        if got == want:
            return Verdict.ok("same resulting state and outputs")
        if any(o.startswith("Error") for o in got[3]):
            return Verdict.fail(
                "the call errored", output=next(o for o in got[3] if o.startswith("Error"))[:200]
            )
        what = "database" if got[0] != want[0] else "tools" if got[1:3] != want[1:3] else "outputs"
        return Verdict.fail(f"different {what}")

    def _message(self, action: Message, note: Mapping[str, Any]) -> Verdict:
        if action.tool_calls:
            return Verdict.fail("expected a message to the customer, got a tool call")
        text = (action.content or "").casefold()
        missing = [h for h in note.get("hints") or () if h.casefold() not in text]
        if missing:
            return Verdict.fail("the customer cannot act: values missing", missing=missing)
        return Verdict.ok("message carries what the customer needs")


class _FrozenDict(dict):  # hashable read-only view for the prefix cache key
    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted((k, repr(v)) for k, v in self.items())))


def _frozen(args: Any) -> Any:
    return _FrozenDict(args) if isinstance(args, Mapping) else args
