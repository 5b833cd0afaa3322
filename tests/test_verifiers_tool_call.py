"""The ``tool_call`` verifier: NeMo Gym's comparison rules, one behaviour per test."""

from __future__ import annotations

import gc

import pytest
from verifier_helpers import call, calls, cand, say

from pivotrl_core.errors import ConfigError
from pivotrl_core.types import Message, ToolCall
from pivotrl_core.verifiers.base import run_verifier
from pivotrl_core.verifiers.tool_call import ToolCallVerifier, maximum_matching


def check(expected: Message, action: Message, **options) -> tuple[float, str]:
    v = run_verifier(ToolCallVerifier(**options), cand(expected), action)
    assert not v.errored, v.error
    return v.score, v.details["category"]


# -- the decision: call or talk -------------------------------------------------------------------
def test_decision_between_call_and_message():
    assert check(say("Sure."), say("Anything at all")) == (1.0, "message_found")
    assert check(say("Sure."), call("lookup", id="1")) == (0.0, "call_instead_of_message")
    assert check(call("lookup", id="1"), say("Let me check.")) == (0.0, "no_tool_call")


def test_calls_take_precedence_over_narration():
    narrated = Message("assistant", content="Checking now.", tool_calls=(ToolCall("lookup", {"id": "1"}),))
    assert check(call("lookup", id="1"), narrated) == (1.0, "tool_call_match")
    assert check(say("Done."), narrated) == (0.0, "call_instead_of_message")


@pytest.mark.parametrize("empty", [None, "", "   \n"])
def test_no_text_and_no_call_is_no_action(empty):
    # deliberate change: NVIDIA rewards an empty *message* when a message is expected
    assert check(say("Sure."), say(empty)) == (0.0, "no_action")
    assert check(call("f"), say(empty)) == (0.0, "no_action")


def test_message_policies_are_stricter_options():
    expected = say("Please share the ticket id for your order")
    on_topic = say("Could you share your order ticket id please")
    off_topic = say("The weather is nice today in Paris")
    assert check(expected, off_topic) == (1.0, "message_found")  # NVIDIA: any message passes
    assert check(expected, on_topic, message_policy="overlap")[0] == 1.0
    assert check(expected, off_topic, message_policy="overlap") == (0.0, "message_rejected")
    assert check(expected, on_topic, message_policy="fuzzy")[0] == 1.0
    assert check(expected, off_topic, message_policy="fuzzy") == (0.0, "message_rejected")


# -- one call ---------------------------------------------------------------------------------------
def test_tool_name_must_match():
    assert check(call("cancel", id="A1"), call("refund", id="A1")) == (0.0, "wrong_tool")


def test_unparseable_arguments_are_a_decode_error():
    bad = Message("assistant", tool_calls=(ToolCall("f", None, raw_arguments="{not json"),))
    assert check(call("f", a=1), bad) == (0.0, "arguments_decode_error")


def test_raw_json_that_is_not_an_object_compares_by_type():
    listy = Message("assistant", tool_calls=(ToolCall("f", None, raw_arguments="[1, 2]"),))
    assert check(call("f", a=1), listy) == (0.0, "type_different")


def test_dict_keys_must_be_equal():
    assert check(call("f", a="x", b="y"), call("f", a="x")) == (0.0, "keys_different")
    assert check(call("f", a="x"), call("f", a="x", extra="y")) == (0.0, "keys_different")
    assert check(call("f", a="x", b="y"), call("f", b="y", a="x")) == (1.0, "tool_call_match")


def test_lists_are_compared_element_wise():
    assert check(call("f", ids=["a", "b"]), call("f", ids=["a"])) == (0.0, "list_length_different")
    assert check(call("f", ids=["a", "b"]), call("f", ids=["b", "a"])) == (0.0, "value_different")
    assert check(call("f", ids=[{"k": 1}]), call("f", ids=[{"k": 1}])) == (1.0, "tool_call_match")


def test_types_follow_isinstance_of_the_expected_type():
    assert check(call("f", n=5.0), call("f", n=5)) == (0.0, "type_different")  # int is not a float
    assert check(call("f", n=5), call("f", n=5.0)) == (0.0, "type_different")
    assert check(call("f", n=1), call("f", n=True)) == (1.0, "tool_call_match")  # bool is an int (NVIDIA)
    assert check(call("f", flag=True), call("f", flag=1)) == (0.0, "type_different")
    assert check(call("f", x=None), call("f", x="None")) == (0.0, "type_different")
    assert check(call("f", n=5), call("f", n=5.0), strict_types=False) == (1.0, "tool_call_match")
    assert check(call("f", n=5.0), call("f", n=6), strict_types=False) == (0.0, "value_different")


def test_floats_within_tolerance():
    assert check(call("f", x=1.0), call("f", x=1.0 + 1e-9)) == (1.0, "tool_call_match")
    assert check(call("f", x=1.0), call("f", x=1.001)) == (0.0, "value_different")
    assert check(call("f", x=1.0), call("f", x=1.001), float_tolerance=0.01) == (1.0, "tool_call_match")


def test_short_strings_must_be_equal_exactly():
    assert check(call("f", city="Paris"), call("f", city="paris")) == (0.0, "value_different")
    # two words against one: the short side forces exact comparison
    assert check(call("f", q="new york"), call("f", q="york")) == (0.0, "value_different")


def test_long_strings_by_word_multiset_overlap():
    exp = call("f", q="alpha beta gamma delta")
    near = call("f", q="Alpha BETA zeta eta")  # 2 common / (4 + 4) = 0.25
    assert check(exp, near, threshold=0.1) == (1.0, "tool_call_match")
    assert check(exp, near, threshold=0.25) == (1.0, "tool_call_match")
    assert check(exp, near, threshold=0.3) == (0.0, "value_different")
    assert check(exp, call("f", q="one two three"), threshold=0.1) == (0.0, "value_different")
    # multiset: repeated words count once per occurrence on each side: min(3, 1) = 1 -> 1 / 6
    assert check(call("f", q="go go go"), call("f", q="go stop halt"), threshold=0.17) == (
        0.0,
        "value_different",
    )
    assert check(call("f", q="go go go"), call("f", q="go stop halt"), threshold=0.16) == (
        1.0,
        "tool_call_match",
    )


def test_identical_long_strings_overlap_only_half():
    same = call("f", q="exactly the same words")
    assert check(same, same, threshold=0.5) == (1.0, "tool_call_match")
    assert check(same, same, threshold=0.6) == (0.0, "value_different")  # NVIDIA's formula caps at 0.5
    assert check(call("f", q="one"), call("f", q="one"), threshold=0.9) == (1.0, "tool_call_match")


def test_threshold_zero_accepts_any_multi_word_string():
    exp = call("str_replace_editor", command="view", path="/repo/a.py", note="look at the file")
    act = call("str_replace_editor", command="view", path="/repo/a.py", note="completely different words")
    assert check(exp, act, threshold=0.0) == (1.0, "tool_call_match")
    assert check(exp, act, threshold=0.1) == (0.0, "value_different")


def test_nested_first_failure_is_reported():
    exp = call("f", outer={"a": [1, 2], "b": "x"})
    assert check(exp, call("f", outer={"a": [1, 3], "b": "y"})) == (0.0, "value_different")
    assert check(exp, call("f", outer={"a": [1, 2, 3], "b": "x"})) == (0.0, "list_length_different")


# -- several calls ------------------------------------------------------------------------------------
ALPHA, BETA = ("alpha", {"q": "a"}), ("beta", {"q": "b"})


def test_batch_is_a_multiset():
    assert check(calls(ALPHA, BETA), calls(BETA, ALPHA)) == (1.0, "batch_match")
    assert check(calls(ALPHA, ALPHA), calls(ALPHA, BETA))[0] == 0.0


def test_rewarding_off_ignores_surplus_calls():
    assert check(calls(ALPHA), calls(("junk", {}), ALPHA)) == (1.0, "tool_call_match")
    assert check(calls(ALPHA, BETA), calls(BETA, ALPHA, ("junk", {}))) == (1.0, "batch_match")
    assert check(calls(ALPHA, BETA), calls(ALPHA, ("junk", {})))[0] == 0.0
    assert check(calls(ALPHA), calls(("junk", {}), ("other", {}))) == (0.0, "wrong_tool")


def test_rewarding_on_counts_calls():
    on = {"parallel_rewarding": True}
    assert check(calls(ALPHA), calls(ALPHA, ("junk", {})), **on) == (0.0, "batch_length_different")
    assert check(calls(ALPHA, BETA), calls(ALPHA), **on) == (0.0, "batch_length_different")


@pytest.mark.parametrize(
    ("mode", "gate", "action", "score"),
    [  # NVIDIA's measured table (parallel_tool_calls config), expecting {alpha, beta}
        ("binary_strict", {}, calls(BETA, ALPHA), 1.0),
        ("fractional", {}, calls(ALPHA, ("alpha", {"q": "x"})), 0.5),
        ("f1", {}, calls(ALPHA, ("alpha", {"q": "x"})), 0.5),
        ("binary_strict", {"allow_subset": True}, calls(ALPHA), 1.0),
        ("f1", {"allow_subset": True}, calls(ALPHA), 2 / 3),
        (
            "binary_strict",
            {"allow_superset": True},
            calls(ALPHA, BETA, ("j1", {}), ("j2", {}), ("j3", {})),
            1.0,
        ),
        ("f1", {"allow_superset": True}, calls(ALPHA, BETA, ("j1", {}), ("j2", {}), ("j3", {})), 4 / 7),
    ],
)
def test_parallel_reward_modes(mode, gate, action, score):
    got, _ = check(calls(ALPHA, BETA), action, parallel_rewarding=True, parallel_mode=mode, **gate)
    assert got == pytest.approx(score)


def test_partial_score_is_not_a_pass():
    v = ToolCallVerifier(parallel_rewarding=True, parallel_mode="f1").verify(
        cand(calls(ALPHA, BETA)), calls(ALPHA, ("alpha", {"q": "x"}))
    )
    assert v.score == pytest.approx(0.5) and not v.passed


def test_matching_needs_augmenting_paths():
    # "aa bb cc dd" (expected #0) matches both actual calls, "aa bb" (expected #1) only the first;
    # greedy pairing of #0 with actual 0 would strand #1.
    exp = calls(("s", {"q": "aa bb cc dd"}), ("s", {"q": "aa bb"}))
    act = calls(("s", {"q": "aa bb"}), ("s", {"q": "aa bb cc dd ee"}))
    assert check(exp, act, threshold=0.3) == (1.0, "batch_match")
    assert maximum_matching([[0, 1], [0]]) == {0: 1, 1: 0}
    assert maximum_matching([[0], [0]]) == {0: 0}
    assert maximum_matching([[], []]) == {}


# -- robustness and configuration ---------------------------------------------------------------------
def test_unparseable_demonstration_is_errored_not_zero():
    broken = Message("assistant", tool_calls=(ToolCall("f", None, raw_arguments="{oops"),))
    v = run_verifier(ToolCallVerifier(), cand(broken), call("f", a=1))
    assert v.errored and "not valid JSON" in v.error and v.reward is None
    # a different tool name is decided before the demonstration's arguments are needed
    assert run_verifier(ToolCallVerifier(), cand(broken), call("g")).details["category"] == "wrong_tool"


def test_nemo_gym_option_names_are_aliases():
    v = ToolCallVerifier(
        word_count_similarity_threshold=0.3,
        parallel_tool_call_rewarding=True,
        parallel_tool_call_reward_mode="f1",
        floating_point_comparison_threshold=0.5,
    )
    assert (v.threshold, v.parallel_rewarding, v.parallel_mode, v.float_tolerance) == (0.3, True, "f1", 0.5)


@pytest.mark.parametrize(
    ("options", "text"),
    [
        ({"treshold": 0.1}, "no option 'treshold'"),
        ({"threshold": 1.5}, "must be in [0, 1]"),
        ({"message_policy": "some"}, "use one of any, overlap, fuzzy"),
        ({"parallel_mode": "max"}, "use one of binary_strict"),
    ],
)
def test_bad_options_are_config_errors(options, text):
    with pytest.raises(ConfigError, match=text.replace("[", r"\[").replace("]", r"\]")):
        ToolCallVerifier(**options)


def test_compiled_cache_never_confuses_two_demonstrations():
    v = ToolCallVerifier()
    for i in range(300):  # fresh objects, ids get reused after collection
        expected = call("f", n=i)
        assert v.verify(cand(expected), call("f", n=i)).passed
        assert not v.verify(cand(expected), call("f", n=i + 1)).passed
        del expected
        gc.collect() if i % 100 == 0 else None
    assert len(v._cache) <= v._CACHE_SIZE


def test_registered_with_metadata(pivotrl_pm):
    from pivotrl_core.plugins import get_registry

    v = get_registry().verifier("tool_call", threshold=0.3)
    assert isinstance(v, ToolCallVerifier) and v.threshold == 0.3
    assert (v.deterministic, v.thread_safe, v.cost) == (True, True, "cheap")
