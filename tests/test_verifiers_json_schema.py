"""``json_schema``: schemas from the candidate's tools or from configuration; errors name the path."""

from __future__ import annotations

import json

import pytest
from verifier_helpers import call, cand, say

from pivotrl_core.errors import ConfigError
from pivotrl_core.types import Message, ToolCall
from pivotrl_core.verifiers.base import run_verifier
from pivotrl_core.verifiers.json_schema import JsonSchemaVerifier, tool_schemas

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"],
    "additionalProperties": False,
}
CHAT_TOOLS = ({"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}},)
RESPONSES_TOOLS = ({"type": "function", "name": "get_weather", "parameters": WEATHER, "strict": True},)


def test_tool_schemas_reads_the_common_shapes():
    anthropic = ({"name": "get_weather", "input_schema": WEATHER},)
    for tools in (CHAT_TOOLS, RESPONSES_TOOLS, anthropic):
        assert tool_schemas(tools) == {"get_weather": WEATHER}


@pytest.mark.parametrize("tools", [CHAT_TOOLS, RESPONSES_TOOLS])
def test_arguments_against_the_tool_schema(tools):
    v = JsonSchemaVerifier()
    c = cand(call("get_weather", city="Paris"), tools=tools)
    assert v.verify(c, call("get_weather", city="Lima", days=3)).passed
    wrong = v.verify(c, call("get_weather", city="Lima", days=0))
    assert not wrong.passed and wrong.details["path"] == "$.days" and "minimum" in wrong.reason
    missing = v.verify(c, call("get_weather", days=2))
    assert not missing.passed and "'city' is a required property" in missing.reason
    extra = v.verify(c, call("get_weather", city="Lima", units="C"))
    assert not extra.passed and "additional" in extra.reason.lower()


def test_unknown_tools_and_bad_json_fail():
    v = JsonSchemaVerifier()
    c = cand(call("get_weather", city="Paris"), tools=CHAT_TOOLS)
    assert "not in the candidate's tool list" in v.verify(c, call("get_wether", city="Paris")).reason
    raw = Message("assistant", tool_calls=(ToolCall("get_weather", None, raw_arguments="{city: Paris"),))
    assert "not a JSON object" in v.verify(c, raw).reason
    # every call of a batch is checked
    batch = Message(
        "assistant", tool_calls=(ToolCall("get_weather", {"city": "A"}), ToolCall("get_weather", {}))
    )
    assert not v.verify(c, batch).passed


def test_messages_pass_only_when_no_call_was_demonstrated():
    v = JsonSchemaVerifier()
    assert v.verify(cand(say("Hi!"), tools=CHAT_TOOLS), say("Hello")).passed
    assert not v.verify(cand(call("get_weather", city="X"), tools=CHAT_TOOLS), say("Hello")).passed
    assert not v.verify(cand(say("Hi!"), tools=CHAT_TOOLS), say("  ")).passed


TERMINUS = {
    "type": "object",
    "required": ["commands", "task_complete"],
    "properties": {
        "commands": {"type": "array", "items": {"type": "object", "required": ["keystrokes"]}},
        "task_complete": {"type": "boolean"},
    },
}


def test_content_target_validates_json_text(tmp_path):
    path = tmp_path / "terminus.json"
    path.write_text(json.dumps(TERMINUS))
    v = JsonSchemaVerifier(target="content", schema=str(path))
    ok = '<think>plan</think>\n{"commands": [{"keystrokes": "ls\\n"}], "task_complete": false}'
    assert v.verify(cand(say("{}")), say(ok)).passed
    bad = v.verify(cand(say("{}")), say('{"commands": [{"duration": 1}], "task_complete": false}'))
    assert not bad.passed and bad.details["path"] == "$.commands[0]"
    assert "not valid JSON" in v.verify(cand(say("{}")), say("ls -la")).reason


def test_configured_schema_applies_to_every_call():
    v = JsonSchemaVerifier(schema={"type": "object", "required": ["id"]})
    assert v.verify(cand(call("any", id=1)), call("whatever", id=2)).passed
    assert not v.verify(cand(call("any", id=1)), call("whatever", label="x")).passed


def test_configuration_errors(tmp_path):
    with pytest.raises(ConfigError, match="needs a 'schema'"):
        JsonSchemaVerifier(target="content")
    with pytest.raises(ConfigError, match="schema is invalid"):
        JsonSchemaVerifier(schema={"type": "objekt"})
    with pytest.raises(ConfigError, match="does not exist"):
        JsonSchemaVerifier(schema=str(tmp_path / "missing.json"))


def test_a_broken_tool_schema_is_an_errored_verdict():
    tools = ({"name": "f", "parameters": {"type": 12}},)
    v = run_verifier(JsonSchemaVerifier(), cand(call("f"), tools=tools), call("f", a=1))
    assert v.errored and "SchemaError" in v.error
