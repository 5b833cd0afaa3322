"""The expert agent: search for the task's evidence, open it, then take the gold actions.

For each chosen required document (those naming a tool of the gold actions first, at most
``max_docs``), the expert searches with a query built from the document's title (widened with
its first words when the title alone does not retrieve it in the top ``k``) and opens it. Then
it takes the task's gold agent actions in order; before each block of customer actions it tells
the customer what to do, with every value needed. It ends with a closing message.

:class:`ExpertPolicy` (registered as ``web-expert``) recognises the task from the customer's
opening message and plays the plan step by step, so it works as any pivotrl policy does. On a
capped prompt (:mod:`pivotrl_web.prompts`: brief cut, oldest turns dropped) it matches the brief
by its kept prefix and finds its place in the plan from the assistant turns the prompt kept.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

from pivotrl_core import Completion, Message, Prompt, SamplingParams, ToolCall, render_action

from .banking import BankingData, Task, load_banking
from .corpus import Corpus, load_corpus
from .episode import hint_values
from .prompts import NO_CAPS, TRUNCATED

__all__ = ["ExpertPolicy", "evidence_queries", "plan"]

Step = tuple[Message, dict[str, Any] | None]
CLOSING = "Your request has been handled. Thank you for contacting Rho-Bank."


def _call(tool: str, **args: Any) -> Message:
    return Message(role="assistant", tool_calls=(ToolCall(name=tool, arguments=args),))


def _query_for(corpus: Corpus, doc_id: str, k: int) -> str | None:
    doc = corpus.documents[doc_id]
    title = doc.title.split(":", 1)[-1].strip() if doc.title.startswith("Internal:") else doc.title
    words = doc.content.replace("#", " ").split()
    for extra in (0, 8, 16, 32):
        query = " ".join([title, *words[:extra]])
        if any(h.id == doc_id for h in corpus.search(query, k)):
            return query
    return None


def _ordered_docs(task: Task, corpus: Corpus) -> list[str]:
    tools = {str(v) for a in task.actions for v in (a.get("arguments") or {}).values() if isinstance(v, str)}
    names = {t for t in tools if "_" in t and t.replace("_", "").isalnum()}

    def names_tool(doc_id: str) -> bool:
        return any(n in corpus.documents[doc_id].content for n in names)

    docs = [d for d in task.required_documents if d in corpus]
    return sorted(docs, key=lambda d: not names_tool(d))  # stable: tool-naming documents first


def evidence_queries(task: Task, corpus: Corpus, max_docs: int = 3, k: int = 5) -> list[tuple[str, str]]:
    """``(query, doc_id)`` pairs: a query that retrieves each chosen document in the top ``k``."""
    out = []
    for doc_id in _ordered_docs(task, corpus):
        query = _query_for(corpus, doc_id, k)
        if query is not None:
            out.append((query, doc_id))
        if len(out) >= max_docs:
            break
    return out


def _tell(block: list[dict[str, Any]], task: Task) -> Step:
    lines = []
    for a in block:
        args = dict(a.get("arguments") or {})
        if a["name"] == "call_discoverable_user_tool":
            lines.append(
                f"please run {args.get('discoverable_tool_name')} with {args.get('arguments', '{}')}"
            )
        else:
            lines.append(f"please use {a['name']} with {json.dumps(args, ensure_ascii=False)}")
    hints = sorted({v for a in block for v in hint_values(task, a)})
    return Message(role="assistant", content="To complete this, " + "; then ".join(lines) + "."), {
        "kind": "instruct",
        "hints": hints,
    }


def plan(task: Task, corpus: Corpus, max_docs: int = 3, k: int = 5) -> list[Step]:
    """The expert's assistant turns for ``task``, each with its annotation for the verifier."""
    steps: list[Step] = []
    for query, doc_id in evidence_queries(task, corpus, max_docs, k):
        steps.append((_call("search", query=query, k=k), {"kind": "search", "targets": [doc_id]}))
        steps.append((_call("open", doc_id=doc_id), {"kind": "open", "targets": [doc_id]}))
    block: list[dict[str, Any]] = []
    for action in task.actions:
        if action.get("requestor") == "user":
            block.append(action)
            continue
        if block:
            steps.append(_tell(block, task))
            block = []
        steps.append((_call(action["name"], **dict(action.get("arguments") or {})), {"kind": "action"}))
    if block:
        steps.append(_tell(block, task))
    steps.append((Message(role="assistant", content=CLOSING), {"kind": "close", "hints": []}))
    return steps


@functools.lru_cache(maxsize=8)
def _openings(root: str) -> dict[str, str]:
    data = load_banking(root)
    return {f"Hello. {t.instructions.strip()}": t.id for t in data.tasks.values()}


def _tasks_of(opening: str, root: str) -> list[str]:
    """The tasks whose opening message is ``opening`` or, when it was cut, starts with its head."""
    openings = _openings(root)
    if opening in openings:
        return [openings[opening]]
    if not opening.endswith(TRUNCATED):
        return []
    head = opening[: -len(TRUNCATED)]
    return [tid for text, tid in openings.items() if text.startswith(head)]


def _position(steps: Sequence[Step], messages: Sequence[Message]) -> int | None:
    """How many plan steps the prompt's assistant turns account for: the first place in the plan
    where the kept turns (the last ones, when the history was capped) end; None if nowhere."""
    kept = [render_action(m) for m in messages if m.role == "assistant"]
    plan_text = [render_action(m) for m, _ in steps]
    for end in range(len(kept), len(plan_text) + 1):
        if plan_text[end - len(kept) : end] == kept:
            return end
    return None


class ExpertPolicy:
    """The expert as a :class:`pivotrl_core.Policy`: deterministic, every sample is the plan's step."""

    name = "web-expert"
    prompt_caps = NO_CAPS  # episodes give the expert the whole transcript

    def __init__(self, model: str = "web-expert", max_docs: int = 3, k: int = 5, **_: Any) -> None:
        self.model = model
        self.max_docs, self.k = max_docs, k
        self._plans: dict[str, list[Step]] = {}

    @property
    def model_id(self) -> str:
        return "web-expert"

    def _plan(self, task_id: str, data: BankingData) -> list[Step]:
        if task_id not in self._plans:
            corpus = load_corpus(data.documents_dir)
            self._plans[task_id] = plan(data.tasks[task_id], corpus, self.max_docs, self.k)
        return self._plans[task_id]

    def _step(self, messages: Sequence[Message], data: BankingData) -> Step:
        opening = next((m.content for m in messages if m.role == "user"), None) or ""
        tasks = _tasks_of(opening, str(data.root))  # several only when the brief was cut
        for task_id in tasks:
            steps = self._plan(task_id, data)
            done = _position(steps, messages)
            if done is not None:
                return steps[min(done, len(steps) - 1)]
        if len(tasks) == 1:  # a transcript that left the plan: go on from its length, as before
            steps = self._plan(tasks[0], data)
            return steps[min(sum(m.role == "assistant" for m in messages), len(steps) - 1)]
        return Message(role="assistant", content="I'm sorry, I cannot help with that."), None

    def sample(self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams) -> list[list[Completion]]:
        data = load_banking()
        out = []
        for prompt in prompts:
            message, note = self._step(prompt.messages, data)
            meta = {"annotation": note} if note else {}
            out.append(
                [Completion(text=render_action(message), message=message, meta=meta) for _ in range(n)]
            )
        return out

    def close(self) -> None:
        return None
