"""The OpenAI Responses API (NeMo Gym rows and rollouts) <-> :class:`Message`: the one codec.

**Input items <-> message lists, losslessly** (:func:`items_to_messages`, :func:`messages_to_items`).

Reading turns the items into messages and, beside each message, a list of *skeletons*: the
original items with the fields the message carries (text, tool name, arguments, call id)
replaced by ``None`` placeholders. Writing fills the skeletons back from the messages, so an
unchanged candidate gives back the very same items (ids, statuses, annotations, ``null``
fields and all), while a changed or foreign message gets freshly built items.

Grouping: a ``reasoning`` item, an assistant ``message`` item and the ``function_call`` items
that follow them form ONE assistant message (reasoning -> ``Message.reasoning``, text ->
``content``, calls -> ``tool_calls``). A ``reasoning`` item always starts a new assistant turn,
and so does an assistant ``message`` after a call. ``function_call_output`` items become
``tool`` messages; ``developer`` messages become ``system`` messages.

**A policy's answer** (a rollout's ``response.output``: :func:`responses_output_to_message`) and a
pivot row's ``expected_action`` (:func:`expected_action_to_message`) each become one message.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InputError
from ..types import Message, ToolCall
from ._util import tool_call

__all__ = ["decode_text", "encode_text", "expected_action_to_message", "fill_call", "fresh_call"]
__all__ += ["items_to_messages", "messages_to_items", "responses_output_to_message"]

_INPUT_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_ASSISTANT_KINDS = ("reasoning", "message", "function_call")


def decode_text(value: Any, field: str) -> tuple[str | None, dict[str, Any]]:
    """The text of a content value (a string, null, or a list of ``{"type", "text", ...}`` parts)
    and what is needed to re-encode it exactly."""
    if value is None:
        return None, {"shape": "null"}
    if isinstance(value, str):
        return value, {"shape": "str"}
    if not isinstance(value, list):
        raise InputError(
            f"expected a string, a list of parts or null, got {type(value).__name__}", field=field
        )
    parts: list[Any] = []
    lens: list[int | None] = []
    texts: list[str] = []
    for i, part in enumerate(value):
        if not isinstance(part, dict):
            raise InputError(
                f"expected a content part object, got {type(part).__name__}", field=f"{field}[{i}]"
            )
        text = part.get("text")
        if isinstance(text, str):
            parts.append({**part, "text": None})
            lens.append(len(text))
            texts.append(text)
        elif text is None:
            parts.append(part)  # a non-text part (an image...) is kept whole
            lens.append(None)
        else:
            raise InputError(f"expected a string, got {type(text).__name__}", field=f"{field}[{i}].text")
    return "".join(texts), {"shape": "parts", "parts": parts, "lens": lens}


def encode_text(text: str | None, info: dict[str, Any] | None, part_type: str = "output_text") -> Any:
    """Inverse of :func:`decode_text`; without ``info`` (a fresh item) the text is a plain string."""
    shape = (info or {}).get("shape")
    if shape == "null" and text is None:
        return None
    if shape != "parts":
        return text if text is not None else ""
    parts, lens = info["parts"], info["lens"]  # type: ignore[index]
    text = text or ""
    text_lens = [n for n in lens if n is not None]
    if text_lens and sum(text_lens) == len(text):
        out, pos = [], 0
        for part, n in zip(parts, lens, strict=True):
            if n is None:
                out.append(part)
            else:
                out.append({**part, "text": text[pos : pos + n]})
                pos += n
        return out
    others = [p for p, n in zip(parts, lens, strict=True) if n is None]
    if not text:
        return others
    first = next((p for p, n in zip(parts, lens, strict=True) if n is not None), {"type": part_type})
    return [{**first, "text": text}, *others]


def read_call(item: dict[str, Any], where: str) -> tuple[ToolCall, dict[str, Any]]:
    """A ``function_call`` item as a :class:`ToolCall` and its skeleton."""
    call_id = item.get("call_id")
    tc = tool_call(item.get("name"), item.get("arguments"), call_id, f"{where}name", f"{where}arguments")
    skel = {**item, "name": None, "arguments": None}
    if "call_id" in item:
        skel["call_id"] = None
    return tc, {"kind": "function_call", "item": skel, "args": item.get("arguments")}


def _arguments_text(tc: ToolCall, original: Any) -> Any:
    """The original spelling of the arguments when their value is unchanged, else fresh JSON."""
    if tc.arguments is None:
        return tc.raw_arguments or ""
    if isinstance(original, dict) and original == tc.arguments:
        return original
    if isinstance(original, str):
        try:
            value = json.loads(original) if original.strip() else {}
        except ValueError:
            value = None
        if value == tc.arguments:
            return original
    return json.dumps(tc.arguments, ensure_ascii=False)


def fresh_call(tc: ToolCall, call_id: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "function_call"}
    if call_id is not None:
        item["call_id"] = call_id
    item.update(name=tc.name, arguments=_arguments_text(tc, None))
    return item


def fill_call(skel: dict[str, Any] | None, tc: ToolCall, call_id: str | None = None) -> dict[str, Any]:
    """A ``function_call`` item from its skeleton (or a fresh one when ``skel`` is ``None``)."""
    if skel is None:
        return fresh_call(tc, tc.id or call_id)
    item = dict(skel["item"])
    item["name"] = tc.name
    item["arguments"] = _arguments_text(tc, skel.get("args"))
    if "call_id" in item:
        item["call_id"] = tc.id or call_id
    return item


class _Turn:
    """An assistant turn being assembled from consecutive items."""

    def __init__(self) -> None:
        self.reasoning: str | None = None
        self.content: str | None = None
        self.calls: list[ToolCall] = []
        self.skeletons: list[dict[str, Any]] = []
        self.has_message = False

    def accepts(self, kind: str) -> bool:
        if not self.skeletons:
            return True
        if kind == "reasoning":
            return False
        return not (kind == "message" and (self.has_message or self.calls))

    def message(self) -> Message:
        return Message(
            role="assistant", content=self.content, tool_calls=tuple(self.calls), reasoning=self.reasoning
        )


def _kind(item: dict[str, Any], where: str) -> str:
    kind = item.get("type")
    if kind is None and "role" in item:
        kind = "message"
    if kind not in ("message", "reasoning", "function_call", "function_call_output"):
        raise InputError(
            f"unsupported input item type {kind!r} (expected message, reasoning, function_call or "
            "function_call_output)",
            field=f"{where}type",
        )
    return kind


def _role(item: dict[str, Any], where: str) -> str:
    role = item.get("role")
    if role not in _INPUT_ROLES:
        if role is None:
            raise InputError("missing required field", field=f"{where}role")
        raise InputError(
            f"unknown role {role!r} (expected one of {', '.join(_INPUT_ROLES)})", field=f"{where}role"
        )
    return _INPUT_ROLES[role]


def _add_to_turn(turn: _Turn, kind: str, item: dict[str, Any], where: str) -> None:
    if kind == "reasoning":
        text, info = decode_text(item.get("summary") or [], f"{where}summary")
        turn.reasoning = text
        turn.skeletons.append({"kind": "reasoning", "item": {**item, "summary": None}, "text": info})
    elif kind == "message":
        if "content" not in item:
            raise InputError("missing required field", field=f"{where}content")
        turn.content, info = decode_text(item["content"], f"{where}content")
        turn.has_message = True
        turn.skeletons.append({"kind": "message", "item": {**item, "content": None}, "text": info})
    else:
        tc, skel = read_call(item, where)
        turn.calls.append(tc)
        turn.skeletons.append(skel)


def _other_message(kind: str, item: dict[str, Any], role: str | None, where: str) -> tuple[Message, dict]:
    if kind == "function_call_output":
        if "output" not in item:
            raise InputError("missing required field", field=f"{where}output")
        text, info = decode_text(item["output"], f"{where}output")
        call_id = item.get("call_id")
        msg = Message(role="tool", content=text, tool_call_id=None if call_id is None else str(call_id))
        skel = {**item, "output": None, "call_id": None}
        return msg, {"kind": "function_call_output", "item": skel, "text": info}
    if "content" not in item:
        raise InputError("missing required field", field=f"{where}content")
    text, info = decode_text(item["content"], f"{where}content")
    skel = {**item, "content": None}
    return Message(role=role or "user", content=text), {"kind": "message", "item": skel, "text": info}


def items_to_messages(items: list[Any], where: str) -> tuple[list[Message], list[list[dict[str, Any]]]]:
    """Read Responses ``input`` items: the messages and, per message, its item skeletons."""
    messages: list[Message] = []
    skeletons: list[list[dict[str, Any]]] = []
    turn: _Turn | None = None

    def flush() -> None:
        if turn is not None:
            messages.append(turn.message())
            skeletons.append(turn.skeletons)

    for i, item in enumerate(items):
        at = f"{where}[{i}]."
        if not isinstance(item, dict):
            raise InputError(f"expected an input item object, got {type(item).__name__}", field=at[:-1])
        kind = _kind(item, at)
        role = _role(item, at) if kind == "message" else None
        if kind in _ASSISTANT_KINDS and (kind != "message" or role == "assistant"):
            if turn is None or not turn.accepts(kind):
                flush()
                turn = _Turn()
            _add_to_turn(turn, kind, item, at)
            continue
        flush()
        turn = None
        msg, skel = _other_message(kind, item, role, at)
        messages.append(msg)
        skeletons.append([skel])
    flush()
    return messages, skeletons


def _fill_text(skel: dict[str, Any], key: str, text: str | None) -> dict[str, Any]:
    item = dict(skel["item"])
    item[key] = encode_text(text, skel.get("text"), "summary_text" if key == "summary" else "output_text")
    return item


def _assistant_items(
    m: Message, skels: list[dict[str, Any]], i: int, pending: deque[str]
) -> list[dict[str, Any]]:
    if any(s.get("kind") not in _ASSISTANT_KINDS for s in skels):
        skels = []
    by_kind: dict[str, list[dict[str, Any]]] = {k: [] for k in _ASSISTANT_KINDS}
    for s in skels:
        by_kind[s["kind"]].append(s)
    out: list[dict[str, Any]] = []
    if m.reasoning is not None:
        if by_kind["reasoning"]:
            out.append(_fill_text(by_kind["reasoning"][0], "summary", m.reasoning))
        else:
            summary = [{"type": "summary_text", "text": m.reasoning}]
            out.append({"type": "reasoning", "id": f"rs_{i}", "summary": summary})
    if by_kind["message"] and m.content is not None:
        out.append(_fill_text(by_kind["message"][0], "content", m.content))
    elif m.content or (m.content is not None and not m.tool_calls) or not (m.tool_calls or out):
        out.append({"type": "message", "role": "assistant", "content": m.content or ""})
    call_skels: list[Any] = by_kind["function_call"]
    if len(call_skels) != len(m.tool_calls):
        call_skels = [None] * len(m.tool_calls)
    for j, (tc, skel) in enumerate(zip(m.tool_calls, call_skels, strict=True)):
        item = fill_call(skel, tc, f"call_{i}_{j}")
        if "call_id" in item and tc.id is None:
            pending.append(item["call_id"])
        out.append(item)
    return out


def _single_item(m: Message, skels: list[dict[str, Any]], pending: deque[str]) -> dict[str, Any]:
    skel = skels[0] if len(skels) == 1 else None
    if m.role == "tool":
        call_id = m.tool_call_id or (pending.popleft() if pending else None)
        if skel is not None and skel.get("kind") == "function_call_output":
            item = _fill_text(skel, "output", m.content)
            item["call_id"] = call_id
            return item
        return {"type": "function_call_output", "call_id": call_id or "", "output": m.content or ""}
    if (
        skel is not None
        and skel.get("kind") == "message"
        and _INPUT_ROLES.get(skel["item"].get("role")) == m.role
    ):
        return _fill_text(skel, "content", m.content)
    return {"type": "message", "role": m.role, "content": m.content or ""}


def messages_to_items(
    messages: tuple[Message, ...] | list[Message], skeletons: Any = None
) -> list[dict[str, Any]]:
    """Write messages as Responses ``input`` items, reusing skeletons when they line up."""
    if not isinstance(skeletons, list) or len(skeletons) != len(messages):
        skeletons = [[] for _ in messages]
    pending: deque[str] = deque()
    out: list[dict[str, Any]] = []
    for i, (m, skels) in enumerate(zip(messages, skeletons, strict=True)):
        skels = skels if isinstance(skels, list) else []
        if m.role == "assistant":
            out.extend(_assistant_items(m, skels, i, pending))
        else:
            out.append(_single_item(m, skels, pending))
    return out


# -- a policy's answer and a pivot row's expected action -----------------------------------------
def _part_texts(content: Any, kinds: tuple[str, ...]) -> list[str]:
    if isinstance(content, str):
        return [content]
    texts = []
    for part in content or ():
        if isinstance(part, Mapping) and part.get("type") in kinds and isinstance(part.get("text"), str):
            texts.append(part["text"])
    return texts


def _call(item: Mapping[str, Any], where: str) -> ToolCall:
    if not isinstance(item, Mapping):
        raise InputError(f"expected an object, got {type(item).__name__}", field=where.rstrip(".") or None)
    name = item.get("name")
    if not isinstance(name, str):
        raise InputError("a function_call needs a string 'name'", field=f"{where}name")
    try:
        return ToolCall.from_raw(name, item.get("arguments"), id=item.get("call_id") or item.get("id"))
    except InputError as e:
        raise InputError(e.message, field=f"{where}arguments") from None


def responses_output_to_message(output: Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> Message:
    """``response.output`` items (or a whole response) as one assistant message: every
    ``function_call`` a tool call (in order), the ``output_text`` of the assistant's ``message`` items
    joined with newlines into ``content`` (``None`` when there is none), ``reasoning`` summaries into
    ``reasoning``; other item types are ignored."""
    if isinstance(output, Mapping):
        output = output.get("output") or []
    texts: list[str] = []
    calls: list[ToolCall] = []
    thoughts: list[str] = []
    for i, item in enumerate(output):
        if not isinstance(item, Mapping):
            raise InputError(f"expected an object, got {type(item).__name__}", field=f"output[{i}]")
        kind = item.get("type")
        if kind == "function_call":
            calls.append(_call(item, f"output[{i}]."))
        elif kind == "message" and item.get("role", "assistant") == "assistant":
            texts.extend(_part_texts(item.get("content"), ("output_text", "text")))
        elif kind == "reasoning":
            thoughts.extend(_part_texts(item.get("summary"), ("summary_text",)))
            thoughts.extend(_part_texts(item.get("content"), ("reasoning_text",)))
    return Message(
        role="assistant",
        content="\n".join(texts) if texts else None,
        tool_calls=tuple(calls),
        reasoning="\n".join(thoughts) if thoughts else None,
    )


def expected_action_to_message(action: Mapping[str, Any], where: str = "expected_action.") -> Message:
    """A NeMo Gym ``expected_action`` (``{"type": "message", "content"}``, ``{"type": "function_call",
    "name", "arguments"}`` or ``{"type": "function_call_batch", "calls"}``) as the assistant message."""
    kind = action.get("type") if isinstance(action, Mapping) else None
    if kind == "message":
        content = action.get("content")
        if not isinstance(content, str):
            raise InputError("a message action needs string 'content'", field=f"{where}content")
        return Message(role="assistant", content=content)
    if kind == "function_call":
        return Message(role="assistant", tool_calls=(_call(action, where),))
    if kind == "function_call_batch":
        calls = action.get("calls")
        if not isinstance(calls, list) or not calls:
            raise InputError("a function_call_batch needs a non-empty 'calls' list", field=f"{where}calls")
        return Message(
            role="assistant", tool_calls=tuple(_call(c, f"{where}calls[{i}].") for i, c in enumerate(calls))
        )
    raise InputError(
        f"unknown action type {kind!r} (expected message, function_call or function_call_batch)",
        field=f"{where}type",
    )
