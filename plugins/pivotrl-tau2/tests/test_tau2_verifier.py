"""The tau2 verifier: gold write actions pass, one changed argument fails (every test task)."""

from __future__ import annotations

from typing import Any

import pytest
from pivotrl_tau2.verifier import Tau2Verifier
from pivotrl_tau2.world import world

from pivotrl_core import Candidate, Message, ToolCall, Verdict, run_verifier


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 7
    if isinstance(value, str):
        return value + "_x"
    if isinstance(value, list) and value:
        return [_changed(value[0]), *value[1:]]
    if isinstance(value, dict) and value:
        k = next(iter(value))
        return {**value, k: _changed(value[k])}
    return "changed"


def _gold_candidates(domain: str) -> list[tuple[Candidate, Message]]:
    """One candidate per gold write action of each test task, plus the action with its first
    argument changed. The prefix holds the task's earlier gold actions."""
    w = world(domain)
    out = []
    for task in w.tasks("test"):
        prefix: list[Message] = [Message("system", content=w.policy), Message("user", content="Hi")]
        for i, a in enumerate(task.evaluation_criteria.actions or []):
            call = ToolCall(a.name, dict(a.arguments), id=f"c{i}")
            msg = Message("assistant", tool_calls=(call,))
            if w.is_write(a.name) and a.arguments:
                k = next(iter(a.arguments))
                bad = Message(
                    "assistant", tool_calls=(ToolCall(a.name, {**a.arguments, k: _changed(a.arguments[k])}),)
                )
                cand = Candidate(
                    id=f"{task.id}:{i}",
                    domain=domain,
                    trajectory_id=str(task.id),
                    turn_index=len(prefix),
                    messages=tuple(prefix),
                    expected=msg,
                    tools=w.tools,
                    metadata={"tau2": {"domain": domain, "source": "tau2", "task_id": str(task.id)}},
                )
                out.append((cand, bad))
            prefix += [msg, Message("tool", content="", tool_call_id=f"c{i}")]
    return out


@pytest.mark.parametrize("domain", ["tau2-airline", "tau2-retail"])
def test_gold_write_actions_pass_and_a_changed_argument_fails(domain: str) -> None:
    pairs = _gold_candidates(domain)
    tasks = {c.trajectory_id for c, _ in pairs}
    w = world(domain)
    with_writes = {
        t.id
        for t in w.tasks("test")
        if any(w.is_write(a.name) and a.arguments for a in t.evaluation_criteria.actions or [])
    }
    assert tasks == with_writes and len(tasks) >= 14  # every test task that has a gold write action
    v = Tau2Verifier(domain=domain)
    passed = [c.id for c, _ in pairs if not run_verifier(v, c, c.expected).passed]
    assert passed == []
    failed = [(c.id, run_verifier(v, c, bad)) for c, bad in pairs]
    assert [(cid, verdict.reason) for cid, verdict in failed if verdict.passed or verdict.errored] == []


def test_read_turns_compare_outputs_and_messages_follow_the_message_policy() -> None:
    w = world("tau2-airline")
    read = Message("assistant", tool_calls=(ToolCall("get_user_details", {"user_id": "mia_li_3668"}),))
    other = Message("assistant", tool_calls=(ToolCall("get_user_details", {"user_id": "omar_davis_3817"}),))
    cand = Candidate("r:1", "tau2-airline", "r", 1, (Message("user", content="hi"),), read, w.tools)
    v = Tau2Verifier(domain="tau2-airline")
    assert run_verifier(v, cand, read).passed
    verdict = run_verifier(v, cand, other)
    assert not verdict.passed and verdict.details["same_db"] and not verdict.details["same_outputs"]
    assert not run_verifier(v, cand, Message("assistant", content="Let me check.")).passed
    said = Candidate(
        "m:1", "tau2-airline", "m", 1, (Message("user", content="hi"),), Message("assistant", content="Hello")
    )
    assert run_verifier(v, said, Message("assistant", content="Hi there")).passed  # message_policy "any"
    assert not run_verifier(v, said, read).passed
    strict = Tau2Verifier(domain="tau2-airline", message_policy="fuzzy")
    assert not run_verifier(strict, said, Message("assistant", content="zor plik vam quex")).passed


def test_infrastructure_failure_is_an_errored_verdict_not_a_zero() -> None:
    w = world("tau2-airline")
    read = Message("assistant", tool_calls=(ToolCall("get_user_details", {"user_id": "mia_li_3668"}),))
    meta = {"tau2": {"domain": "tau2-airline", "source": "tau2", "task_id": "no-such-task"}}
    cand = Candidate("e:1", "tau2-airline", "e", 1, (), read, w.tools, meta)
    verdict: Verdict = run_verifier(Tau2Verifier(), cand, read)
    assert verdict.errored and verdict.reward is None and "no-such-task" in (verdict.error or "")


def test_undoing_writes_restores_the_exact_database() -> None:
    from pivotrl_tau2.replay import Call, Replayer

    w = world("tau2-retail")
    task = next(t for t in w.tasks("test") if any(w.is_write(a.name) for a in t.evaluation_criteria.actions))
    gold = [Call(a.name, dict(a.arguments)) for a in task.evaluation_criteria.actions]
    rep = Replayer()
    pristine = w.fresh().get_db_hash()
    effects = rep.effects(w, None, gold[:-1], [gold[-1:], gold[-1:]])
    assert (
        effects[0] == effects[1] and effects[0].change is not None
    )  # the write changed something, twice alike
    assert rep.state_change(w, None, gold) != "pristine"
    assert rep.state_change(w, None, []) == "pristine"
    live = next(iter(rep._live.values()))
    assert live.env.get_db_hash() == pristine  # every record put back exactly (tau2's own hash)
