"""Per-step metrics: one JSONL row per step (fsynced), TensorBoard scalars when installed, and
an optional experiment tracker (``tracker = "wandb"``).

On resume, rows after the checkpoint's step are dropped first, so the file never holds a step
twice; a W&B run is resumed under the id kept in ``<out>/tracker.json``. ``docs/trainer.md``
lists every metric name.
"""

from __future__ import annotations

import contextlib
import json
import math
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from ..errors import ConfigError
from ..jsonl import ResumableWriter, atomic_output, dumps, iter_jsonl

__all__ = ["MetricsLogger", "Tracker", "WandbTracker", "open_tracker", "progress", "read_metrics"]


class Tracker(Protocol):
    """An experiment tracker: receives each step's numeric metrics."""

    def log(self, metrics: Mapping[str, float], step: int) -> None: ...

    def close(self) -> None: ...


class WandbTracker:
    """Weights & Biases (``pip install wandb``; ``WANDB_MODE=offline`` works without an account).

    The run id is kept in ``<out>/tracker.json`` so ``--resume`` continues the same W&B run.
    """

    def __init__(self, out: Path, project: str, config: Mapping[str, Any]) -> None:
        try:
            import wandb
        except ImportError:
            raise ConfigError(
                "tracker = 'wandb' needs the wandb package: pip install 'pivotrl-core[wandb]'", key="tracker"
            ) from None
        state = out / "tracker.json"
        run_id = json.loads(state.read_text())["id"] if state.exists() else uuid.uuid4().hex[:12]
        if not state.exists():
            with atomic_output(state) as fh:
                json.dump({"tracker": "wandb", "id": run_id, "project": project}, fh)
        self._run = wandb.init(
            project=project, id=run_id, resume="allow", dir=str(out), config=dict(config), name=out.name
        )

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self._run.log({f"train/{k}": v for k, v in metrics.items()}, step=step)

    def close(self) -> None:
        self._run.finish()


def open_tracker(name: str, out: Path, project: str, config: Mapping[str, Any]) -> Tracker | None:
    """The tracker called ``name`` (``"none"``: no tracker)."""
    if name == "none":
        return None
    if name == "wandb":
        return WandbTracker(out, project, config)
    raise ConfigError(f"unknown tracker {name!r}; use 'none' or 'wandb'", key="tracker")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All rows of a metrics file (empty when it does not exist)."""
    p = Path(path)
    return [row for _, row in iter_jsonl(p)] if p.exists() else []


class MetricsLogger:
    """Append metrics rows to ``<out>/metrics.jsonl`` (and ``<out>/tb`` for TensorBoard)."""

    def __init__(
        self, out: Path, resume_step: int = 0, tensorboard: bool = True, tracker: Tracker | None = None
    ) -> None:
        self.path = out / "metrics.jsonl"
        self._tracker = tracker
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
        scalars = {
            k: v
            for k, v in clean.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step"
        }
        if self._tb is not None:
            for k, v in scalars.items():
                self._tb.add_scalar(f"train/{k}", v, row["step"])
            self._tb.flush()
        if self._tracker is not None:
            self._tracker.log(scalars, int(row["step"]))

    def close(self) -> None:
        self._writer.close()
        if self._tb is not None:
            self._tb.close()
        if self._tracker is not None:
            self._tracker.close()


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
