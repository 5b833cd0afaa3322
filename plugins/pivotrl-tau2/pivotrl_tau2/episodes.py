"""One tau2 episode driven by pivotrl policies, scored with tau2's official reward.

- **solo** (telecom): the agent sees tau2's solo system prompt (policy + the task's ticket) and
  every tool, agent-side and user-device (all calls carry ``requestor="assistant"``); it must call
  a tool every turn (tau2's ``LLMSoloAgent`` raises otherwise: ``agent_error``) and ends with
  ``done`` (``agent_stop``).
- **with a user** (airline, retail): tau2's orchestrator order: the agent greets ("Hi! How can I
  help you today?"), then the user simulator (any pivotrl policy, prompted with tau2's
  simulation guidelines and the task's user scenario, roles flipped) and the agent alternate; the
  agent may make tool calls in between. The user ends with ``###STOP###``/``###TRANSFER###``/
  ``###OUT-OF-SCOPE###`` (``user_stop``).

Limits as in tau2: ``max_steps`` messages, ``max_errors`` tool errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pivotrl_core import Message, Policy, Prompt, SamplingParams, ToolCall

from .evaluate import official_reward, to_tau2_messages
from .replay import env_pool
from .spec import agent_system_prompt, solo_system_prompt, user_guidelines
from .world import World

__all__ = ["GREETING", "Episode", "run_episode", "user_system_prompt"]

GREETING = "Hi! How can I help you today?"
_USER_STOPS = ("###STOP###", "###TRANSFER###", "###OUT-OF-SCOPE###")


@dataclass
class Episode:
    """One finished episode: the conversation, why it ended and tau2's reward."""

    task_id: str
    trial: int
    messages: list[Message]
    termination: str
    reward: float
    info: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def user_system_prompt(task: Any) -> str:
    """tau2's user-simulator system prompt for a task (guidelines + scenario)."""
    return f"{user_guidelines(False)}\n\n<scenario>\n{task.user_scenario}\n</scenario>".strip()


class _Run:
    def __init__(
        self, world: World, task: Any, solo: bool, max_errors: int, make: Callable[..., Any]
    ) -> None:
        self.world, self.task, self.solo = world, task, solo
        self.env = make(solo)
        init = task.initial_state
        if init is not None:
            self.env.set_state(
                init.initialization_data, init.initialization_actions, init.message_history or []
            )
        self.errors, self.max_errors = 0, max_errors
        self.calls = 0

    def tools(self, message: Message) -> list[Message]:
        """Run an agent message's calls in the environment; the tool messages."""
        from tau2.data_model.message import ToolCall as Tau2Call

        out = []
        for tc in message.tool_calls:
            self.calls += 1
            args = tc.arguments if isinstance(tc.arguments, dict) else {}
            resp = self.env.get_response(Tau2Call(id=tc.id or "", name=tc.name, arguments=args))
            self.errors += int(bool(resp.error))
            out.append(Message("tool", content=resp.content or "", tool_call_id=tc.id))
        return out


def _with_ids(message: Message, step: int) -> Message:
    calls = tuple(
        ToolCall(tc.name, tc.arguments, id=tc.id or f"call_{step}_{j}", raw_arguments=tc.raw_arguments)
        for j, tc in enumerate(message.tool_calls)
    )
    return Message("assistant", content=message.content, tool_calls=calls)


def _sample(
    policy: Policy, messages: list[Message], tools: tuple[dict[str, Any], ...], sampling: SamplingParams
) -> Message:
    return policy.sample([Prompt(tuple(messages), tools)], 1, sampling)[0][0].message


def _solo(run: _Run, agent: Policy, sampling: SamplingParams, max_steps: int) -> tuple[list[Message], str]:
    convo: list[Message] = []
    system = Message("system", content=solo_system_prompt(run.world.spec.tau2_domain, run.task.ticket or ""))
    while len(convo) < max_steps:
        msg = _with_ids(_sample(agent, [system, *convo], run.world.tools, sampling), len(convo))
        if not msg.tool_calls:
            convo.append(msg)
            return convo, "agent_error"  # tau2's solo agent accepts tool calls only
        if any(tc.name == "done" for tc in msg.tool_calls):
            convo.append(Message("assistant", content="###STOP###"))
            return convo, "agent_stop"
        convo.append(msg)
        convo.extend(run.tools(msg))
        if run.errors >= run.max_errors:
            return convo, "too_many_errors"
    return convo, "max_steps"


def _agent_turn(
    run: _Run, agent: Policy, system: Message, convo: list[Message], sampling: SamplingParams, max_steps: int
) -> str | None:
    tools = tuple(t for t in run.world.tools if t["function"]["name"] in run.world.agent_tool_names)
    while len(convo) < max_steps:
        msg = _with_ids(_sample(agent, [system, *convo], tools, sampling), len(convo))
        if msg.is_empty:
            return "agent_error"
        convo.append(msg)
        if not msg.tool_calls:
            return None
        convo.extend(run.tools(msg))
        if run.errors >= run.max_errors:
            return "too_many_errors"
    return "max_steps"


def _with_user(
    run: _Run, agent: Policy, user: Policy, sampling: SamplingParams, max_steps: int
) -> tuple[list[Message], str]:
    system = Message("system", content=agent_system_prompt(run.world.spec.tau2_domain))
    user_system = Message("system", content=user_system_prompt(run.task))
    convo: list[Message] = [Message("assistant", content=GREETING)]
    while len(convo) < max_steps:
        seen = [
            Message("user" if m.role == "assistant" else "assistant", content=m.content)
            for m in convo
            if m.role in ("assistant", "user") and m.content
        ]
        said = _sample(user, [user_system, *seen], (), sampling).content or ""
        convo.append(Message("user", content=said))
        if any(s in said for s in _USER_STOPS):
            return convo, "user_stop"
        if not said.strip():
            return convo, "user_error"
        ended = _agent_turn(run, agent, system, convo, sampling, max_steps)
        if ended is not None:
            return convo, ended
    return convo, "max_steps"


def run_episode(
    world: World,
    task: Any,
    agent: Policy,
    sampling: SamplingParams,
    user: Policy | None = None,
    trial: int = 0,
    max_steps: int = 30,
    max_errors: int = 10,
) -> Episode:
    """Play one task (solo when the domain is solo, else with ``user`` as the simulator)."""
    start = time.perf_counter()
    solo = world.spec.solo
    with env_pool(world).borrow() as make:
        run = _Run(world, task, solo, max_errors, make)
        if solo:
            convo, termination = _solo(run, agent, sampling, max_steps)
        else:
            convo, termination = _with_user(run, agent, user or agent, sampling, max_steps)
    info = official_reward(world, task, to_tau2_messages(convo), termination, solo)
    return Episode(
        task_id=str(task.id),
        trial=trial,
        messages=convo,
        termination=termination,
        reward=float(info["reward"]),
        info={**info, "tool_calls": run.calls, "tool_errors": run.errors},
        seconds=time.perf_counter() - start,
    )
