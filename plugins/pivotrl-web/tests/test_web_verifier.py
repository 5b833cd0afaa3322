"""The ``web_search`` verifier: QA on expert candidates, and where it parts from NVIDIA's word overlap."""

from __future__ import annotations

import dataclasses

from pivotrl_core import Message, ToolCall, get_registry, run_verifier
from pivotrl_core.testing import check_domain


def _search(query: str, k: int = 5) -> Message:
    return Message(role="assistant", tool_calls=(ToolCall("search", {"query": query, "k": k}),))


def _first(candidates, name):
    return next(c for c in candidates if c.expected.tool_calls and c.expected.tool_calls[0].name == name)


def test_domain_verifier_passes_the_expert_and_qa(candidates):
    report = check_domain("web", candidates[:400], repeats=2)
    bad = [r for r in report.results if not r.ok and r.severity == "violation"]
    assert not bad, bad[:3]


def test_search_turn_functional_against_word_overlap(candidates, corpus):
    reg = get_registry()
    functional, overlap = reg.verifier("web_search"), reg.verifier("tool_call", threshold=0.3)
    cand = next(
        c
        for c in candidates
        if c.expected.tool_calls
        and c.expected.tool_calls[0].name == "search"
        and c.expected.tool_calls[0].arguments["query"].startswith("Platinum Rewards Card: Getting Started")
    )
    target = c_target = cand.metadata["web"]["turns"][str(cand.turn_index)]["targets"][0]
    # a paraphrase from the document's body: few shared words, but it retrieves the evidence
    body = " ".join(corpus.documents[target].content.replace("#", " ").split()[20:32])
    assert run_verifier(functional, cand, _search(body)).passed
    assert not run_verifier(overlap, cand, _search(body)).passed
    # the first half of the demonstration's query: most words shared, but the evidence is not in the top 5
    demo = cand.expected.tool_calls[0].arguments["query"]
    half = " ".join(demo.split()[: len(demo.split()) // 2])
    assert c_target not in [h.id for h in corpus.search(half, 5)]
    assert run_verifier(overlap, cand, _search(half)).passed
    assert not run_verifier(functional, cand, _search(half)).passed
    # a larger k cannot buy coverage: k is capped at the demonstration's
    assert not run_verifier(functional, cand, _search(half, k=50)).passed


def test_open_and_action_turns(candidates):
    v = get_registry().verifier("web_search")
    opened = _first(candidates, "open")
    required = opened.metadata["web"]["required_documents"]
    other = (
        next(d for d in required if d != opened.expected.tool_calls[0].arguments["doc_id"])
        if len(required) > 1
        else None
    )
    if other:
        assert run_verifier(
            v, opened, Message("assistant", tool_calls=(ToolCall("open", {"doc_id": other}),))
        ).passed
    assert not run_verifier(
        v, opened, Message("assistant", tool_calls=(ToolCall("open", {"doc_id": "doc_nothing"}),))
    ).passed
    verify = next(
        c for c in candidates if c.expected.tool_calls and c.expected.tool_calls[0].name == "log_verification"
    )
    call = verify.expected.tool_calls[0]
    shuffled = dataclasses.replace(call, arguments=dict(reversed(list(call.arguments.items()))))
    assert run_verifier(v, verify, Message("assistant", tool_calls=(shuffled,))).passed  # same state
    wrong = dataclasses.replace(call, arguments={**call.arguments, "email": "someone@else.com"})
    verdict = run_verifier(v, verify, Message("assistant", tool_calls=(wrong,)))
    assert not verdict.passed and verdict.reason == "different database"


def test_instruction_message_must_carry_the_values(candidates):
    v = get_registry().verifier("web_search")
    cand = next(
        c for c in candidates if (c.metadata["web"]["turns"].get(str(c.turn_index)) or {}).get("hints")
    )
    assert run_verifier(v, cand, cand.expected).passed
    assert not run_verifier(v, cand, Message("assistant", content="Please go ahead and do it.")).passed


def test_missing_metadata_is_an_errored_verdict(candidates):
    cand = dataclasses.replace(candidates[0], metadata={})
    verdict = run_verifier(get_registry().verifier("web_search"), cand, cand.expected)
    assert verdict.errored and "web" in verdict.error
