"""Terminal-Bench style task folders: loading and validation.

Layout (from the public Terminal-Bench repository; pivotrl additions marked +)::

    <task>/
      task.yaml       instruction (required), author_name, difficulty, category, tags,
                      parser_name, max_agent_timeout_sec, max_test_timeout_sec
      solution.sh     the reference solution (used by the oracle agent)
      run-tests.sh    the test runner; runs in the work dir with $TEST_DIR = the copied tests/
      tests/          test files, copied into the sandbox only after the agent finished
      environment/    + files placed in the work dir before the agent starts
      setup.sh        + a script run in the work dir before the agent starts
      Dockerfile      not built (no registry): environment/ and setup.sh take its place

A task passes when ``run-tests.sh`` exits with status 0 (``parser_name`` ``exit_code``; a
``pytest`` parser would need pytest in the image, which the offline image does not have).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from pivotrl_core.errors import InputError

__all__ = ["Task", "bundled_tasks_dir", "load_tasks"]

PARSERS = ("exit_code", "pytest")


def bundled_tasks_dir() -> Path:
    """The fixture tasks shipped with the plugin."""
    return Path(str(files("pivotrl_terminal") / "tasks"))


def _read_tree(root: Path) -> dict[str, bytes]:
    if not root.is_dir():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _number(meta: dict[str, Any], key: str, default: float, path: Path) -> float:
    value = meta.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InputError(f"expected a positive number of seconds, got {value!r}", path=path, field=key)
    return float(value)


@dataclass(frozen=True)
class Task:
    """One task folder, loaded."""

    name: str
    path: Path
    instruction: str
    agent_timeout_s: float = 600.0
    test_timeout_s: float = 60.0
    environment: dict[str, bytes] = field(default_factory=dict)
    setup: str | None = None
    solution: str | None = None
    tests: dict[str, bytes] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: str | Path) -> Task:
        """Read and check a task folder; bad content raises InputError naming the file and field."""
        folder = Path(folder)
        spec = folder / "task.yaml"
        if not spec.is_file():
            raise InputError("a task folder needs a task.yaml", path=spec)
        try:
            meta = yaml.safe_load(spec.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            line = getattr(getattr(e, "problem_mark", None), "line", None)
            raise InputError(
                f"invalid YAML: {e}", path=spec, line=None if line is None else line + 1
            ) from None
        if not isinstance(meta, dict):
            raise InputError("expected a mapping of task fields", path=spec)
        instruction = meta.get("instruction")
        if not isinstance(instruction, str) or not instruction.strip():
            raise InputError("missing or empty instruction", path=spec, field="instruction")
        parser = meta.get("parser_name", "exit_code")
        if parser not in PARSERS:
            raise InputError(
                f"unknown parser {parser!r}; use {' or '.join(PARSERS)}", path=spec, field="parser_name"
            )
        runner = folder / "run-tests.sh"
        if not runner.is_file():
            raise InputError("a task folder needs run-tests.sh", path=runner)
        tests = {"run-tests.sh": runner.read_bytes(), **_read_tree(folder / "tests")}
        optional = {
            n: (folder / n).read_text(encoding="utf-8")
            for n in ("setup.sh", "solution.sh")
            if (folder / n).is_file()
        }
        return cls(
            name=folder.name, path=folder, instruction=instruction.strip(),
            agent_timeout_s=_number(meta, "max_agent_timeout_sec", 600.0, spec),
            test_timeout_s=_number(meta, "max_test_timeout_sec", 60.0, spec),
            environment=_read_tree(folder / "environment"), setup=optional.get("setup.sh"),
            solution=optional.get("solution.sh"), tests=tests, meta=meta,
        )  # fmt: skip

    def initial_state(self) -> dict[str, Any]:
        """The sandbox state before the agent's first turn (``metadata.sandbox`` of candidates)."""
        state: dict[str, Any] = {
            "files": {k: v.decode("utf-8", "replace") for k, v in self.environment.items()}
        }
        state["setup"] = [self.setup] if self.setup else []
        return state


def load_tasks(source: str | Path | None = None, names: list[str] | None = None) -> list[Task]:
    """Tasks from ``source``: a task folder, a folder of task folders, or the bundled fixtures."""
    root = Path(source) if source else bundled_tasks_dir()
    if not root.is_dir():
        raise InputError("no such task folder", path=root)
    folders = (
        [root]
        if (root / "task.yaml").is_file()
        else sorted(p for p in root.iterdir() if (p / "task.yaml").is_file())
    )
    if names:
        unknown = sorted(set(names) - {f.name for f in folders})
        if unknown:
            raise InputError(
                f"unknown task(s) {', '.join(unknown)}; found {', '.join(f.name for f in folders)}", path=root
            )
        folders = [f for f in folders if f.name in names]
    if not folders:
        raise InputError("no task folders (with a task.yaml) here", path=root)
    return [Task.load(f) for f in folders]
