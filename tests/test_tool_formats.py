"""Tool-call formats: every family's rendered calls parse back; garbage stays plain text."""

from __future__ import annotations

import pytest

from pivotrl_core import Message, ToolCall, UnknownNameError
from pivotrl_core.policies.tool_formats import (
    detect_tool_format,
    get_tool_format,
    parse_with,
    register_tool_format,
    tool_format_names,
)
from pivotrl_core.policies.tool_parsers import HermesFormat

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string"},
                    "quantity": {"type": "integer"},
                    "express": {"type": "boolean"},
                    "items": {"type": "array"},
                },
            },
        },
    },
    {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}},
]
FAMILIES = ["hermes", "qwen3_coder", "llama3_json", "mistral", "harmony", "json"]
CALL = ToolCall(
    name="get_order", arguments={"order_id": "#W123 4", "quantity": 2, "express": True, "items": ["a", "b"]}
)
GARBAGE = [
    "Sure, I can help with that!",
    '<tool_call>{"name": "get_order", "arguments": {</tool_call>',
    "[TOOL_CALLS] not json at all",
    '{"name": 3, "arguments": {}}',
    '{"order_id": "#W1"}',
    "<tool_call>\n<function=get_order>\n<parameter=order_id>\n#W1\n</parameter>\n",
    "<|channel|>commentary to=functions.get_order <|constrain|>json<|message|>{oops<|call|>",
]


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_round_trips_its_rendered_calls(family: str) -> None:
    fmt = get_tool_format(family)
    for msg in [
        Message("assistant", None, (CALL,)),
        Message("assistant", None, (ToolCall(name="ping", arguments={}),)),
        Message("assistant", "Hello there, how can I help?"),
    ]:
        parsed = fmt.parse(fmt.render(msg), TOOLS)
        assert parsed.tool_calls == msg.tool_calls, (family, fmt.render(msg))
        assert parsed.content == msg.content


@pytest.mark.parametrize("family", ["hermes", "qwen3_coder", "mistral", "harmony", "json"])
def test_two_calls_in_one_turn_round_trip(family: str) -> None:
    fmt = get_tool_format(family)
    msg = Message("assistant", None, (CALL, ToolCall(name="ping", arguments={})))
    assert fmt.parse(fmt.render(msg), TOOLS).tool_calls == msg.tool_calls


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("text", GARBAGE)
def test_garbage_stays_plain_text(family: str, text: str) -> None:
    parsed = get_tool_format(family).parse(text, TOOLS)
    assert parsed.tool_calls == ()
    assert parsed.content == text.strip()


def test_text_beside_a_call_is_kept_as_content() -> None:
    fmt = get_tool_format("hermes")
    parsed = fmt.parse('Let me check.\n<tool_call>{"name": "ping", "arguments": {}}</tool_call>', TOOLS)
    assert parsed.content == "Let me check." and [c.name for c in parsed.tool_calls] == ["ping"]


def test_a_family_parser_falls_back_to_bare_and_fenced_json() -> None:
    fmt = get_tool_format("hermes")
    bare = fmt.parse('{"name": "ping", "arguments": {}}')
    fenced = fmt.parse('Here:\n```json\n{"name": "ping", "arguments": {}}\n```')
    assert [c.name for c in bare.tool_calls] == ["ping"] and bare.content is None
    assert [c.name for c in fenced.tool_calls] == ["ping"] and fenced.content == "Here:"
    strict = get_tool_format("hermes", json_fallback=False)
    assert strict.parse('{"name": "ping", "arguments": {}}').tool_calls == ()


def test_qwen3_coder_string_parameters_stay_strings_by_schema() -> None:
    fmt = get_tool_format("qwen3_coder")
    text = (
        "<tool_call>\n<function=get_order>\n<parameter=order_id>\n123\n</parameter>\n"
        "</function>\n</tool_call>"
    )
    assert fmt.parse(text, TOOLS).tool_calls[0].arguments == {"order_id": "123"}
    assert fmt.parse(text).tool_calls[0].arguments == {"order_id": 123}  # no schema: JSON value


def test_harmony_keeps_analysis_as_reasoning_and_final_as_content() -> None:
    text = (
        "<|channel|>analysis<|message|>The user wants an order.<|end|>"
        "<|start|>assistant<|channel|>commentary to=functions.ping <|constrain|>json<|message|>{}<|call|>"
    )
    parsed = get_tool_format("harmony").parse(text)
    assert parsed.reasoning == "The user wants an order." and [c.name for c in parsed.tool_calls] == ["ping"]


def test_mistral_v11_named_calls() -> None:
    parsed = get_tool_format("mistral").parse('[TOOL_CALLS]get_order[ARGS]{"order_id": "#W1"}')
    assert parsed.tool_calls == (ToolCall(name="get_order", arguments={"order_id": "#W1"}),)


class _Tok:
    def __init__(self, template: object) -> None:
        self.chat_template = template


TEMPLATES = {
    "hermes": "{% for tool in tools %}...{% endfor %}<tool_call>\n{{ tool_call | tojson }}\n</tool_call>",
    "qwen3_coder": "<tool_call>\n<function={{ tool_call.name }}>\n<parameter={{ k }}>\n{{ v }}\n</parameter>",
    "llama3_json": '<|start_header_id|>ipython<|end_header_id|>{{ \'{"name": ...,"parameters": ...}\' }}',
    "mistral": "{{ '[TOOL_CALLS]' + tool_calls | tojson }}",
    "harmony": "<|start|>assistant<|channel|>commentary to=functions.{{ name }}<|message|>",
}


@pytest.mark.parametrize("family", sorted(TEMPLATES))
def test_the_format_is_chosen_from_the_chat_template(family: str) -> None:
    assert detect_tool_format(_Tok(TEMPLATES[family])).name == family


def test_no_tool_syntax_falls_back_to_hermes_and_override_wins() -> None:
    chatml = "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}"
    assert detect_tool_format(_Tok(chatml)).name == "hermes"
    assert detect_tool_format(_Tok(None)).name == "hermes"
    assert detect_tool_format(_Tok(TEMPLATES["mistral"]), override="json").name == "json"
    with pytest.raises(UnknownNameError, match="hermes"):
        get_tool_format("hermez")


def test_a_plugin_can_add_a_format() -> None:
    class Shouty(HermesFormat):
        pass

    fmt = Shouty(name="shouty-test")
    register_tool_format(fmt, detect=lambda t: "<SHOUT>" in t)
    assert "shouty-test" in tool_format_names()
    assert detect_tool_format(_Tok("<SHOUT>")).name == "shouty-test"


def test_parse_with_cuts_at_the_end_token_and_never_raises() -> None:
    fmt = get_tool_format("hermes")
    text = '<tool_call>{"name": "ping", "arguments": {}}</tool_call><|im_end|>trailing'
    assert [c.name for c in parse_with(fmt, text, (), "<|im_end|>").tool_calls] == ["ping"]

    class Broken:
        name = "broken"

        def parse(self, text: str, tools: object = ()) -> Message:
            raise RuntimeError("bug")

    assert parse_with(Broken(), "hi").content == "hi"  # type: ignore[arg-type]
