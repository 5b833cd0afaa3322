"""``cascade``, ``all``, ``any``, ``weighted``: built by name, decisive steps, errors never become 0."""

from __future__ import annotations

import threading

import pytest
from verifier_helpers import call, cand, say

from pivotrl_core.errors import ConfigError, UnknownNameError
from pivotrl_core.hookspecs import hookimpl
from pivotrl_core.plugins import get_registry
from pivotrl_core.types import Verdict
from pivotrl_core.verifiers.base import FunctionVerifier, run_verifier, verify_many
from pivotrl_core.verifiers.combinators import CascadeVerifier

TOOLS = ({"name": "run", "parameters": {"type": "object", "required": ["cmd"]}},)


class Judge(FunctionVerifier):
    """A stand-in for an expensive final step that counts its calls (and batch sizes)."""

    def __init__(self, answer=True, error=None, cost="expensive"):
        self.calls = 0
        self.batches: list[int] = []
        self.lock = threading.Lock()

        def fn(candidate, action):
            with self.lock:
                self.calls += 1
            if error:
                raise TimeoutError(error)
            return answer

        super().__init__(fn, name="judge", cost=cost, deterministic=False)

    def verify_batch(self, pairs):
        self.batches.append(len(pairs))
        return verify_many(self, pairs)


def cascade(judge, **fuzzy):
    return get_registry().verifier(
        "cascade", steps=[{"name": "json_schema"}, {"name": "fuzzy", "threshold": 0.95, **fuzzy}, judge]
    )


def test_cascade_stops_at_the_first_decisive_step(pivotrl_pm):
    judge = Judge(answer=True)
    v = cascade(judge)
    c = cand(call("run", cmd="ls -la"), tools=TOOLS)
    gate = v.verify(c, call("run", command="ls"))  # schema gate fails: final
    assert not gate.passed and gate.details["decided_by"] == "0:json_schema" and judge.calls == 0
    shortcut = v.verify(c, call("run", cmd="ls -la"))  # similarity 1.0 >= 0.95: final pass
    assert shortcut.passed and shortcut.details["decided_by"] == "1:fuzzy" and judge.calls == 0
    judged = v.verify(
        c, call("run", cmd="find . -maxdepth 1")
    )  # schema ok, not similar enough: the judge decides
    assert judged.passed and judged.details["decided_by"] == "2:judge" and judge.calls == 1
    assert [s["step"] for s in judged.details["steps"]] == ["0:json_schema", "1:fuzzy", "2:judge"]
    assert not cascade(Judge(answer=False)).verify(c, call("run", cmd="find . -maxdepth 1")).passed


def test_cascade_errored_step_is_an_errored_verdict(pivotrl_pm):
    v = cascade(Judge(error="judge timed out"))
    verdict = run_verifier(v, cand(call("run", cmd="ls -la"), tools=TOOLS), call("run", cmd="pwd"))
    assert verdict.errored and "judge timed out" in verdict.error and verdict.reward is None


def test_cascade_stop_on_override(pivotrl_pm):
    judge = Judge(answer=True)
    v = get_registry().verifier(
        "cascade", steps=[{"name": "fuzzy", "threshold": 0.95, "stop_on": "any"}, judge]
    )
    assert not v.verify(cand(say("yes please")), say("no thanks")).passed and judge.calls == 0
    with pytest.raises(ConfigError, match="stop_on"):
        get_registry().verifier("cascade", steps=[{"name": "fuzzy", "stop_on": "maybe"}, judge])


def test_cascade_batch_sends_only_undecided_pairs_to_the_judge_in_one_batch(pivotrl_pm):
    judge = Judge(answer=False)
    v = cascade(judge)
    c = cand(call("run", cmd="ls -la"), tools=TOOLS)
    actions = [
        call("run", cmd="ls -la"),
        call("run", nope=1),
        call("run", cmd="cat x"),
        call("run", cmd="pwd"),
    ]
    batch = v.verify_batch([(c, a) for a in actions])
    assert judge.batches == [2] and judge.calls == 2
    assert [b.passed for b in batch] == [True, False, False, False]
    single = [cascade(Judge(answer=False)).verify(c, a) for a in actions]
    assert [(b.passed, b.details["decided_by"]) for b in batch] == [
        (s.passed, s.details["decided_by"]) for s in single
    ]


def test_metadata_follows_the_steps(pivotrl_pm):
    v = cascade(Judge())
    assert (v.cost, v.deterministic, v.thread_safe) == ("expensive", False, True)
    cheap = get_registry().verifier("cascade", steps=["exact", "tool_call"])
    assert (cheap.cost, cheap.deterministic) == ("cheap", True)


def test_a_combinator_built_by_hand_takes_instances_but_cannot_look_up_names():
    judge = Judge(answer=True)
    v = CascadeVerifier(steps=[judge])  # no registry needed for instances
    assert v.verify(cand(say("a")), say("b")).passed and judge.calls == 1
    with pytest.raises(ConfigError, match="built without a registry.*'fuzzy'"):
        CascadeVerifier(steps=["fuzzy", judge])


def fixed(score, passed=None, error=None, name="s"):
    def fn(candidate, action):
        if error:
            raise RuntimeError(error)
        return Verdict(score=score, passed=score >= 0.5 if passed is None else passed)

    return FunctionVerifier(fn, name=name)


def test_all_and_any(pivotrl_pm):
    c, a = cand(say("x")), say("y")
    All = lambda *s: get_registry().verifier_from_spec({"name": "all", "steps": list(s)})  # noqa: E731
    Any = lambda *s: get_registry().verifier_from_spec({"name": "any", "steps": list(s)})  # noqa: E731
    assert All(fixed(1.0), fixed(0.8)).verify(c, a).score == 0.8
    assert not All(fixed(1.0), fixed(0.0)).verify(c, a).passed
    assert not All(fixed(0.0), fixed(0, error="boom")).verify(c, a).errored  # a definite fail wins
    assert All(fixed(1.0), fixed(0, error="boom")).verify(c, a).errored
    assert Any(fixed(0.0), fixed(0.7)).verify(c, a).score == 0.7
    assert Any(fixed(0, error="boom"), fixed(1.0)).verify(c, a).passed  # a definite pass wins
    assert Any(fixed(0.0), fixed(0, error="boom")).verify(c, a).errored
    assert not Any(fixed(0.0), fixed(0.2)).verify(c, a).passed


def test_weighted(pivotrl_pm):
    c, a = cand(say("x")), say("y")
    steps = [{"name": "exact", "weight": 3.0}, fixed(1.0)]
    v = get_registry().verifier_from_spec({"name": "weighted", "steps": steps, "threshold": 0.25})
    got = v.verify(c, a)  # exact fails (0) with weight 3, the other passes (1) with weight 1
    assert got.score == pytest.approx(0.25) and got.passed
    assert (
        not get_registry()
        .verifier_from_spec({"name": "weighted", "steps": steps, "threshold": 0.3})
        .verify(c, a)
        .passed
    )
    err = [fixed(1.0), fixed(0, error="boom")]
    assert get_registry().verifier_from_spec({"name": "weighted", "steps": err}).verify(c, a).errored
    assert (
        get_registry()
        .verifier_from_spec({"name": "weighted", "steps": err, "on_error": "skip"})
        .verify(c, a)
        .score
        == 1.0
    )


def test_nested_and_plugin_verifiers_by_name(register_plugin):
    class Plugin:
        @hookimpl
        def pivotrl_register_verifiers(self, register):
            register(lambda c, a: "secret" in (a.content or ""), name="mentions_secret")

    reg = register_plugin(Plugin(), name="test-secret")
    v = reg.verifier("any", steps=[{"name": "cascade", "steps": ["exact"]}, "mentions_secret"])
    assert v.verify(cand(say("a")), say("the secret")).passed
    assert v.verify(cand(say("a")), say("a")).passed
    assert not v.verify(cand(say("a")), say("b")).passed


@pytest.mark.parametrize(
    ("spec", "error", "text"),
    [
        ({"name": "cascade"}, ConfigError, "needs 'steps'"),
        ({"name": "cascade", "steps": [{"threshold": 0.9}]}, ConfigError, "needs a 'name'"),
        ({"name": "all", "steps": ["fuzy"]}, UnknownNameError, "did you mean 'fuzzy'"),
        ({"name": "weighted", "steps": [{"name": "exact", "weight": -1}]}, ConfigError, "weight must be"),
        (
            {"name": "cascade", "steps": [{"name": "fuzzy", "treshold": 0.9}]},
            ConfigError,
            "no option 'treshold'",
        ),
    ],
)
def test_configuration_errors(pivotrl_pm, spec, error, text):
    with pytest.raises(error, match=text):
        get_registry().verifier_from_spec(spec)


def test_built_from_toml(pivotrl_pm):
    import tomllib

    config = tomllib.loads(
        """
        [verifier]
        name = "cascade"
        [[verifier.steps]]
        name = "json_schema"
        [[verifier.steps]]
        name = "fuzzy"
        threshold = 0.95
        [[verifier.steps]]
        name = "tool_call"
        threshold = 0.3
        """
    )
    v = get_registry().verifier_from_spec(config["verifier"])
    assert [(s.label, s.stop_on) for s in v.steps] == [
        ("0:json_schema", "fail"),
        ("1:fuzzy", "pass"),
        ("2:tool_call", "any"),
    ]
    assert v.steps[2].verifier.threshold == 0.3
