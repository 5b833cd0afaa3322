"""The core types: JSON round trips, located validation errors, errored verdicts, profile maths."""

from __future__ import annotations

import json
import math

import pytest

from pivotrl_core.errors import InputError
from pivotrl_core.types import Candidate, Message, Profile, ToolCall, Trajectory, Verdict


def _call(name: str = "get_weather", **args: object) -> ToolCall:
    return ToolCall(name=name, arguments=dict(args), id="c1")


def _candidate() -> Candidate:
    prefix = (
        Message(role="system", content="be brief"),
        Message(role="user", content="weather in Paris?"),
        Message(role="assistant", tool_calls=(_call(city="Paris"),), reasoning="need the tool"),
        Message(role="tool", content="sunny", tool_call_id="c1", name="get_weather"),
    )
    return Candidate(
        id="t1:4",
        domain="generic",
        trajectory_id="t1",
        turn_index=4,
        messages=prefix,
        expected=Message(role="assistant", content="It is sunny."),
        tools=({"type": "function", "function": {"name": "get_weather"}},),
        metadata={"seed": 3},
    )


def test_tool_call_arguments_string_and_object_agree():
    assert ToolCall.from_raw("f", '{"a": 1, "b": [1, 2]}') == ToolCall.from_raw("f", {"a": 1, "b": [1, 2]})
    assert ToolCall.from_raw("f", "").arguments == {}
    assert ToolCall.from_raw("f", None).arguments == {}


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"'])
def test_tool_call_unparseable_arguments_are_kept_raw(raw):
    tc = ToolCall.from_raw("f", raw)
    assert tc.arguments is None and tc.raw_arguments == raw
    assert tc.arguments_json == raw
    back = ToolCall.from_dict(json.loads(json.dumps(tc.to_dict())))
    assert back == tc


def test_tool_call_bad_arguments_type_and_empty_name_name_the_field():
    with pytest.raises(InputError) as e:
        ToolCall.from_dict({"name": "f", "arguments": 5}, "tool_calls[0].")
    assert e.value.field == "tool_calls[0].arguments"
    with pytest.raises(InputError) as e:
        ToolCall.from_dict({"name": "  "}, "tool_calls[1].")
    assert e.value.field == "tool_calls[1].name"


def test_candidate_json_round_trip_is_exact():
    c = _candidate()
    text = json.dumps(c.to_dict())
    assert Candidate.from_dict(json.loads(text)) == c
    d = c.to_dict()
    assert list(d) == [
        "id",
        "domain",
        "trajectory_id",
        "turn_index",
        "messages",
        "tools",
        "expected",
        "metadata",
    ]
    assert d["messages"][2]["tool_calls"] == [
        {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "c1"}
    ]
    assert d["messages"][2]["reasoning"] == "need the tool"


def test_trajectory_round_trip_and_integer_id():
    t = Trajectory(id="7", messages=_candidate().messages, tools=(), metadata={"k": [1]})
    assert Trajectory.from_dict(t.to_dict()) == t
    assert Trajectory.from_dict({"id": 7, "messages": []}).id == "7"


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.pop("expected"), "expected"),
        (lambda d: d["messages"][1].update(role="robot"), "messages[1].role"),
        (lambda d: d["messages"][0].update(content=5), "messages[0].content"),
        (lambda d: d["messages"][2]["tool_calls"][0].pop("name"), "messages[2].tool_calls[0].name"),
        (lambda d: d["expected"].update(tool_calls="x"), "expected.tool_calls"),
        (lambda d: d.update(turn_index="4"), "turn_index"),
        (lambda d: d.update(metadata=[]), "metadata"),
    ],
)
def test_candidate_from_dict_names_the_bad_field(mutate, field):
    d = json.loads(json.dumps(_candidate().to_dict()))
    mutate(d)
    with pytest.raises(InputError) as e:
        Candidate.from_dict(d)
    assert e.value.field == field
    assert f"field '{field}'" in str(e.value)


def test_message_is_empty():
    assert Message(role="assistant", content="  ").is_empty
    assert Message(role="assistant", content=None, reasoning="thinking only").is_empty
    assert not Message(role="assistant", content="ok").is_empty
    assert not Message(role="assistant", tool_calls=(_call(),)).is_empty


def test_verdict_errored_is_not_a_failure():
    err = Verdict.from_error("judge timed out", attempt=2)
    assert err.errored and err.reward is None and not err.passed
    d = err.to_dict()
    assert d["score"] is None and d["passed"] is None and d["error"] == "judge timed out"
    back = Verdict.from_dict(d)
    assert back.errored and back.details == {"attempt": 2}
    ok = Verdict.ok("same", score=1.0, how="exact")
    assert Verdict.from_dict(ok.to_dict()) == ok and ok.reward == 1.0
    assert Verdict.fail("no").reward == 0.0


def test_profile_statistics_exclude_errors_and_use_population_variance():
    p = Profile(
        candidate_id="t:1",
        domain="generic",
        trajectory_id="t",
        policy="pi0",
        k=5,
        scores=(1.0, 0.0, None, 1.0, 0.0),
    )
    assert p.n_errors == 1 and p.n_scored == 4
    assert p.mean == pytest.approx(0.5)
    assert p.std == pytest.approx(0.5)  # population std of [1, 0, 1, 0]
    d = p.to_dict()
    assert d["mean"] == pytest.approx(0.5) and d["n_errors"] == 1 and d["scores"][2] is None
    assert Profile.from_dict(json.loads(json.dumps(d))) == p
    one = Profile(candidate_id="x", domain="", trajectory_id="", policy="", k=3, scores=(1.0, 0.0, 0.0))
    assert one.std == pytest.approx(math.sqrt(2 / 9))


def test_profile_all_errored_has_no_mean_and_bad_score_is_located():
    p = Profile(candidate_id="x", domain="", trajectory_id="", policy="", k=2, scores=(None, None))
    assert p.mean is None and p.std is None and p.n_errors == 2
    with pytest.raises(InputError) as e:
        Profile.from_dict({"candidate_id": "x", "k": 2, "scores": [1, "bad"]})
    assert e.value.field == "scores[1]"
