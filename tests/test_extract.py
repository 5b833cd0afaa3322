"""Turn extraction and the ``pivotrl extract`` / ``pivotrl export`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pivotrl_core import Domain, ExtractOptions, candidate_at, hookimpl
from pivotrl_core.cli import build_cli, cli
from pivotrl_core.extract import (
    CandidateEncoder,
    ExtractStats,
    default_extractor,
    extract,
    extract_candidates,
    extract_file,
    read_candidates,
)
from pivotrl_core.jsonl import dumps
from pivotrl_core.types import Candidate, Message, ToolCall, Trajectory

SYSTEM = {"role": "system", "content": "You help with the weather."}


def _call(cid: str, name: str, args: object) -> dict:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}


def trajectory(tid: str, city: str = "Paris") -> dict:
    return {
        "id": tid,
        "messages": [
            SYSTEM,
            {"role": "user", "content": f"Weather and time in {city}?"},
            {
                "role": "assistant",
                "content": None,
                "reasoning_content": "two look-ups",
                "tool_calls": [
                    _call("a", "get_weather", json.dumps({"city": city})),
                    _call("b", "get_time", {"city": city}),
                ],
            },
            {"role": "tool", "tool_call_id": "a", "content": "sunny"},
            {"role": "tool", "tool_call_id": "b", "content": "10:00"},
            {"role": "assistant", "content": "Sunny, 10:00.", "reasoning_content": "answer"},
            {"role": "user", "content": "thanks"},
            {"role": "assistant", "content": "  "},
        ],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
        ],
    }


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


class GenericDomain:
    @hookimpl
    def pivotrl_register_domains(self, register):
        register(Domain(name="generic"))


@pytest.fixture
def runner(pivotrl_pm, register_plugin) -> CliRunner:
    """A CLI runner on a fresh plugin manager that has a ``generic`` domain."""
    from pivotrl_core.plugins import get_registry

    if "generic" not in get_registry().names("domain"):  # helper plugins may not provide it yet
        register_plugin(GenericDomain(), name="test-generic")
    build_cli()
    return CliRunner()


def run(runner: CliRunner, *args: object):
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def candidates(path: Path) -> list[Candidate]:
    return list(read_candidates(path))


def test_extract_one_candidate_per_assistant_turn_with_stable_ids(runner, tmp_path):
    src = write_rows(tmp_path / "t.jsonl", [trajectory("t1"), trajectory("t2", "Rome")])
    out = tmp_path / "c.jsonl"
    res = run(runner, "extract", src, "-o", out)
    assert res.exit_code == 0, res.output
    assert "Read 2 trajectories (2 rows, format: openai); wrote 4 candidates" in res.output
    assert "Skipped: empty_turn=2" in res.output
    cands = candidates(out)
    assert [c.id for c in cands] == ["t1:2", "t1:5", "t2:2", "t2:5"]
    c = cands[1]
    assert (c.trajectory_id, c.turn_index, c.domain) == ("t1", 5, "generic")
    assert [m.role for m in c.messages] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
    ]  # tool outputs kept
    assert c.expected == Message(role="assistant", content="Sunny, 10:00.", reasoning="answer")
    assert "Sunny" not in json.dumps([m.to_dict() for m in c.messages])  # the demonstration never leaks
    assert c.tools[0]["function"]["name"] == "get_weather"
    first = out.read_bytes()
    assert (
        run(runner, "extract", src, "-o", out).exit_code == 0 and out.read_bytes() == first
    )  # deterministic


def test_multi_call_turns_are_one_batch_action_or_dropped(runner, tmp_path):
    src = write_rows(tmp_path / "t.jsonl", [trajectory("t1")])
    out = tmp_path / "c.jsonl"
    run(runner, "extract", src, "-o", out)
    batch = candidates(out)[0].expected
    assert [tc.name for tc in batch.tool_calls] == ["get_weather", "get_time"]
    assert batch.tool_calls[0].arguments == batch.tool_calls[1].arguments == {"city": "Paris"}
    res = run(runner, "extract", src, "-o", out, "--drop-multi-call")
    assert [c.id for c in candidates(out)] == ["t1:5"]
    assert "multi_call=1" in res.output


def test_reasoning_keep_or_drop(runner, tmp_path):
    src = write_rows(tmp_path / "t.jsonl", [trajectory("t1")])
    out = tmp_path / "c.jsonl"
    run(runner, "extract", src, "-o", out)
    kept = candidates(out)[1]
    assert kept.messages[2].reasoning == "two look-ups" and kept.expected.reasoning == "answer"
    run(runner, "extract", src, "-o", out, "--reasoning", "drop")
    dropped = candidates(out)[1]
    assert all(m.reasoning is None for m in (*dropped.messages, dropped.expected))
    assert dropped.messages[2].tool_calls == kept.messages[2].tool_calls
    assert '"reasoning"' not in out.read_text()


def test_dedupe_identical_prefix_and_action(runner, tmp_path):
    other_action = trajectory("t3")
    other_action["messages"][5]["content"] = "It is sunny."
    src = write_rows(tmp_path / "t.jsonl", [trajectory("t1"), trajectory("t2"), other_action])
    out = tmp_path / "c.jsonl"
    run(runner, "extract", src, "-o", out)
    assert len(candidates(out)) == 6
    res = run(runner, "extract", src, "-o", out, "--dedupe")
    assert [c.id for c in candidates(out)] == ["t1:2", "t1:5", "t3:5"]
    assert "duplicate=3" in res.output


def test_nemo_gym_rows_give_exactly_one_candidate_each_and_export_round_trips(runner, tmp_path, nemo_gym_dir):
    files = sorted(nemo_gym_dir.glob("*/example.jsonl")) + [
        nemo_gym_dir / "single_step_tool_use_with_argument_comparison" / "parallel_example.jsonl"
    ]
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]
    out = tmp_path / "c.jsonl"
    res = run(runner, "extract", *files, "-o", out)
    assert res.exit_code == 0, res.output
    cands = candidates(out)
    assert len(cands) == len(rows) == 20
    assert all(c.turn_index == len(c.messages) for c in cands)
    back = tmp_path / "rows.jsonl"
    res = run(runner, "export", out, "--format", "nemo-gym", "-o", back)
    assert res.exit_code == 0 and "20" in res.output and str(back) in res.output
    assert [json.loads(line) for line in back.read_text().splitlines()] == rows


def test_export_to_openai_and_sharegpt(runner, tmp_path):
    src = write_rows(tmp_path / "t.jsonl", [trajectory("t1")])
    out = tmp_path / "c.jsonl"
    run(runner, "extract", src, "-o", out)
    for fmt in ("openai", "sharegpt"):
        rows_path = tmp_path / f"{fmt}.jsonl"
        assert run(runner, "export", out, "--format", fmt, "-o", rows_path).exit_code == 0
        again = tmp_path / f"{fmt}.c.jsonl"
        assert run(runner, "extract", rows_path, "-o", again, "--format", fmt).exit_code == 0
        last = candidates(again)[-1]
        assert last.expected == candidates(out)[1].expected and last.trajectory_id == "t1:5"


BAD_INPUTS = [
    ('{"id": "x", "messages": [\n', "invalid JSON", None),
    ('{"id": "x"}\n', "missing required field", "messages"),
    (
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "wizard", "content": "?"}]}\n',
        "unknown role 'wizard'",
        "messages[1].role",
    ),
    (
        '{"messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}]}\n',
        "tool call has no name",
        "messages[0].tool_calls[0].function.name",
    ),
    (
        '{"messages": [{"role": "assistant", "tool_calls": '
        '[{"function": {"name": "f", "arguments": "{x"}}]}]}\n',
        "not valid JSON",
        "messages[0].tool_calls[0].function.arguments",
    ),
    (
        '{"messages": [{"role": "assistant", "tool_calls": '
        '[{"function": {"name": "f", "arguments": [1]}}]}]}\n',
        "JSON string or an object",
        "messages[0].tool_calls[0].function.arguments",
    ),
]


@pytest.mark.parametrize("line, words, field", BAD_INPUTS)
def test_bad_input_stops_with_file_line_field_and_no_output(runner, tmp_path, line, words, field):
    src = tmp_path / "t.jsonl"
    src.write_text(json.dumps(trajectory("ok")) + "\n\n" + line)
    out = tmp_path / "c.jsonl"
    res = runner.invoke(cli, ["extract", str(src), "-o", str(out), "--format", "openai"])
    assert res.exit_code == 2, res.output
    assert f"Error: {src}:3: " in res.output and words in res.output
    if field:
        assert f"field '{field}'" in res.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["t.jsonl"]


def test_skip_invalid_continues_and_counts(runner, tmp_path):
    src = tmp_path / "t.jsonl"
    src.write_text(
        json.dumps(trajectory("t1"))
        + "\n"
        + "".join(line for line, _, _ in BAD_INPUTS[1:])
        + json.dumps(trajectory("t2"))
        + "\n"
    )
    out = tmp_path / "c.jsonl"
    res = run(runner, "extract", src, "-o", out, "--skip-invalid")
    assert res.exit_code == 0
    assert [c.trajectory_id for c in candidates(out)] == ["t1", "t1", "t2", "t2"]
    assert "invalid_row=5" in res.output and f"{src}:3: field 'messages[1].role'" in res.output


def test_unknown_domain_format_and_missing_file_exit_2(runner, tmp_path):
    src = write_rows(tmp_path / "t.jsonl", [trajectory("t1")])
    res = runner.invoke(cli, ["extract", str(src), "-o", str(tmp_path / "c.jsonl"), "--domain", "genric"])
    assert res.exit_code == 2 and "did you mean 'generic'" in res.output
    res = runner.invoke(cli, ["extract", str(src), "-o", str(tmp_path / "c.jsonl"), "--format", "sharegtp"])
    assert res.exit_code == 2 and "did you mean 'sharegpt'?" in res.output
    res = runner.invoke(cli, ["extract", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "c.jsonl")])
    assert res.exit_code == 2 and "nope.jsonl: no such file" in res.output
    res = runner.invoke(cli, ["export", str(src), "--format", "nemo-gym", "-o", str(tmp_path / "r.jsonl")])
    assert res.exit_code == 2 and "t.jsonl:1: field 'expected'" in res.output  # not a candidates file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.jsonl"]


def only_final_answers(trajectory: Trajectory, options: ExtractOptions):
    """A domain extractor: the last answer first, tagged, then the other assistant turns."""
    turns = [i for i, m in enumerate(trajectory.messages) if m.role == "assistant" and not m.is_empty]
    c = candidate_at(trajectory, turns[-1], options.domain)
    yield Candidate(**{**c.__dict__, "metadata": {"kind": "final"}})
    for i in turns[:-1]:
        yield candidate_at(trajectory, i, options.domain)


class FinalDomain:
    @hookimpl
    def pivotrl_register_domains(self, register):
        register(Domain(name="finals", extractor=only_final_answers))


def test_domain_extractor_is_used_and_pivot_rows_stay_single(runner, register_plugin, tmp_path, nemo_gym_dir):
    register_plugin(FinalDomain(), name="finals-plugin")
    src = write_rows(tmp_path / "t.jsonl", [trajectory("t1")])
    out = tmp_path / "c.jsonl"
    assert run(runner, "extract", src, "-o", out, "--domain", "finals").exit_code == 0
    cands = candidates(out)
    assert [(c.id, c.domain, c.metadata) for c in cands] == [
        ("t1:5", "finals", {"kind": "final"}),
        ("t1:2", "finals", {}),
    ]
    rows = nemo_gym_dir / "single_step_tool_use_with_argument_comparison" / "example.jsonl"
    assert run(runner, "extract", rows, "-o", out, "--domain", "finals").exit_code == 0
    cands = candidates(out)  # these rows have earlier assistant turns: only each row's pivot is kept
    assert len(cands) == 5 and all(c.turn_index == len(c.messages) for c in cands)


def test_encoder_matches_to_dict_and_library_api(pivotrl_pm, runner, tmp_path, nemo_gym_dir):
    src = write_rows(tmp_path / "t.jsonl", [trajectory("t1"), trajectory("t2")])
    encoder = CandidateEncoder()
    stats = ExtractStats()
    got = list(extract([src, nemo_gym_dir / "swe_pivot" / "example.jsonl"], ExtractOptions(), stats=stats))
    assert stats.to_dict()["candidates_written"] == len(got) == 9
    assert stats.to_dict()["skipped"] == {"duplicate": 0, "empty_turn": 2, "invalid_row": 0, "multi_call": 0}
    for c in got:
        assert encoder.encode(c) == dumps(c.to_dict())
    seen: list[int] = []
    out = tmp_path / "c.jsonl"
    stats = extract_file(src, out, ExtractOptions(dedupe=True), progress=seen.append)
    assert sum(seen) == src.stat().st_size == stats.bytes_read
    assert stats.candidates_written == 2 and stats.skipped["duplicate"] == 2  # t2 repeats t1's pairs


def test_default_extractor_edge_cases():
    empty_call = Message(role="assistant", content=None)
    traj = Trajectory(
        id="e",
        messages=(
            Message(role="assistant", content="hi first"),
            empty_call,
            Message(role="user", content="?"),
        ),
        metadata={"pivot_turn": 0, "x": 1},
    )
    stats = ExtractStats()
    (c,) = default_extractor(traj, ExtractOptions(), stats)
    assert c.id == "e:0" and c.messages == () and c.metadata == {"x": 1}  # pivot_turn is not copied
    plain = Trajectory(id="p", messages=traj.messages)
    assert [c.id for c in default_extractor(plain, ExtractOptions(), stats)] == ["p:0"]
    assert stats.skipped["empty_turn"] == 1
    calls = Message(role="assistant", tool_calls=(ToolCall(name="a"), ToolCall(name="b")))
    dup = Trajectory(id="d", messages=(Message(role="user", content="go"), calls))
    stats = ExtractStats()
    kept = list(extract_candidates([dup, dup], ExtractOptions(dedupe=True, multi_call="batch"), stats=stats))
    assert [c.id for c in kept] == ["d:1"] and stats.skipped["duplicate"] == 1
    assert list(extract_candidates([dup], ExtractOptions(multi_call="drop"))) == []


def test_progress_bar_follows_the_bytes_read(runner, tmp_path, monkeypatch):
    import io

    from rich.console import Console

    from pivotrl_core.commands import extract_cmd

    src = write_rows(tmp_path / "t.jsonl", [trajectory(f"t{i}") for i in range(50)])
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    with extract_cmd.byte_progress((src,), "extract", console=console) as progress:
        assert progress is None  # small input: no bar
    monkeypatch.setattr(extract_cmd, "PROGRESS_MIN_BYTES", 0)
    seen: list[int] = []
    with extract_cmd.byte_progress((src,), "extract", console=console) as progress:
        assert progress is not None
        extract_file(
            src, tmp_path / "c.jsonl", ExtractOptions(), progress=lambda n: (seen.append(n), progress(n))
        )
    assert sum(seen) == src.stat().st_size
    assert "extract" in buf.getvalue()


def test_cli_docs_cover_every_option():
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    build_cli()
    for name in ("extract", "export", "experiment"):
        head = f"## `pivotrl {name}`"
        assert head in text
        section = text.split(head, 1)[1].split("\n## ", 1)[0]
        for param in cli.commands[name].params:
            for opt in param.opts:
                if opt.startswith("--"):
                    assert re.search(rf"`(-\w, )?{opt}`", section), f"docs/cli.md lacks pivotrl {name} {opt}"
