"""tau2 worlds: each domain's databases loaded once, a fresh environment per use from a deep copy.

tau2's own constructors re-parse ``db.json`` (7 MB for airline) every time an environment is
built; here :func:`world` parses it once per process and :meth:`World.fresh` hands each
environment a ``copy.deepcopy`` of the parsed model. tau2 is imported lazily (``import tau2``
costs about a second), so listing domains stays fast.
"""

from __future__ import annotations

import copy
import functools
import importlib
import threading
from typing import Any

from .spec import THINK_TOOL, DomainSpec, domain_spec

__all__ = ["WRITE", "World", "world"]

WRITE = "write"
"""tau2's ``ToolType.WRITE`` value: a tool that may change a database."""


class World:
    """One tau2 domain: pristine databases, tool schemas and types, tasks and splits."""

    def __init__(self, spec: DomainSpec) -> None:
        from loguru import logger

        logger.disable("tau2")  # tau2 logs every tool response at DEBUG level
        self.spec = spec
        self._env_module = importlib.import_module(f"tau2.domains.{spec.tau2_domain}.environment")
        base = self._env_module.get_environment(solo_mode=spec.solo)
        self._db = base.tools.db
        self._user_db = base.user_tools.db if base.user_tools is not None else None
        self.policy: str = base.policy
        self.agent_tool_names = frozenset(base.tools.tools)
        self._lock = threading.Lock()
        kits = [base.tools] + ([base.user_tools] if base.user_tools is not None and spec.solo else [])
        self.tool_types: dict[str, str] = {
            name: str(kit.tool_type(name).value) for kit in kits for name in kit.tools
        }
        schemas = [t.openai_schema for kit in kits for t in kit.get_tools().values()]
        if spec.solo:
            schemas.append(_done_schema())
        self.tools: tuple[dict[str, Any], ...] = tuple(schemas)
        self._tasks: dict[str, Any] | None = None

    @property
    def small(self) -> bool:
        """Telecom's databases are tiny: copy and hash on every call instead of sharing state."""
        return self.spec.tau2_domain == "telecom"

    def fresh(self, solo_mode: bool | None = None) -> Any:
        """A new tau2 ``Environment`` over deep copies of the pristine databases."""
        solo = self.spec.solo if solo_mode is None else solo_mode
        with self._lock:
            db = copy.deepcopy(self._db)
            user_db = copy.deepcopy(self._user_db) if self._user_db is not None else None
        if user_db is not None:
            return self._env_module.get_environment(db=db, user_db=user_db, solo_mode=solo)
        return self._env_module.get_environment(db=db, solo_mode=solo)

    def tools_for(self, v1: bool = False) -> tuple[dict[str, Any], ...]:
        """The agent's tool schemas; ``v1`` adds tau-bench v1's ``think`` tool."""
        return (*self.tools, THINK_TOOL) if v1 else self.tools

    def is_write(self, name: str) -> bool:
        """Whether a tool may change state (unknown names and v1's ``think`` do not)."""
        return self.tool_types.get(name) == WRITE

    def tasks(self, split: str | None = "base") -> list[Any]:
        """tau2's tasks of a split (``train``/``test``/``base``; None: every task of the file)."""
        return list(self._env_module.get_tasks(split))

    def task(self, task_id: str) -> Any:
        """One task by id (from the domain's whole task file), or KeyError."""
        if self._tasks is None:
            self._tasks = {t.id: t for t in self._env_module.get_tasks(None)}
        return self._tasks[str(task_id)]

    def splits(self) -> dict[str, list[str]]:
        return dict(self._env_module.get_tasks_split())


def _done_schema() -> dict[str, Any]:
    """The ``done`` stop tool tau2's solo agent adds (``LLMSoloAgent.add_stop_tool``)."""
    return {
        "type": "function",
        "function": {
            "name": "done",
            "description": "Call this function when you are done with the task.",
            "parameters": {"type": "object", "properties": {}, "required": []},
        },
    }


@functools.cache
def _world(tau2_domain: str) -> World:
    return World(domain_spec(tau2_domain))


_WORLD_LOCK = threading.Lock()


def world(name: str) -> World:
    """The process-wide :class:`World` of a domain (``tau2-airline`` or ``airline``), built once."""
    with _WORLD_LOCK:
        return _world(domain_spec(name).tau2_domain)
