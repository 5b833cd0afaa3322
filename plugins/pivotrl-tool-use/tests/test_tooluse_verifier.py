"""The tool_state verifier: conformance, functional equivalence, rejections, errored verdicts.

The "accepts what string comparison rejects" cases are the ones docs/domains/tool-use.md lists;
each is checked against ``tool_use_call`` (the core tool_call verifier, threshold 0.1) too.
"""

from __future__ import annotations

import dataclasses

import pytest
from pivotrl_tool_use.tasks import Task
from pivotrl_tool_use.verifier import ToolStateVerifier

from pivotrl_core.errors import ConfigError
from pivotrl_core.plugins import get_registry
from pivotrl_core.testing import check_domain
from pivotrl_core.types import Message, ToolCall
from pivotrl_core.verifiers.base import run_verifier


@pytest.fixture
def verifiers(pivotrl_pm):
    registry = get_registry()
    return registry.domain_verifier("tool-use"), registry.verifier("tool_use_call")


def _find(cands, pred):
    found = [c for c in cands if pred(c)]
    assert found, "no candidate matches; generate more trajectories in the fixture"
    return found[0]


def _call_turn(name, extra=lambda c: True):
    return lambda c: c.expected.tool_calls and c.expected.tool_calls[0].name == name and extra(c)


def _calls(name, **args):
    return Message("assistant", tool_calls=(ToolCall(name, args),))


def _db(c):
    return Task.from_dict(c.metadata["tool_use"]["task"]).initial_db()


def test_domain_conformance(pivotrl_pm, tool_use_candidates):
    report = check_domain("tool-use", tool_use_candidates, repeats=2)
    assert report.n_candidates == len(tool_use_candidates) > 200
    # the only tolerated warning: a scrambled transfer summary (free text) still transfers
    assert {r.candidate_id.split(":")[0] for r in report.warnings} <= {
        c.trajectory_id for c in tool_use_candidates if _call_turn("transfer_to_human")(c)
    }


def _accepts_but_string_match_rejects(verifiers, cand, action):
    tool_state, tool_call = verifiers
    assert run_verifier(tool_state, cand, cand.expected).passed
    v = run_verifier(tool_state, cand, action)
    assert v.passed, v
    assert not run_verifier(tool_call, cand, action).passed


def test_name_casing_and_order_id_form(verifiers, tool_use_candidates):
    c = _find(tool_use_candidates, _call_turn("find_user_by_name_zip"))
    args = dict(c.expected.tool_calls[0].arguments)
    other = {**args, "first_name": args["first_name"].swapcase(), "last_name": args["last_name"].upper()}
    _accepts_but_string_match_rejects(verifiers, c, _calls("find_user_by_name_zip", **other))
    c = _find(tool_use_candidates, _call_turn("get_order"))
    oid = c.expected.tool_calls[0].arguments["order_id"]
    flipped = oid[1:] if oid.startswith("#") else "#" + oid
    _accepts_but_string_match_rejects(verifiers, c, _calls("get_order", order_id=flipped.lower()))


def test_equivalent_lookup_with_another_tool(verifiers, tool_use_candidates):
    def known_email(c):  # a turn where the customer typed their e-mail correctly
        email = c.expected.tool_calls[0].arguments["email"].lower()
        return any(u["email"] == email for u in _db(c)["users"].values())

    c = _find(tool_use_candidates, _call_turn("find_user_by_email", known_email))
    email = c.expected.tool_calls[0].arguments["email"].lower()
    user = next(u for u in _db(c)["users"].values() if u["email"] == email)
    action = _calls(
        "find_user_by_name_zip",
        first_name=user["name"]["first"],
        last_name=user["name"]["last"],
        zip=user["zip"],
    )
    _accepts_but_string_match_rejects(verifiers, c, action)


def test_item_order_and_explicit_default_payment_method(verifiers, tool_use_candidates):
    c = _find(
        tool_use_candidates,
        _call_turn("return_items", lambda c: len(c.expected.tool_calls[0].arguments["item_ids"]) > 1),
    )
    args = dict(c.expected.tool_calls[0].arguments)
    _accepts_but_string_match_rejects(
        verifiers, c, _calls("return_items", **{**args, "item_ids": args["item_ids"][::-1]})
    )
    c = _find(
        tool_use_candidates,
        _call_turn("return_items", lambda c: "payment_method_id" not in c.expected.tool_calls[0].arguments),
    )
    args = dict(c.expected.tool_calls[0].arguments)
    original = _db(c)["orders"]["#W" + args["order_id"].lstrip("#W")]["payment_method_id"]
    _accepts_but_string_match_rejects(
        verifiers, c, _calls("return_items", **args, payment_method_id=original)
    )


def test_wrong_calls_are_rejected(verifiers, tool_use_candidates):
    tool_state, _ = verifiers
    c = _find(tool_use_candidates, _call_turn("cancel_order"))
    args = dict(c.expected.tool_calls[0].arguments)
    wrong_reason = "no longer needed" if args["reason"] == "ordered by mistake" else "ordered by mistake"
    v = run_verifier(tool_state, c, _calls("cancel_order", **{**args, "reason": wrong_reason}))
    assert not v.passed and "different database state" in v.reason
    v = run_verifier(tool_state, c, _calls("get_order", order_id=args["order_id"]))
    assert not v.passed
    c = _find(tool_use_candidates, _call_turn("get_order"))
    v = run_verifier(tool_state, c, _calls("get_order", order_id="#W10000"))
    assert not v.passed and "different tool output" in v.reason
    v = run_verifier(tool_state, c, Message("assistant", content="Let me check that order for you."))
    assert not v.passed and "expected a tool call" in v.reason


def _message_turn(kind):
    return lambda c: not c.expected.tool_calls and c.metadata["tool_use"]["turn"]["kind"] == kind


def test_messages_are_judged_by_required_facts(verifiers, tool_use_candidates):
    tool_state, tool_call = verifiers
    c = _find(tool_use_candidates, lambda c: _message_turn("confirm")(c) and "return" in c.expected.content)
    facts = c.metadata["tool_use"]["turn"]["required"]
    oid = next(f["order_id"] for f in facts if "order_id" in f)
    amount = next(f["amount"] for f in facts if "amount" in f)
    items = [f["any"][0] for f in facts if "any" in f and f["any"][0] not in ("return", "confirm")]
    paraphrase = (
        f"Just to check before I act: returning {', '.join(items)} of {oid[1:]} "
        f"gives you ${amount:.2f} back. Should I go ahead?"
    )
    assert run_verifier(tool_state, c, Message("assistant", content=paraphrase)).passed
    no_amount = f"I can return the {', '.join(items)} from order {oid}. Shall I proceed?"
    v = run_verifier(tool_state, c, Message("assistant", content=no_amount))
    assert not v.passed and {"amount": amount} in v.details["missing"]
    assert run_verifier(tool_call, c, Message("assistant", content=no_amount)).passed  # "any message passes"
    claim = paraphrase + " Your items have been returned."
    v = run_verifier(tool_state, c, Message("assistant", content=claim))
    assert not v.passed and v.details["forbidden"] == ["return_items"]
    v = run_verifier(tool_state, c, _calls("return_items", order_id=oid, item_ids=["1"]))
    assert not v.passed and "got a tool call" in v.reason


def test_a_claim_is_fine_once_the_action_happened(verifiers, tool_use_candidates):
    tool_state, _ = verifiers
    c = _find(
        tool_use_candidates,
        lambda c: (
            _message_turn("done")(c)
            and any(tc.name == "cancel_order" for m in c.messages for tc in m.tool_calls)
        ),
    )
    amount = next(f["amount"] for f in c.metadata["tool_use"]["turn"]["required"] if "amount" in f)
    text = f"Your order has been cancelled; {amount} is on its way back to you."
    assert run_verifier(tool_state, c, Message("assistant", content=text)).passed


def test_replay_problems_are_errored_not_failed(verifiers, tool_use_candidates):
    tool_state, _ = verifiers
    c = _find(tool_use_candidates, lambda c: sum(m.role == "tool" for m in c.messages) >= 2)
    i = max(i for i, m in enumerate(c.messages) if m.role == "tool")
    tampered = dataclasses.replace(
        c,
        messages=(
            *c.messages[:i],
            dataclasses.replace(c.messages[i], content='{"forged": 1}'),
            *c.messages[i + 1 :],
        ),
    )
    v = run_verifier(tool_state, tampered, c.expected)
    assert v.errored and "differs from the recorded one" in v.error
    record = dict(c.metadata["tool_use"], db_hash="0" * 16)
    v = run_verifier(
        tool_state, dataclasses.replace(c, metadata={**c.metadata, "tool_use": record}), c.expected
    )
    assert v.errored and "hash" in v.error
    record = dict(c.metadata["tool_use"], version=999)
    v = run_verifier(
        tool_state, dataclasses.replace(c, metadata={**c.metadata, "tool_use": record}), c.expected
    )
    assert v.errored and "version" in v.error
    assert run_verifier(ToolStateVerifier(check_replay=False), tampered, c.expected).passed


def test_embedded_initial_database_replays_without_world_generation(pivotrl_pm):
    from pivotrl_tool_use.extractor import extract_tool_use
    from pivotrl_tool_use.generate import generate_trajectories

    from pivotrl_core.domains import ExtractOptions

    (traj,) = generate_trajectories(1, seed=3, embed_db=True)
    cands = list(extract_tool_use(traj, ExtractOptions(domain="tool-use")))
    verifier = get_registry().domain_verifier("tool-use")
    assert all(run_verifier(verifier, c, c.expected).passed for c in cands)
    bad = dict(
        cands[-1].metadata["tool_use"], initial_db={**traj.metadata["tool_use"]["initial_db"], "handoffs": 5}
    )
    v = run_verifier(verifier, dataclasses.replace(cands[-1], metadata={"tool_use": bad}), cands[-1].expected)
    assert v.errored


def test_candidates_without_a_world_fall_back_or_error(pivotrl_pm, tool_use_candidates):
    c = _find(tool_use_candidates, _call_turn("get_order"))
    bare = dataclasses.replace(c, metadata={})
    v = run_verifier(get_registry().verifier("tool_state"), bare, bare.expected)
    assert v.passed and v.details["fallback"] == "tool_use_call"
    v = run_verifier(get_registry().verifier("tool_state", fallback="error"), bare, bare.expected)
    assert v.errored and "no recorded tool-use world" in v.error
    with pytest.raises(ConfigError, match="fallback must be"):
        get_registry().verifier("tool_state", fallback="judge")


def test_extractor_keeps_only_the_turns_record(tool_use_trajectories, tool_use_candidates):
    n_turns = sum(m.role == "assistant" for t in tool_use_trajectories for m in t.messages)
    assert len(tool_use_candidates) == n_turns
    for c in tool_use_candidates:
        record = c.metadata["tool_use"]
        assert "turns" not in record and set(record) >= {"version", "task", "db_hash"}
        assert ("turn" in record) == (not c.expected.tool_calls)
        assert c.id == f"{c.trajectory_id}:{c.turn_index}" and c.messages[0].role == "system"
