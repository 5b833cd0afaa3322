"""SFT teaches the tool-call format of the model it trains: the one its parser reads back.

Tiny tokenizers get the Qwen3-Coder-XML and Llama-3 chat templates of ``test_tool_format_models``;
the SFT examples' target tokens must decode to that family's syntax and parse (with the format
detected from the template) to the demonstrated call, and earlier calls in a prompt must be in the
same syntax. A template without tool syntax (SmolLM2's, the tiny ChatML one) keeps the Hermes
form, byte for byte.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from test_sft import decode_targets
from test_tool_format_models import LLAMA3_TEMPLATE, QWEN3_CODER_TEMPLATE, TOOLS

from pivotrl_core import Candidate, Message, Prompt, SamplingParams, ToolCall, Trajectory
from pivotrl_core.errors import UnknownNameError
from pivotrl_core.policies.chat import end_of_turn, parse_completion, render_prompt
from pivotrl_core.policies.hf import HFPolicy
from pivotrl_core.policies.models import load_tokenizer
from pivotrl_core.policies.tool_formats import detect_tool_format, get_tool_format
from pivotrl_core.policies.tool_parsers import HermesFormat
from pivotrl_core.train.config import SFTConfig, load_config
from pivotrl_core.train.sft import build_examples, train_sft

pytestmark = pytest.mark.usefixtures("one_thread")

FAMILIES = {"qwen3_coder": QWEN3_CODER_TEMPLATE, "llama3_json": LLAMA3_TEMPLATE}
# what each family's calls look like, written out independently of the renderers under test
SYNTAX = {
    "qwen3_coder": ("<function=get_order>", "<parameter=order_id>\n124\n</parameter>"),
    "llama3_json": ('{"name": "get_order", "parameters": {"order_id": "124", "quantity": 1}}',),
    "hermes": ('<tool_call>{"name": "get_order", "arguments": {"order_id": "124", "quantity": 1}}',),
}
FIRST = ToolCall("get_order", {"order_id": "123", "quantity": 2}, id="c1")
SECOND = ToolCall("get_order", {"order_id": "124", "quantity": 1}, id="c2")
TRAJ = Trajectory(
    id="t",
    tools=TOOLS,
    messages=(
        Message("user", "Where are orders 123 and 124?"),
        Message("assistant", tool_calls=(FIRST,)),
        Message("tool", '{"status": "shipped"}', tool_call_id="c1"),
        Message("assistant", tool_calls=(SECOND,)),
        Message("tool", '{"status": "lost"}', tool_call_id="c2"),
        Message("assistant", "One shipped, one lost."),
    ),
)
CAND = Candidate(
    id="t:3",
    domain="generic",
    trajectory_id="t",
    turn_index=3,
    messages=TRAJ.messages[:3],
    tools=TOOLS,
    expected=TRAJ.messages[3],
)


def tokenizer(path: str, template: str | None = None):
    tok = load_tokenizer(path)
    if template is not None:
        tok.chat_template = template
    return tok


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("pack", ["trajectory", "turn"])
def test_targets_are_written_in_the_family_syntax_and_parse_back(
    family: str, pack: str, tiny_model_path: str
) -> None:
    tok = tokenizer(tiny_model_path, FAMILIES[family])
    fmt = detect_tool_format(tok)
    assert fmt.name == family
    examples, dropped = build_examples(tok, [TRAJ], pack, 4096)
    assert dropped == 0
    targets = [t for ex in examples for t in decode_targets(tok, ex)]
    eot = end_of_turn(tok)
    assert len(targets) == 3 and all(t.endswith(eot) for t in targets)
    second = targets[1]
    assert all(marker in second for marker in SYNTAX[family]) and "<tool_call>{" not in second
    for target, want in zip(targets, [(FIRST,), (SECOND,), ()], strict=True):
        parsed = parse_completion(target, eot, fmt, TOOLS)
        assert parsed.tool_calls == tuple(dataclasses.replace(c, id=None) for c in want)
    assert parse_completion(targets[2], eot, fmt, TOOLS).content == "One shipped, one lost."


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_earlier_calls_in_the_prompt_use_the_family_syntax_too(family: str, tiny_model_path: str) -> None:
    tok = tokenizer(tiny_model_path, FAMILIES[family])
    (example,), _ = build_examples(tok, [CAND], "turn", 4096)
    prompt = tok.decode([t for t, m in zip(example.ids, example.target, strict=True) if not m])
    first_in_syntax = {
        "qwen3_coder": "<function=get_order>\n<parameter=order_id>\n123\n</parameter>",
        "llama3_json": '{"name": "get_order", "parameters": {"order_id": "123", "quantity": 2}}',
    }[family]
    assert first_in_syntax in prompt and "<tool_call>{" not in prompt
    if family == "llama3_json":  # no native tools: the instruction shows the family's syntax
        assert '{"name": "<tool>", "parameters": {' in prompt


def test_a_template_without_tool_syntax_keeps_the_hermes_form_byte_for_byte(tiny_model_path: str) -> None:
    tok = tokenizer(tiny_model_path)  # ChatML without tools: detected as the fallback, like SmolLM2
    assert detect_tool_format(tok).name == "hermes"
    hermes = HermesFormat()
    for pack in ("trajectory", "turn"):
        detected, _ = build_examples(tok, [TRAJ, CAND], pack, 4096)
        explicit, _ = build_examples(tok, [TRAJ, CAND], pack, 4096, hermes)
        assert detected == explicit
    (example,), _ = build_examples(tok, [CAND], "turn", 4096)
    assert decode_targets(tok, example) == [hermes.render(CAND.expected) + end_of_turn(tok)]
    assert all(marker in decode_targets(tok, example)[0] for marker in SYNTAX["hermes"])
    for i in range(1, len(TRAJ.messages)):
        assert render_prompt(tok, TRAJ.messages[:i], TOOLS) == render_prompt(
            tok, TRAJ.messages[:i], TOOLS, hermes
        )


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_what_sft_teaches_is_what_the_policy_parses(
    family: str, tiny_model_path: str, tmp_path: Path
) -> None:
    """The real SFT trainer on one demonstration, then the real ``hf`` policy sampling greedily."""
    base = tmp_path / "base"
    shutil.copytree(tiny_model_path, base)
    (base / "chat_template.jinja").write_text(FAMILIES[family])
    prompt = Prompt(messages=CAND.messages, tools=TOOLS)
    data = tmp_path / "c.jsonl"
    data.write_text(json.dumps(CAND.to_dict()) + "\n")
    over = {"model": str(base), "max_steps": 120, "batch_size": 1, "micro_batch_size": 1, "lr": 1e-2}
    over |= {"pack": "turn", "progress": False, "tensorboard": False, "save_every": 1000}
    final = train_sft(load_config(SFTConfig, overrides=over), [data], tmp_path / "run")
    policy = HFPolicy(str(final))
    assert policy.tool_format.name == family
    (completion,) = policy.sample([prompt], 1, SamplingParams(temperature=0.0, max_new_tokens=80))[0]
    assert all(marker in completion.text for marker in SYNTAX[family])
    assert completion.message.tool_calls == (dataclasses.replace(SECOND, id=None),)


def test_the_tool_format_field_overrides_the_template_and_is_checked_first(
    tiny_model_path: str, tmp_path: Path
) -> None:
    tok = tokenizer(tiny_model_path)
    (example,), _ = build_examples(tok, [CAND], "turn", 4096, get_tool_format("llama3_json"))
    (target,) = decode_targets(tok, example)
    assert target.startswith(SYNTAX["llama3_json"][0])
    data = tmp_path / "c.jsonl"
    data.write_text(json.dumps(CAND.to_dict()) + "\n")
    cfg = load_config(SFTConfig, overrides={"model": tiny_model_path, "tool_format": "qwen3_codr"})
    with pytest.raises(UnknownNameError, match="did you mean 'qwen3_coder'"):
        train_sft(cfg, [data], tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before the run folder is made


def test_cli_sft_trains_in_the_named_format(tiny_model_path: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pivotrl_core.cli import build_cli

    data = tmp_path / "c.jsonl"
    data.write_text(json.dumps(CAND.to_dict()) + "\n")
    sets = ["max_steps=1", "progress=false", "tensorboard=false", "tool_format=qwen3_coder"]
    args = ["sft", str(data), "--set", f"model={json.dumps(tiny_model_path)}", "-o", str(tmp_path / "r")]
    res = CliRunner().invoke(build_cli(), [*args, *(a for s in sets for a in ("--set", s))])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "r" / "config.json").read_text())["sft"]["tool_format"] == "qwen3_coder"
    bad = CliRunner().invoke(build_cli(), [*args[:-1], str(tmp_path / "x"), "--set", "tool_format=hermez"])
    assert bad.exit_code == 2 and "hermes" in bad.output


def test_tool_use_warmup_key_is_unchanged_unless_a_format_is_named(monkeypatch, tmp_path: Path) -> None:
    warmup = pytest.importorskip("pivotrl_tool_use.warmup", reason="the tool-use plugin is not installed")
    import pivotrl_core

    s = warmup.WarmupSettings()
    fields = {k: v for k, v in dataclasses.asdict(s).items() if k != "tool_format"}
    blob = json.dumps(
        {**fields, "world": warmup.WORLD_VERSION, "render": pivotrl_core.RENDER_VERSION, "recipe": 1},
        sort_keys=True,
    )
    assert s.key() == hashlib.blake2b(blob.encode(), digest_size=6).hexdigest()  # the key before the field
    assert warmup.WarmupSettings(tool_format="json").key() != s.key()
    seen = {}

    class Stop(Exception):
        pass

    def record(cfg, *args, **kwargs):  # stops the build once the SFT config is known
        seen["cfg"] = cfg
        raise Stop

    monkeypatch.setattr(pivotrl_core, "train_sft", record)
    monkeypatch.setenv("PIVOTRL_CACHE", str(tmp_path))
    with pytest.raises(Stop):
        warmup.warmup_model(n_trajectories=1, tool_format="json", progress=False)
    assert seen["cfg"].tool_format == "json"


def test_a_named_format_enters_the_swe_warmup_key() -> None:
    warmup = pytest.importorskip("pivotrl_swe.warmup", reason="the swe plugin is not installed")
    assert warmup.WarmupSettings(tool_format="json").key() != warmup.WarmupSettings().key()
