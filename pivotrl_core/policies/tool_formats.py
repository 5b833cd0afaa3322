"""Tool-call formats: how each model family writes a tool call, rendered and parsed in one place.

A :class:`ToolCallFormat` renders an assistant action the way its family emits it (what SFT and
the warm-up teach) and parses raw model text back into a :class:`~pivotrl_core.Message` (what
profiling, training and evaluation score). Parsing never raises: text that is not a well-formed
call stays plain content, so the verifier scores it as a message.

The format of a model is chosen from its chat template by :data:`FAMILY_TABLE`, the one place in
the project that knows model families, and can be overridden by name (``tool_format`` in config,
``--policy-option tool_format=...``). A tokenizer that ships a transformers ``response_template``
is parsed by transformers' own ``parse_response``. Plugins add formats with
:func:`register_tool_format`.

By default a family's parser falls back to the ``json`` format (a bare JSON call or a fenced
```json block) when it finds no call of its own: small models emit those as often as tagged calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import PluginError, UnknownNameError
from ..types import Message
from .tool_parsers import (
    HarmonyFormat,
    HermesFormat,
    JsonFormat,
    Llama3JsonFormat,
    MistralFormat,
    Qwen3CoderFormat,
    call_from_obj,
    message,
)

__all__ = [
    "FAMILY_TABLE",
    "ToolCallFormat",
    "detect_tool_format",
    "get_tool_format",
    "parse_with",
    "register_tool_format",
    "tool_format_names",
]

Tools = Sequence[dict[str, Any]]
_METHODS = ("render", "parse")


class ToolCallFormat(Protocol):
    """One family's tool-call syntax."""

    name: str

    def render(self, message: Message) -> str:
        """The assistant text of ``message`` (content and calls) as this family emits it."""
        ...

    def parse(self, text: str, tools: Tools = ()) -> Message:
        """Raw model text -> assistant message; never raises; unparsed text stays content."""
        ...


@dataclass(frozen=True)
class WithJsonFallback:
    """A family format whose parser falls back to bare/fenced JSON when it finds no call."""

    inner: Any
    fallback: Any = JsonFormat()

    @property
    def name(self) -> str:
        return self.inner.name

    def render(self, message: Message) -> str:
        return self.inner.render(message)

    def parse(self, text: str, tools: Tools = ()) -> Message:
        parsed = self.inner.parse(text, tools)
        if parsed.tool_calls:
            return parsed
        fallback = self.fallback.parse(text, tools)
        return fallback if fallback.tool_calls else parsed


# -- the registry of formats and the family table ------------------------------------------------

_FORMATS: dict[str, ToolCallFormat] = {
    f.name: f
    for f in (
        HermesFormat(),
        Qwen3CoderFormat(),
        Llama3JsonFormat(),
        MistralFormat(),
        HarmonyFormat(),
        JsonFormat(),
    )
}

FAMILY_TABLE: list[tuple[str, Callable[[str], bool]]] = [
    # (format, does the chat template use it?) — first match wins; order from most specific
    ("harmony", lambda t: "<|channel|>" in t and "to=functions" in t),
    ("qwen3_coder", lambda t: "<function=" in t and "<parameter=" in t),
    ("mistral", lambda t: "[TOOL_CALLS]" in t),
    ("hermes", lambda t: "<tool_call>" in t),
    ("llama3_json", lambda t: "<|python_tag|>" in t or ("<|start_header_id|>" in t and "parameters" in t)),
]
"""The only place that maps model families (through their chat templates) to formats."""

FALLBACK = "hermes"
"""Templates with no tool syntax (SmolLM2, tiny test tokenizers) are taught Hermes calls."""


_BUILTIN = frozenset(_FORMATS)


def register_tool_format(fmt: ToolCallFormat, detect: Callable[[str], bool] | None = None) -> None:
    """Add a format (a plugin's: the ``pivotrl_register_tool_formats`` hook calls this);
    ``detect(chat_template)`` puts it first in the family table. Registering a name again replaces
    the format and its detector; a built-in name or an object that is not a format is refused."""
    name = getattr(fmt, "name", None)
    if not isinstance(name, str) or not name or not all(callable(getattr(fmt, a, None)) for a in _METHODS):
        raise PluginError(f"a tool-call format needs a name, render() and parse(); got {fmt!r}")
    if name in _BUILTIN:
        raise PluginError(f"tool format '{name}' is built in; register yours under another name")
    if detect is not None and not callable(detect):
        raise PluginError(f"detect for tool format '{name}' must be callable(chat_template) -> bool")
    _FORMATS[name] = fmt
    FAMILY_TABLE[:] = [row for row in FAMILY_TABLE if row[0] != name]
    if detect is not None:
        FAMILY_TABLE.insert(0, (name, detect))


def tool_format_names() -> list[str]:
    return sorted(_FORMATS)


def get_tool_format(name: str, *, json_fallback: bool = True) -> ToolCallFormat:
    """The format called ``name``; UnknownNameError with suggestions otherwise."""
    if name not in _FORMATS:
        raise UnknownNameError("tool format", name, tool_format_names())
    fmt = _FORMATS[name]
    return WithJsonFallback(fmt) if json_fallback and name != "json" else fmt


def detect_tool_format(
    tokenizer: Any, override: str | None = None, *, json_fallback: bool = True
) -> ToolCallFormat:
    """The tokenizer's format: ``override`` when given, transformers' own parser when the tokenizer
    has a ``response_template``, else the first family whose template markers match."""
    if override:
        return get_tool_format(override, json_fallback=json_fallback)
    if getattr(tokenizer, "response_template", None):
        inner = detect_tool_format(_NoParser(tokenizer), json_fallback=json_fallback)
        return TransformersFormat(tokenizer, inner)
    template = getattr(tokenizer, "chat_template", None) or ""
    if isinstance(template, dict):  # several named templates
        template = template.get("tool_use") or template.get("default") or ""
    for name, matches in FAMILY_TABLE:
        if matches(template):
            return get_tool_format(name, json_fallback=json_fallback)
    return get_tool_format(FALLBACK, json_fallback=json_fallback)


@dataclass(frozen=True)
class _NoParser:
    tokenizer: Any

    @property
    def chat_template(self) -> Any:
        return getattr(self.tokenizer, "chat_template", None)


@dataclass(frozen=True)
class TransformersFormat:
    """Parsing by the tokenizer's own ``parse_response``; rendering by the family format."""

    tokenizer: Any
    inner: Any

    @property
    def name(self) -> str:
        return f"transformers:{self.inner.name}"

    def render(self, message: Message) -> str:
        return self.inner.render(message)

    def parse(self, text: str, tools: Tools = ()) -> Message:
        try:
            parsed = self.tokenizer.parse_response(text, tools=list(tools) or None)
        except Exception:  # noqa: BLE001 - a response the schema cannot read: use ours
            return self.inner.parse(text, tools)
        calls = [call_from_obj(tc) for tc in parsed.get("tool_calls") or []]
        content = parsed.get("content") or ""
        return message(
            content if isinstance(content, str) else "", [c for c in calls if c], parsed.get("thinking")
        )


def parse_with(fmt: ToolCallFormat, text: str, tools: Tools = (), end_token: str | None = None) -> Message:
    """``fmt.parse`` after cutting ``text`` at ``end_token``; never raises."""
    if end_token and end_token in text:
        text = text.split(end_token, 1)[0]
    try:
        return fmt.parse(text, tools)
    except Exception:  # noqa: BLE001 - a parser bug must not stop a profile run
        return message(text, [])
