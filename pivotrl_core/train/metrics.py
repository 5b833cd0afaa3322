"""Per-step metrics: one JSONL row per step (fsynced), and TensorBoard scalars when installed.

On resume, rows after the checkpoint's step are dropped first, so the file never holds a step
twice. ``docs/trainer.md`` lists every metric name.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..jsonl import ResumableWriter, dumps, iter_jsonl

__all__ = ["MetricsLogger", "progress", "read_metrics"]


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All rows of a metrics file (empty when it does not exist)."""
    p = Path(path)
    return [row for _, row in iter_jsonl(p)] if p.exists() else []


class MetricsLogger:
    """Append metrics rows to ``<out>/metrics.jsonl`` (and ``<out>/tb`` for TensorBoard)."""

    def __init__(self, out: Path, resume_step: int = 0, tensorboard: bool = True) -> None:
        self.path = out / "metrics.jsonl"
        if self.path.exists():
            self._truncate_after(resume_step)
        self._writer = ResumableWriter(self.path, key="step")
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard not installed: JSONL only
                SummaryWriter = None  # noqa: N806
            if SummaryWriter is not None:
                self._tb = SummaryWriter(str(out / "tb"), purge_step=resume_step + 1 if resume_step else None)

    def _truncate_after(self, step: int) -> None:
        from ..jsonl import atomic_output

        # a torn last line (crash mid-write) is repaired by opening a ResumableWriter first
        ResumableWriter(self.path, key="step").close()
        rows = [row for row in read_metrics(self.path) if int(row.get("step", 0)) <= step]
        with atomic_output(self.path) as fh:
            for row in rows:
                fh.write(dumps(row) + "\n")

    def log(self, row: dict[str, Any]) -> None:
        """Write one step's row (``step`` is required)."""
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        self._writer.write(clean)
        if self._tb is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step":
                    self._tb.add_scalar(f"train/{k}", v, row["step"])
            self._tb.flush()

    def close(self) -> None:
        self._writer.close()
        if self._tb is not None:
            self._tb.close()


@contextlib.contextmanager
def progress(
    label: str, enabled: bool, total: int, start: int, describe: Callable[[dict[str, Any]], str]
) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Yield ``advance(row)``: a rich progress bar over steps (a no-op when disabled)."""
    if not enabled:
        yield lambda row: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns) as bar:
        task = bar.add_task("", total=total, completed=start)
        yield lambda row: bar.update(task, advance=1, description=describe(row))
