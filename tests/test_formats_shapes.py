"""Data shapes users have: Parquet, ``datasets`` folders, Hermes-style ShareGPT, and bad rows that must
be clear errors (a tool without a name, a row nested too deeply)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pivotrl_core.cli import build_cli
from pivotrl_core.errors import InputError
from pivotrl_core.formats import read_trajectories
from pivotrl_core.jsonl import write_jsonl

TAU_BENCH = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tau-bench" / "gpt-4o-airline.json"
)


@pytest.fixture(scope="module")
def tau_rows() -> list[dict]:
    """40 real tau-bench gpt-4o airline trajectories as OpenAI chat rows (tool calls, tool outputs)."""
    if not TAU_BENCH.is_file():
        pytest.skip(f"tau-bench data not found at {TAU_BENCH}")
    data = json.loads(TAU_BENCH.read_text())
    return [{"id": f"tau-{r['task_id']}-{r['trial']}", "messages": r["traj"]} for r in data[:40]]


@pytest.fixture
def run(pivotrl_pm):
    cli = build_cli()
    return lambda *args: CliRunner().invoke(cli, [str(a) for a in args])


def test_parquet_reads_the_same_trajectories_as_jsonl(tmp_path, tau_rows):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    write_jsonl(tmp_path / "t.jsonl", tau_rows)
    pq.write_table(pa.Table.from_pylist(tau_rows), tmp_path / "t.parquet", row_group_size=7)
    from_jsonl = list(read_trajectories(tmp_path / "t.jsonl"))
    from_parquet = list(read_trajectories(tmp_path / "t.parquet"))
    assert len(from_parquet) == 40 and from_parquet == from_jsonl  # Arrow's null-filled keys read as absent
    assert sum(len(m.tool_calls) for t in from_parquet for m in t.messages) > 100


def test_extract_from_parquet_and_a_datasets_folder_matches_jsonl(run, tmp_path, tau_rows):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    datasets = pytest.importorskip("datasets")
    write_jsonl(tmp_path / "t.jsonl", tau_rows)
    pq.write_table(pa.Table.from_pylist(tau_rows), tmp_path / "t.parquet")
    datasets.Dataset.from_list(tau_rows).save_to_disk(str(tmp_path / "t-ds"))
    outs = {}
    for name in ("t.jsonl", "t.parquet", "t-ds"):
        out = tmp_path / f"{name}.candidates.jsonl"
        res = run("extract", tmp_path / name, "-o", out)
        assert res.exit_code == 0, res.output
        outs[name] = out.read_text()
    assert outs["t.parquet"] == outs["t.jsonl"] == outs["t-ds"] and outs["t.jsonl"].count("\n") > 200


def test_table_inputs_fail_clearly(run, tmp_path, tau_rows):
    datasets = pytest.importorskip("datasets")
    (tmp_path / "bad.parquet").write_text("not parquet at all")
    res = run("extract", tmp_path / "bad.parquet", "-o", tmp_path / "c.jsonl")
    assert res.exit_code == 2 and "bad.parquet: not a readable Parquet file" in res.output
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(tau_rows[:2]), "test": datasets.Dataset.from_list(tau_rows[2:4])}
    ).save_to_disk(str(tmp_path / "dd"))
    res = run("extract", tmp_path / "dd", "-o", tmp_path / "c.jsonl")
    assert res.exit_code == 2 and "several splits (test, train)" in res.output and "dd/test" in res.output
    assert run("extract", tmp_path / "dd" / "train", "-o", tmp_path / "c.jsonl").exit_code == 0
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.Table.from_pylist(tau_rows), tmp_path / "t.parquet", row_group_size=10)
    data = (tmp_path / "t.parquet").read_bytes()
    mid = len(data) // 2  # damage the pages, keep the footer: the file opens, a batch fails
    (tmp_path / "damaged.parquet").write_bytes(data[:mid] + b"\0" * 2000 + data[mid + 2000 :])
    res = run("extract", tmp_path / "damaged.parquet", "-o", tmp_path / "c.jsonl")
    assert res.exit_code == 2 and "damaged.parquet:" in res.output and "cannot read this table" in res.output
    (tmp_path / "plain").mkdir()
    res = run("extract", tmp_path / "plain", "-o", tmp_path / "d.jsonl")
    assert res.exit_code == 2 and "no dataset_info.json" in res.output
    assert not (tmp_path / "d.jsonl").exists()


HERMES_SYSTEM = (
    "You are a function calling AI model. You are provided with function signatures within <tools></tools> "
    "XML tags. You may call one or more functions to assist with the user query. Here are the available "
    "tools: <tools> [{'type': 'function', 'function': {'name': 'get_stock_price', 'description': "
    "\"Get a stock's current price\", 'parameters': {'type': 'object', 'properties': {'symbol': {'type': "
    "'string'}}, 'required': ['symbol']}}}, {'type': 'function', 'function': {'name': 'get_news', "
    "'description': 'Latest headlines for a company', 'parameters': {'type': 'object', 'properties': "
    "{'company': {'type': 'string'}, 'limit': {'type': 'integer'}}}}}] </tools> For each function call "
    "return a json object with function name and arguments within <tool_call></tool_call> XML tags as "
    "follows:\n<tool_call>\n{'arguments': <args-dict>, 'name': <function-name>}\n</tool_call>"
)

HERMES_ROW = {
    "id": "hermes-1",
    "conversations": [
        {"from": "system", "value": HERMES_SYSTEM},
        {"from": "human", "value": "What are Apple's price and its latest two headlines?"},
        {
            "from": "gpt",
            "value": "<tool_call>\n{'arguments': {'symbol': 'AAPL'}, 'name': 'get_stock_price'}\n"
            '</tool_call>\n<tool_call>\n{"name": "get_news", '
            '"arguments": {"company": "Apple", "limit": 2}}\n</tool_call>',
        },
        {
            "from": "tool",
            "value": '<tool_response>\n{"name": "get_stock_price", "content": 187.2}\n</tool_response>',
        },
        {
            "from": "tool",
            "value": '<tool_response>\n{"name": "get_news", "content": ["a", "b"]}\n</tool_response>',
        },
        {"from": "gpt", "value": "Apple trades at $187.20. Headlines: a; b."},
    ],
}


def test_hermes_sharegpt_tool_calls_become_real_tool_calls(tmp_path):
    write_jsonl(tmp_path / "h.jsonl", [HERMES_ROW])
    (t,) = read_trajectories(tmp_path / "h.jsonl")
    system, user, call, out1, out2, answer = t.messages
    assert [tc.name for tc in call.tool_calls] == ["get_stock_price", "get_news"] and call.content is None
    assert call.tool_calls[1].arguments == {"company": "Apple", "limit": 2}
    assert (out1.tool_call_id, out2.tool_call_id) == (call.tool_calls[0].id, call.tool_calls[1].id)
    assert json.loads(out1.content) == {"name": "get_stock_price", "content": 187.2}
    assert answer.content.startswith("Apple trades") and not answer.tool_calls
    assert [tool["function"]["name"] for tool in t.tools] == ["get_stock_price", "get_news"]
    assert system.content == HERMES_SYSTEM  # the prompt is kept as written


def test_hermes_rows_no_longer_pass_check_verifier_trivially(run, tmp_path):
    src = tmp_path / "h.jsonl"
    write_jsonl(src, [HERMES_ROW])
    assert run("extract", src, "-o", tmp_path / "c.jsonl").exit_code == 0
    cands = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert [len(c["expected"].get("tool_calls", [])) for c in cands] == [2, 0]
    res = run("check-verifier", tmp_path / "c.jsonl", "--json")
    assert res.exit_code == 0, res.output  # the tool_call verifier now sees calls to compare


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (  # a tool without a name (chat form)
            {
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "function", "function": {}}],
            },
            "tools[0].function.name",
        ),
        (  # a tool without a name (flat form, ShareGPT/LLaMA-Factory)
            {"conversations": [{"from": "human", "value": "hi"}], "tools": '[{"description": "x"}]'},
            "tools[0].name",
        ),
        (  # a Hermes block that is not a call
            {"conversations": [{"from": "gpt", "value": "<tool_call>[1, 2]</tool_call>"}]},
            "conversations[0].value.<tool_call>[0]",
        ),
        (  # a Hermes block that does not parse
            {"conversations": [{"from": "gpt", "value": "<tool_call>{'name': </tool_call>"}]},
            "conversations[0].value.",
        ),
    ],
)
def test_bad_tools_are_located_input_errors(tmp_path, row, field):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(InputError) as e:
        list(read_trajectories(path))
    assert e.value.path == str(path) and e.value.line == 1 and e.value.field == field, str(e.value)


def test_a_row_nested_too_deeply_is_a_clear_error(run, tmp_path):
    path = tmp_path / "deep.jsonl"
    ok = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    path.write_text(json.dumps(ok) + "\n" + '{"messages": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(InputError, match="nested too deeply") as e:
        list(read_trajectories(path))
    assert e.value.line == 2
    res = run("extract", path, "-o", tmp_path / "c.jsonl")
    assert res.exit_code == 2 and "deep.jsonl:2" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "c.jsonl").exists()
