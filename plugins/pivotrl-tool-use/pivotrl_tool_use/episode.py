"""Episodes: an agent (any :class:`pivotrl_core.Policy`) plays against the scripted customer in a
fresh world. The same loop generates SFT trajectories (with the scripted expert as the agent)
and runs the ``episodes`` benchmark (with the policy under test).

:func:`run_episodes` advances many episodes in lock-step so that each step is ONE batched
``policy.sample`` call over every episode still running.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pivotrl_core import Completion, Message, Policy, Prompt, SamplingParams, Trajectory

from .policy import SYSTEM_PROMPT
from .tasks import Task, expected_db
from .text import missing_facts
from .tools import TOOLS, execute
from .user import ScriptedUser
from .world import WORLD_VERSION, canonical_json, db_hash

__all__ = ["Episode", "run_episodes"]


@dataclass
class Episode:
    """One conversation in progress: its task, live database, messages and outcome."""

    task: Task
    max_turns: int = 30
    system_prompt: str = SYSTEM_PROMPT
    db: dict[str, Any] = field(init=False)
    user: ScriptedUser = field(init=False)
    messages: list[Message] = field(init=False)
    annotations: dict[int, dict[str, Any]] = field(default_factory=dict)
    agent_turns: int = 0
    termination: str | None = None

    def __post_init__(self) -> None:
        self.db = self.task.initial_db()
        self.initial_hash = db_hash(self.db)
        self.user = ScriptedUser(self.task, self.db)
        self.messages = [
            Message(role="system", content=self.system_prompt),
            Message(role="user", content=self.user.opening()),
        ]
        self._n_calls = 0

    @property
    def done(self) -> bool:
        return self.termination is not None

    def prompt(self) -> Prompt:
        return Prompt(messages=tuple(self.messages), tools=TOOLS)

    def act(self, message: Message, annotation: dict[str, Any] | None = None) -> None:
        """Apply one agent turn: run its tool calls, or let the customer answer its message."""
        self.agent_turns += 1
        if message.tool_calls:
            calls = []
            for tc in message.tool_calls:
                self._n_calls += 1
                calls.append(dataclasses.replace(tc, id=f"call_{self._n_calls}"))
            self.messages.append(dataclasses.replace(message, role="assistant", tool_calls=tuple(calls)))
            for tc in calls:
                output = execute(self.db, tc.name, tc.arguments)
                self.messages.append(Message(role="tool", content=output, tool_call_id=tc.id, name=tc.name))
        else:
            if annotation:
                self.annotations[len(self.messages)] = annotation
            self.messages.append(Message(role="assistant", content=message.content or ""))
            text, stop = self.user.reply(message.content or "", self.db)
            self.messages.append(Message(role="user", content=text))
            if stop:
                self.termination = "user_stop"
        if self.termination is None and self.agent_turns >= self.max_turns:
            self.termination = "max_turns"

    def outcome(self) -> dict[str, Any]:
        """Success = the final database equals the expected one and every required fact was said.

        Also reported: ``db_match``, ``info_given`` and ``authenticated`` (partial progress).
        """
        said = "\n".join(m.content or "" for m in self.messages if m.role == "assistant")
        missing = missing_facts(self.task.must_say, said)
        db_match = canonical_json(self.db) == canonical_json(expected_db(self.task))
        return {
            "task_id": self.task.id,
            "kind": self.task.kind,
            "success": db_match and not missing,
            "db_match": db_match,
            "info_given": not missing,
            "authenticated": self.authenticated(),
            "turns": self.agent_turns,
            "termination": self.termination,
        }

    def authenticated(self) -> bool:
        """Whether a look-up found the customer's user id (a partial-progress signal)."""
        return any(
            m.role == "tool" and (m.name or "").startswith("find_user") and m.content == self.task.user_id
            for m in self.messages
        )

    def to_trajectory(self, traj_id: str, **meta: Any) -> Trajectory:
        """The transcript as a trajectory whose metadata lets a verifier replay it."""
        tool_use = {
            "version": WORLD_VERSION,
            "task": self.task.to_dict(),
            "db_hash": self.initial_hash,
            "turns": {str(k): v for k, v in sorted(self.annotations.items())},
        }
        return Trajectory(
            id=traj_id,
            messages=tuple(self.messages),
            tools=TOOLS,
            metadata={"domain": "tool-use", **meta, "tool_use": tool_use},
        )


def _step_sampling(sampling: SamplingParams, step: int) -> SamplingParams:
    if sampling.seed is None:
        return sampling
    return dataclasses.replace(sampling, seed=sampling.seed + step)


def run_episodes(
    policy: Policy,
    tasks: Sequence[Task],
    sampling: SamplingParams | None = None,
    max_turns: int = 30,
    on_step: Any = None,
) -> list[Episode]:
    """Play every task to the end; each step samples one action for all running episodes."""
    sampling = sampling or SamplingParams()
    episodes = [Episode(t, max_turns=max_turns) for t in tasks]
    step = 0
    while True:
        live = [e for e in episodes if not e.done]
        if not live:
            return episodes
        groups: list[list[Completion]] = policy.sample(
            [e.prompt() for e in live], 1, _step_sampling(sampling, step)
        )
        for ep, group in zip(live, groups, strict=True):
            if not group:  # the backend skipped the prompt (e.g. too long): the agent says nothing
                ep.act(Message(role="assistant", content=""))
                continue
            ep.act(group[0].message, group[0].meta.get("annotation"))
        step += 1
        if on_step is not None:
            on_step(sum(e.done for e in episodes), len(episodes))
