"""Turn extraction: trajectories -> candidates (one per assistant decision point).

The default extractor makes one :class:`Candidate` per assistant turn: the prefix is every
earlier message (recorded tool outputs included), the expected action is that assistant
message, the id is ``<trajectory_id>:<turn_index>`` (the turn's message index). Options
(:class:`ExtractOptions`): turns with several tool calls are kept as one batch action or
dropped; empty turns are skipped and counted; reasoning is kept or dropped; identical
(tools, prefix, action) triples can be de-duplicated. A domain's own extractor replaces the
default one. A trajectory whose ``metadata["pivot_turn"]`` is set (a NeMo Gym pivot row) is a
single pivot: only that turn is extracted, whichever extractor runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from .domains import PIVOT_TURN, ExtractOptions, Extractor
from .errors import ConfigError
from .formats.base import TrajectoryFormat
from .formats.detect import Progress, ReadStats, read_trajectories
from .jsonl import atomic_output, read_jsonl, write_jsonl
from .types import Candidate, Message, Trajectory

__all__ = [
    "CandidateEncoder",
    "ExtractStats",
    "default_extractor",
    "export_candidates",
    "extract",
    "extract_candidates",
    "extract_file",
    "read_candidates",
]

SKIP_REASONS = ("invalid_row", "empty_turn", "multi_call", "duplicate")
_WRITE_CHUNK = 1 << 20  # characters of output gathered before one write


@dataclass
class ExtractStats(ReadStats):
    """Counts of an extraction: rows and trajectories read, candidates written, skipped by reason.

    Skip reasons: ``invalid_row`` (with ``--skip-invalid``), ``empty_turn`` (an assistant turn
    with neither text nor tool calls), ``multi_call`` (several tool calls, with
    ``--drop-multi-call``), ``duplicate`` (with ``--dedupe``).
    """

    candidates_written: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "trajectories_read": self.trajectories_read,
            "candidates_written": self.candidates_written,
            "bytes_read": self.bytes_read,
            "skipped": {r: self.skipped.get(r, 0) for r in sorted({*SKIP_REASONS, *self.skipped})},
            "formats": dict(self.formats),
            "errors": list(self.errors),
        }


def _pivot_turn(trajectory: Trajectory) -> int | None:
    turn = trajectory.metadata.get(PIVOT_TURN)
    if isinstance(turn, int) and 0 <= turn < len(trajectory.messages):
        return turn
    return None


def default_extractor(
    trajectory: Trajectory, options: ExtractOptions, stats: ReadStats | None = None
) -> Iterator[Candidate]:
    """One candidate per non-empty assistant turn (see the module docstring)."""
    msgs = trajectory.messages
    if options.reasoning == "drop":
        msgs = tuple(dataclasses.replace(m, reasoning=None) if m.reasoning is not None else m for m in msgs)
    pivot = _pivot_turn(trajectory)
    turns = [pivot] if pivot is not None else [i for i, m in enumerate(msgs) if m.role == "assistant"]
    meta = trajectory.metadata
    if PIVOT_TURN in meta:
        meta = {k: v for k, v in meta.items() if k != PIVOT_TURN}
    tid, domain, tools = trajectory.id, options.domain, trajectory.tools
    for i in turns:
        m = msgs[i]
        if m.is_empty:
            if stats is not None:
                stats.skip("empty_turn")
            continue
        if len(m.tool_calls) > 1 and options.multi_call == "drop":
            if stats is not None:
                stats.skip("multi_call")
            continue
        yield Candidate(
            id=f"{tid}:{i}",
            domain=domain,
            trajectory_id=tid,
            turn_index=i,
            messages=msgs[:i],
            expected=m,
            tools=tools,
            metadata=meta,
        )


class CandidateEncoder:
    """Serialises candidates to JSON lines, encoding each shared message only once.

    Candidates of one trajectory share their prefix messages: the JSON of each message is
    cached (by identity; the cache keeps the object alive) and the JSON of the longest prefix
    seen is kept as a list of strings, so a candidate whose prefix extends it costs one string
    join. Call :meth:`reset` between trajectories. The output is exactly
    ``jsonl.dumps(candidate.to_dict())``.
    """

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Any, str]] = {}
        self._base: tuple[Message, ...] = ()
        self._base_json: list[str] = []
        self._last: tuple[Candidate | None, str] = (None, "")

    def reset(self) -> None:
        self._cache.clear()
        self._base, self._base_json = (), []
        self._last = (None, "")

    def _json(self, obj: Any, to_json: Any) -> str:
        hit = self._cache.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        text = _dumps(to_json(obj))
        self._cache[id(obj)] = (obj, text)
        return text

    def message(self, m: Message) -> str:
        return self._json(m, Message.to_dict)

    def _plain(self, obj: Any) -> str:
        return self._json(obj, lambda o: o)

    def _prefix(self, c: Candidate) -> str:
        """The JSON of ``c.messages`` without the brackets."""
        if self._last[0] is c:
            return self._last[1]
        msgs, base = c.messages, self._base
        n, k = len(msgs), len(base)
        common = min(n, k)
        if msgs[:common] == base[:common]:  # identity short-cuts the comparison: C speed
            if n > k:
                self._base_json.extend([self.message(m) for m in msgs[k:]])
                self._base = msgs
            text = ",".join(self._base_json[:n])
        else:
            text = ",".join([self.message(m) for m in msgs])
        self._last = (c, text)
        return text

    def encode(self, c: Candidate) -> str:
        return (
            f'{{"id":{_string(c.id)},"domain":{_string(c.domain)},"trajectory_id":{_string(c.trajectory_id)},'
            f'"turn_index":{int(c.turn_index)},"messages":[{self._prefix(c)}],"tools":{self._plain(c.tools)},'
            f'"expected":{self.message(c.expected)},"metadata":{self._plain(c.metadata)}}}'
        )

    def pair_key(self, c: Candidate) -> bytes:
        """A digest of (tools, prefix, action): equal for candidates ``--dedupe`` treats as one."""
        text = f"{self._plain(c.tools)}\x1e{self._prefix(c)}\x1d{self.message(c.expected)}"
        return hashlib.blake2b(text.encode(), digest_size=16).digest()


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # = jsonl.dumps, built once
_string = encode_basestring  # a JSON string literal, as _dumps writes it (C-accelerated)


def extract_candidates(
    trajectories: Iterable[Trajectory],
    options: ExtractOptions,
    extractor: Extractor | None = None,
    stats: ExtractStats | None = None,
    encoder: CandidateEncoder | None = None,
) -> Iterator[Candidate]:
    """Cut trajectories into candidates with ``extractor`` (default: :func:`default_extractor`)."""
    encoder = encoder or CandidateEncoder()
    seen: set[bytes] | None = set() if options.dedupe else None
    for trajectory in trajectories:
        encoder.reset()
        if extractor is None:
            cands: Iterable[Candidate] = default_extractor(trajectory, options, stats)
        else:
            cands = extractor(trajectory, options)
            pivot = _pivot_turn(trajectory)
            if pivot is not None:
                cands = (c for c in cands if c.turn_index == pivot)
        for c in cands:
            if seen is not None:
                key = encoder.pair_key(c)
                if key in seen:
                    if stats is not None:
                        stats.skip("duplicate")
                    continue
                seen.add(key)
            yield c


def extract(
    paths: str | Path | Iterable[str | Path],
    options: ExtractOptions | None = None,
    format: str | TrajectoryFormat | None = None,
    skip_invalid: bool = False,
    stats: ExtractStats | None = None,
    *,
    formats: Sequence[TrajectoryFormat] | None = None,
    extractor: Extractor | None = None,
) -> Iterator[Candidate]:
    """Stream the candidates of trajectory files.

    ``extractor`` is the domain's (``registry.domain(options.domain).extractor``; ``None``: the
    default one); ``formats`` are those to detect among (``registry.formats()``; ``None``: the
    built-in ones).
    """
    options = options or ExtractOptions()
    stats = stats if stats is not None else ExtractStats()
    trajectories = read_trajectories(paths, formats, format, skip_invalid, stats)
    for c in extract_candidates(trajectories, options, extractor, stats):
        stats.candidates_written += 1
        yield c


def extract_file(
    paths: str | Path | Iterable[str | Path],
    output: str | Path,
    options: ExtractOptions | None = None,
    format: str | TrajectoryFormat | None = None,
    skip_invalid: bool = False,
    progress: Progress | None = None,
    *,
    formats: Sequence[TrajectoryFormat] | None = None,
    extractor: Extractor | None = None,
) -> ExtractStats:
    """Extract candidates from trajectory files into ``output`` (written atomically: on any
    error no output file appears). Returns the counts; ``formats``/``extractor`` as in :func:`extract`."""
    options = options or ExtractOptions()
    stats = ExtractStats()
    encoder = CandidateEncoder()
    trajectories = read_trajectories(paths, formats, format, skip_invalid, stats, progress)
    with atomic_output(output) as fh:
        chunk: list[str] = []
        size = 0
        for c in extract_candidates(trajectories, options, extractor, stats, encoder):
            line = encoder.encode(c)
            chunk.append(line)
            size += len(line)
            stats.candidates_written += 1
            if size > _WRITE_CHUNK:
                chunk.append("")
                fh.write("\n".join(chunk))
                chunk, size = [], 0
        if chunk:
            chunk.append("")
            fh.write("\n".join(chunk))
    return stats


def read_candidates(path: str | Path) -> Iterator[Candidate]:
    """Stream the candidates of a candidates JSONL file (errors name file, line and field)."""
    return read_jsonl(path, Candidate.from_dict)


def candidate_trajectory(c: Candidate) -> Trajectory:
    """A candidate as a trajectory: prefix + expected action."""
    return Trajectory(id=c.id, messages=(*c.messages, c.expected), tools=c.tools, metadata=c.metadata)


def export_candidates(path: str | Path, output: str | Path, fmt: TrajectoryFormat) -> int:
    """Write the candidates of ``path`` as rows of ``fmt`` (atomically); returns the row count.

    Formats with a ``dump_candidate(candidate)`` method (``nemo-gym``) write one row per
    candidate with it; others get ``dump(prefix + expected)``.
    """
    dump_candidate = getattr(fmt, "dump_candidate", None)

    def rows() -> Iterator[dict[str, Any]]:
        for c in read_candidates(path):
            yield dump_candidate(c) if dump_candidate is not None else fmt.dump(candidate_trajectory(c))

    try:
        return write_jsonl(output, rows())
    except NotImplementedError:
        raise ConfigError(
            f"format '{fmt.name}' can only be read; export to openai, sharegpt or nemo-gym"
        ) from None
