"""Trajectory formats: NeMo Gym rows round-trip exactly, OpenAI chat, ShareGPT, auto-detection."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pivotrl_core import hookimpl
from pivotrl_core.errors import InputError
from pivotrl_core.formats import ReadStats, detect_format, read_trajectories
from pivotrl_core.formats.nemo_gym import NemoGymFormat, candidate_to_row, parse_row, row_to_candidate
from pivotrl_core.formats.openai_chat import OpenAIChatFormat
from pivotrl_core.formats.sharegpt import ShareGPTFormat
from pivotrl_core.jsonl import dumps
from pivotrl_core.types import Candidate, Message, ToolCall, Trajectory

NEMO_FILES = [
    "single_step_tool_use_with_argument_comparison/example.jsonl",
    "single_step_tool_use_with_argument_comparison/parallel_example.jsonl",
    "swe_pivot/example.jsonl",
    "terminus_judge/example.jsonl",
]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# -- NeMo Gym ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NEMO_FILES)
def test_every_nemo_gym_row_round_trips_through_a_candidate(nemo_gym_dir, name):
    rows = _rows(nemo_gym_dir / name)
    assert rows
    for i, row in enumerate(rows):
        cand = row_to_candidate(row, i, "generic")
        stored = Candidate.from_dict(json.loads(dumps(cand.to_dict())))  # through candidates.jsonl
        assert stored == cand
        assert candidate_to_row(stored) == row, f"{name} row {i}"


def test_nemo_gym_rows_map_to_the_documented_candidate(nemo_gym_dir):
    tool_use = _rows(nemo_gym_dir / NEMO_FILES[0])
    c = row_to_candidate(tool_use[2], 2)
    assert c.id == "row-2:10" and c.turn_index == len(c.messages) == 10
    assert [m.role for m in c.messages] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    first_call = c.messages[2]
    assert first_call.reasoning and first_call.reasoning.lstrip().startswith("Okay")
    assert first_call.tool_calls[0].name == "authenticate_user"
    assert first_call.tool_calls[0].arguments == {"user_id": "S567", "event_confirmation_code": "U456"}
    assert c.messages[3].tool_call_id == first_call.tool_calls[0].id == "fc_7b52c099e0ac4a5b963c758afda023d6"
    assert c.messages[8].content.startswith("\n\nThe non-adjacent seating")  # output_text parts joined
    assert c.expected.tool_calls[0].name == "transfer_to_human_agents"
    assert c.tools[0]["type"] == "function" and c.tools[0]["function"]["name"] == "authenticate_user"

    batch = row_to_candidate(_rows(nemo_gym_dir / NEMO_FILES[1])[0])
    assert [tc.arguments["city"] for tc in batch.expected.tool_calls] == ["Paris", "Tokyo", "Cairo"]
    swe = row_to_candidate(_rows(nemo_gym_dir / NEMO_FILES[2])[0])
    assert swe.id == "example_1:2" and swe.tools == ()
    terminus = row_to_candidate(_rows(nemo_gym_dir / NEMO_FILES[3])[0])
    assert json.loads(terminus.expected.content)["commands"]  # expected_answer -> message content
    assert not terminus.expected.tool_calls


def test_changed_nemo_candidate_writes_the_change_and_keeps_the_rest(nemo_gym_dir):
    row = _rows(nemo_gym_dir / NEMO_FILES[0])[1]
    c = row_to_candidate(row, 1)
    new_expected = Message(
        role="assistant", tool_calls=(ToolCall(name="get_event_details", arguments={"event_id": "E1"}),)
    )
    no_reasoning = tuple(
        Message(role=m.role, content=m.content, tool_calls=m.tool_calls, tool_call_id=m.tool_call_id)
        for m in c.messages
    )
    out = candidate_to_row(Candidate(**{**c.__dict__, "expected": new_expected, "messages": no_reasoning}))
    assert out["expected_action"] == {
        "type": "function_call",
        "name": "get_event_details",
        "arguments": '{"event_id": "E1"}',
    }
    items = out["responses_create_params"]["input"]
    assert [i["type"] for i in items] == ["message", "message", "function_call", "function_call_output"]
    assert items[2] == next(
        i for i in row["responses_create_params"]["input"] if i["type"] == "function_call"
    )
    assert out["responses_create_params"]["tools"] == row["responses_create_params"]["tools"]
    assert (
        out["responses_create_params"]["temperature"] is None
        and "temperature" in out["responses_create_params"]
    )


def _openai_candidate() -> Candidate:
    traj = next(OpenAIChatFormat().parse(OPENAI_ROW, 0))
    return Candidate(
        id="t1:4",
        domain="generic",
        trajectory_id="t1",
        turn_index=4,
        messages=traj.messages[:4],
        expected=traj.messages[4],
        tools=traj.tools,
        metadata={"task": 7},
    )


def test_fresh_nemo_row_from_an_openai_candidate_is_valid_and_reads_back():
    c = _openai_candidate()
    row = candidate_to_row(c)
    items = row["responses_create_params"]["input"]
    assert [i["type"] for i in items] == [
        "message",
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
    ]
    call, output = items[3], items[4]
    assert call["call_id"] == output["call_id"] == "c1"
    assert isinstance(call["arguments"], str) and json.loads(call["arguments"]) == {
        "city": "Paris",
        "days": 2,
    }
    assert row["responses_create_params"]["tools"][0] == {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object"},
    }
    assert row["expected_action"] == {
        "type": "function_call_batch",
        "calls": [
            {
                "type": "function_call",
                "call_id": "c2",
                "name": "get_weather",
                "arguments": '{"city": "Rome"}',
            },
            {"type": "function_call", "call_id": "c3", "name": "get_time", "arguments": '{"tz": "CET"}'},
        ],
    }
    assert row["metadata"]["pivotrl"]["candidate_id"] == "t1:4" and row["metadata"]["task"] == 7
    back = row_to_candidate(json.loads(json.dumps(row)))
    assert back.id == "t1:4" and back.messages == c.messages and back.expected == c.expected
    assert back.tools == c.tools


def test_fresh_rows_for_message_and_single_call_actions():
    c = _openai_candidate()
    msg = candidate_to_row(
        Candidate(**{**c.__dict__, "expected": Message(role="assistant", content="Done.")})
    )
    assert msg["expected_action"] == {"type": "message", "content": "Done."}
    one = Message(role="assistant", tool_calls=(ToolCall(name="f", arguments={}),))
    assert candidate_to_row(Candidate(**{**c.__dict__, "expected": one}))["expected_action"] == {
        "type": "function_call",
        "name": "f",
        "arguments": "{}",
    }


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda r: r.pop("expected_action"), "expected_action"),
        (lambda r: r["expected_action"].update(type="teleport"), "expected_action.type"),
        (lambda r: r["expected_action"].pop("name"), "expected_action.name"),
        (lambda r: r["expected_action"].update(arguments="{oops"), "expected_action.arguments"),
        (lambda r: r["expected_action"].update(arguments=[1]), "expected_action.arguments"),
        (lambda r: r.pop("responses_create_params"), "responses_create_params"),
        (
            lambda r: r["responses_create_params"]["input"][1].update(role="robot"),
            "responses_create_params.input[1].role",
        ),
        (
            lambda r: r["responses_create_params"]["input"].append({"type": "web_search_call"}),
            "responses_create_params.input[2].type",
        ),
        (lambda r: r["responses_create_params"].update(tools={}), "responses_create_params.tools"),
    ],
)
def test_bad_nemo_rows_name_the_field(nemo_gym_dir, mutate, field):
    row = _rows(nemo_gym_dir / NEMO_FILES[2])[0]
    mutate(row)
    with pytest.raises(InputError) as e:
        parse_row(row, 0)
    assert e.value.field == field


def test_nemo_dump_of_a_plain_trajectory_uses_the_last_assistant_turn():
    traj = next(OpenAIChatFormat().parse(OPENAI_ROW, 0))
    row = NemoGymFormat().dump(traj)
    assert row["expected_action"] == {"type": "message", "content": "Rome: rain. Time: 10:00."}
    assert [i["type"] for i in row["responses_create_params"]["input"]] == [
        "message",
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
    ]
    with pytest.raises(InputError):
        NemoGymFormat().dump(Trajectory(id="x", messages=(Message(role="user", content="hi"),)))


# -- OpenAI chat ------------------------------------------------------------------------------
OPENAI_ROW = {
    "id": "t1",
    "messages": [
        {"role": "system", "content": "You are a weather bot."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Paris, "}, {"type": "text", "text": "2 days?"}],
        },
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "Need the forecast.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris", "days": 2}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "Rome"}},
                },
                {
                    "id": "c3",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": '{"tz": "CET"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "c2", "content": "rain"},
        {"role": "tool", "tool_call_id": "c3", "content": "10:00"},
        {"role": "assistant", "content": "<think>combine both</think>\nRome: rain. Time: 10:00."},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    "metadata": {"source": "unit"},
}


def test_openai_chat_reads_calls_tool_messages_and_reasoning():
    (t,) = OpenAIChatFormat().parse(OPENAI_ROW, 0)
    assert t.id == "t1" and t.metadata == {"source": "unit"}
    assert t.messages[1].content == "Paris, 2 days?"
    call = t.messages[2]
    assert call.reasoning == "Need the forecast." and call.tool_calls == (
        ToolCall(name="get_weather", arguments={"city": "Paris", "days": 2}, id="c1"),
    )
    assert t.messages[3] == Message(role="tool", content="sunny", tool_call_id="c1")
    # arguments as an object and as a JSON string give the same call
    assert [tc.arguments for tc in t.messages[4].tool_calls] == [{"city": "Rome"}, {"tz": "CET"}]
    assert t.messages[7].reasoning == "combine both" and t.messages[7].content == "Rome: rain. Time: 10:00."


def test_openai_chat_legacy_shapes_and_round_trip():
    row = {
        "messages": [
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": "",
                "function_call": {"name": "lookup", "arguments": '{"q": 1}'},
            },
            {"role": "function", "name": "lookup", "content": "42"},
            {
                "role": "assistant",
                "content": "42",
                "tool_calls": [{"id": "x", "name": "flat", "arguments": {"a": 1}}],
            },
        ]
    }
    (t,) = OpenAIChatFormat().parse(row, 5)
    assert t.id == "row-5"
    assert [m.role for m in t.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert t.messages[2].tool_calls[0].name == "lookup" and t.messages[3].name == "lookup"
    assert t.messages[4].tool_calls[0] == ToolCall(name="flat", arguments={"a": 1}, id="x")
    fmt = OpenAIChatFormat()
    (full,) = fmt.parse(OPENAI_ROW, 0)
    assert next(fmt.parse(json.loads(json.dumps(fmt.dump(full))), 0)) == full
    # the core's own Trajectory JSON is readable too
    assert next(fmt.parse(json.loads(json.dumps(full.to_dict())), 0)) == full


@pytest.mark.parametrize(
    "message, field, words",
    [
        ({"role": "robot", "content": "x"}, "messages[1].role", "unknown role 'robot'"),
        ({"content": "x"}, "messages[1].role", "missing"),
        (
            {"role": "assistant", "tool_calls": [{"type": "function", "function": {"arguments": "{}"}}]},
            "messages[1].tool_calls[0].function.name",
            "no name",
        ),
        (
            {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{bad"}}]},
            "messages[1].tool_calls[0].function.arguments",
            "not valid JSON",
        ),
        (
            {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": 3}}]},
            "messages[1].tool_calls[0].function.arguments",
            "JSON string or an object",
        ),
        (
            {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "[1]"}}]},
            "messages[1].tool_calls[0].function.arguments",
            "JSON object",
        ),
        ({"role": "user", "content": 5}, "messages[1].content", "expected"),
    ],
)
def test_openai_chat_errors_name_the_field(message, field, words):
    row = {"messages": [{"role": "user", "content": "hi"}, message]}
    with pytest.raises(InputError) as e:
        list(OpenAIChatFormat().parse(row, 0))
    assert e.value.field == field and words in e.value.message


# -- ShareGPT ---------------------------------------------------------------------------------
SHAREGPT_ROW = {
    "conversations": [
        {"from": "human", "value": "Weather in Paris and Rome?"},
        {
            "from": "function_call",
            "value": json.dumps(
                [
                    {"name": "get_weather", "arguments": {"city": "Paris"}},
                    {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                ]
            ),
        },
        {"from": "observation", "value": "sunny"},
        {"from": "observation", "value": "rain"},
        {"from": "gpt", "value": "<think>two answers</think>Paris sunny, Rome rain."},
        {"from": "human", "value": "thanks"},
        {"from": "function_call", "value": '{"name": "log", "arguments": {}}'},
        {"from": "observation", "value": "ok"},
    ],
    "system": "Be helpful.",
    "tools": json.dumps([{"name": "get_weather", "description": "w", "parameters": {"type": "object"}}]),
}


def test_sharegpt_function_call_and_observation_roles():
    (t,) = ShareGPTFormat().parse(SHAREGPT_ROW, 3)
    assert t.id == "row-3"
    assert [m.role for m in t.messages] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
        "user",
        "assistant",
        "tool",
    ]
    calls = t.messages[2].tool_calls
    assert [(tc.name, tc.arguments, tc.id) for tc in calls] == [
        ("get_weather", {"city": "Paris"}, "call_2_0"),
        ("get_weather", {"city": "Rome"}, "call_2_1"),
    ]
    assert [t.messages[3].tool_call_id, t.messages[4].tool_call_id] == ["call_2_0", "call_2_1"]
    assert t.messages[5].reasoning == "two answers" and t.messages[5].content == "Paris sunny, Rome rain."
    assert t.messages[8].tool_call_id == "call_7_0"
    assert t.tools == (
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "w", "parameters": {"type": "object"}},
        },
    )
    fmt = ShareGPTFormat()
    assert next(fmt.parse(json.loads(json.dumps(fmt.dump(t))), 3)) == t


@pytest.mark.parametrize(
    "turn, field, words",
    [
        ({"from": "wizard", "value": "x"}, "conversations[1].from", "unknown role 'wizard'"),
        ({"value": "x"}, "conversations[1].from", "missing"),
        ({"from": "function_call", "value": "{nope"}, "conversations[1].value", "not valid JSON"),
        ({"from": "function_call", "value": '{"arguments": {}}'}, "conversations[1].value.name", "no name"),
        (
            {"from": "function_call", "value": '{"name": "f", "arguments": 7}'},
            "conversations[1].value.arguments",
            "JSON string or an object",
        ),
        ({"from": "gpt", "value": 3}, "conversations[1].value", "expected a string"),
    ],
)
def test_sharegpt_errors_name_the_field(turn, field, words):
    row = {"conversations": [{"from": "human", "value": "hi"}, turn]}
    with pytest.raises(InputError) as e:
        list(ShareGPTFormat().parse(row, 0))
    assert e.value.field == field and words in e.value.message


# -- detection and streaming -------------------------------------------------------------------
def test_auto_detection_per_file(tmp_path, nemo_gym_dir, pivotrl_pm):
    a = _write(tmp_path / "a.jsonl", [OPENAI_ROW])
    b = _write(tmp_path / "b.jsonl", [SHAREGPT_ROW, SHAREGPT_ROW])
    c = nemo_gym_dir / NEMO_FILES[2]
    stats = ReadStats()
    trajs = list(read_trajectories([a, b, c], stats=stats))
    assert stats.formats == {str(a): "openai", str(b): "sharegpt", str(c): "nemo-gym"}
    assert (stats.rows_read, stats.trajectories_read) == (8, 8)
    assert [t.id for t in trajs[:3]] == ["t1", "row-1", "row-2"]  # row index counts across files
    assert stats.bytes_read == sum(p.stat().st_size for p in (a, b, c))
    assert detect_format(OPENAI_ROW).name == "openai"


def test_undetectable_and_ambiguous_rows(tmp_path, pivotrl_pm):
    p = _write(tmp_path / "x.jsonl", [{"turns": []}])
    with pytest.raises(InputError) as e:
        list(read_trajectories(p, skip_invalid=True))
    assert e.value.line == 1 and "pass --format" in str(e.value) and "openai" in str(e.value)
    with pytest.raises(InputError, match="several formats"):
        detect_format({"messages": [], "conversations": []})


class TurnsFormat:
    """A third-party format, detected through the registry like the built-ins."""

    name = "turns"
    description = "test format"
    priority = 0

    def sniff(self, row):
        return "turns" in row

    def parse(self, row, index):
        yield Trajectory(
            id=f"turns-{index}", messages=tuple(Message(role=r, content=c) for r, c in row["turns"])
        )

    def dump(self, trajectory):
        raise NotImplementedError


class TurnsPlugin:
    @hookimpl
    def pivotrl_register_formats(self, register):
        register(TurnsFormat())


def test_third_party_format_is_detected(tmp_path, register_plugin):
    registry = register_plugin(TurnsPlugin(), name="turns-plugin")
    p = _write(tmp_path / "x.jsonl", [{"turns": [["user", "hi"], ["assistant", "yo"]]}])
    (t,) = read_trajectories(p, registry.formats())
    assert t.id == "turns-0" and t.messages[1] == Message(role="assistant", content="yo")
    with pytest.raises(InputError, match="cannot detect"):  # not among the built-in formats
        list(read_trajectories(p))
    bad = _write(tmp_path / "y.jsonl", [{"turns": [["user"]]}])
    with pytest.raises(InputError) as e:
        list(read_trajectories(bad, registry.formats(), format="turns"))
    assert e.value.line == 1 and "format 'turns' could not read this row: ValueError" in str(e.value)


def test_reading_streams_row_by_row_and_reads_gzip(tmp_path, pivotrl_pm):
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps(OPENAI_ROW) + "\n" + "{broken\n")
    rows = read_trajectories(p)
    assert next(rows).id == "t1"  # the bad second line is not read yet
    with pytest.raises(InputError) as e:
        next(rows)
    assert (e.value.path, e.value.line) == (str(p), 2)
    gz = tmp_path / "t.jsonl.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(json.dumps(SHAREGPT_ROW) + "\n")
    seen: list[int] = []
    (t,) = read_trajectories(gz, progress=seen.append)
    assert t.messages[0].content == "Be helpful." and sum(seen) == gz.stat().st_size


def test_skip_invalid_counts_and_keeps_the_first_errors(tmp_path, pivotrl_pm):
    rows = [OPENAI_ROW, {"messages": [{"role": "robot"}]}, OPENAI_ROW]
    p = _write(tmp_path / "t.jsonl", rows)
    with open(p, "a") as fh:
        fh.write("not json\n")
    stats = ReadStats()
    got = list(read_trajectories(p, format="openai", skip_invalid=True, stats=stats))
    assert len(got) == 2 and stats.skipped["invalid_row"] == 2 and stats.rows_read == 4
    assert stats.errors[0].startswith(f"{p}:2: field 'messages[0].role'")
    assert stats.errors[1].startswith(f"{p}:4: invalid JSON")
