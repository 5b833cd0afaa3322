"""``exact`` and ``fuzzy``: what is compared, normalisation, thresholds, reported scores."""

from __future__ import annotations

import pytest
from verifier_helpers import call, cand, say

from pivotrl_core.errors import ConfigError
from pivotrl_core.types import Message, ToolCall
from pivotrl_core.verifiers._text import action_text, normalize, parse_steps
from pivotrl_core.verifiers.exact import ExactVerifier
from pivotrl_core.verifiers.fuzzy import FuzzyVerifier


def test_action_text_views():
    m = Message("assistant", content=" Checking. ", tool_calls=(ToolCall("f", {"b": 1, "a": "x"}),))
    assert action_text(m) == 'f({"a":"x","b":1})'  # calls win, keys sorted
    assert action_text(m, "content") == " Checking. "
    assert action_text(m, "full") == 'Checking.\nf({"a":"x","b":1})'
    assert action_text(say("hi"), "calls") == ""
    raw = Message("assistant", tool_calls=(ToolCall("f", None, raw_arguments="{oops"),))
    assert action_text(raw) == "f({oops)"


def test_normalisation_steps():
    text = '<think>hmm</think>  Say  "Hi"\n THERE! '
    assert normalize(text, parse_steps("think,whitespace,case,quotes")) == "say 'hi' there!"
    assert normalize(text, parse_steps(["think", "punctuation", "whitespace"])) == "Say Hi THERE"
    assert normalize('{"b": 1, "a": 2}', parse_steps("json")) == '{"a":2,"b":1}'
    assert parse_steps("none") == ()
    with pytest.raises(ConfigError, match="unknown normalize step"):
        parse_steps("strip,lowercase")


def test_exact_is_strict_but_normalised():
    v = ExactVerifier()
    assert v.verify(cand(say("Hello  there")), say(" Hello there ")).passed
    assert not v.verify(cand(say("Hello there")), say("hello there")).passed
    assert (
        ExactVerifier(normalize="whitespace,case").verify(cand(say("Hello there")), say("hello there")).passed
    )
    assert not ExactVerifier(normalize="none").verify(cand(say("Hello")), say("Hello ")).passed
    # argument order never matters, values do
    assert v.verify(
        cand(call("f", a=1, b=2)), Message("assistant", tool_calls=(ToolCall("f", {"b": 2, "a": 1}),))
    ).passed
    assert not v.verify(cand(call("f", a=1)), call("f", a=2)).passed
    # narration is ignored for the default field, not for "full"
    narrated = Message("assistant", content="ok", tool_calls=(ToolCall("f", {"a": 1}),))
    assert v.verify(cand(call("f", a=1)), narrated).passed
    assert not ExactVerifier(field="full").verify(cand(call("f", a=1)), narrated).passed


def test_exact_fails_empty_actions():
    assert ExactVerifier().verify(cand(say("")), say("  ")).reason == "empty action"


def test_fuzzy_reports_the_score_it_saw():
    v = FuzzyVerifier(threshold=0.8)
    good = v.verify(cand(say("ls -la /tmp")), say("ls -la /tmp/"))
    assert good.passed and good.score == 1.0 and 0.9 < good.details["similarity"] < 1.0
    bad = v.verify(cand(say("ls -la /tmp")), say("rm -rf /"))
    assert not bad.passed and bad.score == 0.0 and bad.details["similarity"] < 0.5
    graded = FuzzyVerifier(threshold=0.8, graded=True).verify(cand(say("ls -la /tmp")), say("ls -la /tmp/"))
    assert graded.score == pytest.approx(graded.details["similarity"], abs=1e-6)


def test_fuzzy_normalises_case_whitespace_and_quotes_by_default():
    v = FuzzyVerifier(threshold=1.0)
    assert v.verify(cand(say('echo "Hello   World"')), say("ECHO 'hello world'")).passed
    assert (
        not FuzzyVerifier(threshold=1.0, normalize="strip")
        .verify(cand(say('echo "Hello World"')), say("echo 'Hello World'"))
        .passed
    )


@pytest.mark.parametrize(
    ("scorer", "a", "b", "passes"),
    [
        ("token_set_ratio", "find the red car", "car red the find please", True),
        ("token_sort_ratio", "find the red car", "car red the find", True),
        ("ratio", "find the red car", "car red the find", False),
        ("partial_ratio", "grep -r TODO", "cd src && grep -r TODO", True),
        ("difflib", "cat file.txt", "cat file.txt", True),
        ("difflib", "cat file.txt", "vim notes.md", False),
    ],
)
def test_fuzzy_scorers(scorer, a, b, passes):
    assert FuzzyVerifier(scorer=scorer, threshold=0.9).verify(cand(say(a)), say(b)).passed is passes


def test_fuzzy_difflib_matches_sequence_matcher():
    import difflib

    a, b = "cd /app && make test", "cd /app; make tests"
    sim = FuzzyVerifier(scorer="difflib", normalize="none").similarity(say(a), say(b))
    assert sim == pytest.approx(difflib.SequenceMatcher(None, a, b).ratio())


@pytest.mark.parametrize(
    ("cls", "options", "text"),
    [
        (FuzzyVerifier, {"scorer": "levenshtein"}, "use one of ratio"),
        (FuzzyVerifier, {"threshold": 90}, r"must be in \[0, 1\]"),
        (FuzzyVerifier, {"field": "args"}, "unknown field 'args'"),
        (ExactVerifier, {"case": True}, "has no option 'case'"),
    ],
)
def test_bad_options(cls, options, text):
    with pytest.raises(ConfigError, match=text):
        cls(**options)
