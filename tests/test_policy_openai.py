"""The ``openai`` policy against ``pivotrl serve`` (a real HTTP server on loopback, tiny models)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from memorized_model import TEXT_ANSWER, TOOL_ANSWER, memorize

from pivotrl_core.plugins import get_registry
from pivotrl_core.policies.base import Prompt, SamplingParams
from pivotrl_core.policies.hf import HFPolicy
from pivotrl_core.policies.openai_policy import OpenAIPolicy, to_openai_messages, to_openai_tools
from pivotrl_core.serve import serve_in_thread
from pivotrl_core.types import Message, ToolCall

TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "description": "Look up an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    },
)
TOOL_PROMPT = Prompt((Message("user", "Where is my order W123?"),), TOOLS)
TEXT_PROMPT = Prompt((Message("user", "Cancel it please."),))
PLAIN_TOOL_PROMPT = Prompt((Message("user", "Look up order W123."),))  # answers a call without tools
GREEDY = SamplingParams(temperature=0, max_new_tokens=60)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_path(tiny_model_path: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    pairs = [(TOOL_PROMPT, TOOL_ANSWER), (TEXT_PROMPT, TEXT_ANSWER), (PLAIN_TOOL_PROMPT, TOOL_ANSWER)]
    return memorize(tiny_model_path, tmp_path_factory.mktemp("memorized-openai"), pairs)


@pytest.fixture(scope="module")
def server(model_path: str) -> Iterator[tuple[object, str]]:
    httpd, url = serve_in_thread(HFPolicy(model_path))
    yield httpd, url
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def policy(server: tuple[object, str]) -> OpenAIPolicy:
    return OpenAIPolicy("tiny", base_url=server[1], max_retries=0, timeout=30)


def _http(url: str, body: bytes | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_registered_as_openai(server: tuple[object, str]) -> None:
    pol = get_registry().policy("openai", model="tiny", base_url=server[1])
    assert isinstance(pol, OpenAIPolicy) and pol.model_id == "tiny"


def test_models_endpoint(server: tuple[object, str]) -> None:
    status, body = _http(server[1] + "/models")
    assert status == 200 and body["data"][0]["object"] == "model"


def test_native_tool_calls_come_back_as_tool_calls(server: tuple[object, str], policy: OpenAIPolicy) -> None:
    status, body = _http(
        server[1] + "/chat/completions",
        json.dumps(
            {
                "model": "tiny",
                "messages": [{"role": "user", "content": "Where is my order W123?"}],
                "tools": list(TOOLS),
                "temperature": 0,
                "max_tokens": 60,
            }
        ).encode(),
    )
    assert status == 200
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]["function"]
    assert call["name"] == "get_order" and json.loads(call["arguments"]) == {"order_id": "W123"}
    [[c]] = policy.sample([TOOL_PROMPT], 1, GREEDY)
    assert c.message.tool_calls[0].name == "get_order" and c.message.tool_calls[0].arguments == {
        "order_id": "W123"
    }
    assert c.text == TOOL_ANSWER and c.finish_reason == "stop"


def test_tool_calls_in_plain_text_are_parsed_by_the_client(policy: OpenAIPolicy) -> None:
    [[c]] = policy.sample([PLAIN_TOOL_PROMPT], 1, GREEDY)  # no tools sent: the server returns text
    assert c.text == TOOL_ANSWER
    assert c.message.tool_calls == (ToolCall(name="get_order", arguments={"order_id": "W123"}),)


def test_n_samples_seed_and_order_under_concurrency(policy: OpenAIPolicy) -> None:
    sp = SamplingParams(temperature=1.0, max_new_tokens=12, seed=5)
    a = policy.sample([TEXT_PROMPT], 4, sp)[0]
    b = policy.sample([TEXT_PROMPT], 4, sp)[0]
    assert len(a) == 4 and [c.text for c in a] == [c.text for c in b]
    prompts = [TEXT_PROMPT, TOOL_PROMPT, PLAIN_TOOL_PROMPT] * 2
    out = OpenAIPolicy("tiny", base_url=policy.client.base_url, max_concurrency=3).sample(prompts, 2, GREEDY)
    for p, comps in zip(prompts, out, strict=True):
        assert len(comps) == 2
        expected = TEXT_ANSWER if p is TEXT_PROMPT else TOOL_ANSWER
        assert all(c.text == expected for c in comps)


def test_too_long_prompt_is_skipped(policy: OpenAIPolicy) -> None:
    huge = Prompt((Message("system", "Policy text. " * 1200), Message("user", "Hi")))
    assert policy.sample([huge, TEXT_PROMPT], 1, GREEDY)[0] == []
    assert policy.stats["skipped"] == 1


def test_unreachable_server_gives_errored_completions_not_text() -> None:
    pol = OpenAIPolicy("tiny", base_url="http://127.0.0.1:9/v1", max_retries=1, timeout=2)
    [comps] = pol.sample([TEXT_PROMPT], 3, GREEDY)
    assert [c.finish_reason for c in comps] == ["error"] * 3
    assert "Connection" in comps[0].meta["error"]


def test_bad_requests_get_openai_style_errors(server: tuple[object, str]) -> None:
    url = server[1] + "/chat/completions"
    for body, pattern in (
        (b"{not json", "invalid JSON"),
        (json.dumps({"messages": []}).encode(), "non-empty"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}], "stream": True}).encode(), "stream"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}], "n": 0}).encode(), "'n'"),
        (json.dumps({"messages": [{"content": "x"}]}).encode(), "role"),
    ):
        status, err = _http(url, body)
        assert status == 400 and re.search(pattern, err["error"]["message"])
    assert _http(server[1] + "/nope", b"{}")[0] == 404


def test_message_conversion_pairs_tool_ids() -> None:
    msgs = [
        Message("user", "hi"),
        Message("assistant", tool_calls=(ToolCall("a", {"x": 1}), ToolCall("b", {}))),
        Message("tool", "ra"),
        Message("tool", "rb"),
    ]
    out = to_openai_messages(msgs)
    ids = [c["id"] for c in out[1]["tool_calls"]]
    assert [out[2]["tool_call_id"], out[3]["tool_call_id"]] == ids
    assert out[1]["tool_calls"][0]["function"]["arguments"] == '{"x": 1}'
    flat = {"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}}
    assert to_openai_tools([flat]) == [
        {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}
    ]


def test_pivotrl_serve_command_on_port_zero(model_path: str, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "pivotrl"), "serve", "--model", model_path, "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = None
        deadline = time.time() + 120
        while time.time() < deadline and url is None:
            line = proc.stderr.readline() if proc.stderr else ""
            m = re.search(r"on (http://127\.0\.0\.1:\d+/v1)", line)
            url = m.group(1) if m else url
            if not line and proc.poll() is not None:
                break
        assert url, "pivotrl serve did not report its address"
        [[c]] = OpenAIPolicy("tiny", base_url=url).sample([TEXT_PROMPT], 1, GREEDY)
        assert c.text == TEXT_ANSWER
    finally:
        proc.terminate()
        proc.wait(timeout=30)
