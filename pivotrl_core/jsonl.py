"""JSONL reading and writing: streaming, atomic, resumable and never over an input.

* :func:`iter_jsonl` streams rows (one line in memory at a time, ``.gz`` transparently) and
  raises :class:`InputError` naming the file and line of a bad row: invalid JSON, a non-object,
  ``NaN``/``Infinity``, nesting too deep, bytes that are not UTF-8, a ``.gz`` that is not gzip.
* :func:`atomic_output` writes a whole file to a temporary name and renames it into place,
  so a crash never leaves a half-written output. The file gets the umask's mode (not 0600).
* :class:`ResumableWriter` appends rows one by one for long stages; reopening the same file
  drops a torn last line, reports the keys already written and so lets a stage resume with no
  lost and no duplicated rows. A settings *fingerprint* kept beside the output (in
  ``<output>.settings.json``) makes a resume with other settings refuse instead of mixing rows.
* :func:`check_not_input` refuses an output path that is one of the inputs.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, TypeVar

from .errors import ConfigError, InputError, ResumeMismatchError

__all__ = [
    "RESUME_MODES",
    "ResumableWriter",
    "atomic_output",
    "check_not_input",
    "check_writable",
    "dumps",
    "file_digest",
    "fingerprint_diff",
    "iter_jsonl",
    "read_jsonl",
    "settings_path",
    "write_jsonl",
]

T = TypeVar("T")
RESUME_MODES = ("resume", "fresh", "force")
_READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError)
_umask_lock = threading.Lock()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON value {name} (use null or a number)")


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")  # noqa: SIM115 - closed by the caller's with


def _parse_line(line: str, path: Path, lineno: int) -> dict[str, Any]:
    try:
        row = json.loads(line, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON ({e.msg} at column {e.colno})", path=path, line=lineno) from None
    except ValueError as e:
        raise InputError(str(e), path=path, line=lineno) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", path=path, line=lineno) from None
    if not isinstance(row, dict):
        raise InputError(f"each line must be a JSON object, got {type(row).__name__}", path=path, line=lineno)
    return row


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, row)`` for each non-blank line; rows must be JSON objects."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", path=p)
    if p.is_dir():
        raise InputError("is a folder, not a JSONL file", path=p)
    lineno = 0
    try:
        with _open_text(p) as fh:
            for lineno, line in enumerate(fh, start=1):  # noqa: B007 - read in the except
                if line.strip():
                    yield lineno, _parse_line(line, p, lineno)
    except _READ_ERRORS as e:
        what = "not valid UTF-8" if isinstance(e, UnicodeDecodeError) else f"cannot be read ({e})"
        if isinstance(e, (gzip.BadGzipFile, EOFError, zlib.error)):
            what = f"is not a complete gzip file ({e})"
        raise InputError(what, path=p, line=lineno + 1) from None


def read_jsonl(path: str | Path, parse: Callable[[dict[str, Any]], T]) -> Iterator[T]:
    """Stream rows through ``parse`` (e.g. ``Candidate.from_dict``), locating its errors."""
    for lineno, row in iter_jsonl(path):
        try:
            yield parse(row)
        except InputError as e:
            raise e.located(path, lineno) from None
        except RecursionError:
            raise InputError("row nested too deeply", path=path, line=lineno) from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_not_input(output: str | Path, inputs: Iterable[str | Path], flag: str = "-o") -> None:
    """Refuse an output that is (a path or a hard link to) one of the inputs."""
    out = Path(output)
    for src in inputs:
        if _same_file(out, Path(src)):
            raise ConfigError(f"{out} is also an input; write the output to another file", flag=flag)


def check_writable(path: str | Path, flag: str = "-o") -> None:
    """Fail before any work when ``path`` cannot be written (a folder, a read-only parent)."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p} is a folder; give a file name", flag=flag)
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {p}: {parent} is not a writable folder", flag=flag)
    if p.exists() and not os.access(p, os.W_OK):
        raise ConfigError(f"cannot write {p}: the file is read-only", flag=flag)


def _default_mode() -> int:
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_output(path: str | Path, *, inputs: Iterable[str | Path] = ()) -> Iterator[IO[str]]:
    """Open a temporary file beside ``path``; rename it over ``path`` only on success."""
    p = Path(path)
    check_not_input(p, inputs)
    p.parent.mkdir(parents=True, exist_ok=True)
    mode = (p.stat().st_mode & 0o7777) if p.exists() else _default_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def dumps(row: dict[str, Any]) -> str:
    """One row as a single standard JSON line (no newline); NaN/Infinity raise ``ValueError``."""
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def write_jsonl(path: str | Path, rows: Any, *, inputs: Iterable[str | Path] = ()) -> int:
    """Atomically write an iterable of dicts (or objects with ``to_dict``); return the count."""
    n = 0
    with atomic_output(path, inputs=inputs) as fh:
        for row in rows:
            fh.write(dumps(row.to_dict() if hasattr(row, "to_dict") else row) + "\n")
            n += 1
    return n


def file_digest(path: str | Path) -> str:
    """``sha256:<hex>`` of a file's bytes (streamed), for the input part of a fingerprint."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return f"sha256:{h.hexdigest()}"


def _canonical(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def fingerprint_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``["k: 4 -> 8", ...]`` for every setting that differs (missing ones shown as ``(unset)``)."""
    old, new = _canonical(dict(old)), _canonical(dict(new))
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "(unset)"), new.get(key, "(unset)")
        if a != b:
            out.append(f"{key}: {json.dumps(a)[:80]} -> {json.dumps(b)[:80]}")
    return out


def settings_path(output: str | Path) -> Path:
    """Where the fingerprint of a resumable output is kept: ``<output>.settings.json``."""
    p = Path(output)
    return p.with_name(p.name + ".settings.json")


def _truncate_torn_line(path: Path) -> None:
    """Cut a last line without its newline (a write torn by a crash)."""
    with open(path, "rb+") as fh:
        data_end = fh.seek(0, os.SEEK_END)
        if data_end == 0:
            return
        fh.seek(data_end - 1)
        if fh.read(1) == b"\n":
            return
        pos, cut = data_end - 1, 0
        while pos > 0:
            start = max(0, pos - 65536)
            fh.seek(start)
            idx = fh.read(pos - start).rfind(b"\n")
            if idx >= 0:
                cut = start + idx + 1
                break
            pos = start
        fh.truncate(cut)


class ResumableWriter:
    """Append-only JSONL output that survives ``kill -9`` and refuses to mix settings.

    Each row is written as one line, flushed and fsynced before :meth:`write` returns. On
    opening, a last line without its newline (a write torn by a crash) is cut off, and the
    value of ``key`` in every complete row is collected in :attr:`done`.

    ``fingerprint`` (JSON-able settings) is compared with the one saved beside the output by
    the run that wrote it; ``mode`` is ``"resume"`` (refuse on a difference), ``"fresh"`` (drop
    the old rows) or ``"force"`` (keep them, record the new settings). Rows for which
    ``retry(row)`` is true are removed on opening and put in :attr:`retrying`, so they are redone.
    """

    def __init__(
        self,
        path: str | Path,
        key: str = "id",
        fsync: bool = True,
        *,
        fingerprint: Mapping[str, Any] | None = None,
        mode: str = "resume",
        inputs: Iterable[str | Path] = (),
        retry: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        if mode not in RESUME_MODES:
            raise ValueError(f"mode must be one of {RESUME_MODES}, got {mode!r}")
        self.path = Path(path)
        self.key = key
        self.fsync = fsync
        self.done: set[str] = set()
        self.retrying: dict[str, dict[str, Any]] = {}
        check_not_input(self.path, inputs)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if mode == "fresh" and self.path.exists():
            self.path.unlink()
        self._repair_and_scan(retry)
        self.resumed = len(self.done)
        if fingerprint is not None:
            self._check_fingerprint(dict(fingerprint), mode)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def _repair_and_scan(self, retry: Callable[[dict[str, Any]], bool] | None) -> None:
        if not self.path.exists():
            return
        _truncate_torn_line(self.path)
        for lineno, row in iter_jsonl(self.path):
            if self.key not in row:
                raise InputError(f"existing output row has no '{self.key}'", path=self.path, line=lineno)
            if retry is not None and retry(row):
                self.retrying[str(row[self.key])] = row
            else:
                self.done.add(str(row[self.key]))
        if self.retrying:
            keep = [r for _, r in iter_jsonl(self.path) if str(r[self.key]) not in self.retrying]
            write_jsonl(self.path, keep)

    def _check_fingerprint(self, fingerprint: dict[str, Any], mode: str) -> None:
        side = settings_path(self.path)
        saved = None
        if side.exists():
            try:
                saved = json.loads(side.read_text(encoding="utf-8")).get("fingerprint")
            except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
                saved = None
        kept = self.done or self.retrying
        if kept and mode == "resume" and _canonical(saved) != _canonical(fingerprint):
            n = len(self.done) + len(self.retrying)
            changes = fingerprint_diff(saved or {}, fingerprint) if saved else ["no settings recorded"]
            raise ResumeMismatchError(
                f"{self.path} holds {n} rows written with other settings ({'; '.join(changes)}). "
                f"Pass --fresh to start over (drops those {n} rows) or --force-resume to keep them."
            )
        with atomic_output(side) as fh:
            json.dump({"version": 1, "key": self.key, "fingerprint": _canonical(fingerprint)}, fh, indent=1)

    def write(self, row: dict[str, Any]) -> None:
        """Append one row durably and record its key."""
        self._fh.write(dumps(row) + "\n")
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())
        self.done.add(str(row[self.key]))

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> ResumableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
