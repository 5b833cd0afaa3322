"""Models whose chat templates use other tool-call syntaxes yield parsed tool calls.

A tiny model is given a Qwen3-Coder-style template (XML calls) or a Llama-3-style template (JSON
calls with ``parameters``), taught to answer one prompt with a call in that syntax, and sampled by
the real ``hf`` policy: the policy picks the format from the template, and the sampled text comes
back as a tool call with typed arguments.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from memorized_model import memorize

from pivotrl_core import Candidate, Message, Prompt, SamplingParams, ToolCall
from pivotrl_core.cli import main
from pivotrl_core.policies.hf import HFPolicy
from pivotrl_core.policies.tool_formats import get_tool_format

QWEN3_CODER_TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n# Tools\n{% for t in tools %}{{ t.function.name }}\n{% endfor %}"
    "Call a tool as <tool_call>\n<function=NAME>\n<parameter=KEY>\nVALUE\n</parameter>\n</function>\n"
    "</tool_call><|im_end|>\n{%- endif %}"
    "{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
    "{%- for tc in m.tool_calls or [] %}<tool_call>\n<function={{ tc.function.name }}>\n"
    "{% for k, v in tc.function.arguments.items() %}<parameter={{ k }}>\n{{ v }}\n</parameter>\n{% endfor %}"
    "</function>\n</tool_call>{% endfor %}<|im_end|>\n{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
LLAMA3_TEMPLATE = (
    "{%- for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>"
    "{%- endfor %}{%- if tools %}<|start_header_id|>system<|end_header_id|>\n\nAnswer a call as "
    '{"name": function name, "parameters": dictionary of arguments}.<|eot_id|>{%- endif %}'
    "{%- if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}, "quantity": {"type": "integer"}},
            },
        },
    },
)
PROMPT = Prompt(messages=(Message("user", "Where is order 123? I want 2 more."),), tools=TOOLS)
CALL = ToolCall(name="get_order", arguments={"order_id": "123", "quantity": 2})


@pytest.mark.parametrize(
    ("family", "template"), [("qwen3_coder", QWEN3_CODER_TEMPLATE), ("llama3_json", LLAMA3_TEMPLATE)]
)
def test_a_model_of_another_family_yields_parsed_tool_calls(
    family: str, template: str, tiny_model_path: str, tmp_path: Path
) -> None:
    base = tmp_path / "base"
    shutil.copytree(tiny_model_path, base)
    config = base / "tokenizer_config.json"
    (base / "chat_template.jinja").write_text(template)
    assert config.exists()
    answer = get_tool_format(family).render(Message("assistant", None, (CALL,)))
    model = memorize(str(base), tmp_path / "taught", [(PROMPT, answer)], steps=400)
    policy = HFPolicy(model)
    assert policy.tool_format.name == family
    (completion,) = policy.sample([PROMPT], 1, SamplingParams(temperature=0.0, max_new_tokens=80))[0]
    assert completion.text.strip() == answer.strip()
    assert completion.message.tool_calls == (CALL,)  # "123" stays a string by the tool's schema

    # the same model through `pivotrl profile` (format detected from the template, the `tool_call`
    # verifier on the demonstrated call): every saved sample is the parsed call and passes
    cand = Candidate(
        id="c0",
        domain="generic",
        trajectory_id="t0",
        turn_index=1,
        messages=PROMPT.messages,
        tools=TOOLS,
        expected=Message("assistant", None, (CALL,)),
    )
    (tmp_path / "c.jsonl").write_text(json.dumps(cand.to_dict()) + "\n")
    out = tmp_path / "p.jsonl"
    args = ["profile", str(tmp_path / "c.jsonl"), "-o", str(out), "--model", str(model), "--k", "2"]
    args += ["--temperature", "0.01", "--max-new-tokens", "80", "--save-samples", "--no-progress"]
    try:
        main(args)
    except SystemExit as e:
        assert not e.code, e
    (row,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert row["scores"] == [1.0, 1.0]
    assert all(Message.from_dict(m).tool_calls == (CALL,) for m in row["samples"])
