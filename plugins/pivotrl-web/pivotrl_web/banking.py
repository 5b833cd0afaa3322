"""The tau2 banking knowledge-base data: where it is, its tasks, its initial database, splits.

The data (MIT, sierra-research/tau2-bench) is not shipped in the wheel: it is read from
``$PIVOTRL_WEB_DATA``, else from the first ``shared/data/tau2-banking`` found beside the current
directory or this package's checkout. Tasks come from ``tasks/task_*.json`` (the set upstream
code loads), documents from ``documents/``, the database from ``db.json``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pivotrl_core import ConfigError, InputError

__all__ = [
    "BankingData",
    "Task",
    "data_dir",
    "load_banking",
    "split_of",
]

DATA_ENV = "PIVOTRL_WEB_DATA"
_RELATIVE = Path("shared") / "data" / "tau2-banking"


def data_dir() -> Path:
    """The tau2 banking data folder (``$PIVOTRL_WEB_DATA`` or a ``shared/data`` nearby)."""
    env = os.environ.get(DATA_ENV)
    if env:
        path = Path(env)
        if not (path / "tasks").is_dir():
            raise ConfigError(f"${DATA_ENV}={env} has no tasks/ folder (expected the tau2-banking data)")
        return path
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for base in (start, *start.parents):
            for cand in (base / _RELATIVE, base.parent / _RELATIVE):
                if (cand / "tasks").is_dir():
                    return cand
    raise ConfigError(
        f"cannot find the tau2-banking data: set ${DATA_ENV} to the folder with tasks/, documents/, db.json"
    )


@dataclass(frozen=True)
class Task:
    """One banking task: the user's brief, initial-state patch, gold actions and required documents."""

    id: str
    instructions: str
    agent_data: Mapping[str, Any]
    actions: tuple[dict[str, Any], ...]
    reward_basis: tuple[str, ...]
    required_documents: tuple[str, ...]
    user_tools: tuple[str, ...]

    @property
    def gold_read_tools(self) -> frozenset[str]:
        """Discoverable tools the gold actions call (upstream logs these reads too)."""
        return frozenset(
            a["arguments"].get("agent_tool_name", "")
            for a in self.actions
            if a["name"] == "call_discoverable_agent_tool"
        )

    @property
    def offline(self) -> bool:
        """Whether the official reward needs no LLM (every task but the NL-assertion one)."""
        return "NL_ASSERTION" not in self.reward_basis


def _task(raw: dict[str, Any], path: Path) -> Task:
    try:
        scenario = raw["user_scenario"]
        init = (raw.get("initial_state") or {}).get("initialization_data") or {}
        crit = raw["evaluation_criteria"]
        return Task(
            id=raw["id"],
            instructions=scenario["instructions"],
            agent_data=init.get("agent_data") or {},
            actions=tuple(crit.get("actions") or ()),
            reward_basis=tuple(crit.get("reward_basis") or ()),
            required_documents=tuple(raw.get("required_documents") or ()),
            user_tools=tuple(raw.get("user_tools") or ()),
        )
    except (KeyError, TypeError, AttributeError) as e:
        raise InputError(f"malformed task ({e})", path=path) from None


@dataclass(frozen=True)
class BankingData:
    """The loaded pack: folder, tasks by id and the initial database."""

    root: Path
    tasks: Mapping[str, Task]
    db: Mapping[str, Any]
    _patched: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def documents_dir(self) -> Path:
        return self.root / "documents"

    def initial_db(self, task: Task) -> dict[str, Any]:
        """The database with the task's ``agent_data`` patch merged in (built once per task).

        Tables are shared, read-only: :class:`~pivotrl_web.world.World` copies a table before its
        first write."""
        base = self._patched.get(task.id)
        if base is None:
            base = dict(self.db)
            for name in task.agent_data:
                base[name] = copy.deepcopy(base.get(name, {}))
            _merge(base, task.agent_data)
            self._patched[task.id] = base
        return dict(base)


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


@functools.lru_cache(maxsize=4)
def load_banking(root: str | Path | None = None) -> BankingData:
    """Read the pack (cached per folder)."""
    base = Path(root) if root is not None else data_dir()
    tasks = {}
    for path in sorted((base / "tasks").glob("task_*.json")):
        task = _task(json.loads(path.read_text(encoding="utf-8")), path)
        tasks[task.id] = task
    if not tasks:
        raise InputError("no tasks/task_*.json files", path=base)
    db = json.loads((base / "db.json").read_text(encoding="utf-8"))
    return BankingData(base, tasks, db)


def split_of(task_id: str) -> str:
    """``heldout`` (about 20%), ``validation`` (about 10%), ``warmup`` (about 10%: the format
    warm-up's demonstrations) or ``train``, fixed by the task id."""
    bucket = int(hashlib.sha256(f"pivotrl-web/{task_id}".encode()).hexdigest(), 16) % 10
    if bucket < 2:
        return "heldout"
    return {2: "validation", 3: "warmup"}.get(bucket, "train")
