"""GRPO uses the tool-call format SFT taught: ``tool_format`` in ``[train]`` (and the TRL engine's
prompts and reward, the E2E trainer, ``pivotrl run``'s tables).

The tiny model's ChatML template has no tool syntax, so it is detected as Hermes; ``qwen3_coder``
is the non-default family named by the override. A tiny model is taught that family's call by the
real SFT trainer (with the same override), then the real ``train`` samples it and a recording
verifier sees the parsed call; the Qwen3-Coder syntax is written out here, independently of the
renderers under test.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pivot_data import make_candidates, write_candidates
from test_sft_tool_format import CAND, SECOND, TOOLS

import pivotrl_core
from pivotrl_core import Candidate, Domain, Message, Prompt, hookimpl
from pivotrl_core.errors import ConfigError, UnknownNameError
from pivotrl_core.integrations import pivot_rows
from pivotrl_core.plugins import get_registry
from pivotrl_core.policies.models import load_tokenizer
from pivotrl_core.policies.tool_formats import detect_tool_format
from pivotrl_core.run.config import load_run_config
from pivotrl_core.train.config import SFTConfig, TrainConfig, load_config
from pivotrl_core.train.e2e import E2EConfig, train_e2e
from pivotrl_core.train.grpo import train
from pivotrl_core.train.metrics import read_metrics
from pivotrl_core.train.run_state import build_run
from pivotrl_core.train.sft import train_sft
from pivotrl_core.train.trl_engine import train_trl

pytestmark = pytest.mark.usefixtures("one_thread")

FMT = "qwen3_coder"
EARLIER_XML = "<function=get_order>\n<parameter=order_id>\n123\n</parameter>"  # CAND's earlier call
SEEN: list[Message] = []


def record_call(candidate: Candidate, action: Message) -> bool:
    """Passes when the parsed action is the expected call; keeps every action it is given."""
    SEEN.append(action)
    return action.tool_calls == tuple(dataclasses.replace(c, id=None) for c in candidate.expected.tool_calls)


class RecordPlugin:
    @hookimpl
    def pivotrl_register_domains(self, register):  # noqa: ANN001, ANN201
        register(Domain(name="fmt-toy", verifier="record_call"))

    @hookimpl
    def pivotrl_register_verifiers(self, register):  # noqa: ANN001, ANN201
        register(record_call, name="record_call")


@pytest.fixture
def recorder(register_plugin):  # noqa: ANN001, ANN201
    SEEN.clear()
    return register_plugin(RecordPlugin(), name="record-plugin")


@pytest.fixture(scope="module")
def pivots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pivots") / "pivots.jsonl"
    path.write_text(json.dumps(dataclasses.replace(CAND, domain="fmt-toy").to_dict()) + "\n")
    return path


@pytest.fixture(scope="module")
def taught(tiny_model_path: str, pivots: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny model after SFT on the pivot's call in Qwen3-Coder XML (``[sft] tool_format``)."""
    over = {"model": tiny_model_path, "tool_format": FMT, "max_steps": 120, "batch_size": 1}
    over |= {"micro_batch_size": 1, "lr": 1e-2, "pack": "turn", "progress": False, "tensorboard": False}
    over |= {"save_every": 1000}
    return str(train_sft(load_config(SFTConfig, overrides=over), [pivots], tmp_path_factory.mktemp("sft")))


def grpo_config(model: str, **over: object) -> TrainConfig:
    base = {"model": model, "group_size": 2, "batch_pivots": 1, "max_steps": 1, "max_new_tokens": 96}
    base |= {"temperature": 0.5, "top_p": 0.05, "progress": False, "tensorboard": False}  # ~greedy
    return load_config(TrainConfig, overrides={**base, **over})


def test_the_prompt_renders_earlier_calls_in_the_configured_format(
    recorder, tiny_model_path: str, pivots: Path, tmp_path: Path
) -> None:  # noqa: ANN001
    texts = {}
    for fmt in (FMT, None):
        run = build_run(grpo_config(tiny_model_path, tool_format=fmt), pivots, tmp_path / "r", get_registry())
        assert run.policy.hf.tool_format.name == (fmt or "hermes")
        info = run.policy.hf.prepare(Prompt(messages=CAND.messages, tools=TOOLS), 48)
        texts[fmt] = run.tokenizer.decode(info.ids)
    assert EARLIER_XML in texts[FMT] and "<tool_call>{" not in texts[FMT]
    assert "<function=" in texts[FMT].split("<|im_end|>")[0]  # the tool instruction's example, too
    assert '<tool_call>{"name": "get_order", "arguments": {"order_id": "123", "quantity": 2}}' in texts[None]
    assert EARLIER_XML not in texts[None]
    assert not (tmp_path / "r").exists()  # building the run writes nothing


def test_train_parses_sampled_calls_in_the_configured_format(
    recorder, taught: str, pivots: Path, tmp_path: Path
) -> None:  # noqa: ANN001
    result = train(grpo_config(taught, tool_format=FMT), pivots, tmp_path / "xml", registry=get_registry())
    assert len(SEEN) == 2 and all(a.tool_calls == (dataclasses.replace(SECOND, id=None),) for a in SEEN)
    assert read_metrics(tmp_path / "xml" / "metrics.jsonl")[0]["reward_mean"] == 1.0
    saved = json.loads((result.out / "config.json").read_text())["train"]
    assert saved["tool_format"] == FMT
    SEEN.clear()  # the same model, the format left to detection (Hermes): the XML stays plain text
    train(grpo_config(taught), pivots, tmp_path / "hermes", registry=get_registry())
    assert len(SEEN) == 2 and not any(a.tool_calls for a in SEEN)
    assert read_metrics(tmp_path / "hermes" / "metrics.jsonl")[0]["reward_mean"] == 0.0


def test_trl_engine_prompts_and_rewards_in_the_configured_format(
    recorder, taught: str, pivots: Path, tmp_path: Path
) -> None:  # noqa: ANN001
    """TRL's GRPOTrainer on the same pivot: its prompt is the one SFT taught, its reward parses XML."""
    over = {"engine": "trl", "ppo_epochs": 1, "tool_format": FMT}
    result = train_trl(grpo_config(taught, **over), pivots, tmp_path / "trl", registry=get_registry())
    assert len(SEEN) == 2 and all(a.tool_calls == (dataclasses.replace(SECOND, id=None),) for a in SEEN)
    assert result.last_metrics["reward_mean"] == 1.0


def test_a_bad_tool_format_exits_2_before_anything_is_written(
    recorder, tiny_model_path: str, pivots: Path, tmp_path: Path
) -> None:  # noqa: ANN001
    from pivotrl_core.cli import build_cli

    sets = [f"model={json.dumps(tiny_model_path)}", 'tool_format="qwen3_codr"', "progress=false"]
    args = ["train", str(pivots), *(a for s in sets for a in ("--set", s)), "-o", str(tmp_path / "out")]
    res = CliRunner().invoke(build_cli(), args)
    assert res.exit_code == 2, res.output
    assert "did you mean 'qwen3_coder'" in res.output and not (tmp_path / "out").exists()
    cfg = grpo_config(tiny_model_path, tool_format="qwen3_codr")
    for run in (
        lambda: train(cfg, pivots, tmp_path / "grpo", registry=get_registry()),
        lambda: train_trl(
            dataclasses.replace(cfg, engine="trl"), pivots, tmp_path / "trl", registry=get_registry()
        ),
        lambda: train_e2e(E2EConfig(model=tiny_model_path, tool_format="qwen3_codr"), tmp_path / "e2e"),
    ):
        with pytest.raises(UnknownNameError, match="did you mean 'qwen3_coder'") as e:
            run()
        assert e.value.exit_code == 2
    assert not any(tmp_path.iterdir())


def test_run_config_train_and_sft_tables_take_tool_format(tmp_path: Path) -> None:
    good = tmp_path / "run.toml"
    data = '[data]\ntrajectories = ["t.jsonl"]\n'
    good.write_text(data + '[train]\ntool_format = "qwen3_coder"\n[sft]\ntool_format = "mistral"\n')
    cfg = load_run_config(good)
    assert (cfg.train.tool_format, cfg.sft.tool_format) == ("qwen3_coder", "mistral")
    bad = tmp_path / "bad.toml"
    bad.write_text(data + '\n[train]\nlr = 1e-5\ntool_format = "mistrl"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml:6.*did you mean 'mistral'"):
        load_run_config(bad)


# -- the TRL engine's prompts and reward (pivotrl_core.integrations) ----------------------------------

XML_CALL = (
    "<tool_call>\n<function=get_order>\n<parameter=order_id>\nW01\n</parameter>\n</function>\n</tool_call>"
)


def test_trl_reward_parses_a_non_hermes_family(tmp_path: Path) -> None:
    path = write_candidates(tmp_path / "p.jsonl", make_candidates(1, 2, domain="generic"))
    pivot = list(pivotrl_core.pivots_dataset(path)["pivot"])[1:]  # expects get_order(order_id="W01")
    conversational = [[{"role": "assistant", "content": XML_CALL}]]
    assert pivotrl_core.reward_function(tool_format=FMT)([None], conversational, pivot) == [1.0]
    assert pivotrl_core.reward_function(tool_format=FMT)([None], [XML_CALL], pivot) == [1.0]
    assert pivotrl_core.reward_function()([None], conversational, pivot) == [0.0]  # default: Hermes
    mistral = '[TOOL_CALLS][{"name": "get_order", "arguments": {"order_id": "W01"}}]'
    assert pivotrl_core.reward_function(tool_format="mistral")([None], [mistral], pivot) == [1.0]
    assert pivotrl_core.reward_function()([None], [mistral], pivot) == [0.0]
    with pytest.raises(UnknownNameError, match="did you mean 'mistral'"):
        pivotrl_core.reward_function(tool_format="mistrl")


def test_trl_prompts_use_the_models_detected_format(tmp_path: Path, tiny_model_path: str) -> None:
    from test_tool_format_models import QWEN3_CODER_TEMPLATE

    path = write_candidates(tmp_path / "p.jsonl", make_candidates(1, 4, domain="generic"))
    tok = load_tokenizer(tiny_model_path)
    tok.chat_template = QWEN3_CODER_TEMPLATE
    fmt = detect_tool_format(tok)  # what train_trl passes: the model's own format object
    assert fmt.name == FMT
    rows = pivot_rows(path, tool_format=fmt)
    last = rows[-1]["prompt"]  # its prefix holds the earlier call get_order(order_id="W01")
    earlier = next(m["content"] for m in last if m["role"] == "assistant" and "W01" in m["content"])
    assert earlier.startswith("<tool_call>\n<function=get_order>\n<parameter=order_id>\nW01\n")
    assert "<function=" in last[0]["content"]  # the system instruction's example
    hermes = pivot_rows(path)[-1]["prompt"]
    assert any('<tool_call>{"name": "get_order"' in m["content"] for m in hermes)
