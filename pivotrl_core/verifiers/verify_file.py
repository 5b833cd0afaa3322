"""File-level verification: score an actions JSONL against candidates (``pivotrl verify``).

Actions rows (one per line) name their candidate with ``candidate_id`` (or ``id``) and give the
action in one of these forms:

- ``action``: a :class:`Message` dict (``role`` defaults to ``assistant``);
- ``response``: an OpenAI Responses-API response (its ``output`` items) or a list of output items,
  as in NeMo Gym rollouts; ``output``: the list of output items;
- ``text`` (or ``completion``): raw model text, parsed like a policy sample (Hermes
  ``<tool_call>{json}</tool_call>`` blocks become tool calls).

A NeMo Gym rollout row (``responses_create_params`` + ``response``, no id) is accepted too: its
candidate is the one the same row gives in a candidates file (``pivotrl verify rollouts.jsonl
--actions rollouts.jsonl`` re-scores NVIDIA's rollouts). Candidates files hold :class:`Candidate`
rows or NeMo Gym pivot rows (converted with :func:`pivotrl_core.formats.nemo_gym.row_to_candidate`).

Output rows: ``{"action_line", "candidate_id", "verifier", "verdict"}``. The output is written row by
row and resumes after a crash (rows whose ``action_line`` is already there are skipped).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from ..formats.nemo_gym import row_to_candidate
from ..formats.responses_api import responses_output_to_message
from ..jsonl import ResumableWriter, file_digest, iter_jsonl
from ..policies.chat import parse_completion
from ..types import Candidate, Message, Verdict
from .base import Verifier

__all__ = [
    "VerifierChooser",
    "VerifySummary",
    "load_candidate",
    "parse_action_row",
    "read_actions",
    "read_candidates",
    "verify_file",
]

VerifierChooser = Callable[[Candidate], Verifier]
_Row = tuple[int, Candidate, Message, Verifier]


def _is_pivot_row(row: Mapping[str, Any]) -> bool:
    return "responses_create_params" in row and "expected" not in row


def load_candidate(row: dict[str, Any], index: int, domain: str | None = None) -> Candidate:
    """A :class:`Candidate` row, or a NeMo Gym pivot row (``index`` = 0-based row number)."""
    if _is_pivot_row(row):
        return row_to_candidate(row, index, domain or "generic")
    return Candidate.from_dict(row)


def parse_action_row(row: dict[str, Any], index: int = 0) -> tuple[str, Message]:
    """``(candidate_id, action)`` from one actions row (see the module docstring)."""
    cid = row.get("candidate_id", row.get("id"))
    if cid is None and _is_pivot_row(row):
        cid = load_candidate(row, index).id
    if not isinstance(cid, str) or not cid:
        raise InputError("missing the candidate's id (a string)", field="candidate_id")
    if "action" in row:
        raw = row["action"]
        if not isinstance(raw, Mapping):
            raise InputError(f"expected an object, got {type(raw).__name__}", field="action")
        return cid, Message.from_dict({"role": "assistant", **raw}, "action.")
    for key in ("response", "output"):
        if key in row:
            raw = row[key]
            if not isinstance(raw, (Mapping, list)):
                raise InputError("expected a Responses-API response or a list of output items", field=key)
            try:
                return cid, responses_output_to_message(raw)
            except InputError as e:
                raise InputError(e.message, field=f"{key}.{e.field}" if e.field else key) from None
    for key in ("text", "completion"):
        if key in row:
            if not isinstance(row[key], str):
                raise InputError(f"expected a string, got {type(row[key]).__name__}", field=key)
            return cid, parse_completion(row[key])
    raise InputError("no action: give one of 'action', 'response', 'output' or 'text'", field="action")


def read_candidates(path: str | Path, domain: str | None = None) -> dict[str, Candidate]:
    """Candidates by id (``domain`` applies to NeMo Gym rows); a repeated id is an input error."""
    out: dict[str, Candidate] = {}
    for index, (line, row) in enumerate(iter_jsonl(path)):
        try:
            c = load_candidate(row, index, domain)
        except InputError as e:
            raise e.located(path, line) from None
        if c.id in out:
            raise InputError(f"candidate id {c.id!r} appears twice", path=path, line=line, field="id")
        out[c.id] = c
    return out


def read_actions(
    path: str | Path, candidates: Mapping[str, Candidate]
) -> Iterator[tuple[int, Candidate, Message]]:
    """``(line, candidate, action)`` per row; an unknown candidate id is an input error."""
    for index, (line, row) in enumerate(iter_jsonl(path)):
        try:
            cid, action = parse_action_row(row, index)
        except InputError as e:
            raise e.located(path, line) from None
        if cid not in candidates:
            raise InputError(
                f"no candidate with id {cid!r} in the candidates file",
                path=path,
                line=line,
                field="candidate_id",
            )
        yield line, candidates[cid], action


@dataclass
class VerifySummary:
    """Counts of one ``verify_file`` run (rows skipped on resume are not counted)."""

    verified: int = 0
    skipped: int = 0
    passed: int = 0
    failed: int = 0
    errored: int = 0
    score_sum: float = 0.0

    @property
    def mean_reward(self) -> float | None:
        scored = self.passed + self.failed
        return self.score_sum / scored if scored else None

    def add(self, v: Verdict) -> None:
        self.verified += 1
        if v.errored:
            self.errored += 1
            return
        self.score_sum += v.score
        if v.passed:
            self.passed += 1
        else:
            self.failed += 1


def verify_file(
    candidates_path: str | Path,
    actions_path: str | Path,
    output_path: str | Path,
    choose: VerifierChooser,
    *,
    mode: str = "resume",
    settings: Callable[[], Mapping[str, Any]] | None = None,
    batch_size: int = 64,
    domain: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifySummary:
    """Verify every action row and append a verdict row per action to ``output_path``.

    All input is read and checked, and every verifier built, before anything is written, so bad
    input or configuration leaves no output. ``choose(candidate)`` gives a candidate's verifier;
    ``progress(done, total)`` is called after each batch.

    Resume: the output's settings fingerprint is the hash of both input files plus ``settings()``
    (the verifier settings, asked once every verifier is built). A resumed output written with
    other settings is refused (``mode``: ``"resume"``; ``"fresh"`` starts over, ``"force"`` keeps
    the old rows), so stale verdicts never mix with new ones.
    """
    if batch_size < 1:
        raise ConfigError("batch_size must be at least 1")
    candidates = read_candidates(candidates_path, domain)
    rows = [(line, c, a, choose(c)) for line, c, a in read_actions(actions_path, candidates)]
    fingerprint = {
        "candidates": file_digest(candidates_path),
        "actions": file_digest(actions_path),
        "verifier": dict(settings()) if settings is not None else None,
    }
    summary = VerifySummary()
    inputs = (candidates_path, actions_path)
    with ResumableWriter(
        output_path, key="action_line", fingerprint=fingerprint, mode=mode, inputs=inputs
    ) as writer:
        todo = [r for r in rows if str(r[0]) not in writer.done]
        summary.skipped = len(rows) - len(todo)
        for start in range(0, len(todo), batch_size):
            _verify_chunk(todo[start : start + batch_size], writer, summary)
            if progress is not None:
                progress(min(start + batch_size, len(todo)), len(todo))
    return summary


def _verify_chunk(chunk: list[_Row], writer: ResumableWriter, summary: VerifySummary) -> None:
    """Verify a chunk (one ``verify_batch`` per verifier) and write its rows in input order."""
    groups: dict[int, tuple[Verifier, list[int]]] = {}
    for i, row in enumerate(chunk):
        groups.setdefault(id(row[3]), (row[3], []))[1].append(i)
    verdicts: dict[int, Verdict] = {}
    for verifier, idx in groups.values():
        verdicts.update(
            zip(idx, verifier.verify_batch([(chunk[i][1], chunk[i][2]) for i in idx]), strict=True)
        )
    for i, (line, cand, _, verifier) in enumerate(chunk):
        summary.add(verdicts[i])
        writer.write(
            {
                "action_line": line,
                "candidate_id": cand.id,
                "verifier": verifier.name,
                "verdict": verdicts[i].to_dict(),
            }
        )
