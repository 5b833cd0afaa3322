"""Repository tasks in SWE-bench's shape, read from an instances JSONL file.

Two kinds of rows are read:

- **file-based** (the shared HumanEvalFix-python pack): ``buggy_files``, ``test_files``,
  ``gold_files`` (path -> text), ``test_command``, ``FAIL_TO_PASS`` / ``PASS_TO_PASS``;
- **SWE-bench schema** (``repo``, ``base_commit``, ``patch``, ``test_patch``, ``FAIL_TO_PASS``,
  ``PASS_TO_PASS`` as lists or JSON strings) run in the instance's image: ``image`` (or
  ``image_name``) when the row names one, else the name SWE-bench's harness gives an instance
  image, ``sweb.eval.x86_64.<instance_id, lower case>:latest`` (:func:`swebench_image`). The
  repository is copied from ``repo_dir`` (default ``/testbed``) of that image into the work dir,
  ``test_patch`` is applied with ``git apply`` and ``test_command`` (default
  ``python -m pytest -rA``) runs the listed tests. It needs the image locally.

A task is *resolved* when every FAIL_TO_PASS and PASS_TO_PASS test passes (:mod:`.episode`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pivotrl_core import InputError, iter_jsonl

__all__ = [
    "DEFAULT_INSTANCES",
    "Task",
    "default_instances",
    "load_tasks",
    "split_of",
    "swebench_image",
    "task_from_row",
]

INSTANCES_ENV = "PIVOTRL_SWE_INSTANCES"
_PACK = Path("shared") / "data" / "humanevalfix-python" / "instances.jsonl"
DEFAULT_INSTANCES = Path("..") / _PACK


def default_instances() -> Path:
    """``$PIVOTRL_SWE_INSTANCES``, else ``../shared/data/humanevalfix-python/instances.jsonl`` from the
    working directory, else next to the source checkout this plugin lives in."""
    env = os.environ.get(INSTANCES_ENV)
    if env:
        return Path(env)
    if DEFAULT_INSTANCES.is_file():
        return DEFAULT_INSTANCES
    return Path(__file__).resolve().parents[3].parent / _PACK


@dataclass(frozen=True)
class Task:
    """One repository task. ``files`` is the repository at the base commit (file-based tasks)."""

    instance_id: str
    problem_statement: str
    files: Mapping[str, str] = field(default_factory=dict)
    test_files: Mapping[str, str] = field(default_factory=dict)
    gold_files: Mapping[str, str] = field(default_factory=dict)
    test_command: str = "python test.py"
    fail_to_pass: tuple[str, ...] = ()
    pass_to_pass: tuple[str, ...] = ()
    image: str | None = None
    repo_dir: str | None = None
    gold_patch: str | None = None
    test_patch: str | None = None
    entry_point: str | None = None

    @property
    def swebench_style(self) -> bool:
        """True for a task whose repository lives in its own image (SWE-bench schema)."""
        return self.image is not None and not self.files

    def to_dict(self) -> dict[str, Any]:
        return {"instance_id": self.instance_id, "image": self.image, "n_files": len(self.files)}


def swebench_image(instance_id: str, arch: str = "x86_64") -> str:
    """The tag SWE-bench's harness gives an instance image it builds (``TestSpec.instance_image_key``)."""
    return f"sweb.eval.{arch}.{instance_id.lower()}:latest"


def _str_list(row: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    raw = row.get(key) or []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise InputError(
                "expected a list of test names (or its JSON text)", field=f"{where}{key}"
            ) from None
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise InputError("expected a list of test names", field=f"{where}{key}")
    return tuple(raw)


def _files(row: Mapping[str, Any], key: str) -> dict[str, str]:
    raw = row.get(key) or {}
    if not isinstance(raw, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise InputError("expected an object mapping paths to file text", field=key)
    for path in raw:
        if path.startswith("/") or ".." in path.split("/"):
            raise InputError(f"path {path!r} must be relative to the repository", field=key)
    return dict(raw)


def task_from_row(row: Mapping[str, Any]) -> Task:
    """One instance row as a :class:`Task` (raises :class:`InputError` naming the field)."""
    if not isinstance(row.get("instance_id"), str) or not row["instance_id"]:
        raise InputError("missing required field (a non-empty string)", field="instance_id")
    statement = row.get("problem_statement")
    if not isinstance(statement, str):
        raise InputError("missing required field (a string)", field="problem_statement")
    files = _files(row, "buggy_files")
    image = row.get("image") or row.get("image_name")
    if image is not None and not isinstance(image, str):
        raise InputError("expected the image's name (a string)", field="image")
    if not files and image is None:
        if not isinstance(row.get("test_patch"), str) and not row.get("FAIL_TO_PASS"):
            raise InputError(
                "a task needs buggy_files, or SWE-bench fields (test_patch, FAIL_TO_PASS) and its image",
                field="buggy_files",
            )
        image = swebench_image(row["instance_id"])
    default_cmd = "python test.py" if files else "python -m pytest -rA"
    command = row.get("test_command", default_cmd)
    if not isinstance(command, str) or not command.strip():
        raise InputError("expected a non-empty shell command", field="test_command")
    return Task(
        instance_id=row["instance_id"],
        problem_statement=statement,
        files=files,
        test_files=_files(row, "test_files"),
        gold_files=_files(row, "gold_files"),
        test_command=command,
        fail_to_pass=_str_list(row, "FAIL_TO_PASS", ""),
        pass_to_pass=_str_list(row, "PASS_TO_PASS", ""),
        image=image if isinstance(image, str) else None,
        repo_dir=row.get("repo_dir") or ("/testbed" if not files else None),
        gold_patch=row.get("patch"),
        test_patch=row.get("test_patch"),
        entry_point=row.get("entry_point"),
    )


def iter_tasks(path: str | Path) -> Iterator[Task]:
    for lineno, row in iter_jsonl(path):
        try:
            yield task_from_row(row)
        except InputError as e:
            raise e.located(path, lineno) from None


def load_tasks(
    path: str | Path | None = None, ids: list[str] | None = None, limit: int | None = None
) -> list[Task]:
    """Tasks of an instances file (default: the shared HumanEvalFix pack), optionally by id."""
    source = Path(path) if path is not None else default_instances()
    if not source.is_file():
        raise InputError(
            "no such instances file (the HumanEvalFix pack is ../shared/data/humanevalfix-python)",
            path=source,
        )
    tasks = list(iter_tasks(source))
    if ids:
        known = {t.instance_id: t for t in tasks}
        missing = [i for i in ids if i not in known]
        if missing:
            raise InputError(f"unknown instance id(s): {', '.join(missing[:5])}", path=source)
        tasks = [known[i] for i in ids]
    return tasks[:limit] if limit is not None else tasks


def split_of(instance_id: str, validation: float = 0.1, heldout: float = 0.2, warmup: float = 0.2) -> str:
    """The split of a task, fixed by a hash of its id: ``heldout`` (20%), ``validation`` (10%),
    ``warmup`` (20%, the format warm-up's demonstrations) or ``train`` (the rest)."""
    u = int(hashlib.sha256(instance_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    for name, upper in (
        ("heldout", heldout),
        ("validation", heldout + validation),
        ("warmup", heldout + validation + warmup),
    ):
        if u < upper:
            return name
    return "train"
