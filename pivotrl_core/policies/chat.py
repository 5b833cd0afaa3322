"""Chat rendering and tool-call parsing, in one place.

Rendering uses the tokenizer's chat template when that template accepts tools. Otherwise
(SmolLM2, tiny test tokenizers) it uses the documented fallback (``docs/formats.md``):

* the tool list is described in the system prompt, with the instruction to answer a call as
  ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (Hermes style, the format these
  templates detect as; a ``tool_format`` override shows a call in its own syntax instead);
* earlier assistant tool calls are rendered in that same format (``fmt``);
* tool outputs become ``user`` turns wrapped in ``<tool_response>...</tool_response>``.

A tokenizer without any template gets ChatML. :func:`parse_completion` turns raw model text
back into a :class:`Message`; text it cannot parse stays as plain content (it is scored by the
verifier, it never raises).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..types import Message, ToolCall
from .tool_formats import ToolCallFormat, detect_tool_format, get_tool_format, parse_with

__all__ = [
    "CHATML_TEMPLATE",
    "RENDER_VERSION",
    "end_of_turn",
    "end_of_turn_ids",
    "fit_to_context",
    "parse_completion",
    "render_action",
    "render_prompt",
    "supports_native_tools",
    "to_hf_messages",
]

CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

#: Bumped whenever the fallback rendering changes (caches of models trained on it include it).
RENDER_VERSION = 2

TOOL_INSTRUCTION = (
    "To call a tool, answer only "
    '<tool_call>{{"name": "<tool>", "arguments": {{...}}}}</tool_call>. '
    "To talk to the user, answer in plain text.\n"
    "Tools (argument type is string unless given; ? marks an optional argument):\n{tools}"
)
FORMAT_INSTRUCTION = (
    "To call a tool, answer only with the call, written like this:\n{example}\n"
    "To talk to the user, answer in plain text.\n"
    "Tools (argument type is string unless given; ? marks an optional argument):\n{tools}"
)

_DEFAULT_FORMAT = get_tool_format("hermes")


def _template(tokenizer: Any) -> str:
    return getattr(tokenizer, "chat_template", None) or CHATML_TEMPLATE


def supports_native_tools(tokenizer: Any) -> bool:
    """True when the tokenizer's chat template renders a ``tools`` list itself."""
    tpl = getattr(tokenizer, "chat_template", None) or ""
    return "tools" in tpl and "tool_call" in tpl


_MARK = "\u2063pivotrl-end-probe\u2063"


def end_of_turn(tokenizer: Any) -> str:
    """The string the chat template writes after an assistant message (``<|im_end|>``,
    ``<|eot_id|>``, ``<end_of_turn>``, ...), found by rendering one; the tokenizer's EOS token when
    the template writes nothing there. Stopping itself uses the generation config's EOS ids too
    (see :func:`end_of_turn_ids`)."""
    probe = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": _MARK}]
    try:
        text = tokenizer.apply_chat_template(probe, chat_template=_template(tokenizer), tokenize=False)
    except Exception:  # noqa: BLE001 - a template that rejects the probe
        text = ""
    tail = text.split(_MARK, 1)[1] if _MARK in text else ""
    end = tail.strip().split("\n", 1)[0].strip() if tail.strip() else ""
    special = set(getattr(tokenizer, "all_special_tokens", []) or [])
    if end and (end in special or len(tokenizer(end, add_special_tokens=False)["input_ids"]) == 1):
        return end
    return tokenizer.eos_token or ""


def end_of_turn_ids(tokenizer: Any, generation_config: Any = None) -> frozenset[int]:
    """Token ids that end a sampled turn: the generation config's EOS ids, the tokenizer's EOS id
    and the template's end-of-turn token."""
    ids: set[int] = set()
    eos = getattr(generation_config, "eos_token_id", None)
    for e in eos if isinstance(eos, list | tuple) else [eos, getattr(tokenizer, "eos_token_id", None)]:
        if isinstance(e, int):
            ids.add(e)
    end = end_of_turn(tokenizer)
    if end:
        enc = tokenizer(end, add_special_tokens=False)["input_ids"]
        if len(enc) == 1:
            ids.add(enc[0])
    return frozenset(ids)


def _arg_text(name: str, schema: Any, required: bool) -> str:
    text = name + ("" if required else "?")
    if not isinstance(schema, dict):
        return text
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and len(enum) <= 6:
        return text + ": " + "|".join(json.dumps(v, ensure_ascii=False) for v in enum)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = "|".join(str(k) for k in kind)
    return text + (f": {kind}" if kind and kind != "string" else "")


def _tool_line(tool: dict[str, Any]) -> str:
    """One tool as a signature line: ``name(arg, other?: integer): first line of the description``."""
    fn = tool.get("function", tool)
    params = fn.get("parameters") or {}
    props = params.get("properties") or {}
    required = set(params.get("required") or [])
    args = ", ".join(_arg_text(k, v, k in required) for k, v in props.items())
    description = (fn.get("description") or "").strip().split("\n")[0]
    return f"{fn.get('name')}({args})" + (f": {description}" if description else "")


def _tools_text(tools: Sequence[dict[str, Any]]) -> str:
    return "\n".join(_tool_line(t) for t in tools)


def render_action(message: Message, fmt: ToolCallFormat | None = None) -> str:
    """The assistant text of an action as the model's family writes it (``fmt``; Hermes, the
    fallback, when not given): what SFT and the warm-up teach, and what the parser reads."""
    return (fmt or _DEFAULT_FORMAT).render(message)


_EXAMPLE_CALL = Message(
    role="assistant", tool_calls=(ToolCall(name="<tool>", arguments={"<argument>": "..."}),)
)


def _tool_instruction(tools: Sequence[dict[str, Any]], fmt: ToolCallFormat | None) -> str:
    """The fallback's tool instruction; a format other than Hermes shows a call in its own syntax."""
    if fmt is None or fmt.render(_EXAMPLE_CALL) == _DEFAULT_FORMAT.render(_EXAMPLE_CALL):
        return TOOL_INSTRUCTION.format(tools=_tools_text(tools))
    return FORMAT_INSTRUCTION.format(example=fmt.render(_EXAMPLE_CALL), tools=_tools_text(tools))


def to_hf_messages(
    messages: Sequence[Message],
    tools: Sequence[dict[str, Any]],
    native: bool,
    fmt: ToolCallFormat | None = None,
) -> list[dict[str, Any]]:
    """Convert messages to the dicts ``apply_chat_template`` expects; without native tools, earlier
    assistant calls are written in ``fmt`` (the model's tool-call format; Hermes when not given)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if native:
            d: dict[str, Any] = {"role": m.role, "content": m.content or ""}
            if m.tool_calls:
                d["tool_calls"] = [
                    {"type": "function", "function": {"name": tc.name, "arguments": tc.arguments or {}}}
                    for tc in m.tool_calls
                ]
            if m.tool_call_id:
                d["tool_call_id"] = m.tool_call_id
            out.append(d)
        elif m.role == "tool":
            out.append({"role": "user", "content": f"<tool_response>\n{m.content or ''}\n</tool_response>"})
        elif m.role == "assistant":
            out.append({"role": "assistant", "content": render_action(m, fmt)})
        else:
            out.append({"role": m.role, "content": m.content or ""})
    if not native and tools:
        instruction = _tool_instruction(tools, fmt)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": out[0]["content"] + "\n\n" + instruction}
        else:
            out.insert(0, {"role": "system", "content": instruction})
    return out


def render_prompt(
    tokenizer: Any,
    messages: Sequence[Message],
    tools: Sequence[dict[str, Any]] = (),
    fmt: ToolCallFormat | None = None,
) -> str:
    """Render a prefix as prompt text ending with the assistant generation header; ``fmt`` is the
    model's tool-call format (default: detected from the template), used for earlier calls and the
    tool instruction when the template has no native tools."""
    native = supports_native_tools(tokenizer)
    hf = to_hf_messages(messages, tools, native, fmt or detect_tool_format(tokenizer))
    kwargs: dict[str, Any] = {"tokenize": False, "add_generation_prompt": True}
    if native and tools:
        kwargs["tools"] = [t if "function" in t else {"type": "function", "function": t} for t in tools]
    return tokenizer.apply_chat_template(hf, chat_template=_template(tokenizer), **kwargs)


def fit_to_context(
    tokenizer: Any,
    messages: Sequence[Message],
    tools: Sequence[dict[str, Any]],
    max_prompt_tokens: int,
    fmt: ToolCallFormat | None = None,
) -> tuple[tuple[Message, ...], int] | None:
    """Drop the oldest non-system turns until the prompt fits ``max_prompt_tokens``.

    Keeps the system prompt, the tools and the last message. Tool outputs are dropped together
    with the assistant call they answer. Returns ``(messages, n_dropped)``, or ``None`` when even
    the shortest form does not fit (the caller skips and counts the candidate).
    """
    msgs = list(messages)
    dropped = 0
    while True:
        n_tokens = len(
            tokenizer(render_prompt(tokenizer, msgs, tools, fmt), add_special_tokens=False)["input_ids"]
        )
        if n_tokens <= max_prompt_tokens:
            return tuple(msgs), dropped
        first = 1 if msgs and msgs[0].role == "system" else 0
        if len(msgs) - first <= 1:
            return None
        del msgs[first]
        dropped += 1
        while len(msgs) - first > 1 and msgs[first].role == "tool":
            del msgs[first]
            dropped += 1


def parse_completion(
    text: str,
    end_token: str | None = None,
    fmt: ToolCallFormat | None = None,
    tools: Sequence[dict[str, Any]] = (),
) -> Message:
    """Parse raw model output into an assistant :class:`Message`; never raises.

    ``fmt`` is the model's tool-call format (:func:`~pivotrl_core.policies.tool_formats.detect_tool_format`);
    without it, Hermes ``<tool_call>{json}</tool_call>`` blocks with the bare/fenced JSON fallback.
    Text that is not a well-formed call stays content.
    """
    return parse_with(fmt or _DEFAULT_FORMAT, text, tools, end_token)
