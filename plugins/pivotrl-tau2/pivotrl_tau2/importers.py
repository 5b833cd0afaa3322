"""Importers: tau-bench v1 historical trajectories and tau2 simulation results -> Trajectory rows.

- **tau-bench v1** (``historical_trajectories/*.json``): one JSON array of ``{task_id, reward,
  info, traj, trial}``; ``traj`` is OpenAI chat. The records carry no tool list: the tools are the
  tau2 environment's schemas plus v1's ``think``. The domain comes from the file name
  (``...-airline.json``) unless given.
- **tau2 results** (``Results``: ``info``, ``tasks``, ``simulations``; or a results folder with
  ``simulations/*.json``; or one simulation): agent tool calls are kept; calls the simulated user
  makes on its own device (telecom) and their results leave the chat but are kept in
  ``metadata.tau2.user_calls`` (``at`` = message index) so the verifier can replay them.

Every row's ``metadata.tau2`` has ``domain``, ``source``, ``task_id``, ``trial``, ``reward``
(v1 rows also ``gold_actions`` and ``outputs``, the v1 task's checks).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pivotrl_core import InputError, Message, OpenAIChatFormat, ToolCall, Trajectory

from .spec import DOMAINS, agent_system_prompt, domain_spec, solo_system_prompt
from .world import world

__all__ = ["detect_kind", "import_file", "iter_tau2_simulations", "iter_v1_records", "v1_record"]


def _load(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON ({e.msg})", path=path, line=e.lineno) from None
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror})", path=path) from None


def detect_kind(doc: Any) -> str:
    """``v1`` (a list of tau-bench records) or ``tau2`` (results, or one simulation)."""
    if isinstance(doc, list):
        return "v1"
    if isinstance(doc, dict) and ("simulations" in doc or ("messages" in doc and "task_id" in doc)):
        return "tau2"
    if isinstance(doc, dict) and "info" in doc:
        return "tau2"  # a results folder's results.json (simulations/ beside it)
    raise InputError("neither a tau-bench v1 trajectory list nor tau2 results")


def _domain_from_name(path: Path, domain: str | None) -> str:
    if domain:
        return domain_spec(domain).name
    for spec in DOMAINS.values():
        if spec.tau2_domain in path.name:
            return spec.name
    raise InputError("cannot tell the tau2 domain from the file name; pass --domain", path=path)


def v1_record(rec: Any, i: int, domain: str) -> Trajectory:
    """One tau-bench v1 record as a :class:`Trajectory` (errors name ``[i].field``)."""
    if not isinstance(rec, dict):
        raise InputError("expected a record object", field=f"[{i}]")
    for key in ("task_id", "traj"):
        if key not in rec:
            raise InputError("missing required field", field=f"[{i}].{key}")
    if not isinstance(rec["traj"], list):
        raise InputError("expected a list of messages", field=f"[{i}].traj")
    trial = rec.get("trial", 0)
    tid = f"tau-bench-v1-{domain_spec(domain).tau2_domain}-{rec['task_id']}-{trial}"
    try:
        (traj,) = OpenAIChatFormat().parse({"id": tid, "messages": rec["traj"]}, i)
    except InputError as e:
        raise InputError(e.message, field=f"[{i}].traj.{e.field}" if e.field else f"[{i}].traj") from None
    task = (rec.get("info") or {}).get("task") or {}
    meta = {
        "source": "tau-bench-v1",
        "tau2": {
            "domain": domain,
            "source": "tau-bench-v1",
            "task_id": str(rec["task_id"]),
            "trial": trial,
            "reward": rec.get("reward"),
            "gold_actions": task.get("actions") or [],
            "outputs": task.get("outputs") or [],
        },
    }
    tools = world(domain).tools_for(v1=True)
    return Trajectory(id=tid, messages=traj.messages, tools=tools, metadata=meta)


def iter_v1_records(path: Path, domain: str | None = None) -> Iterator[Trajectory]:
    """Trajectories of a tau-bench v1 historical trajectory file."""
    doc = _load(path)
    if not isinstance(doc, list):
        raise InputError("expected a JSON list of tau-bench records", path=path)
    dom = _domain_from_name(path, domain)
    for i, rec in enumerate(doc):
        try:
            yield v1_record(rec, i, dom)
        except InputError as e:
            raise InputError(e.message, path=path, field=e.field) from None


def _calls(m: dict[str, Any], where: str) -> list[dict[str, Any]]:
    calls = m.get("tool_calls") or []
    if not isinstance(calls, list):
        raise InputError("expected a list", field=f"{where}tool_calls")
    for j, tc in enumerate(calls):
        if not isinstance(tc, dict) or not isinstance(tc.get("name"), str) or not tc["name"]:
            raise InputError("tool call without a name", field=f"{where}tool_calls[{j}].name")
    return calls


def _sim_messages(sim: dict[str, Any]) -> tuple[list[Message], list[dict[str, Any]]]:
    """Chat messages and the user's own device calls of one tau2 simulation."""
    raw = sim.get("messages")
    if not isinstance(raw, list):
        raise InputError("expected a list of messages", field="messages")
    out: list[Message] = []
    user_calls: list[dict[str, Any]] = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]."
        if not isinstance(m, dict):
            raise InputError("expected a message object", field=where[:-1])
        role, content = m.get("role"), m.get("content")
        if content is not None and not isinstance(content, str):
            raise InputError("expected a string or null", field=f"{where}content")
        if role == "tool":
            if m.get("requestor", "assistant") == "assistant":
                out.append(Message("tool", content=content or "", tool_call_id=m.get("id")))
            continue
        if role not in ("user", "assistant", "system"):
            raise InputError(f"unknown role {role!r}", field=f"{where}role")
        calls = _calls(m, where)
        if role == "user":
            user_calls.extend(
                {"at": len(out), "name": tc["name"], "arguments": tc.get("arguments") or {}} for tc in calls
            )
            if content and content.strip():
                out.append(Message("user", content=content))
            continue
        tcs = tuple(
            ToolCall.from_raw(tc["name"], tc.get("arguments"), id=tc.get("id") or None) for tc in calls
        )
        if role == "assistant" or not out:
            out.append(Message(role, content=content, tool_calls=tcs))
    return out, user_calls


def _done_call(m: Message) -> Message:
    return Message("assistant", tool_calls=(ToolCall("done", {}, id="done"),))


def _sim_trajectory(sim: dict[str, Any], domain: str) -> Trajectory:
    for key in ("id", "task_id"):
        if not isinstance(sim.get(key), (str, int)):
            raise InputError("missing or not a string", field=key)
    msgs, user_calls = _sim_messages(sim)
    spec, w = domain_spec(domain), world(domain)
    solo = spec.solo and not user_calls and not any(m.role == "user" for m in msgs)
    task = None
    with contextlib.suppress(KeyError):
        task = w.task(str(sim["task_id"]))
    if solo and task is not None and task.ticket:
        system = solo_system_prompt(spec.tau2_domain, task.ticket)
        tools = w.tools
    else:
        system = agent_system_prompt(spec.tau2_domain)
        tools = tuple(t for t in w.tools if t["function"]["name"] in w.agent_tool_names)
    if solo:  # tau2 stores the solo agent's final ``done`` call as the text ###STOP###
        msgs = [
            _done_call(m)
            if m.role == "assistant" and not m.tool_calls and "###STOP###" in (m.content or "")
            else m
            for m in msgs
        ]
    if not msgs or msgs[0].role != "system":
        msgs.insert(0, Message("system", content=system))
        user_calls = [{**u, "at": u["at"] + 1} for u in user_calls]
    reward = (sim.get("reward_info") or {}).get("reward")
    meta: dict[str, Any] = {
        "domain": spec.name,
        "source": "tau2",
        "task_id": str(sim["task_id"]),
        "trial": sim.get("trial"),
        "reward": reward,
        "simulation_id": str(sim["id"]),
        "termination_reason": sim.get("termination_reason"),
    }
    if user_calls:
        meta["user_calls"] = user_calls
    return Trajectory(id=f"tau2-{sim['id']}", messages=tuple(msgs), tools=tools, metadata={"tau2": meta})


def iter_tau2_simulations(path: Path, domain: str | None = None) -> Iterator[Trajectory]:
    """Trajectories of a tau2 results file, results folder or single simulation file."""
    meta_path = path / "results.json" if path.is_dir() else path
    doc = _load(meta_path)
    if not isinstance(doc, dict):
        raise InputError("expected a tau2 results object", path=meta_path)
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    name = domain or ((info.get("environment_info") or {}).get("domain_name"))
    if not name:
        raise InputError("no info.environment_info.domain_name; pass --domain", path=meta_path)
    try:
        dom = domain_spec(name).name
    except KeyError as e:
        raise InputError(str(e.args[0]), path=meta_path, field="info.environment_info.domain_name") from None
    if "messages" in doc and "task_id" in doc:
        sims: list[tuple[Path, Any]] = [(meta_path, doc)]
    elif isinstance(doc.get("simulations"), list):
        sims = [(meta_path, s) for s in doc["simulations"]]
    elif (meta_path.parent / "simulations").is_dir():
        sims = [(f, _load(f)) for f in sorted((meta_path.parent / "simulations").glob("*.json"))]
    else:
        raise InputError(
            "no 'simulations' list and no simulations/ folder", path=meta_path, field="simulations"
        )
    for k, (file, sim) in enumerate(sims):
        if not isinstance(sim, dict):
            raise InputError("expected a simulation object", path=file, field=f"simulations[{k}]")
        try:
            yield _sim_trajectory(sim, dom)
        except InputError as e:
            prefix = f"simulations[{k}]." if file == meta_path and "simulations" in doc else ""
            raise InputError(e.message, path=file, field=f"{prefix}{e.field}" if e.field else None) from None


def import_file(path: str | Path, domain: str | None = None) -> Iterator[Trajectory]:
    """Trajectories of a v1 trajectory file or tau2 results (auto-detected)."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file or directory", path=p)
    if p.is_dir():
        return iter_tau2_simulations(p, domain)
    try:
        kind = detect_kind(_load(p))
    except InputError as e:
        raise InputError(e.message, path=p, line=e.line) from None
    return iter_v1_records(p, domain) if kind == "v1" else iter_tau2_simulations(p, domain)
