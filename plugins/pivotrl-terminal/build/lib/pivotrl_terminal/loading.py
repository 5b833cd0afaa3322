"""Task folders of either format: Harbor's (``task.toml``) and Terminal-Bench 1's (``task.yaml``)."""

from __future__ import annotations

from pathlib import Path

from pivotrl_core import InputError

from .harbor import load_harbor_task
from .task import Task, bundled_tasks_dir

__all__ = ["load_task", "load_tasks"]


def _is_task(folder: Path) -> bool:
    return (folder / "task.yaml").is_file() or (folder / "task.toml").is_file()


def load_task(folder: str | Path) -> Task:
    """One task folder, in Harbor's format (``task.toml``) or Terminal-Bench 1's (``task.yaml``)."""
    folder = Path(folder)
    return load_harbor_task(folder) if (folder / "task.toml").is_file() else Task.load(folder)


def load_tasks(source: str | Path | None = None, names: list[str] | None = None) -> list[Task]:
    """Tasks from ``source``: a task folder, a folder of task folders, or the bundled tasks."""
    root = Path(source) if source else bundled_tasks_dir()
    if not root.is_dir():
        raise InputError("no such task folder", path=root)
    folders = [root] if _is_task(root) else sorted(p for p in root.iterdir() if _is_task(p))
    if names:
        unknown = sorted(set(names) - {f.name for f in folders})
        if unknown:
            raise InputError(
                f"unknown task(s) {', '.join(unknown)}; found {', '.join(f.name for f in folders)}", path=root
            )
        folders = [f for f in folders if f.name in names]
    if not folders:
        raise InputError("no task folders (with a task.toml or task.yaml) here", path=root)
    return [load_task(f) for f in folders]
