"""The official tau2 reward of a conversation, and tau-bench v1 reward reproduction.

:func:`official_reward` follows tau2's ``evaluate_simulation`` (evaluation type ``all``): a
conversation that did not end with ``agent_stop``/``user_stop`` scores 0; otherwise tau2's own
``EnvironmentEvaluator`` (DB hash against the gold actions, env assertions), ``ActionEvaluator``
and ``CommunicateEvaluator`` are multiplied over the task's ``reward_basis``. The environments
they build come from :func:`~pivotrl_tau2.replay.env_pool` (parsed once, reset by undoing
their changes), never from files.
NL assertions need an LLM judge: a task whose basis names them raises, as tau2 does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pivotrl_core import Message

from .replay import Call, Replayer, env_pool
from .world import World

__all__ = ["official_reward", "to_tau2_messages", "v1_reward"]

_STOPS = ("agent_stop", "user_stop")


def to_tau2_messages(messages: Sequence[Message]) -> list[Any]:
    """pivotrl messages (system messages dropped) as tau2 ``Message`` models (a solo ``done``
    call becomes tau2's ``###STOP###`` text, as tau2's solo agent records it)."""
    from tau2.data_model.message import AssistantMessage, ToolCall, ToolMessage, UserMessage

    out: list[Any] = []
    for m in messages:
        if m.role == "user":
            out.append(UserMessage(role="user", content=m.content or ""))
        elif m.role == "assistant" and any(tc.name == "done" for tc in m.tool_calls):
            out.append(AssistantMessage(role="assistant", content="###STOP###"))  # tau2's solo stop
        elif m.role == "assistant":
            calls = [
                ToolCall(id=tc.id or f"call_{len(out)}_{j}", name=tc.name, arguments=tc.arguments or {})
                for j, tc in enumerate(m.tool_calls)
            ]
            out.append(AssistantMessage(role="assistant", content=m.content, tool_calls=calls or None))
        elif m.role == "tool":
            out.append(ToolMessage(id=m.tool_call_id or "", role="tool", content=m.content))
    return out


def official_reward(
    world: World, task: Any, tau2_messages: list[Any], termination: str, solo: bool
) -> dict[str, Any]:
    """tau2's reward for a finished conversation: ``{reward, breakdown, db_match, ...}``."""
    from tau2.data_model.tasks import RewardType
    from tau2.evaluator.evaluator_action import ActionEvaluator
    from tau2.evaluator.evaluator_communicate import CommunicateEvaluator
    from tau2.evaluator.evaluator_env import EnvironmentEvaluator

    if termination not in _STOPS:
        return {"reward": 0.0, "note": f"terminated: {termination}"}
    criteria = task.evaluation_criteria
    if criteria is None:
        return {"reward": 1.0, "note": "no evaluation criteria"}
    basis = set(criteria.reward_basis)
    if RewardType.NL_ASSERTION in basis:
        raise ValueError(f"task {task.id}: NL assertions need an LLM judge (not run here)")
    with env_pool(world).borrow() as make:
        env = EnvironmentEvaluator.calculate_reward(
            environment_constructor=make, task=task, full_trajectory=tau2_messages, solo_mode=solo
        )
    parts: dict[str, float] = {}
    if basis & {RewardType.DB, RewardType.ENV_ASSERTION}:
        parts.update({str(k.value): float(v) for k, v in (env.reward_breakdown or {}).items()})
        parts["env"] = float(env.reward)
    if RewardType.ACTION in basis:
        parts["action"] = float(
            ActionEvaluator.calculate_reward(task=task, full_trajectory=tau2_messages).reward
        )
    if RewardType.COMMUNICATE in basis:
        comm = CommunicateEvaluator.calculate_reward(task=task, full_trajectory=tau2_messages)
        parts["communicate"] = float(comm.reward)
    reward = 1.0
    for k in ("env", "action", "communicate"):
        reward *= parts.get(k, 1.0)
    db = env.db_check.db_match if env.db_check is not None else None
    return {"reward": reward, "breakdown": parts, "db_match": db}


def v1_reward(
    world: World,
    messages: Sequence[Message],
    gold: Sequence[dict[str, Any]],
    outputs: Sequence[str],
    replayer: Replayer,
) -> dict[str, Any]:
    """tau-bench v1's reward, recomputed in tau2's environment.

    v1 scores 1 when the database after the agent's calls equals the one after the gold actions
    (both replayed from the pristine database by ``replayer``; ``think`` changes nothing) and every required
    output string occurs in an agent message (lower-cased, commas removed: v1's rule, which is
    also tau2's communicate check, used here).
    """
    from tau2.data_model.message import AssistantMessage
    from tau2.evaluator.evaluator_communicate import CommunicateEvaluator

    gold_calls = [Call(a["name"], a.get("kwargs") or a.get("arguments") or {}) for a in gold]
    agent_calls = [
        Call(tc.name, tc.arguments) for m in messages if m.role == "assistant" for tc in m.tool_calls
    ]
    db_match = replayer.state_change(world, None, gold_calls, False) == replayer.state_change(
        world, None, agent_calls, False
    )
    said = [
        AssistantMessage(role="assistant", content=m.content)
        for m in messages
        if m.role == "assistant" and m.content
    ]
    checks = CommunicateEvaluator.evaluate_communicate_info(said, list(outputs)) if outputs else []
    outputs_ok = all(c.met for c in checks)
    return {
        "reward": 1.0 if db_match and outputs_ok else 0.0,
        "db_match": db_match,
        "outputs_ok": outputs_ok,
    }
