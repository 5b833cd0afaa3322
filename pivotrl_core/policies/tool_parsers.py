"""The tool-call syntaxes of the model families, one class each (see :mod:`.tool_formats`).

Each class renders an assistant :class:`~pivotrl_core.Message` as its family emits it and parses
raw model text back; ``parse`` never raises and leaves text it cannot read as content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..types import Message, ToolCall

__all__ = [
    "HarmonyFormat",
    "HermesFormat",
    "JsonFormat",
    "Llama3JsonFormat",
    "MistralFormat",
    "Qwen3CoderFormat",
    "call_from_obj",
    "message",
]

Tools = Sequence[dict[str, Any]]


# -- shared helpers ----------------------------------------------------------------------------


def _args_of(tc: ToolCall) -> Any:
    return tc.arguments if tc.arguments is not None else (tc.raw_arguments or "")


def _call(name: Any, args: Any) -> ToolCall | None:
    if not isinstance(name, str) or not name.strip():
        return None
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            return ToolCall(name=name.strip(), arguments=None, raw_arguments=args)
    try:
        return ToolCall.from_raw(name.strip(), args if args is not None else {})
    except Exception:  # noqa: BLE001 - arguments of a strange type: keep as raw text
        return ToolCall(name=name.strip(), arguments=None, raw_arguments=json.dumps(args))


def call_from_obj(obj: Any) -> ToolCall | None:
    """``{"name": ..., "arguments"|"parameters": ...}`` (or OpenAI's ``{"function": {...}}``)."""
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("function"), dict):
        obj = obj["function"]
    if "name" not in obj or not set(obj) <= {"name", "arguments", "parameters", "id", "type"}:
        return None
    return _call(obj["name"], obj.get("arguments", obj.get("parameters", {})))


def message(content: str, calls: list[ToolCall], reasoning: str | None = None) -> Message:
    """An assistant message from parsed parts (empty content becomes None)."""
    content = content.strip()
    return Message(
        role="assistant", content=content or None, tool_calls=tuple(calls), reasoning=reasoning or None
    )


def _join(message: Message, calls: list[str], sep: str = "\n") -> str:
    parts = [message.content.strip()] if message.content and message.content.strip() else []
    return sep.join(parts + calls)


def _cut_spans(text: str, spans: list[tuple[int, int]]) -> str:
    kept, pos = [], 0
    for start, end in spans:
        kept.append(text[pos:start])
        pos = end
    kept.append(text[pos:])
    return "".join(kept)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _schema_types(tools: Tools, name: str) -> dict[str, Any]:
    for t in tools:
        fn = t.get("function", t)
        if fn.get("name") == name:
            return (fn.get("parameters") or {}).get("properties") or {}
    return {}


# -- the formats -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JsonFormat:
    """A bare JSON call object (or a list of them), optionally in a ```json fence."""

    name: str = "json"
    _fence = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.DOTALL)

    def render(self, message: Message) -> str:
        objs = [{"name": tc.name, "arguments": _args_of(tc)} for tc in message.tool_calls]
        if not objs:
            return _join(message, [])
        return _join(message, [json.dumps(objs[0] if len(objs) == 1 else objs, ensure_ascii=False)])

    def parse(self, text: str, tools: Tools = ()) -> Message:
        fences = list(self._fence.finditer(text))
        for blob, spans in [(m.group(1), [m.span()]) for m in fences] + [(text.strip(), [(0, len(text))])]:
            calls = self._calls(blob)
            if calls:
                return message(_cut_spans(text, spans) if fences else "", calls)
        return message(text, [])

    @staticmethod
    def _calls(blob: str) -> list[ToolCall]:
        try:
            obj = json.loads(blob)
        except json.JSONDecodeError:
            return []
        objs = obj if isinstance(obj, list) else [obj]
        calls = [call_from_obj(o) for o in objs]
        return [c for c in calls if c is not None] if objs and all(calls) else []


@dataclass(frozen=True)
class HermesFormat:
    """``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (Hermes, Qwen2.5, our fallback)."""

    name: str = "hermes"
    _re = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)

    def render(self, message: Message) -> str:
        calls = [
            "<tool_call>"
            + json.dumps({"name": tc.name, "arguments": _args_of(tc)}, ensure_ascii=False)
            + "</tool_call>"
            for tc in message.tool_calls
        ]
        return _join(message, calls)

    def parse(self, text: str, tools: Tools = ()) -> Message:
        calls, spans = [], []
        for m in self._re.finditer(text):
            try:
                call = call_from_obj(json.loads(m.group(1)))
            except json.JSONDecodeError:
                call = None
            if call is not None:
                calls.append(call)
                spans.append(m.span())
        return message(_cut_spans(text, spans), calls)


@dataclass(frozen=True)
class Qwen3CoderFormat:
    """Qwen3-Coder XML: ``<tool_call><function=NAME><parameter=KEY>VALUE</parameter>...``."""

    name: str = "qwen3_coder"
    _call_re = re.compile(r"<tool_call>\s*<function=([^>\s]+)>(.*?)</function>\s*</tool_call>", re.DOTALL)
    _param_re = re.compile(r"<parameter=([^>\s]+)>\n?(.*?)\n?</parameter>", re.DOTALL)

    def render(self, message: Message) -> str:
        calls = []
        for tc in message.tool_calls:
            args = _args_of(tc)
            params = args.items() if isinstance(args, dict) else []
            body = "".join(f"<parameter={k}>\n{_text(v)}\n</parameter>\n" for k, v in params)
            calls.append(f"<tool_call>\n<function={tc.name}>\n{body}</function>\n</tool_call>")
        return _join(message, calls)

    def parse(self, text: str, tools: Tools = ()) -> Message:
        calls, spans = [], []
        for m in self._call_re.finditer(text):
            types = _schema_types(tools, m.group(1))
            args = {k: self._value(v, types.get(k)) for k, v in self._param_re.findall(m.group(2))}
            call = _call(m.group(1), args)
            if call is not None:
                calls.append(call)
                spans.append(m.span())
        return message(_cut_spans(text, spans), calls)

    @staticmethod
    def _value(raw: str, schema: Any) -> Any:
        """The tool's schema decides: a ``string`` parameter stays text; any other value is JSON
        when it parses. Without a schema, JSON values are taken as such (``"7"`` becomes 7)."""
        if isinstance(schema, dict) and schema.get("type") == "string":
            return raw
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw


@dataclass(frozen=True)
class Llama3JsonFormat:
    """Llama 3.x JSON tool calling: ``{"name": ..., "parameters": {...}}``, maybe after ``<|python_tag|>``."""

    name: str = "llama3_json"

    def render(self, message: Message) -> str:
        calls = [
            json.dumps({"name": tc.name, "parameters": _args_of(tc)}, ensure_ascii=False)
            for tc in message.tool_calls
        ]
        return _join(message, ["; ".join(calls)] if calls else [])

    def parse(self, text: str, tools: Tools = ()) -> Message:
        body = text.replace("<|python_tag|>", "").strip()
        decoder, calls, pos = json.JSONDecoder(), [], 0
        while pos < len(body):
            try:
                obj, end = decoder.raw_decode(body, pos)
            except json.JSONDecodeError:
                break
            call = call_from_obj(obj)
            if call is None:
                break
            calls.append(call)
            pos = end
            while pos < len(body) and body[pos] in " \n\t;":
                pos += 1
        if not calls or pos < len(body):
            return message(text, [])
        return message("", calls)


@dataclass(frozen=True)
class MistralFormat:
    """Mistral: ``[TOOL_CALLS][{"name": ..., "arguments": {...}}]`` or ``[TOOL_CALLS]NAME[ARGS]{...}``."""

    name: str = "mistral"
    _named = re.compile(r"\[TOOL_CALLS\]\s*([A-Za-z0-9_.\-]+)\s*\[ARGS\]")

    def render(self, message: Message) -> str:
        if not message.tool_calls:
            return _join(message, [])
        calls = [{"name": tc.name, "arguments": _args_of(tc)} for tc in message.tool_calls]
        return _join(message, ["[TOOL_CALLS]" + json.dumps(calls, ensure_ascii=False)], sep="")

    def parse(self, text: str, tools: Tools = ()) -> Message:
        start = text.find("[TOOL_CALLS]")
        if start < 0:
            return message(text, [])
        decoder, rest = json.JSONDecoder(), text[start:]
        if self._named.match(rest) is not None:
            calls = self._named_calls(rest, decoder)
        else:
            try:
                obj, _ = decoder.raw_decode(rest[len("[TOOL_CALLS]") :].lstrip())
            except json.JSONDecodeError:
                return message(text, [])
            objs = obj if isinstance(obj, list) else [obj]
            calls = [c for c in map(call_from_obj, objs) if c is not None]
        return message(text[:start], calls) if calls else message(text, [])

    def _named_calls(self, rest: str, decoder: json.JSONDecoder) -> list[ToolCall]:
        calls, pos = [], 0
        while (m := self._named.match(rest, pos)) is not None:
            try:
                args, end = decoder.raw_decode(rest, m.end())
            except json.JSONDecodeError:
                return []
            call = _call(m.group(1), args)
            if call is None:
                return []
            calls.append(call)
            pos = end
        return calls


@dataclass(frozen=True)
class HarmonyFormat:
    """gpt-oss harmony: ``<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{...}<|call|>``;
    the ``final`` channel is the content, ``analysis`` the reasoning."""

    name: str = "harmony"
    _msg = re.compile(
        r"(?:<\|start\|>assistant)?<\|channel\|>(\w+)([^<]*?)(?:<\|constrain\|>\w+)?<\|message\|>(.*?)"
        r"(?:<\|call\|>|<\|end\|>|<\|return\|>|$)",
        re.DOTALL,
    )

    def render(self, message: Message) -> str:
        parts = []
        if message.content and message.content.strip():
            parts.append(f"<|channel|>final<|message|>{message.content.strip()}<|return|>")
        for tc in message.tool_calls:
            args = json.dumps(_args_of(tc), ensure_ascii=False)
            parts.append(
                f"<|channel|>commentary to=functions.{tc.name} <|constrain|>json<|message|>{args}<|call|>"
            )
        return "<|start|>assistant".join(parts)

    def parse(self, text: str, tools: Tools = ()) -> Message:
        matches = list(self._msg.finditer(text))
        if not matches:
            return message(text, [])
        content, reasoning, calls = [], [], []
        for m in matches:
            channel, header, body = m.group(1), m.group(2), m.group(3)
            target = re.search(r"to=functions\.([^\s<]+)", header)
            if target:
                call = _call(target.group(1), body.strip())
                if call is None or call.arguments is None:
                    return message(text, [])
                calls.append(call)
            elif channel == "analysis":
                reasoning.append(body.strip())
            else:
                content.append(body)
        return message("".join(content), calls, "\n".join(reasoning))
