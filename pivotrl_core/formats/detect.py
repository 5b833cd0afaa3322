"""Streaming trajectory reading with format auto-detection.

:func:`read_trajectories` reads JSONL files (``.gz`` too) line by line, never a whole file,
Parquet files and ``datasets`` folders row by row (:mod:`.tables`), and whole JSON documents
(``.json``, ``.traj``: one object is one row, an array's objects are rows; an array no format
accepts element-wise is tried as one event stream, ``{"events": [...]}``). It detects each file's format
from its first row through the ``sniff`` of every format it is given (the caller passes the
registry's, third-party formats included; the built-in ones by default) and raises
:class:`InputError` naming the file, the line (a table's row number) and the field of a bad row --
or, with ``skip_invalid``, counts the row and goes on.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, UnknownNameError
from ..types import Trajectory
from .base import TrajectoryFormat
from .nemo_gym import NemoGymFormat
from .openai_chat import OpenAIChatFormat
from .sharegpt import ShareGPTFormat
from .tables import TABLE_SUFFIXES, dataset_rows, parquet_rows

__all__ = ["BUILTIN_FORMATS", "ReadStats", "detect_format", "iter_lines", "iter_rows", "read_trajectories"]

BUILTIN_FORMATS: tuple[TrajectoryFormat, ...] = (OpenAIChatFormat(), ShareGPTFormat(), NemoGymFormat())
"""The formats every installation has (what ``formats=None`` means)."""

MAX_ERRORS = 20
TOO_DEEP = "the row is nested too deeply to read (more than Python's recursion limit)"
_PROGRESS_EVERY = 256  # lines between progress callbacks
DOCUMENT_SUFFIXES = (".json", ".traj")

Progress = Callable[[int], None]
"""``progress(n_bytes)``: called with the number of input bytes consumed since the last call."""


@dataclass
class ReadStats:
    """What reading saw: rows, trajectories, bytes, skipped rows (by reason) and their errors."""

    rows_read: int = 0
    trajectories_read: int = 0
    bytes_read: int = 0
    formats: dict[str, str] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def skip(self, reason: str, error: str | None = None) -> None:
        """Count one skipped item under ``reason`` (keeping the first few error messages)."""
        self.skipped[reason] += 1
        if error is not None and len(self.errors) < MAX_ERRORS:
            self.errors.append(error)


def iter_lines(
    path: str | Path, stats: ReadStats | None = None, progress: Progress | None = None
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line)`` for each non-blank line, counting bytes as it goes.

    A ``.gz`` file that is not gzip, or is cut short, is an :class:`InputError` naming the file.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file" if not p.exists() else "not a file", path=p)
    lineno = 0
    with open(p, "rb") as raw:
        fh = gzip.GzipFile(fileobj=raw) if p.suffix == ".gz" else raw
        reported = 0
        try:
            for lineno, line in enumerate(fh, start=1):  # noqa: B007 - read in the except
                if lineno % _PROGRESS_EVERY == 0:
                    reported = _report(raw.tell(), reported, stats, progress)
                if not line.isspace():
                    yield lineno, line
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise InputError(f"is not a complete gzip file ({e})", path=p, line=lineno + 1) from None
        _report(raw.tell(), reported, stats, progress)


def _report(pos: int, reported: int, stats: ReadStats | None, progress: Progress | None) -> int:
    if stats is not None:
        stats.bytes_read += pos - reported
    if progress is not None:
        progress(pos - reported)
    return pos


def iter_rows(
    path: str | Path, stats: ReadStats | None = None, progress: Progress | None = None
) -> Iterator[tuple[int, bytes | dict[str, Any]]]:
    """``(line, raw JSON line)`` of a JSONL file, or ``(row number, row)`` of a Parquet file or a
    ``datasets`` folder (whose null fields read as absent)."""
    p = Path(path)
    if not p.is_dir() and p.suffix not in TABLE_SUFFIXES:
        yield from iter_lines(p, stats, progress)
        return
    yield from dataset_rows(p) if p.is_dir() else parquet_rows(p)
    files = p.rglob("*") if p.is_dir() else [p]
    _report(sum(f.stat().st_size for f in files if f.is_file()), 0, stats, progress)


def _reject_constant(name: str) -> Any:
    raise InputError(f"non-standard JSON value {name} (use null or a number)")


def _decode(line: bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(line, dict):
        return line
    try:
        row = json.loads(line, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON ({e.msg} at column {e.colno})") from None
    except ValueError as e:  # bad UTF-8
        raise InputError(f"invalid JSON ({e})") from None
    except RecursionError:
        raise InputError(TOO_DEEP) from None
    if not isinstance(row, dict):
        raise InputError(f"each line must be a JSON object, got {type(row).__name__}")
    return row


def detect_format(row: dict[str, Any], formats: Iterable[TrajectoryFormat] | None = None) -> TrajectoryFormat:
    """The format whose ``sniff`` accepts ``row`` (highest optional ``priority`` wins).

    Raises :class:`InputError` when none or several equally ranked formats match.
    """
    formats = list(BUILTIN_FORMATS if formats is None else formats)
    matches = []
    for fmt in formats:
        try:
            if fmt.sniff(row):
                matches.append(fmt)
        except Exception:  # noqa: BLE001, S112 - a sniff that crashes simply does not match
            continue
    names = ", ".join(f.name for f in formats) or "(none registered)"
    if not matches:
        raise InputError(f"cannot detect the trajectory format of this row; pass --format (one of: {names})")
    best = max(getattr(f, "priority", 0) for f in matches)
    top = [f for f in matches if getattr(f, "priority", 0) == best]
    if len(top) > 1:
        raise InputError(
            f"this row matches several formats ({', '.join(f.name for f in top)}); pass --format to choose"
        )
    return top[0]


def _resolve(
    format: str | TrajectoryFormat | None, formats: Sequence[TrajectoryFormat]
) -> TrajectoryFormat | None:
    if format is None or not isinstance(format, str):
        return format
    by_name = {f.name: f for f in formats}
    if format not in by_name:
        raise UnknownNameError("format", format, list(by_name))
    return by_name[format]


def _parse(fmt: TrajectoryFormat, row: dict[str, Any], index: int) -> list[Trajectory]:
    try:
        return list(fmt.parse(row, index))
    except InputError:
        raise
    except RecursionError:
        raise InputError(TOO_DEEP) from None
    except Exception as e:  # noqa: BLE001 - a third-party format's crash becomes a located error
        raise InputError(f"format '{fmt.name}' could not read this row: {type(e).__name__}: {e}") from e


def read_trajectories(
    paths: str | Path | Iterable[str | Path],
    formats: Sequence[TrajectoryFormat] | None = None,
    format: str | TrajectoryFormat | None = None,
    skip_invalid: bool = False,
    stats: ReadStats | None = None,
    progress: Progress | None = None,
) -> Iterator[Trajectory]:
    """Stream the trajectories of files, detecting each file's format among ``formats`` (default:
    :data:`BUILTIN_FORMATS`) unless ``format`` (a name among ``formats``, or a format) is given.

    ``index`` passed to ``parse`` (used for ids of rows without one, ``row-<index>``) counts
    non-blank rows across all ``paths`` in order. A row that fails to parse raises
    :class:`InputError` with file, line and field; with ``skip_invalid`` it is counted in
    ``stats.skipped["invalid_row"]`` instead. Format detection failure always raises.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    stats = stats if stats is not None else ReadStats()
    formats = list(BUILTIN_FORMATS if formats is None else formats)
    fixed = _resolve(format, formats)
    index = -1
    for path in paths:
        fmt = fixed
        if fmt is not None:
            stats.formats[str(path)] = fmt.name
        rows: Iterable[tuple[int, bytes | dict[str, Any]]] = (
            _document_rows(Path(path), formats, fmt, stats)
            if Path(path).suffix in DOCUMENT_SUFFIXES
            else iter_rows(path, stats, progress)
        )
        for lineno, line in rows:
            index += 1
            stats.rows_read += 1
            try:
                row = _decode(line)
            except InputError as e:
                _fail(e.located(path, lineno), skip_invalid, stats)
                continue
            if fmt is None:
                try:
                    fmt = detect_format(row, formats)
                except InputError as e:
                    raise e.located(path, lineno) from None
                stats.formats[str(path)] = fmt.name
            try:
                trajectories = _parse(fmt, row, index)
            except InputError as e:
                _fail(e.located(path, lineno), skip_invalid, stats)
                continue
            stats.trajectories_read += len(trajectories)
            yield from trajectories


def _document_rows(
    path: Path, formats: Sequence[TrajectoryFormat], fixed: TrajectoryFormat | None, stats: ReadStats
) -> list[tuple[int, dict[str, Any]]]:
    """The rows of a whole-JSON-document file (``.json``, ``.traj``)."""
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "not a file", path=path)
    raw = path.read_bytes()
    stats.bytes_read += len(raw)
    try:
        doc = json.loads(raw, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON ({e.msg} at column {e.colno})", path=path, line=e.lineno) from None
    except (ValueError, RecursionError) as e:
        raise InputError(f"cannot read the JSON document ({type(e).__name__})", path=path) from None
    if isinstance(doc, dict):
        return [(1, doc)]
    if not isinstance(doc, list) or not all(isinstance(x, dict) for x in doc):
        raise InputError("a JSON document must be an object or an array of objects", path=path)
    if doc and fixed is None and not _sniffed(doc[0], formats) and _sniffed({"events": doc}, formats):
        return [(1, {"events": doc})]
    return [(i, row) for i, row in enumerate(doc, start=1)]


def _sniffed(row: dict[str, Any], formats: Sequence[TrajectoryFormat]) -> bool:
    try:
        detect_format(row, formats)
    except InputError:
        return False
    return True


def _fail(error: InputError, skip_invalid: bool, stats: ReadStats) -> None:
    if not skip_invalid:
        raise error
    stats.skip("invalid_row", str(error))
