"""Streaming trajectory reading with format auto-detection.

:func:`read_trajectories` reads JSONL files (``.gz`` too) line by line, never a whole file,
detects each file's format from its first row through every registered format's ``sniff``
(third-party formats included) and raises :class:`InputError` naming the file, the line and
the field of a bad row -- or, with ``skip_invalid``, counts the row and goes on.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..types import Trajectory
from .base import TrajectoryFormat

__all__ = ["ReadStats", "detect_format", "iter_lines", "read_trajectories"]

MAX_ERRORS = 20
_PROGRESS_EVERY = 256  # lines between progress callbacks

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
    """Yield ``(line_number, raw_line)`` for each non-blank line, counting bytes as it goes."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file" if not p.exists() else "not a file", path=p)
    with open(p, "rb") as raw:
        fh = gzip.GzipFile(fileobj=raw) if p.suffix == ".gz" else raw
        reported = 0
        for lineno, line in enumerate(fh, start=1):
            if lineno % _PROGRESS_EVERY == 0:
                reported = _report(raw.tell(), reported, stats, progress)
            if not line.isspace():
                yield lineno, line
        _report(raw.tell(), reported, stats, progress)


def _report(pos: int, reported: int, stats: ReadStats | None, progress: Progress | None) -> int:
    if stats is not None:
        stats.bytes_read += pos - reported
    if progress is not None:
        progress(pos - reported)
    return pos


def _decode(line: bytes) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON ({e.msg} at column {e.colno})") from None
    except ValueError as e:  # bad UTF-8
        raise InputError(f"invalid JSON ({e})") from None
    if not isinstance(row, dict):
        raise InputError(f"each line must be a JSON object, got {type(row).__name__}")
    return row


def _registered_formats() -> list[TrajectoryFormat]:
    from ..registry import get_registry

    return [e.obj for e in get_registry().entries("format")]


def detect_format(row: dict[str, Any], formats: Iterable[TrajectoryFormat] | None = None) -> TrajectoryFormat:
    """The format whose ``sniff`` accepts ``row`` (highest optional ``priority`` wins).

    Raises :class:`InputError` when none or several equally ranked formats match.
    """
    formats = list(_registered_formats() if formats is None else formats)
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


def _resolve(format: str | TrajectoryFormat | None) -> TrajectoryFormat | None:
    if format is None or not isinstance(format, str):
        return format
    from ..registry import get_registry

    return get_registry().format(format)


def _parse(fmt: TrajectoryFormat, row: dict[str, Any], index: int) -> list[Trajectory]:
    try:
        return list(fmt.parse(row, index))
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - a third-party format's crash becomes a located error
        raise InputError(f"format '{fmt.name}' could not read this row: {type(e).__name__}: {e}") from e


def read_trajectories(
    paths: str | Path | Iterable[str | Path],
    format: str | TrajectoryFormat | None = None,
    skip_invalid: bool = False,
    stats: ReadStats | None = None,
    progress: Progress | None = None,
) -> Iterator[Trajectory]:
    """Stream the trajectories of JSONL files, detecting each file's format when none is given.

    ``index`` passed to ``parse`` (used for ids of rows without one, ``row-<index>``) counts
    non-blank rows across all ``paths`` in order. A row that fails to parse raises
    :class:`InputError` with file, line and field; with ``skip_invalid`` it is counted in
    ``stats.skipped["invalid_row"]`` instead. Format detection failure always raises.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    stats = stats if stats is not None else ReadStats()
    fixed = _resolve(format)
    formats: list[TrajectoryFormat] | None = None
    index = -1
    for path in paths:
        fmt = fixed
        if fmt is not None:
            stats.formats[str(path)] = fmt.name
        for lineno, line in iter_lines(path, stats, progress):
            index += 1
            stats.rows_read += 1
            try:
                row = _decode(line)
            except InputError as e:
                _fail(e.located(path, lineno), skip_invalid, stats)
                continue
            if fmt is None:
                if formats is None:
                    formats = _registered_formats()
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


def _fail(error: InputError, skip_invalid: bool, stats: ReadStats) -> None:
    if not skip_invalid:
        raise error
    stats.skip("invalid_row", str(error))
