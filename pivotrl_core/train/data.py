"""Training data: reading pivots and a resumable, seeded order over them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..jsonl import iter_jsonl
from ..types import Candidate

__all__ = ["PivotSampler", "load_candidates"]


def load_candidates(path: str | Path) -> list[Candidate]:
    """Read candidate rows (``pivotrl select`` output rows are candidates plus profile keys).

    Ids must be unique: a repeated id (e.g. a file extracted twice into one) is an error naming
    both lines, since the trainer addresses pivots by id.
    """
    rows: list[Candidate] = []
    first: dict[str, int] = {}
    for lineno, row in iter_jsonl(path):
        try:
            cand = Candidate.from_dict(row)
        except InputError as e:
            raise e.located(path, lineno) from None
        if cand.id in first:
            raise InputError(
                f"duplicate candidate id {cand.id!r} (first on line {first[cand.id]}); "
                "each pivot needs its own id (was the same file extracted twice?)",
                path=path,
                line=lineno,
                field="id",
            )
        first[cand.id] = lineno
        rows.append(cand)
    if not rows:
        raise InputError("no pivots in the file; run `pivotrl select` and check its report", path=path)
    return rows


class PivotSampler:
    """Batches of pivot indices: a fresh seeded permutation per epoch, consumed in order.

    The whole order is a function of ``(seed, epoch, cursor)``, which :meth:`state_dict` saves,
    so a resumed run draws exactly the batches an uninterrupted run would.
    """

    def __init__(self, ids: Sequence[str], seed: int) -> None:
        if not ids:
            raise ValueError("PivotSampler needs at least one pivot")
        self.ids = list(ids)
        self.seed = seed
        self.epoch = 0
        self.cursor = 0
        self._order = self._permutation()

    @property
    def _distinct(self) -> int:
        return len(set(self.ids))

    def _permutation(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(len(self.ids), generator=g).tolist()

    def next_batch(self, size: int) -> list[str]:
        """The next ``size`` pivot ids (wrapping into a new epoch; no id twice in one batch when the
        pool has ``size`` distinct ids, else ids repeat: never a wait for ids that do not exist)."""
        if size < 1:
            raise ValueError(f"batch size must be >= 1, got {size}")
        out: list[str] = []
        while len(out) < size:
            if self.cursor >= len(self._order):
                self.epoch += 1
                self.cursor = 0
                self._order = self._permutation()
            pid = self.ids[self._order[self.cursor]]
            self.cursor += 1
            if pid in out and self._distinct >= size:
                continue
            out.append(pid)
        return out

    def reset(self, ids: Sequence[str]) -> None:
        """Replace the pool (pivot refresh); starts a new epoch over it."""
        self.ids = list(ids)
        self.epoch += 1
        self.cursor = 0
        self._order = self._permutation()

    def state_dict(self) -> dict[str, Any]:
        return {"ids": list(self.ids), "seed": self.seed, "epoch": self.epoch, "cursor": self.cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ids = list(state["ids"])
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])
        self.cursor = int(state["cursor"])
        self._order = self._permutation()
