"""`pivotrl run`'s config: one typed RunConfig of the stages' own classes, checked before any stage runs."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest

from pivotrl_core.errors import ConfigError
from pivotrl_core.profile import ProfileConfig
from pivotrl_core.run.config import TABLES, RunConfig, load_run_config
from pivotrl_core.run.config_docs import markdown_tables
from pivotrl_core.select import SelectConfig
from pivotrl_core.train.config import TrainConfig

DOCS = Path(__file__).resolve().parents[1] / "docs" / "pipeline.md"
GEN = {"data": {"generate": {"n": 2, "seed": 1}}}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"rn": {}}, r"unknown table \[rn\]; did you mean \[run\]"),
        ({**GEN, "profile": {"kk": 3}}, r"\[profile\] unknown field 'kk'; did you mean 'k'"),
        ({**GEN, "profile": {"k": "8"}}, r"\[profile\] k = '8': Input should be a valid integer"),
        ({**GEN, "profile": {"k": 1}}, r"\[profile\] k = 1: must be >= 2"),
        ({**GEN, "profile": {"temperature": "hot"}}, r"\[profile\] temperature = 'hot'"),
        ({**GEN, "profile": {"max_mean": 0.5}}, r"max_mean is set by \[select\] max_mean"),
        ({**GEN, "train": {"model": "x"}}, r"\[train\] model is set by the run"),
        ({**GEN, "train": {"lr": "fast"}}, r"\[train\] lr = 'fast'"),
        ({**GEN, "train": {"group_size": 1}}, r"\[train\] group_size = 1"),
        ({**GEN, "sft": {"epochs": 0}}, r"\[sft\] epochs = 0"),
        ({**GEN, "extract": {"multi_call": "dropp"}}, r"\[extract\] multi_call = 'dropp'"),
        ({**GEN, "select": {"max_mean": 1.5}}, r"\[select\] max_mean"),
        ({**GEN, "eval": {"seeds": []}}, r"\[eval\]"),
        ({}, r"\[data\] needs trajectories"),
        ({"data": {"generate": {"n": 0}}}, r"\[data\] n must be at least 1"),
        ({"data": {"generate": ["tool-use", "generate"]}}, r"\[data\] generate"),
        ({**GEN, "heldout": {"generate": [{"n": 1, "seed": 5}, {"n": 2, "seed": 5}]}}, "share a label"),
        ({**GEN, "model": {"warmup": "pkg.mod:fn"}}, r"\[model\] warmup = 'pkg.mod:fn'"),
        ({"data": {"generate": {"n": 2, "sed": 1}}}, r"\[data\] generate = .*: sed: Unexpected keyword"),
        ({**GEN, "train": {"lr": float("inf")}}, r"\[train\] lr = inf: must be a finite number"),
        ({**GEN, "profile": {"temperature": float("nan")}}, r"temperature = nan: must be a finite number"),
        ({**GEN, "profile": {"temperature": 0.0}}, r"\[profile\] temperature = 0.0: must be > 0"),
        ({**GEN, "profile": {"top_p": 0.0}}, r"\[profile\] top_p = 0.0: must be in \(0, 1\]"),
        ({**GEN, "profile": {"max_new_tokens": 0}}, r"\[profile\] max_new_tokens = 0: must be >= 1"),
        ({**GEN, "eval": {"temperature": -1.0}}, r"\[eval\] temperature = -1.0"),
        ({**GEN, "run": {"name": datetime.date(2020, 1, 1)}}, r"\[run\] name = datetime.date"),
        ({**GEN, "profile": 3}, r"\[profile\] must be a table"),
    ],
)
def test_config_errors_name_the_table_and_key(doc: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_run_config(doc)


def test_toml_errors_name_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "run.toml"
    f.write_text('[run]\nname = "x"\n\n[data]\ngenerate = {n = 2}\n\n[train]\nmax_steps = 3\nlr = "1e-5"\n')
    with pytest.raises(ConfigError) as e:
        load_run_config(f)
    assert str(e.value).startswith(f"{f}:9: [train] lr = '1e-5'")
    f.write_text("[data]\ngenerate = {n = 2}\n[profile]\nk = 4\n")
    with pytest.raises(ConfigError, match=r"--set profile\.k: .*k = 1"):
        load_run_config(f, {"profile": {"k": 1}})
    f.write_text("[data\n")
    with pytest.raises(ConfigError, match=re.escape(f"{f}: invalid TOML")):
        load_run_config(f)


def test_every_default_comes_from_the_stage_class(tmp_path: Path) -> None:
    cfg_file = tmp_path / "run.toml"
    cfg_file.write_text(
        '[run]\nseed = 3\n[data]\ntrajectories = ["t.jsonl"]\n[profile]\nk = 4\n[select]\nmax_mean = 0.5\n'
        "[train]\nmax_steps = 3\n"
    )
    cfg = load_run_config(cfg_file, {"profile": {"max_new_tokens": 80}, "train": {"lr": 1e-4}})
    assert isinstance(cfg, RunConfig) and isinstance(cfg.profile, ProfileConfig)
    assert cfg.data.trajectories == [str(tmp_path / "t.jsonl")]  # relative to the config file
    # the run's own values: domain, seed, lambda for early stopping
    assert (cfg.profile.k, cfg.profile.max_mean, cfg.profile.sampling.seed) == (4, 0.5, 3)
    assert cfg.profile.sampling.max_new_tokens == 80
    assert cfg.profile.sampling.temperature == ProfileConfig().sampling.temperature
    assert cfg.profile.batch_size == ProfileConfig().batch_size
    assert cfg.select.min_std == SelectConfig().min_std and cfg.select.seed == 3
    assert (cfg.train.max_steps, cfg.train.lr, cfg.train.seed) == (3, 1e-4, 3)
    assert cfg.train.group_size == TrainConfig().group_size
    assert set(cfg.to_dict()) == set(TABLES)
    over = load_run_config(cfg_file, {"heldout": {"trajectories": ["h.jsonl"]}})
    assert over.heldout.trajectories == [str(Path.cwd() / "h.jsonl")]  # --set paths: relative to the cwd


def test_docs_tables_are_generated_from_the_classes() -> None:
    text = DOCS.read_text()
    assert markdown_tables() in text, "docs/pipeline.md is stale: paste run.config_docs.markdown_tables()"
    for table in TABLES:
        assert f"### [{table}]" in text
