"""A loaded task (:class:`Task`), and Terminal-Bench 1 task folders (``task.yaml``).

Terminal-Bench 2 tasks come in Harbor's format (:mod:`pivotrl_terminal.harbor`); both load into
:class:`Task`. The Terminal-Bench 1 layout (pivotrl additions marked +)::

    <task>/
      task.yaml       instruction (required), author_name, difficulty, category, tags,
                      parser_name, max_agent_timeout_sec, max_test_timeout_sec
      solution.sh     the reference solution (used by the oracle agent)
      run-tests.sh    the test runner; runs in the work dir with $TEST_DIR = the copied tests/
      tests/          test files, copied into the sandbox only after the agent finished
      environment/    + files placed in the work dir before the agent starts
      setup.sh        + a script run in the work dir before the agent starts

Such a task passes when ``run-tests.sh`` exits with status 0 (``parser_name`` ``exit_code``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from pivotrl_core import InputError

__all__ = ["Task", "bundled_tasks_dir"]

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
    workdir: str = "/work"
    memory_mb: int | None = None
    test_script: str = "run-tests.sh"
    reward_file: str | None = None
    format: str = "terminal-bench"

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
            name=folder.name,
            path=folder,
            instruction=instruction.strip(),
            agent_timeout_s=_number(meta, "max_agent_timeout_sec", 600.0, spec),
            test_timeout_s=_number(meta, "max_test_timeout_sec", 60.0, spec),
            environment=_read_tree(folder / "environment"),
            setup=optional.get("setup.sh"),
            solution=optional.get("solution.sh"),
            tests=tests,
            meta=meta,
        )

    def initial_state(self) -> dict[str, Any]:
        """The sandbox state before the agent's first turn (``metadata.sandbox`` of candidates)."""
        state: dict[str, Any] = {
            "files": {k: v.decode("utf-8", "replace") for k, v in self.environment.items()}
        }
        state["setup"] = [self.setup] if self.setup else []
        return state
