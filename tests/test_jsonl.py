"""JSONL I/O: located errors, atomic outputs, resumable writers that survive kill -9."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from pivotrl_core.errors import InputError
from pivotrl_core.jsonl import ResumableWriter, atomic_output, iter_jsonl, read_jsonl, write_jsonl
from pivotrl_core.types import Candidate


def test_iter_jsonl_skips_blank_lines_and_numbers_lines(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"a": 1}\n\n  \n{"a": 2}\n')
    assert list(iter_jsonl(p)) == [(1, {"a": 1}), (4, {"a": 2})]


def test_iter_jsonl_reads_gzip(tmp_path):
    p = tmp_path / "a.jsonl.gz"
    with gzip.open(p, "wt") as fh:
        fh.write('{"a": 1}\n{"a": 2}\n')
    assert [r["a"] for _, r in iter_jsonl(p)] == [1, 2]


@pytest.mark.parametrize(
    "text, line, words",
    [('{"a": 1}\n{"a": \n', 2, "invalid JSON"), ('{"a": 1}\n\n[1, 2]\n', 3, "JSON object, got list")],
)
def test_iter_jsonl_bad_rows_name_file_and_line(tmp_path, text, line, words):
    p = tmp_path / "bad.jsonl"
    p.write_text(text)
    with pytest.raises(InputError) as e:
        list(iter_jsonl(p))
    assert e.value.line == line and e.value.path == str(p)
    assert f"{p}:{line}: " in str(e.value) and words in str(e.value)


def test_iter_jsonl_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list(iter_jsonl(tmp_path / "nope.jsonl"))


def test_read_jsonl_locates_parse_errors_with_field(tmp_path):
    good = {
        "id": "t:1",
        "domain": "d",
        "trajectory_id": "t",
        "turn_index": 1,
        "messages": [{"role": "user", "content": "hi"}],
        "expected": {"role": "assistant", "content": "yo"},
    }
    bad = {**good, "messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "?"}]}
    p = tmp_path / "c.jsonl"
    p.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    rows = read_jsonl(p, Candidate.from_dict)
    assert next(rows).id == "t:1"
    with pytest.raises(InputError) as e:
        next(rows)
    assert (e.value.line, e.value.field) == (2, "messages[1].role")
    assert str(e.value).startswith(f"{p}:2: field 'messages[1].role': unknown role")


def test_atomic_output_leaves_nothing_on_error_and_keeps_old_file(tmp_path):
    out = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError), atomic_output(out) as fh:
        fh.write("partial\n")
        raise RuntimeError("crash mid-way")
    assert list(tmp_path.iterdir()) == []
    out.write_text("old\n")
    with pytest.raises(KeyboardInterrupt), atomic_output(out) as fh:
        fh.write("new\n")
        raise KeyboardInterrupt
    assert out.read_text() == "old\n" and list(tmp_path.iterdir()) == [out]
    with atomic_output(out) as fh:
        fh.write("new\n")
    assert out.read_text() == "new\n" and list(tmp_path.iterdir()) == [out]


def test_write_jsonl_counts_and_accepts_objects(tmp_path):
    c = Candidate.from_dict(
        {
            "id": "t:1",
            "domain": "d",
            "trajectory_id": "t",
            "turn_index": 1,
            "messages": [],
            "expected": {"role": "assistant", "content": "é"},
        }
    )
    n = write_jsonl(tmp_path / "o" / "x.jsonl", [c, {"plain": True}])
    lines = (tmp_path / "o" / "x.jsonl").read_text(encoding="utf-8").splitlines()
    assert (
        n == 2
        and json.loads(lines[0])["expected"]["content"] == "é"
        and json.loads(lines[1]) == {"plain": True}
    )
    assert "é" in lines[0]  # written as UTF-8, not escaped


def test_resumable_writer_repairs_torn_last_line(tmp_path):
    p = tmp_path / "profiles.jsonl"
    with ResumableWriter(p, key="id") as w:
        for i in range(3):
            w.write({"id": f"r{i}", "x": i})
    with open(p, "a") as fh:
        fh.write('{"id": "r3", "x": ')  # a crash tore the last write
    w = ResumableWriter(p, key="id")
    assert w.done == {"r0", "r1", "r2"}
    for i in range(3, 5):
        if f"r{i}" not in w.done:
            w.write({"id": f"r{i}", "x": i})
    w.close()
    rows = [r for _, r in iter_jsonl(p)]
    assert [r["id"] for r in rows] == ["r0", "r1", "r2", "r3", "r4"]


def test_resumable_writer_torn_line_longer_than_a_chunk_and_torn_first_line(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"id": "a"}\n{"id": "b", "pad": "' + "x" * 200_000)
    assert ResumableWriter(p).done == {"a"}
    assert p.read_text() == '{"id": "a"}\n'
    q = tmp_path / "b.jsonl"
    q.write_text('{"id": "torn')
    w = ResumableWriter(q)
    assert w.done == set() and q.read_text() == ""
    w.close()


def test_resumable_writer_rejects_rows_without_key(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"id": "a"}\n{"other": 1}\n')
    with pytest.raises(InputError) as e:
        ResumableWriter(p, key="id")
    assert e.value.line == 2


WRITER = textwrap.dedent(
    """
    import sys, time
    from pivotrl_core.jsonl import ResumableWriter
    w = ResumableWriter(sys.argv[1], key="id")
    for i in range(int(sys.argv[2])):
        if str(i) in w.done:
            continue
        w.write({"id": str(i), "pad": "x" * 5000})
        if i == 5:
            print("ready", flush=True)
        time.sleep(0.002)
    w.close()
    """
)


def test_resumable_writer_survives_kill_9(tmp_path):
    out = tmp_path / "rows.jsonl"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(out), "150"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = len(list(iter_jsonl(out))) if out.read_bytes().endswith(b"\n") else None
    assert partial is None or 6 <= partial < 150  # killed mid-way
    subprocess.run([sys.executable, str(script), str(out), "150"], check=True, stdout=subprocess.DEVNULL)
    ids = [r["id"] for _, r in iter_jsonl(out)]
    assert ids == [str(i) for i in range(150)]  # nothing lost, nothing duplicated
