"""NVIDIA NeMo Gym pivot rows, read and written (``docs/formats.md``, "NeMo Gym pivot rows").

A row is ONE pivot: ``responses_create_params.input`` (Responses-API items) is the prefix and
``expected_action`` (``function_call``, ``function_call_batch`` or ``message``) or, for Terminus
rows, ``expected_answer`` (a string) is the demonstrated action. Reading a row gives a trajectory
``prefix + [expected]`` whose ``metadata.pivot_turn`` marks the one turn to extract, and whose
``metadata.nemo_gym`` keeps everything else of the row (top-level fields, ``null`` parameters,
item ids and statuses, the exact argument strings), so :func:`candidate_to_row` gives back the
same JSON values. Candidates from elsewhere get a freshly built, valid row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..domains import PIVOT_TURN, candidate_at
from ..errors import InputError
from ..types import Candidate, Message, ToolCall, Trajectory
from ._util import chat_tools, require, to_flat_tool
from .responses_api import (
    decode_text,
    encode_text,
    fill_call,
    items_to_messages,
    messages_to_items,
    read_call,
)

__all__ = ["NemoGymFormat", "candidate_to_row", "parse_row", "row_to_candidate"]

META_KEY = "nemo_gym"
RCP = "responses_create_params"


def _expected(row: dict[str, Any]) -> tuple[Message, str, dict[str, Any]]:
    """The demonstrated action: ``(message, row key, skeleton)``."""
    ea = row.get("expected_action")
    if ea is None and "expected_answer" in row:
        answer = row["expected_answer"]
        if not isinstance(answer, str):
            raise InputError(f"expected a string, got {type(answer).__name__}", field="expected_answer")
        return Message(role="assistant", content=answer), "expected_answer", {"kind": "answer"}
    if ea is None:
        raise InputError(
            "missing required field (a pivot row needs expected_action or expected_answer)",
            field="expected_action",
        )
    if not isinstance(ea, dict):
        raise InputError(f"expected an object, got {type(ea).__name__}", field="expected_action")
    kind = ea.get("type")
    if kind == "function_call":
        tc, skel = read_call(ea, "expected_action.")
        return Message(role="assistant", tool_calls=(tc,)), "expected_action", skel
    if kind == "function_call_batch":
        calls = require(ea, "calls", list, "expected_action.")
        parsed = [_batch_call(c, f"expected_action.calls[{j}].") for j, c in enumerate(calls)]
        skel = {"kind": "batch", "item": {**ea, "calls": None}, "calls": [s for _, s in parsed]}
        return Message(role="assistant", tool_calls=tuple(tc for tc, _ in parsed)), "expected_action", skel
    if kind == "message":
        if "content" not in ea:
            raise InputError("missing required field", field="expected_action.content")
        text, info = decode_text(ea["content"], "expected_action.content")
        skel = {"kind": "message", "item": {**ea, "content": None}, "text": info}
        return Message(role="assistant", content=text), "expected_action", skel
    raise InputError(
        f"unknown expected_action type {kind!r} (expected function_call, function_call_batch or message)",
        field="expected_action.type",
    )


def _batch_call(item: Any, where: str) -> tuple[ToolCall, dict[str, Any]]:
    if not isinstance(item, dict):
        raise InputError(f"expected a call object, got {type(item).__name__}", field=where[:-1])
    return read_call(item, where)


def _trajectory_id(row: dict[str, Any], index: int) -> str:
    meta = row.get("metadata")
    ours = meta.get("pivotrl") if isinstance(meta, dict) else None
    if isinstance(ours, dict) and isinstance(ours.get("trajectory_id"), str):
        return ours["trajectory_id"]
    uuid = row.get("uuid")
    if isinstance(uuid, (str, int)) and not isinstance(uuid, bool) and str(uuid):
        return str(uuid)
    return f"row-{index}"


def parse_row(row: dict[str, Any], index: int) -> Trajectory:
    """One pivot row as a trajectory ``prefix + [expected]`` (see the module docstring)."""
    rcp = require(row, RCP, dict)
    items = rcp.get("input")
    input_is_str = isinstance(items, str)
    if input_is_str:
        items = [{"role": "user", "content": items}]
    elif not isinstance(items, list):
        raise InputError(
            "missing required field" if items is None else "expected a list or a string", field=f"{RCP}.input"
        )
    prefix, skeletons = items_to_messages(items, f"{RCP}.input")
    lifted = ["input"]
    tools: tuple[dict[str, Any], ...] = ()
    if isinstance(rcp.get("tools"), list):
        tools = chat_tools(rcp["tools"], f"{RCP}.tools")
        lifted.append("tools")
    elif rcp.get("tools") is not None:
        raise InputError(f"expected a list, got {type(rcp['tools']).__name__}", field=f"{RCP}.tools")
    expected, key, expected_skel = _expected(row)
    template = {**row, RCP: {**rcp, **dict.fromkeys(lifted)}, key: None}
    keep = {
        "row": template,
        "lifted": lifted,
        "input": skeletons,
        "input_is_str": input_is_str,
        "expected_key": key,
        "expected": expected_skel,
    }
    return Trajectory(
        id=_trajectory_id(row, index),
        messages=(*prefix, expected),
        tools=tools,
        metadata={PIVOT_TURN: len(prefix), META_KEY: keep},
    )


def row_to_candidate(row: dict[str, Any], index: int = 0, domain: str = "generic") -> Candidate:
    """One pivot row as exactly one candidate (raises :class:`InputError` naming the field)."""
    trajectory = parse_row(row, index)
    return candidate_at(trajectory, trajectory.metadata[PIVOT_TURN], domain)


# -- writing --------------------------------------------------------------------------------------
def _expected_value(msg: Message, key: str, skel: dict[str, Any] | None) -> tuple[str, Any]:
    kind = (skel or {}).get("kind")
    calls = msg.tool_calls
    if key == "expected_answer" and not calls:
        return key, msg.content or ""
    if calls and kind == "batch":
        call_skels = skel["calls"] if len(skel["calls"]) == len(calls) else [None] * len(calls)  # type: ignore[index]
        item = dict(skel["item"])  # type: ignore[index]
        item["calls"] = [fill_call(s, tc) for s, tc in zip(call_skels, calls, strict=True)]
        return "expected_action", item
    if len(calls) == 1:
        return "expected_action", fill_call(skel if kind == "function_call" else None, calls[0])
    if calls:
        return "expected_action", {
            "type": "function_call_batch",
            "calls": [fill_call(None, tc) for tc in calls],
        }
    if kind == "message":
        item = dict(skel["item"])  # type: ignore[index]
        item["content"] = encode_text(msg.content, skel.get("text"))  # type: ignore[union-attr]
        return "expected_action", item
    return "expected_action", {"type": "message", "content": msg.content or ""}


def _fresh_row(candidate: Candidate) -> dict[str, Any]:
    rcp: dict[str, Any] = {"input": messages_to_items(candidate.messages)}
    if candidate.tools:
        rcp["tools"] = [to_flat_tool(t) for t in candidate.tools]
    _, expected = _expected_value(candidate.expected, "expected_action", None)
    ids = {
        "candidate_id": candidate.id,
        "trajectory_id": candidate.trajectory_id,
        "turn_index": candidate.turn_index,
        "domain": candidate.domain,
    }
    return {
        "uuid": candidate.id,
        RCP: rcp,
        "expected_action": expected,
        "metadata": {**candidate.metadata, "pivotrl": ids},
    }


def candidate_to_row(candidate: Candidate) -> dict[str, Any]:
    """A candidate as a NeMo Gym pivot row: the original row when it came from one, else a fresh row."""
    keep = candidate.metadata.get(META_KEY)
    if not isinstance(keep, dict) or not isinstance(keep.get("row"), dict):
        return _fresh_row(candidate)
    row = dict(keep["row"])
    rcp = dict(row.get(RCP) or {})
    items = messages_to_items(candidate.messages, keep.get("input"))
    simple = len(items) == 1 and items[0].get("role") == "user" and isinstance(items[0].get("content"), str)
    rcp["input"] = items[0]["content"] if keep.get("input_is_str") and simple else items
    if "tools" in keep.get("lifted", ()) or candidate.tools:
        rcp["tools"] = [to_flat_tool(t) for t in candidate.tools]
    row[RCP] = rcp
    old_key = keep.get("expected_key", "expected_action")
    key, value = _expected_value(candidate.expected, old_key, keep.get("expected"))
    if key != old_key:
        row.pop(old_key, None)
    row[key] = value
    return row


class NemoGymFormat:
    """NeMo Gym pivot rows (``responses_create_params`` + ``expected_action``), read and written."""

    name = "nemo-gym"
    description = (
        "NVIDIA NeMo Gym pivot rows: responses_create_params.input + expected_action (one pivot each)"
    )

    def sniff(self, row: dict[str, Any]) -> bool:
        return isinstance(row.get(RCP), dict)

    def parse(self, row: dict[str, Any], index: int) -> Iterator[Trajectory]:
        yield parse_row(row, index)

    def dump(self, trajectory: Trajectory) -> dict[str, Any]:
        """A trajectory as a pivot row: its marked pivot turn, else its last assistant turn."""
        turn = trajectory.metadata.get(PIVOT_TURN)
        if not isinstance(turn, int):
            turns = [i for i, m in enumerate(trajectory.messages) if m.role == "assistant"]
            if not turns:
                raise InputError(
                    "trajectory has no assistant turn to write as expected_action", field="messages"
                )
            turn = turns[-1]
        return candidate_to_row(candidate_at(trajectory, turn, "generic"))

    def dump_candidate(self, candidate: Candidate) -> dict[str, Any]:
        return candidate_to_row(candidate)
