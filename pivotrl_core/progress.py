"""Rich progress bars for long stages (written to stderr; quiet when disabled)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["StageBar", "profile_progress", "task_bar"]


def task_bar() -> Progress:
    """A transient stderr bar showing description, bar, done/total and elapsed time (for plugin
    commands that walk a known number of items)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


class StageBar:
    """Counts finished items and samples; shows items/s, samples/s and the ETA."""

    def __init__(self, progress: Progress | None, task: int | None) -> None:
        self.progress, self.task = progress, task
        self.start = time.perf_counter()
        self.items = 0
        self.samples = 0

    def _update(self, advance: int) -> None:
        if self.progress is None or self.task is None:
            return
        dt = max(time.perf_counter() - self.start, 1e-9)
        rate = f"{self.items / dt:.2f} cand/s, {self.samples / dt:.1f} samples/s"
        self.progress.update(self.task, advance=advance, rate=rate)

    def skip(self) -> None:
        """An item that was already done (resumed): counted, not in the rate."""
        self.start = time.perf_counter() if self.items == 0 else self.start
        self._update(1)

    def advance(self, samples: int = 0) -> None:
        self.items += 1
        self.samples += samples
        self._update(1)


@contextlib.contextmanager
def profile_progress(total: int, enabled: bool = True, label: str = "profiling") -> Iterator[StageBar]:
    """A progress bar over ``total`` items (a no-op bar when ``enabled`` is false)."""
    if not enabled:
        yield StageBar(None, None)
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with progress:
        task = progress.add_task(label, total=total, rate="")
        yield StageBar(progress, task)
