"""engine = "trl": TRL's GRPOTrainer on pivots (in process, and two processes under accelerate)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pivot_data import make_candidates, write_candidates

import pivotrl_core
from pivotrl_core import ConfigError
from pivotrl_core.cli import build_cli, cli
from pivotrl_core.plugins import load_plugin_file
from pivotrl_core.train.config import TrainConfig
from pivotrl_core.train.trl_engine import grpo_args

PLUGIN = Path(__file__).with_name("profile_plugin.py")
BIN = Path(sys.executable).parent
SMALL = [
    "max_steps=2",
    "batch_pivots=2",
    "group_size=4",
    "max_new_tokens=8",
    "ppo_epochs=1",
    "progress=false",
]


@pytest.fixture
def plugin(pivotrl_pm):  # noqa: ANN001, ANN201 - ptest domain: parity verifier, mixed rewards
    load_plugin_file(PLUGIN, pivotrl_pm)
    return pivotrl_pm


@pytest.fixture
def pivots(tmp_path: Path) -> Path:
    return write_candidates(tmp_path / "pivots.jsonl", make_candidates(2, 2, domain="ptest"))


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_config_maps_onto_grpo_config(tmp_path: Path) -> None:
    cfg = TrainConfig(batch_pivots=4, group_size=8, num_minibatches=2, ppo_epochs=2, max_steps=3)
    cfg.clip_eps_high, cfg.kl_beta, cfg.loss_agg, cfg.advantage = 0.28, 0.01, "sequence", "mean"
    args = grpo_args(cfg, tmp_path, {"use_vllm": True})
    assert args["num_generations"] == 8 and args["per_device_train_batch_size"] == 16
    assert args["steps_per_generation"] == 2 and args["num_iterations"] == 2 and args["max_steps"] == 12
    assert (args["epsilon"], args["epsilon_high"], args["beta"]) == (0.2, 0.28, 0.01)
    assert (args["loss_type"], args["scale_rewards"], args["use_vllm"]) == ("grpo", "none", True)
    with pytest.raises(ConfigError, match="entropy"):
        grpo_args(TrainConfig(entropy_coef=0.1), tmp_path)
    with pytest.raises(ConfigError, match="loo"):
        grpo_args(TrainConfig(advantage="loo"), tmp_path)


def test_grpo_trainer_from_export_and_public_reward_runs_a_step(
    plugin, pivots: Path, tiny_model_path: str, tmp_path: Path
) -> None:  # noqa: ANN001
    (
        """The issue's check: `pivotrl export --format hf` + the public `pivotrl_core.reward_function`
    (the ptest verifier comes from a plugin, as a user's would), TRL's own trainer and loop."""
        ""
    )
    import datasets
    from trl import GRPOConfig, GRPOTrainer

    export = [str(BIN / "pivotrl"), "export", str(pivots), "--format", "hf", "-o", str(tmp_path / "hf")]
    res = subprocess.run(export, capture_output=True, text=True, timeout=120)  # the console script
    assert res.returncode == 0, res.stderr
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        num_generations=4,
        per_device_train_batch_size=8,
        max_completion_length=8,
        max_steps=1,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
    )
    trainer = GRPOTrainer(
        model=tiny_model_path,
        reward_funcs=pivotrl_core.reward_function(),
        args=args,
        train_dataset=datasets.load_from_disk(str(tmp_path / "hf")),
    )
    trainer.train()
    logged = trainer.state.log_history[0]
    assert trainer.state.global_step == 1 and 0.0 <= logged["rewards/pivotrl_reward/mean"] <= 1.0


def test_train_engine_trl_two_steps(plugin, pivots: Path, tiny_model_path: str, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "run"
    sets = [x for s in [f'model="{tiny_model_path}"', *SMALL] for x in ("--set", s)]
    build_cli()
    res = CliRunner().invoke(cli, ["train", str(pivots), "--engine", "trl", *sets, "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "trained 2 steps" in res.output
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "reward" in r]
    assert [r["step"] for r in steps] == [1, 2]
    assert all(r["reward_std"] > 0 for r in steps)  # parity rewards are mixed: there is a signal
    before, after = _weights(Path(tiny_model_path)), _weights(out / "final")
    assert any(not before[k].equal(after[k]) for k in before), "two GRPO steps left the weights unchanged"
    assert json.loads((out / "config.json").read_text())["grpo"]["num_generations"] == 4


def test_accelerate_launch_two_processes_gloo(pivots: Path, tiny_model_path: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    sets = [x for s in [f'model="{tiny_model_path}"', *SMALL, "max_steps=1"] for x in ("--set", s)]
    # --multi_gpu on a machine without CUDA: torchrun, two ranks, gloo (``--cpu`` would run one process)
    launch = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    launch += ["--mixed_precision", "no", "--dynamo_backend", "no", str(BIN / "pivotrl")]
    cmd = [*launch, "--plugin", str(PLUGIN), "train", str(pivots), "--engine", "trl", *sets, "-o", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("trained 1 steps") == 2  # both ranks finished the step
    assert json.loads((out / "config.json").read_text())["num_processes"] == 2
    assert (out / "final" / "model.safetensors").is_file()
