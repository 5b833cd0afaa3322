"""Plugins add tool-call formats through the ``pivotrl_register_tool_formats`` hook.

A plugin registered on a fresh plugin manager adds a format whose detector matches a marker in a
chat template: a real (tiny) tokenizer with that template detects it, a completion in its syntax
parses, and SFT writes its demonstrations in it. The hooks reference's example works the same way;
a plugin that registers a bad format fails alone, as a plugin failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_hooks_documented import example
from test_sft import decode_targets

from pivotrl_core import Candidate, Message, RegisterToolFormat, ToolCall, hookimpl
from pivotrl_core.errors import PluginError
from pivotrl_core.plugin_loader import import_plugin_file, new_plugin_manager
from pivotrl_core.policies import tool_formats
from pivotrl_core.policies.chat import end_of_turn, parse_completion
from pivotrl_core.policies.models import load_tokenizer
from pivotrl_core.policies.tool_formats import detect_tool_format, tool_format_names
from pivotrl_core.train.sft import build_examples

MARKER = "<<bang>>"
TEMPLATE = (
    "{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{%- endfor %}"
    "{# calls are written " + MARKER + " NAME {json} #}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CALL = ToolCall("get_order", {"order_id": "W7"})


@dataclass(frozen=True)
class BangFormat:
    """A made-up family: ``<<bang>> NAME {json arguments}`` on a line of its own."""

    name: str = "bang-test"

    def render(self, message: Message) -> str:
        lines = [message.content.strip()] if message.content and message.content.strip() else []
        lines += [f"{MARKER} {c.name} {json.dumps(c.arguments)}" for c in message.tool_calls]
        return "\n".join(lines)

    def parse(self, text: str, tools: object = ()) -> Message:
        calls, rest = [], []
        for line in text.splitlines():
            m = re.fullmatch(re.escape(MARKER) + r" (\w+) (\{.*\})", line.strip())
            try:
                calls.append(ToolCall(m.group(1), json.loads(m.group(2))))
            except (AttributeError, ValueError):
                rest.append(line)
        return Message("assistant", "\n".join(rest).strip() or None, tuple(calls))


class BangPlugin:
    @hookimpl
    def pivotrl_register_tool_formats(self, register: RegisterToolFormat) -> None:
        register(BangFormat(), detect=lambda template: MARKER in template)


@pytest.fixture(autouse=True)
def restore_formats() -> Iterator[None]:
    """The table of formats is process-wide: put it back as it was after each test."""
    formats, table = dict(tool_formats._FORMATS), list(tool_formats.FAMILY_TABLE)
    yield
    tool_formats._FORMATS.clear()
    tool_formats._FORMATS.update(formats)
    tool_formats.FAMILY_TABLE[:] = table


def test_a_plugin_format_is_detected_from_the_template_parsed_and_taught(
    register_plugin, tiny_model_path: str
) -> None:
    tok = load_tokenizer(tiny_model_path)
    tok.chat_template = TEMPLATE
    assert detect_tool_format(tok).name == "hermes"  # nothing knows the marker yet
    register_plugin(BangPlugin(), name="bang")
    assert "bang-test" in tool_format_names()
    fmt = detect_tool_format(tok)
    assert fmt.name == "bang-test"
    eot = end_of_turn(tok)
    parsed = parse_completion(f'Checking.\n{MARKER} get_order {{"order_id": "W7"}}{eot}', eot, fmt)
    assert parsed.tool_calls == (CALL,) and parsed.content == "Checking."
    assert parse_completion(f"{MARKER} get_order {{broken", eot, fmt).tool_calls == ()
    cand = Candidate(
        id="t:1",
        domain="generic",
        trajectory_id="t",
        turn_index=1,
        messages=(Message("user", "Where is W7?"),),
        expected=Message("assistant", None, (CALL,)),
    )
    (ex,), _ = build_examples(tok, [cand], "turn", 1024)
    assert decode_targets(tok, ex) == [f'{MARKER} get_order {{"order_id": "W7"}}{eot}']


def test_plugins_loaded_again_do_not_pile_up_detectors(register_plugin) -> None:
    register_plugin(BangPlugin(), name="bang")
    new_plugin_manager(load_entry_points=False).register(BangPlugin(), name="bang-again")
    assert [name for name, _ in tool_formats.FAMILY_TABLE].count("bang-test") == 1


def test_the_hooks_reference_example_adds_its_format(register_plugin) -> None:
    register_plugin(example("pivotrl_register_tool_formats"), name="doc-tool-formats")

    class GraniteTokenizer:
        chat_template = "{{- '<|tool_call|>' + message.tool_calls | tojson }}"

    fmt = detect_tool_format(GraniteTokenizer())
    assert fmt.name == "granite"
    action = Message("assistant", "Let me look.", (CALL,))
    assert fmt.parse(fmt.render(action)) == action
    assert fmt.parse("<|tool_call|>[{oops").content == "<|tool_call|>[{oops"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("register(type('F', (), {'name': 'hermes', 'render': 1, 'parse': 1})())", "needs a name"),
        (
            "from pivotrl_core.policies.tool_parsers import HermesFormat\n    register(HermesFormat())",
            "built in",
        ),
        ("raise RuntimeError('no formats today')", "no formats today"),
    ],
)
def test_a_bad_format_plugin_fails_alone(body: str, error: str, tmp_path: Path) -> None:
    path = tmp_path / "bad_formats.py"
    path.write_text(
        "from pivotrl_core import hookimpl\n\n\n@hookimpl\ndef pivotrl_register_tool_formats(register):\n"
        f"    {body}\n\n\n@hookimpl\ndef pivotrl_register_formats(register):\n    pass\n"
    )
    pm = new_plugin_manager(load_entry_points=False)
    with pytest.raises(PluginError, match=error):
        import_plugin_file(path, pm)
    assert not pm.has_plugin("file:bad_formats.py")  # not left half-registered
    assert detect_tool_format(type("Tok", (), {"chat_template": "<tool_call>"})()).name == "hermes"
