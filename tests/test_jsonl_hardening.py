"""Resumable outputs that refuse other settings, outputs that never replace inputs, umask modes,
and every kind of unreadable input as an InputError naming file and line."""

from __future__ import annotations

import gzip
import json
import os
import stat

import pytest

from pivotrl_core.errors import ConfigError, InputError, ResumeMismatchError
from pivotrl_core.jsonl import (
    ResumableWriter,
    atomic_output,
    check_not_input,
    check_writable,
    dumps,
    file_digest,
    iter_jsonl,
    settings_path,
    write_jsonl,
)


def _rows(path):
    return [row for _, row in iter_jsonl(path)]


def test_resume_with_other_settings_refuses_and_names_them(tmp_path):
    out = tmp_path / "p.jsonl"
    with ResumableWriter(out, key="id", fingerprint={"k": 4, "model": "m"}) as w:
        w.write({"id": "a"})
    assert json.loads(settings_path(out).read_text())["fingerprint"] == {"k": 4, "model": "m"}
    with pytest.raises(ResumeMismatchError) as e:
        ResumableWriter(out, key="id", fingerprint={"k": 8, "model": "m"})
    msg = str(e.value)
    assert "k: 4 -> 8" in msg and "--fresh" in msg and "--force-resume" in msg and "1 rows" in msg
    assert e.value.exit_code == 2
    assert _rows(out) == [{"id": "a"}]  # refusing touched nothing


def test_same_settings_resume_and_key_order_does_not_matter(tmp_path):
    out = tmp_path / "p.jsonl"
    with ResumableWriter(out, key="id", fingerprint={"a": 1, "b": [1, 2]}) as w:
        w.write({"id": "x"})
    with ResumableWriter(out, key="id", fingerprint={"b": (1, 2), "a": 1}) as w:
        assert w.done == {"x"} and w.resumed == 1


def test_fresh_drops_rows_and_force_keeps_them(tmp_path):
    out = tmp_path / "p.jsonl"
    with ResumableWriter(out, key="id", fingerprint={"k": 4}) as w:
        w.write({"id": "a"})
    with ResumableWriter(out, key="id", fingerprint={"k": 8}, mode="force") as w:
        assert w.done == {"a"}
    assert json.loads(settings_path(out).read_text())["fingerprint"] == {"k": 8}
    with ResumableWriter(out, key="id", fingerprint={"k": 2}, mode="fresh") as w:
        assert w.done == set()
        w.write({"id": "b"})
    assert _rows(out) == [{"id": "b"}]


def test_rows_without_a_recorded_fingerprint_refuse(tmp_path):
    out = tmp_path / "old.jsonl"
    write_jsonl(out, [{"id": "a"}])  # written by a version that kept no settings
    with pytest.raises(ResumeMismatchError, match="no settings recorded"):
        ResumableWriter(out, key="id", fingerprint={"k": 4})


def test_retry_removes_errored_rows_so_they_are_redone(tmp_path):
    out = tmp_path / "p.jsonl"
    write_jsonl(out, [{"id": "a"}, {"id": "b", "error": "judge down", "attempts": 1}, {"id": "c"}])
    with ResumableWriter(out, key="id", retry=lambda r: bool(r.get("error"))) as w:
        assert w.done == {"a", "c"}
        assert w.retrying["b"]["attempts"] == 1
        w.write({"id": "b", "attempts": 2})
    assert [r["id"] for r in _rows(out)] == ["a", "c", "b"]


def test_output_that_is_an_input_is_refused_before_writing(tmp_path):
    src = tmp_path / "in.jsonl"
    write_jsonl(src, [{"id": "a"}])
    before = src.read_bytes()
    link = tmp_path / "hard.jsonl"
    os.link(src, link)
    sym = tmp_path / "sym.jsonl"
    sym.symlink_to(src)
    for out in (src, link, sym, tmp_path / "." / "in.jsonl"):
        with pytest.raises(ConfigError, match="is also an input"):
            write_jsonl(out, [{"id": "b"}], inputs=[src])
        with pytest.raises(ConfigError, match="is also an input"):
            ResumableWriter(out, inputs=[src])
    assert src.read_bytes() == before
    check_not_input(tmp_path / "other.jsonl", [src])  # a different file is fine


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_outputs_follow_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        write_jsonl(tmp_path / "a.jsonl", [{"id": 1}])
        with ResumableWriter(tmp_path / "b.jsonl") as w:
            w.write({"id": 1})
    finally:
        os.umask(old)
    for name in ("a.jsonl", "b.jsonl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask


def test_replacing_a_file_keeps_its_mode(tmp_path):
    out = tmp_path / "a.jsonl"
    out.write_text("")
    out.chmod(0o640)
    with atomic_output(out) as fh:
        fh.write("x\n")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_check_writable_names_the_flag(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="^-o: cannot write .*is not a writable folder"):
        check_writable(blocker / "sub" / "x.jsonl")
    with pytest.raises(ConfigError, match="is a folder"):
        check_writable(tmp_path, flag="--output")
    check_writable(tmp_path / "new" / "deeper" / "x.jsonl")  # folders that will be created are fine
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("content", "line", "pattern"),
    [
        (b'{"a": 1}\n{"a": NaN}\n', 2, "non-standard JSON value NaN"),
        (b'{"a": Infinity}\n', 1, "non-standard JSON value Infinity"),
        (b'{"a": 1}\n' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"\n", 2, "nested too deeply"),
        (b'{"a": "\xff\xfe"}\n', 1, "not valid UTF-8"),
        (b"[1, 2]\n", 1, "must be a JSON object"),
        (b'{"a": 1}\n\n{oops}\n', 3, "invalid JSON"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, content, line, pattern):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(content)
    with pytest.raises(InputError, match=pattern) as e:
        list(iter_jsonl(p))
    assert e.value.path == str(p) and e.value.line == line


def test_gz_that_is_not_gzip_or_is_truncated(tmp_path):
    fake = tmp_path / "fake.jsonl.gz"
    fake.write_text('{"a": 1}\n')
    with pytest.raises(InputError, match="not a complete gzip file"):
        list(iter_jsonl(fake))
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress("".join(f'{{"a": "{i * 7919}"}}\n' for i in range(3000)).encode())[:2000])
    with pytest.raises(InputError, match="not a complete gzip file"):
        list(iter_jsonl(cut))
    with pytest.raises(InputError, match="is a folder"):
        list(iter_jsonl(tmp_path))


def test_dumps_never_writes_nan(tmp_path):
    with pytest.raises(ValueError):
        dumps({"score": float("nan")})
    out = tmp_path / "o.jsonl"
    with pytest.raises(ValueError):
        write_jsonl(out, [{"score": float("inf")}])
    assert not out.exists()  # nothing half-written
    assert list(tmp_path.iterdir()) == []


def test_file_digest_changes_with_content(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text("a\n")
    first = file_digest(p)
    assert first.startswith("sha256:") and first == file_digest(p)
    p.write_text("b\n")
    assert file_digest(p) != first
