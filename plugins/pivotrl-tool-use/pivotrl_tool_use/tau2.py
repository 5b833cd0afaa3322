"""Import tau2-Bench simulation results as SFT trajectories.

tau2-Bench (github.com/sierra-research/tau2-bench, ``src/tau2/data_model/simulation.py``) saves a
run as one JSON document, ``Results``: ``info`` (with ``environment_info.policy`` and
``environment_info.tool_defs``: ``{name: {name, doc, params}}``), ``tasks`` and ``simulations``.
Each ``SimulationRun`` has ``id``, ``task_id``, ``trial``, ``termination_reason``,
``reward_info.reward`` and ``messages``: ``role`` ``user``/``assistant``/``tool``, ``content``,
``tool_calls`` (``id``, ``name``, ``arguments`` as an object, ``requestor``); tool results carry
the call's ``id`` and a ``requestor``. Newer versions may store the simulations as separate files
(``results.json`` + ``simulations/<id>.json``, the "dir" format); both are read here.

Mapping: the domain policy becomes the system message (``system_prompt=False`` drops it), the
agent's tool calls and their results are kept, tool calls made *by the simulated user* (telecom
domain) and their results are dropped (the agent never sees them), user messages keep their
text. Only successful simulations (``reward >= min_reward``, default 1.0) are kept as
demonstrations unless ``keep_failed``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pivotrl_core import InputError, Message, OpenAIChatFormat, ToolCall, Trajectory, write_jsonl

__all__ = [
    "ImportStats",
    "Tau2Format",
    "import_tau2",
    "iter_simulations",
    "simulation_to_trajectory",
    "tau2_tools",
]


@dataclass
class ImportStats:
    """Counts of one import."""

    simulations: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    user_tool_messages_dropped: int = 0

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


def tau2_tools(tool_defs: Any) -> tuple[dict[str, Any], ...]:
    """tau2 ``ToolSignature`` objects as OpenAI function tools."""
    if not isinstance(tool_defs, dict):
        return ()
    tools = []
    for name, sig in tool_defs.items():
        sig = sig if isinstance(sig, dict) else {}
        params = sig.get("params") or {"type": "object", "properties": {}}
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": sig.get("name", name),
                    "description": (sig.get("doc") or "").strip(),
                    "parameters": params,
                },
            }
        )
    return tuple(tools)


def _message(m: Any, where: str, stats: ImportStats | None) -> Message | None:
    if not isinstance(m, dict):
        raise InputError("expected a message object", field=where.rstrip("."))
    role = m.get("role")
    content = m.get("content")
    if content is not None and not isinstance(content, str):
        raise InputError("expected a string or null", field=f"{where}content")
    if role == "tool":
        if m.get("requestor", "assistant") != "assistant":
            if stats is not None:
                stats.user_tool_messages_dropped += 1
            return None
        return Message(role="tool", content=content or "", tool_call_id=m.get("id"))
    if role not in ("user", "assistant", "system"):
        raise InputError(f"unknown role {role!r}", field=f"{where}role")
    calls = []
    for i, tc in enumerate(m.get("tool_calls") or ()):
        if not isinstance(tc, dict) or not isinstance(tc.get("name"), str) or not tc["name"]:
            raise InputError("tool call without a name", field=f"{where}tool_calls[{i}].name")
        if tc.get("requestor", role) == "user" or role == "user":
            continue
        calls.append(ToolCall.from_raw(tc["name"], tc.get("arguments"), id=tc.get("id") or None))
    if role == "user" and m.get("tool_calls"):
        if stats is not None:
            stats.user_tool_messages_dropped += 1
        if not (content or "").strip():
            return None
    return Message(role=role, content=content, tool_calls=tuple(calls))


def simulation_to_trajectory(
    sim: dict[str, Any],
    tools: tuple[dict[str, Any], ...] = (),
    policy: str | None = None,
    stats: ImportStats | None = None,
) -> Trajectory:
    """One tau2 ``SimulationRun`` (a dict) as a :class:`Trajectory`."""
    for key in ("id", "task_id"):
        if not isinstance(sim.get(key), (str, int)):
            raise InputError("missing or not a string", field=key)
    raw = sim.get("messages")
    if not isinstance(raw, list):
        raise InputError("expected a list of messages", field="messages")
    msgs = [Message(role="system", content=policy)] if policy else []
    for i, m in enumerate(raw):
        msg = _message(m, f"messages[{i}].", stats)
        if msg is not None and not (msg.role == "system" and msgs):
            msgs.append(msg)
    reward = (sim.get("reward_info") or {}).get("reward")
    meta = {
        "source": "tau2",
        "tau2": {
            "simulation_id": str(sim["id"]),
            "task_id": str(sim["task_id"]),
            "trial": sim.get("trial"),
            "reward": reward,
            "termination_reason": sim.get("termination_reason"),
        },
    }
    return Trajectory(id=f"tau2-{sim['id']}", messages=tuple(msgs), tools=tools, metadata=meta)


def _load(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON ({e.msg})", path=path, line=e.lineno) from None


def iter_simulations(path: str | Path) -> Iterator[tuple[Path, dict[str, Any], dict[str, Any]]]:
    """Yield ``(file, info, simulation)`` for a results file, a results directory or one simulation."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file or directory", path=p)
    meta_path = p / "results.json" if p.is_dir() else p
    doc = _load(meta_path)
    if not isinstance(doc, dict):
        raise InputError("expected a tau2 results object", path=meta_path)
    if "messages" in doc and "task_id" in doc:  # a single simulation file
        yield meta_path, {}, doc
        return
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    sims = doc.get("simulations")
    if sims is None:
        sim_dir = meta_path.parent / "simulations"
        if not sim_dir.is_dir():
            raise InputError(
                "no 'simulations' list and no simulations/ folder", path=meta_path, field="simulations"
            )
        for f in sorted(sim_dir.glob("*.json")):
            sim = _load(f)
            if not isinstance(sim, dict):
                raise InputError("expected a simulation object", path=f)
            yield f, info, sim
        return
    if not isinstance(sims, list):
        raise InputError("expected a list", path=meta_path, field="simulations")
    for sim in sims:
        if not isinstance(sim, dict):
            raise InputError("expected a simulation object", path=meta_path, field="simulations[]")
        yield meta_path, info, sim


def _trajectories(
    paths: list[str | Path], min_reward: float, keep_failed: bool, system_prompt: bool, stats: ImportStats
) -> Iterator[Trajectory]:
    for path in paths:
        for file, info, sim in iter_simulations(path):
            stats.simulations += 1
            reward = (sim.get("reward_info") or {}).get("reward")
            if not keep_failed:
                if not isinstance(reward, (int, float)):
                    stats.drop("no_reward")
                    continue
                if reward < min_reward - 1e-9:
                    stats.drop("failed")
                    continue
            env = info.get("environment_info") or {}
            policy = env.get("policy") if system_prompt else None
            try:
                traj = simulation_to_trajectory(sim, tau2_tools(env.get("tool_defs")), policy, stats)
            except InputError as e:
                raise InputError(e.message, path=file, field=e.field) from None
            stats.kept += 1
            yield traj


def import_tau2(
    paths: str | Path | list[str | Path],
    output: str | Path,
    min_reward: float = 1.0,
    keep_failed: bool = False,
    system_prompt: bool = True,
) -> ImportStats:
    """Convert tau2 results (files, result folders or single simulations) to a trajectories JSONL
    file (OpenAI chat rows, written atomically). Returns the counts."""
    stats = ImportStats()
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    fmt = OpenAIChatFormat()
    trajectories = _trajectories(items, min_reward, keep_failed, system_prompt, stats)
    write_jsonl(output, (fmt.dump(t) for t in trajectories))
    return stats


class Tau2Format:
    """``tau2``: JSONL with one tau2 ``SimulationRun`` per line (read-only).

    Only successful simulations (reward 1) become trajectories; others yield nothing. A whole
    tau2 results file is one JSON document: convert it with ``pivotrl tool-use import-tau2``.
    """

    name = "tau2"
    description = "tau2-Bench simulations, one SimulationRun per line (successful ones kept)"
    priority = 10  # a tau2 row also looks like an OpenAI chat row; the more specific sniff wins

    def sniff(self, row: dict[str, Any]) -> bool:
        return (
            "task_id" in row and "messages" in row and ("reward_info" in row or "termination_reason" in row)
        )

    def parse(self, row: dict[str, Any], index: int) -> Iterator[Trajectory]:
        reward = (row.get("reward_info") or {}).get("reward")
        if isinstance(reward, (int, float)) and reward >= 1.0 - 1e-9:
            tools = tau2_tools(row.get("tool_defs"))
            yield simulation_to_trajectory(
                row, tools, row.get("policy") if isinstance(row.get("policy"), str) else None
            )

    def dump(self, trajectory: Trajectory) -> dict[str, Any]:
        raise NotImplementedError("the tau2 format is read-only")
