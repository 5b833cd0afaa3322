"""Prompt caps: what the web domain's candidates and episodes keep, and that verdicts do not change."""

from __future__ import annotations

import dataclasses

from pivotrl_web.expert import ExpertPolicy
from pivotrl_web.prompts import DEFAULT_CAPS, NO_CAPS, TRUNCATED, PromptCaps, cap_messages, extract_web
from pivotrl_web.verifier import WebSearchVerifier

from pivotrl_core import (
    Completion,
    ExtractOptions,
    Message,
    Prompt,
    SamplingParams,
    ToolCall,
    default_extractor,
)


def _call(name: str, **args) -> Message:
    return Message(role="assistant", tool_calls=(ToolCall(name=name, arguments=args),))


CONVERSATION = (
    Message(role="system", content="sys"),
    Message(role="user", content="Hello. " + "b" * 50),
    _call("search", query="q1"),
    Message(role="tool", content="r1 " + "x" * 40, tool_call_id="c1"),
    _call("open", doc_id="d1"),
    Message(role="tool", content="doc " + "y" * 40, tool_call_id="c2"),
    Message(role="assistant", content="Please apply."),
    Message(role="user", content="I used apply: " + "z" * 40),
    _call("search", query="q2"),
    Message(role="tool", content="r2", tool_call_id="c3"),
)


def test_caps_keep_the_head_and_the_last_turns_and_cut_long_outputs() -> None:
    capped = cap_messages(CONVERSATION, PromptCaps(max_turns=2, max_observation_chars=10, max_brief_chars=20))
    assert [m.role for m in capped] == ["system", "user", "assistant", "user", "assistant", "tool"]
    assert capped[0] == CONVERSATION[0]
    assert capped[1].content == "Hello. " + "b" * 13 + TRUNCATED  # the brief, cut
    assert capped[2].content == "Please apply." and capped[4] == CONVERSATION[8]  # the last two turns
    assert capped[3].content == "I used app" + TRUNCATED  # a later customer reply is cut too
    assert capped[5].content == "r2"  # short outputs stay whole


def test_no_caps_and_zero_turns() -> None:
    assert cap_messages(CONVERSATION, NO_CAPS) == CONVERSATION
    assert cap_messages(CONVERSATION[:2], DEFAULT_CAPS) == CONVERSATION[:2]
    bare = cap_messages(CONVERSATION, PromptCaps(max_turns=0, max_observation_chars=-1, max_brief_chars=-1))
    assert bare == CONVERSATION[:2]


def test_extracted_candidates_are_capped_and_keep_their_verdicts(trajectories) -> None:
    opts = ExtractOptions(domain="web")
    full = [c for t in trajectories[:12] for c in default_extractor(t, opts)]
    capped = [c for t in trajectories[:12] for c in extract_web(t, opts)]
    assert [c.id for c in capped] == [c.id for c in full] and len(full) > 100
    longest = max(sum(len(m.content or "") for m in c.messages) for c in capped)
    assert longest < max(sum(len(m.content or "") for m in c.messages) for c in full) / 3
    for c in capped:
        assert sum(m.role == "assistant" for m in c.messages) <= DEFAULT_CAPS.max_turns
        assert all(len(m.content or "") <= 300 + len(TRUNCATED) for m in c.messages if m.role == "tool")
    # the verifier judges the sampled action, not the prefix: same verdicts with or without caps
    verifier = WebSearchVerifier()
    wrong = [_call("search", query="zzz unrelated"), Message(role="assistant", content="ok")]
    for f, c in zip(full[::5], capped[::5], strict=True):
        for action in (f.expected, *wrong):
            assert verifier.verify(f, action).passed == verifier.verify(c, action).passed


def test_the_expert_plays_capped_candidates(trajectories) -> None:
    capped = [c for t in trajectories[:10] for c in extract_web(t, ExtractOptions(domain="web"))]
    outs = ExpertPolicy().sample([Prompt.for_candidate(c) for c in capped], 1, SamplingParams())
    verifier = WebSearchVerifier()
    passed = [verifier.verify(c, o[0].message).passed for c, o in zip(capped, outs, strict=True)]
    assert sum(passed) / len(passed) >= 0.95  # only briefs that are identical once cut are ambiguous


class _Recorder:
    """Says goodbye; records the prompts an episode gives a policy without ``prompt_caps``."""

    name = model_id = "recorder"

    def __init__(self) -> None:
        self.prompts: list[Prompt] = []

    def sample(self, prompts, n, sampling):
        self.prompts.extend(prompts)
        msg = Message(role="assistant", content="Goodbye.")
        return [[Completion(text="Goodbye.", message=msg)] * n for _ in prompts]

    def close(self) -> None:
        pass


def test_benchmark_episodes_give_a_model_capped_prompts(banking) -> None:
    from pivotrl_web.episode import run_episodes

    long = next(t for t in banking.tasks.values() if len(t.instructions) > DEFAULT_CAPS.max_brief_chars)
    rec = _Recorder()
    run_episodes(rec, [long], data=banking)
    assert rec.prompts and rec.prompts[0].messages[1].content.endswith(TRUNCATED)
    expert = run_episodes(ExpertPolicy(), [long], data=banking)[0]  # the expert reads it all
    assert expert.outcome()["success"] and dataclasses.astuple(expert.caps) == (-1, -1, -1)
