"""Agents for repository episodes: a pivotrl policy, the gold-fix expert, and one that edits nothing.

An agent is a callable ``(messages) -> Message`` returning the next assistant turn (one tool call
per turn). :class:`ExpertAgent` solves a task through the same tools a model gets: it lists the
repository, views each file the gold fix changes, replaces the changed lines with the gold ones
(``str_replace`` with the smallest unique span, the whole file when no smaller span is unique),
runs the file's own example check and submits. On a SWE-bench-schema task (a gold ``patch``, no
files) it lists the repository, applies the patch with ``git apply`` and submits.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

from pivotrl_core import Message, Prompt, SamplingParams, ToolCall

from .history import DEFAULT_WINDOW, HistoryWindow, apply_window
from .tasks import Task
from .tools import TOOLS

__all__ = ["Agent", "ExpertAgent", "NoopAgent", "PolicyAgent", "gold_edit"]

Agent = Callable[[Sequence[Message]], Message]


def _turn(i: int, thought: str, name: str, args: dict[str, Any]) -> Message:
    return Message(
        role="assistant", content=thought, tool_calls=(ToolCall(name=name, arguments=args, id=f"call_{i}"),)
    )


def gold_edit(buggy: str, gold: str) -> tuple[str, str]:
    """``(old_str, new_str)``: the smallest span of ``buggy`` covering every change, widened by
    whole lines until it occurs exactly once, and its replacement from ``gold``."""
    a, b = buggy.splitlines(keepends=True), gold.splitlines(keepends=True)
    ops = [op for op in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes() if op[0] != "equal"]
    if not ops:
        return buggy, gold
    i1, i2, j1, j2 = ops[0][1], ops[-1][2], ops[0][3], ops[-1][4]
    while True:
        old = "".join(a[i1:i2])
        if old.strip() and buggy.count(old) == 1:
            return old, "".join(b[j1:j2])
        if i1 == 0 and i2 == len(a):
            return buggy, gold
        if i1 > 0:
            i1, j1 = i1 - 1, j1 - 1
        if i2 < len(a):
            i2, j2 = i2 + 1, j2 + 1


def _patch_turns(task: Task) -> list[Message]:
    patch = task.gold_patch or ""
    end = "PIVOTRL_GOLD_PATCH"
    while end in patch:
        end += "_"
    apply = f"git apply -v - <<'{end}'\n{patch if patch.endswith(chr(10)) else patch + chr(10)}{end}"
    return [
        _turn(0, "Let me look at the repository first.", "bash", {"command": "ls -a"}),
        _turn(1, "Applying the fix.", "bash", {"command": apply}),
        _turn(2, "The fix is done; submitting.", "submit", {}),
    ]


def expert_turns(task: Task) -> list[Message]:
    """The expert's whole episode, decided up front from the task's gold files (or gold patch)."""
    if not task.gold_files and task.gold_patch:
        return _patch_turns(task)
    turns = [_turn(0, "Let me look at the repository first.", "bash", {"command": "ls -a"})]
    changed = [p for p, text in sorted(task.gold_files.items()) if task.files.get(p) != text]
    for path in changed:
        i = len(turns)
        turns.append(
            _turn(i, f"Let me read {path}.", "str_replace_editor", {"command": "view", "path": path})
        )
        if path in task.files:
            old, new = gold_edit(task.files[path], task.gold_files[path])
            args = {"command": "str_replace", "path": path, "old_str": old, "new_str": new}
        else:
            args = {"command": "create", "path": path, "file_text": task.gold_files[path]}
        turns.append(_turn(i + 1, f"I found the bug in {path}; fixing it.", "str_replace_editor", args))
    check = " && ".join(f"python {p}" for p in changed if p.endswith(".py")) or "ls"
    turns.append(_turn(len(turns), "Let me run the file's own example check.", "bash", {"command": check}))
    turns.append(_turn(len(turns), "The fix is done; submitting.", "submit", {}))
    return turns


class ExpertAgent:
    """Replays :func:`expert_turns` (raises ``ValueError`` when the task has no gold fix)."""

    def __init__(self, task: Task) -> None:
        if not task.gold_files and not task.gold_patch:
            raise ValueError(
                f"task {task.instance_id} has no gold_files or patch: the expert needs the gold fix"
            )
        self.turns = expert_turns(task)

    def __call__(self, messages: Sequence[Message]) -> Message:
        done = sum(1 for m in messages if m.role == "assistant")
        return self.turns[min(done, len(self.turns) - 1)]


class NoopAgent:
    """Submits at once: edits nothing (every task must stay unresolved)."""

    def __init__(self, task: Task | None = None) -> None:
        self.task = task

    def __call__(self, messages: Sequence[Message]) -> Message:
        return _turn(0, "Submitting without changes.", "submit", {})


class PolicyAgent:
    """The next turn sampled from a pivotrl policy (one completion per turn), with the SWE tools;
    the policy sees the episode through ``window`` (:mod:`.history`)."""

    def __init__(
        self,
        policy: Any,
        sampling: SamplingParams | None = None,
        window: HistoryWindow | None = DEFAULT_WINDOW,
    ) -> None:
        self.policy = policy
        self.sampling = sampling or SamplingParams(temperature=0.0, max_new_tokens=512)
        self.window = window

    def __call__(self, messages: Sequence[Message]) -> Message:
        prompt = Prompt(messages=apply_window(messages, self.window), tools=TOOLS)
        return self.policy.sample([prompt], 1, self.sampling)[0][0].message
