"""The official reward of a banking task (tau2's rules): the product of the task's reward bases.

- ``DB``: the episode's final database equals the one reached by executing the gold actions
  (each with its requestor) from the same initial state. Any path to the same state passes.
- ``ACTION``: every gold action is matched by a call of the episode (same tool, equal arguments,
  restricted to the action's ``compare_args`` when it has them).
- ``NL_ASSERTION`` (one task) needs an LLM: such tasks are reported as not offline-gradable.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from .banking import BankingData, Task, load_banking
from .corpus import load_corpus
from .values import json_args, normalize
from .world import Call, World

__all__ = ["gold_hash", "new_world", "official_reward"]


def new_world(task: Task, data: BankingData | None = None) -> World:
    """A fresh world for ``task``: its initial database, the corpus, the gold read-log list."""
    data = data or load_banking()
    return World(data.initial_db(task), load_corpus(data.documents_dir), read_log=task.gold_read_tools)


def gold_calls(task: Task) -> list[tuple[str, str, dict[str, Any]]]:
    """The gold actions as ``(requestor, name, arguments)``."""
    return [
        (a.get("requestor", "assistant"), a["name"], dict(a.get("arguments") or {})) for a in task.actions
    ]


@functools.lru_cache(maxsize=256)
def _gold_hash(task_id: str, root: str) -> str:
    data = load_banking(root)
    world = new_world(data.tasks[task_id], data)
    world.replay(gold_calls(data.tasks[task_id]))
    return world.db_hash()


def gold_hash(task: Task, data: BankingData | None = None) -> str:
    """The database hash after the gold actions (cached per task)."""
    data = data or load_banking()
    return _gold_hash(task.id, str(data.root))


def _comparable(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(args)
    if name in ("call_discoverable_agent_tool", "call_discoverable_user_tool", "give_discoverable_user_tool"):
        parsed = json_args(out.get("arguments", "{}"))
        out["arguments"] = parsed if isinstance(parsed, dict) else out.get("arguments")
    return normalize(out)


def _matches(action: Mapping[str, Any], call: Call) -> bool:
    if call.name != action["name"] or call.requestor != action.get("requestor", "assistant"):
        return False
    want = _comparable(action["name"], action.get("arguments") or {})
    got = _comparable(call.name, call.arguments)
    keys = action.get("compare_args")
    if keys is not None:
        return all(want.get(k) == got.get(k) for k in keys)
    return want == got


def official_reward(task: Task, world: World, data: BankingData | None = None) -> dict[str, Any]:
    """``{"reward", "db_match", "action_match", "gradable"}`` for a finished episode's world."""
    db_match = world.db_hash() == gold_hash(task, data)
    actions: Sequence[Mapping[str, Any]] = task.actions
    action_match = all(any(_matches(a, c) for c in world.calls) for a in actions)
    parts = {"DB": db_match, "ACTION": action_match}
    gradable = task.offline
    reward = float(all(parts[b] for b in task.reward_basis if b in parts)) if gradable else None
    return {"reward": reward, "db_match": db_match, "action_match": action_match, "gradable": gradable}
