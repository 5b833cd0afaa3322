"""The fallback prompt rendering (tools in the system prompt) and the parsing of completions."""

from __future__ import annotations

from pivotrl_core import Message, ToolCall
from pivotrl_core.policies.chat import CHATML_TEMPLATE, parse_completion, render_action, render_prompt


class _ChatMLTokenizer:
    """Renders with the ChatML template: no native tool support, so the fallback is used."""

    chat_template = CHATML_TEMPLATE
    eos_token = "<|im_end|>"

    def apply_chat_template(self, messages, chat_template, tokenize, add_generation_prompt, **kwargs):  # noqa: ANN001, ANN003, ANN201
        import jinja2

        return jinja2.Template(chat_template).render(
            messages=messages, add_generation_prompt=add_generation_prompt
        )


TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "cancel_order",
            "description": "Cancel a pending order.\nMore detail that is not shown.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string"},
                    "reason": {"type": "string", "enum": ["no longer needed", "ordered by mistake"]},
                    "notify": {"type": "boolean"},
                },
                "required": ["order_id", "reason"],
            },
        },
    },
    {"name": "ping", "parameters": {"type": "object"}},
)


def test_tools_render_as_one_signature_line_each() -> None:
    text = render_prompt(_ChatMLTokenizer(), [Message("system", "Be nice."), Message("user", "hi")], TOOLS)
    lines = text.splitlines()
    assert (
        'cancel_order(order_id, reason: "no longer needed"|"ordered by mistake", notify?: boolean): '
        "Cancel a pending order." in lines
    )
    assert "\nping()<|im_end|>" in text  # a tool without description or arguments
    assert "More detail" not in text  # only the first line of a description
    assert text.index("Be nice.") < text.index("cancel_order(")  # appended to the existing system prompt
    assert text.count("<|im_start|>system") == 1 and text.endswith("<|im_start|>assistant\n")


def test_tool_history_round_trips_through_render_action_and_parse_completion() -> None:
    call = Message(
        "assistant", None, tool_calls=(ToolCall("cancel_order", {"order_id": "#W1", "reason": "x"}),)
    )
    text = render_prompt(
        _ChatMLTokenizer(),
        [Message("user", "cancel"), call, Message("tool", "ok", tool_call_id="c1", name="cancel_order")],
        TOOLS,
    )
    assert (
        '<tool_call>{"name": "cancel_order", "arguments": {"order_id": "#W1", "reason": "x"}}</tool_call>'
        in text
    )
    assert "<tool_response>\nok\n</tool_response>" in text
    parsed = parse_completion(render_action(call) + "<|im_end|>", "<|im_end|>")
    assert [(tc.name, tc.arguments) for tc in parsed.tool_calls] == [
        ("cancel_order", {"order_id": "#W1", "reason": "x"})
    ]
    assert parse_completion("not a call").content == "not a call"
