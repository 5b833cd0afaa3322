"""``Domain.generate`` for telecom solo: demonstrations from tau2's gold actions.

Solo episodes need no user simulator, so playing a task's gold actions (``tau2-gold``) in tau2's
environment gives a real demonstration, scored by tau2's official reward. Splits map to tau2's:
``train`` -> tau2 ``train``, ``heldout`` -> tau2 ``test``, ``validation`` -> tasks of tau2's
``full`` set that are in neither (tau2 has no validation split), so the three stay disjoint.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from pivotrl_core import ConfigError, Message, SamplingParams, Split, ToolCall, Trajectory

from .episodes import run_episode
from .gold import GoldPolicy
from .spec import solo_system_prompt
from .world import world

__all__ = ["generate_telecom"]


def _tasks(split: Split) -> list[Any]:
    w = world("tau2-telecom")
    if split == "train":
        return w.tasks("train")
    if split == "heldout":
        return w.tasks("test")
    if split == "validation":
        base = set(w.splits()["base"])
        return [t for t in w.tasks("full") if t.id not in base]
    raise ConfigError(f"unknown split {split!r} (train, validation or heldout)")


def generate_telecom(n: int, seed: int, split: Split) -> Iterator[Trajectory]:
    """``n`` gold demonstrations of distinct tasks of ``split`` (seeded choice; fewer if the split is
    smaller), each with tau2's solo system prompt, the solo tools and the task id and reward."""
    w = world("tau2-telecom")
    tasks = [t for t in _tasks(split) if t.ticket and t.evaluation_criteria and t.evaluation_criteria.actions]
    random.Random(seed).shuffle(tasks)
    gold = GoldPolicy("tau2-telecom")
    for task in tasks[:n]:
        ep = run_episode(w, task, gold.bind_task(task), SamplingParams(temperature=0.0))
        system = solo_system_prompt("telecom", task.ticket or "")
        meta = {
            "domain": "tau2-telecom",
            "source": "tau2",
            "task_id": str(task.id),
            "trial": 0,
            "reward": ep.reward,
            "termination_reason": ep.termination,
            "split": split,
        }
        # the solo stop is recorded as tau2 does (###STOP###); the demonstration is the done call
        messages = [
            Message("assistant", tool_calls=(ToolCall("done", {}, id="done"),))
            if m.content == "###STOP###"
            else m
            for m in ep.messages
        ]
        yield Trajectory(
            id=f"tau2-telecom-{split}-{task.id}",
            messages=(Message("system", content=system), *messages),
            tools=w.tools,
            metadata={"tau2": meta},
        )
