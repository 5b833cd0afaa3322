"""The ``hf`` policy on real (tiny) transformers models: batching, shared prefill, seeds, stopping,
log-probabilities and the context rule."""

from __future__ import annotations

import pytest
import torch
from memorized_model import TEXT_ANSWER, TOOL_ANSWER, memorize

from pivotrl_core.errors import ConfigError
from pivotrl_core.plugins import get_registry
from pivotrl_core.policies.base import Prompt, SamplingParams
from pivotrl_core.policies.hf import HFPolicy
from pivotrl_core.types import Message

TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "description": "Look up an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    },
)
TOOL_PROMPT = Prompt((Message("user", "Where is my order W123?"),), TOOLS)
TEXT_PROMPT = Prompt((Message("user", "Cancel it please."),))


def _prompts() -> list[Prompt]:
    return [
        Prompt((Message("user", "Hello!"),)),
        Prompt((Message("system", "Be brief."), Message("user", "What is 12 plus 30? " * 6))),
        Prompt((Message("user", "Please confirm your email and zip code. " * 3),), TOOLS),
    ]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def policy(tiny_model_path: str) -> HFPolicy:
    return HFPolicy(tiny_model_path, batch_size=64, prefill_chunk=16)


@pytest.fixture(scope="module")
def memorized(tiny_model_path: str, tmp_path_factory: pytest.TempPathFactory) -> HFPolicy:
    path = memorize(
        tiny_model_path,
        tmp_path_factory.mktemp("memorized"),
        [(TOOL_PROMPT, TOOL_ANSWER), (TEXT_PROMPT, TEXT_ANSWER)],
    )
    return HFPolicy(path)


def test_registered_as_hf(tiny_model_path: str) -> None:
    pol = get_registry().policy("hf", model=tiny_model_path)
    assert isinstance(pol, HFPolicy) and pol.model is not None and pol.tokenizer.padding_side == "left"


def test_k_completions_per_prompt_with_tokens_and_logprobs(policy: HFPolicy) -> None:
    out = policy.sample(_prompts(), 4, SamplingParams(max_new_tokens=12, seed=0))
    assert [len(o) for o in out] == [4, 4, 4]
    for comps in out:
        for c in comps:
            assert c.token_ids and len(c.token_ids) == len(c.logprobs or ()) <= 12
            assert all(lp <= 0 for lp in c.logprobs or ())
            assert c.message.role == "assistant"
            assert c.finish_reason in ("stop", "length")
    assert len({c.token_ids for c in out[0]}) > 1  # four different samples, not one copied


def test_prompt_is_prefilled_once_for_its_k_samples(policy: HFPolicy) -> None:
    shapes: list[tuple[int, int]] = []
    forward = policy.model.forward

    def spy(*args, **kwargs):  # records real calls, changes nothing
        shapes.append(tuple(kwargs["input_ids"].shape))
        return forward(*args, **kwargs)

    policy.model.forward = spy
    try:
        policy.sample(_prompts()[:2], 8, SamplingParams(max_new_tokens=5, seed=1))
    finally:
        del policy.model.forward
    prefill = [s for s in shapes if s[1] > 1]
    decode = [s for s in shapes if s[1] == 1]
    assert prefill and all(b == 2 for b, _ in prefill)  # two prompt rows, never 16
    assert decode and decode[0][0] == 16  # the cache was expanded to 2 x 8 rows


def test_seed_reproducible_and_independent_of_batching(policy: HFPolicy) -> None:
    sp = SamplingParams(max_new_tokens=10, seed=7)
    a = policy.sample(_prompts(), 3, sp)
    b = policy.sample(list(reversed(_prompts())), 3, sp)
    alone = policy.sample([_prompts()[1]], 3, sp)
    assert [c.token_ids for c in a[0]] == [c.token_ids for c in b[2]]
    assert [c.token_ids for c in a[1]] == [c.token_ids for c in alone[0]]
    other = policy.sample(_prompts(), 3, SamplingParams(max_new_tokens=10, seed=8))
    assert [c.token_ids for c in a[1]] != [c.token_ids for c in other[1]]


def test_shared_prefix_decoding_equals_expanded_cache(tiny_model_path: str, policy: HFPolicy) -> None:
    expanded = HFPolicy(tiny_model_path, batch_size=64, prefill_chunk=16, shared_prefix=False)
    assert policy.shared_prefix and not expanded.shared_prefix
    sp = SamplingParams(temperature=0.7, max_new_tokens=16, seed=4)
    for n in (5, 1):  # n = 1: one row per prompt, the batched path (rows finish at different steps)
        a, b = policy.sample(_prompts(), n, sp), expanded.sample(_prompts(), n, sp)
        for ca, cb in zip([c for o in a for c in o], [c for o in b for c in o], strict=True):
            assert ca.token_ids == cb.token_ids
            torch.testing.assert_close(
                torch.tensor(ca.logprobs), torch.tensor(cb.logprobs), atol=1e-4, rtol=1e-4
            )


def test_prefix_cache_reuses_prefills_and_changes_nothing(tiny_model_path: str, policy: HFPolicy) -> None:
    cached = HFPolicy(tiny_model_path, batch_size=64, prefill_chunk=16, prefix_cache=2)
    sp = SamplingParams(temperature=0.7, max_new_tokens=12, seed=9)
    first = cached.sample(_prompts(), 3, sp)
    prefilled = cached.stats["prefill_tokens"]
    again = cached.sample(_prompts()[1:], 3, sp)  # both still in the LRU of 2: no prefill at all
    assert cached.stats["prefill_tokens"] == prefilled and cached.prefix_store.hits == 2
    reference = policy.sample(_prompts(), 3, sp)
    for a, b in zip(again, reference[1:], strict=True):
        assert [c.token_ids for c in a] == [c.token_ids for c in b]
    assert [c.token_ids for c in first[0]] == [c.token_ids for c in reference[0]]
    cached.sample(_prompts()[:1], 1, sp)  # evicted (least recently used): prefilled again
    assert cached.stats["prefill_tokens"] > prefilled


def test_prefix_cache_reuses_the_longest_common_prefix(tiny_model_path: str, policy: HFPolicy) -> None:
    """Turns of one conversation: each prompt extends the last; only the new tokens are prefilled."""
    cached = HFPolicy(tiny_model_path, batch_size=64, prefill_chunk=16, prefix_cache=4)
    turns = [
        Message("system", "You help customers. " * 4),
        Message("user", "Where is my order #W123?"),
        Message("assistant", "Let me look it up."),
        Message("user", "Thanks, it is urgent. " * 3),
        Message("assistant", "It ships today."),
        Message("user", "And can I change the address?"),
    ]
    prompts = [Prompt(tuple(turns[:n]), TOOLS) for n in (2, 4, 6)]
    sp = SamplingParams(temperature=0.8, max_new_tokens=10, seed=5)
    lengths = [len(cached.prepare(p, sp.max_new_tokens).ids) for p in prompts]
    got = [cached.sample([p], 2, sp)[0] for p in prompts]  # one call per turn, as an episode does
    assert cached.stats["reused_prefix_tokens"] >= lengths[0] + lengths[1] - 2
    assert cached.stats["prefill_tokens"] <= lengths[2] + 2  # about the last prompt's length, not the sum
    assert len(cached.prefix_store.items) == 1  # shorter prompts were prefixes of the last: dropped
    want = policy.sample(prompts, 2, sp)
    for a, b in zip(got, want, strict=True):
        assert [c.token_ids for c in a] == [c.token_ids for c in b]
        for ca, cb in zip(a, b, strict=True):
            torch.testing.assert_close(
                torch.tensor(ca.logprobs), torch.tensor(cb.logprobs), atol=1e-4, rtol=1e-4
            )
    # a prompt sharing only the system prompt reuses that part and nothing more
    other = Prompt((turns[0], Message("user", "Something else entirely.")), TOOLS)
    before = cached.stats["reused_prefix_tokens"]
    assert [c.token_ids for c in cached.sample([other], 1, sp)[0]] == [
        c.token_ids for c in policy.sample([other], 1, sp)[0]
    ]
    assert 16 <= cached.stats["reused_prefix_tokens"] - before < len(cached.prepare(other, 10).ids)


def test_greedy_and_tiny_top_p_agree(policy: HFPolicy) -> None:
    greedy = policy.sample(_prompts(), 2, SamplingParams(temperature=0, max_new_tokens=8))
    nucleus = policy.sample(
        _prompts(), 2, SamplingParams(temperature=1.0, top_p=1e-6, max_new_tokens=8, seed=3)
    )
    for g, t in zip(greedy, nucleus, strict=True):
        assert g[0].token_ids == g[1].token_ids == t[0].token_ids == t[1].token_ids


def test_stops_at_end_of_turn_and_parses_tool_calls(memorized: HFPolicy) -> None:
    out = memorized.sample([TOOL_PROMPT, TEXT_PROMPT], 2, SamplingParams(temperature=0, max_new_tokens=80))
    end_id = memorized.tokenizer.convert_tokens_to_ids(memorized.end_token)
    for comps in out:
        for c in comps:
            assert c.finish_reason == "stop" and c.token_ids[-1] == end_id
            assert end_id not in c.token_ids[:-1] and memorized.end_token not in c.text
            assert len(c.token_ids) < 80
    call = out[0][0].message.tool_calls[0]
    assert (call.name, call.arguments) == ("get_order", {"order_id": "W123"})
    assert out[1][0].message.content == TEXT_ANSWER and not out[1][0].message.tool_calls


def test_one_row_per_prompt_decoding_with_rows_finishing_early(memorized: HFPolicy) -> None:
    """Greedy n = 1 takes the batched path; a finished row leaves and the others read their own prompt."""
    expanded = HFPolicy(memorized.model, tokenizer=memorized.tokenizer, shared_prefix=False)
    prompts = [TOOL_PROMPT, TEXT_PROMPT, *_prompts()]
    sp = SamplingParams(temperature=0, max_new_tokens=40)
    a, b = memorized.sample(prompts, 1, sp), expanded.sample(prompts, 1, sp)
    assert len({len(o[0].token_ids) for o in a}) > 1  # rows finished at different steps
    assert [o[0].token_ids for o in a] == [o[0].token_ids for o in b]
    for ca, cb in zip(a, b, strict=True):
        torch.testing.assert_close(
            torch.tensor(ca[0].logprobs), torch.tensor(cb[0].logprobs), atol=1e-4, rtol=1e-4
        )


def test_stop_strings_end_the_sample(memorized: HFPolicy) -> None:
    out = memorized.sample(
        [TEXT_PROMPT], 1, SamplingParams(temperature=0, max_new_tokens=40, stop=("cancelled",))
    )
    c = out[0][0]
    assert c.finish_reason == "stop" and c.text == "The order has been "


def test_logprobs_of_given_completions_match_sampling_time(policy: HFPolicy, memorized: HFPolicy) -> None:
    expanded = HFPolicy(memorized.model, tokenizer=memorized.tokenizer, shared_prefix=False)
    pairs = (
        (policy, _prompts()),
        (memorized, [TOOL_PROMPT, TEXT_PROMPT, _prompts()[0]]),
        (expanded, [TOOL_PROMPT, TEXT_PROMPT, _prompts()[0]]),
    )
    for pol, prompts in pairs:
        sp = SamplingParams(temperature=0.8, max_new_tokens=30, seed=11)
        out = pol.sample(prompts, 4, sp)  # rows finish at different steps: batch compaction is exercised
        flat_p = [p for p, comps in zip(prompts, out, strict=True) for _ in comps]
        flat_c = [c for comps in out for c in comps]
        scored = pol.logprobs(flat_p, flat_c, temperature=0.8)
        raw = pol.logprobs(flat_p, [list(c.token_ids or ()) for c in flat_c], temperature=0.8)
        for c, lp, lp_raw in zip(flat_c, scored, raw, strict=True):
            assert lp.shape == (len(c.token_ids or ()),)
            torch.testing.assert_close(lp, torch.tensor(c.logprobs), atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(lp, lp_raw, atol=1e-5, rtol=1e-5)


def _long_prompt(turns: int) -> Prompt:
    msgs = [Message("system", "You are a ticketing agent.")]
    for i in range(turns):
        msgs += [
            Message("user", f"Question {i}: what is 12 plus 30?"),
            Message("assistant", "The answer is 42."),
        ]
    msgs.append(Message("user", "And the last question?"))
    return Prompt(tuple(msgs), TOOLS)


def test_long_prompt_truncates_oldest_turns_keeping_system_and_tools(tiny_model_path: str) -> None:
    pol = HFPolicy(tiny_model_path, max_prompt_tokens=300)
    prompt = _long_prompt(20)
    info = pol.prepare(prompt, 16)
    assert (
        info.prompt_tokens > 300 and info.ids is not None and len(info.ids) <= 300 and info.dropped_turns > 0
    )
    text = pol.tokenizer.decode(list(info.ids))
    assert "You are a ticketing agent." in text and "get_order" in text and "And the last question?" in text
    assert "Question 0: what" not in text and "Question 19: what" in text
    out = pol.sample([prompt, _prompts()[0]], 2, SamplingParams(max_new_tokens=6, seed=0))
    assert len(out[0]) == 2 and out[0][0].meta["context"]["dropped_turns"] == info.dropped_turns
    assert pol.stats["truncated"] == 1 and pol.stats["skipped"] == 0


def test_long_prompt_skipped_and_counted_under_skip_rule(tiny_model_path: str) -> None:
    pol = HFPolicy(tiny_model_path, max_prompt_tokens=300, context_rule="skip")
    out = pol.sample([_long_prompt(20), _prompts()[0]], 2, SamplingParams(max_new_tokens=4, seed=0))
    assert out[0] == [] and len(out[1]) == 2
    assert pol.stats["skipped"] == 1
    assert "limit 300" in (pol.prepare(_long_prompt(20), 4).skip_reason or "")


def test_prompt_that_cannot_fit_is_skipped_even_when_truncating(tiny_model_path: str) -> None:
    pol = HFPolicy(tiny_model_path, max_prompt_tokens=40)
    huge_system = Prompt((Message("system", "Policy text. " * 100), Message("user", "Hi")))
    assert pol.sample([huge_system], 2, SamplingParams(max_new_tokens=4)) == [[]]
    assert pol.stats["skipped"] == 1


def test_default_limit_is_model_context_minus_new_tokens(policy: HFPolicy) -> None:
    assert policy.context_length == policy.model.config.max_position_embeddings
    assert policy.prompt_limit(256) == policy.context_length - 256


def test_bad_options_raise_config_errors(tiny_model_path: str) -> None:
    with pytest.raises(ConfigError, match="context_rule"):
        HFPolicy(tiny_model_path, context_rule="drop")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="tokenizer"):
        HFPolicy(object())
