"""Training configs: TOML + --set overrides, and errors that say how to fix the config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pivotrl_core.errors import ConfigError
from pivotrl_core.train.config import SFTConfig, TrainConfig, field_docs, load_config, parse_overrides

DOCS = Path(__file__).resolve().parents[1] / "docs" / "trainer.md"


def test_defaults_are_valid() -> None:
    assert load_config(TrainConfig).group_size == 8
    assert load_config(SFTConfig).max_steps == 0


def test_toml_table_top_level_and_overrides(tmp_path) -> None:
    run = tmp_path / "run.toml"
    run.write_text(
        "[train]\nlr = 3e-6\ngroup_size = 4\nverifier_options = {threshold = 0.3}\n"
        '[sft]\nepochs = 2\n[eval]\nanything = "ignored by the trainer"\n'
    )
    cfg = load_config(TrainConfig, run, ["group_size=16", "lora=true", 'lora_target_modules=["q_proj"]'])
    assert (cfg.lr, cfg.group_size, cfg.lora, cfg.lora_target_modules) == (3e-6, 16, True, ["q_proj"])
    assert cfg.verifier_options == {"threshold": 0.3}
    assert load_config(SFTConfig, run).epochs == 2.0
    flat = tmp_path / "flat.toml"
    flat.write_text("max_steps = 7\nclip_eps_high = 0.28\nmodel = 'smollm2-135m'\n")
    cfg = load_config(TrainConfig, flat, {"advantage": "loo"})
    assert (cfg.max_steps, cfg.clip_eps_high, cfg.advantage) == (7, 0.28, "loo")


def test_override_values_parse_as_toml_with_bare_words_as_strings() -> None:
    assert parse_overrides(["lr=1e-5", "lora=true", "model=runs/a/final", "x.y=2"]) == {
        "lr": 1e-5,
        "lora": True,
        "model": "runs/a/final",
        "x": {"y": 2},
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["lr"])


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        (["group_size=1"], r"group_size = 1 must be >= 2.*--set group_size=8"),
        (["advantag=loo"], r"unknown TrainConfig field 'advantag'; did you mean 'advantage'"),
        (
            ["advantage=leave_one_out"],
            r"advantage = 'leave_one_out' is not one of 'group_norm', 'loo', 'mean'",
        ),
        (["lr=fast"], r"lr = 'fast' must be a float.*--set lr="),
        (["lr=0"], r"lr = 0.0 must be > 0.*--set lr=1e-5"),
        (["lora=true", "train_top_n_layers=2"], r"lora = True cannot be combined with train_top_n_layers"),
        (["temperature=0"], r"temperature = 0.0 must be > 0 \(greedy"),
        (["num_minibatches=9"], r"num_minibatches = 9 must be between 1 and batch_pivots \(4\)"),
        (["refresh_threshold=1.5"], r"refresh_threshold = 1.5 is a fraction"),
        (["clip_eps_low=1.2"], r"clip_eps_low = 1.2 must be in \(0, 1\)"),
        (["group_size=2.5"], r"group_size = 2.5 must be a int"),
    ],
)
def test_bad_values_say_how_to_fix_them(overrides, pattern) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load_config(TrainConfig, overrides=overrides)


def test_bad_files_are_named(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(TrainConfig, tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("lr = = 1\n")
    with pytest.raises(ConfigError, match=re.escape(str(broken)) + ": invalid TOML"):
        load_config(TrainConfig, broken)
    typo = tmp_path / "typo.toml"
    typo.write_text("[train]\ngroup_sise = 4\n")
    with pytest.raises(ConfigError, match=re.escape(str(typo)) + ".*did you mean 'group_size'"):
        load_config(TrainConfig, typo)
    with pytest.raises(ConfigError, match="micro_batch_size"):
        load_config(SFTConfig, overrides=["batch_size=2", "micro_batch_size=4"])


@pytest.mark.parametrize("cls", [TrainConfig, SFTConfig])
def test_every_field_is_documented_in_docs_trainer_md(cls) -> None:
    text = DOCS.read_text()
    for name, _typ, _default, help_text in field_docs(cls):
        assert help_text, f"{cls.__name__}.{name} has no help text"
        assert re.search(rf"^\| `{name}` \|", text, re.M), f"{name} is missing from the table in {DOCS}"
