"""Episodes: an agent (any :class:`pivotrl_core.Policy`) serves a scripted customer on a banking task.

The customer opens with the task's brief. It performs its own gold actions (``requestor: user``,
e.g. applying for a card or running a tool the agent gave it) once the agent has told it every
value those actions need that its brief does not contain; it ends the conversation when nothing
is left for it to do and the agent's message is not a question, or after three unhelpful
replies (a transfer to a human does not end it: some gold paths act after one). The agent's
prompt is capped (:mod:`pivotrl_web.prompts`) as the extractor's candidates are, unless the policy
says otherwise (``prompt_caps`` attribute: the expert reads the whole transcript).
:func:`run_episodes` advances all episodes in lock-step: one batched ``policy.sample`` call a step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pivotrl_core import Completion, Message, Policy, Prompt, SamplingParams, Trajectory

from .banking import BankingData, Task, load_banking
from .catalog import TOOLS
from .prompts import DEFAULT_CAPS, PromptCaps, cap_messages
from .reward import new_world, official_reward
from .values import json_args
from .world import World

__all__ = ["SYSTEM_PROMPT", "Episode", "hint_values", "run_episodes"]

SYSTEM_PROMPT = (
    "You are a customer service agent of Rho-Bank. The bank's policies and its internal tools are "
    "described in the knowledge base: search it (search, open) before acting, follow the policies, "
    "unlock and call the internal tools the documents name, and give the customer the tools they "
    "must run themselves. Verify a customer's identity before account actions."
)
_PATIENCE = 3


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        parsed = json_args(value) if value.startswith("{") else value
        return _strings(parsed) if isinstance(parsed, dict) else [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def hint_values(task: Task, action: dict[str, Any]) -> list[str]:
    """String values a customer action needs that the customer's brief does not contain."""
    brief = task.instructions.casefold()
    values = _strings(action.get("arguments") or {})
    if action["name"] in ("call_discoverable_user_tool",):
        values = [v for v in values if v != action["arguments"].get("discoverable_tool_name")]
    return sorted({v for v in values if v.strip() and v.casefold() not in brief})


@dataclass
class Episode:
    """One conversation in progress: task, world, messages, the customer's pending actions."""

    task: Task
    data: BankingData
    max_turns: int = 60
    system_prompt: str = SYSTEM_PROMPT
    caps: PromptCaps = DEFAULT_CAPS
    world: World = field(init=False)
    messages: list[Message] = field(init=False)
    events: list[list[Any]] = field(default_factory=list)
    annotations: dict[int, dict[str, Any]] = field(default_factory=dict)
    agent_turns: int = 0
    termination: str | None = None

    def __post_init__(self) -> None:
        self.world = new_world(self.task, self.data)
        self.pending = [a for a in self.task.actions if a.get("requestor") == "user"]
        self.said = ""
        self.unhelpful = 0
        self._n_calls = 0
        self.messages = [
            Message(role="system", content=self.system_prompt),
            Message(role="user", content=f"Hello. {self.task.instructions.strip()}"),
        ]

    @property
    def done(self) -> bool:
        return self.termination is not None

    def prompt(self) -> Prompt:
        return Prompt(messages=cap_messages(self.messages, self.caps), tools=TOOLS)

    def _call(self, index: int, requestor: str, name: str, args: Any) -> str:
        self.events.append([index, requestor, name, args])
        return self.world.execute(name, args, requestor)

    def act(self, message: Message, annotation: dict[str, Any] | None = None) -> None:
        """Apply one agent turn: run its tool calls, or let the customer answer its message."""
        self.agent_turns += 1
        index = len(self.messages)
        if annotation:
            self.annotations[index] = annotation
        if message.tool_calls:
            calls = []
            for tc in message.tool_calls:
                self._n_calls += 1
                calls.append(dataclasses.replace(tc, id=f"call_{self._n_calls}"))
            self.messages.append(dataclasses.replace(message, role="assistant", tool_calls=tuple(calls)))
            for tc in calls:
                out = self._call(index, "assistant", tc.name, tc.arguments)
                self.messages.append(Message(role="tool", content=out, tool_call_id=tc.id, name=tc.name))
        else:
            text = message.content or ""
            self.messages.append(Message(role="assistant", content=text))
            self.messages.append(Message(role="user", content=self._reply(index, text)))
        if self.termination is None and self.agent_turns >= self.max_turns:
            self.termination = "max_turns"

    def _reply(self, index: int, text: str) -> str:
        self.said += "\n" + text.casefold()
        done = []
        while self.pending and all(
            v.casefold() in self.said for v in hint_values(self.task, self.pending[0])
        ):
            action = self.pending.pop(0)
            out = self._call(index, "user", action["name"], dict(action.get("arguments") or {}))
            done.append(f"I used {action['name']}: {out}")
        if done:
            self.unhelpful = 0
            return "\n".join(done)
        if not self.pending and not text.rstrip().endswith("?"):
            self.termination = "user_stop"
            return "Thank you, that is all. ###STOP###"
        self.unhelpful += 1
        if self.unhelpful >= _PATIENCE:
            self.termination = "user_gave_up"
            return "This is not helping. Goodbye. ###STOP###"
        return "Please go ahead and handle my request."

    def outcome(self) -> dict[str, Any]:
        """The official reward and episode counters."""
        result = official_reward(self.task, self.world, self.data)
        return {
            "task_id": self.task.id,
            **result,
            "success": result["reward"] == 1.0,
            "searches": self.world.searches,
            "opened": len(self.world.opened),
            "turns": self.agent_turns,
            "termination": self.termination,
        }

    def to_trajectory(self, traj_id: str, **meta: Any) -> Trajectory:
        """The transcript; metadata lets the ``web_search`` verifier replay any turn's state."""
        web = {
            "task_id": self.task.id,
            "required_documents": list(self.task.required_documents),
            "events": self.events,
            "turns": {str(k): v for k, v in sorted(self.annotations.items())},
        }
        return Trajectory(
            id=traj_id,
            messages=tuple(self.messages),
            tools=TOOLS,
            metadata={"domain": "web", **meta, "web": web},
        )


def run_episodes(
    policy: Policy,
    tasks: Sequence[Task],
    sampling: SamplingParams | None = None,
    max_turns: int = 60,
    data: BankingData | None = None,
) -> list[Episode]:
    """Play every task to the end; each step samples one action for all running episodes.

    Prompts are capped by the policy's ``prompt_caps`` attribute when it has one, else by
    :data:`~pivotrl_web.prompts.DEFAULT_CAPS`.
    """
    data = data or load_banking()
    sampling = sampling or SamplingParams()
    caps = getattr(policy, "prompt_caps", None) or DEFAULT_CAPS
    episodes = [Episode(t, data, max_turns=max_turns, caps=caps) for t in tasks]
    step = 0
    while live := [e for e in episodes if not e.done]:
        s = sampling if sampling.seed is None else dataclasses.replace(sampling, seed=sampling.seed + step)
        groups: list[list[Completion]] = policy.sample([e.prompt() for e in live], 1, s)
        for ep, group in zip(live, groups, strict=True):
            if not group:
                ep.act(Message(role="assistant", content=""))
                continue
            ep.act(group[0].message, group[0].meta.get("annotation"))
        step += 1
    return episodes
