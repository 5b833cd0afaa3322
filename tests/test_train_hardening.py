"""Trainer hardening: the sampler never hangs, duplicate pivot ids are refused, a run folder killed
before its first checkpoint is never stuck, config values are checked (finite, ranges, trackers),
LoRA keeps its peft adapter, and a tracker receives every step."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from test_train_loop import config, toy, train, write_pivots  # noqa: F401 - toy is a fixture

from pivotrl_core import Candidate, Message, ToolCall, Trajectory
from pivotrl_core.errors import ConfigError, InputError
from pivotrl_core.jsonl import write_jsonl
from pivotrl_core.train.checkpoint import check_run_dir
from pivotrl_core.train.config import SFTConfig, TrainConfig, config_from_dict, load_config
from pivotrl_core.train.config_fields import parse_kv
from pivotrl_core.train.data import PivotSampler, load_candidates
from pivotrl_core.train.metrics import MetricsLogger, open_tracker, read_metrics
from pivotrl_core.train.sft import train_sft

pytestmark = pytest.mark.usefixtures("one_thread")


def _cand(i: int, cid: str | None = None) -> Candidate:
    return Candidate(
        id=cid or f"t{i}:1",
        domain="generic",
        trajectory_id=f"t{i}",
        turn_index=1,
        messages=(Message("user", f"q{i}"),),
        expected=Message("assistant", f"a{i}"),
    )


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("ids", "size"), [(["a", "a", "b"], 3), (["a"], 4), (["a", "b", "a", "b"], 4)])
def test_sampler_with_fewer_distinct_ids_than_the_batch_returns(ids, size):
    s = PivotSampler(ids, seed=0)
    for _ in range(5):
        batch = s.next_batch(size)
        assert len(batch) == size and set(batch) <= set(ids)


def test_sampler_keeps_batches_distinct_when_it_can():
    s = PivotSampler(["a", "b", "c", "d"], seed=1)
    for _ in range(6):
        assert len(set(s.next_batch(4))) == 4


def test_duplicate_pivot_ids_are_refused_naming_both_lines(tmp_path):
    p = tmp_path / "pivots.jsonl"
    write_jsonl(p, [_cand(1), _cand(2), _cand(1)])
    with pytest.raises(InputError) as e:
        load_candidates(p)
    assert e.value.line == 3 and e.value.field == "id" and "first on line 1" in str(e.value)


def test_run_folder_states(tmp_path):
    out = tmp_path / "run"
    assert check_run_dir(out, resume=False) is False  # nothing there: a fresh run
    with pytest.raises(ConfigError, match="holds no run to resume"):
        check_run_dir(out, resume=True)
    out.mkdir()
    (out / "config.json").write_text("{}")  # killed before the first checkpoint
    (out / "metrics.jsonl").write_text('{"step": 1}\n')
    (out / "checkpoints" / ".step-000002.tmp").mkdir(parents=True)
    assert check_run_dir(out, resume=True) is False  # resumable from its config alone: starts again
    assert not (out / "metrics.jsonl").exists() and not (out / "checkpoints").exists()
    ckpt = out / "checkpoints" / "step-000002"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.pt").write_bytes(b"x")
    with pytest.raises(ConfigError, match="already holds a run"):
        check_run_dir(out, resume=False)
    assert check_run_dir(out, resume=True) is True
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(ConfigError, match="is a file"):
        check_run_dir(f, resume=False)


def _trajectories(tmp_path: Path, n: int = 4) -> Path:
    rows = []
    for i in range(n):
        rows.append(
            Trajectory(
                id=f"t{i}",
                messages=(
                    Message("user", f"Where is order W{i}?"),
                    Message("assistant", tool_calls=(ToolCall("get_order", {"order_id": f"W{i}"}, id="c1"),)),
                    Message("tool", '{"status": "shipped"}', tool_call_id="c1"),
                    Message("assistant", "It has shipped."),
                ),
            ).to_dict()
        )
    write_jsonl(tmp_path / "traj.jsonl", rows)
    return tmp_path / "traj.jsonl"


def _sft(model: str, **over) -> SFTConfig:
    base = {"model": model, "lr": 3e-3, "batch_size": 2, "micro_batch_size": 2, "max_steps": 2}
    return load_config(SFTConfig, overrides={**base, "progress": False, "tensorboard": False, **over})


def test_sft_failed_before_its_first_checkpoint_can_be_rerun_and_resumed(tiny_model_path, tmp_path):
    data = _trajectories(tmp_path)
    cfg = _sft(tiny_model_path, save_every=2)

    def crash(step: int, row: dict) -> None:
        raise KeyboardInterrupt  # like a kill: after step 1, before the step-2 checkpoint

    for resume in (False, True):
        out = tmp_path / f"run-{resume}"
        with pytest.raises(KeyboardInterrupt):
            train_sft(cfg, [data], out, on_step_end=crash)
        assert (out / "config.json").exists() and not (out / "checkpoints" / "latest").exists()
        final = train_sft(cfg, [data], out, resume=resume)
        assert (final / "config.json").exists()
        assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == [1, 2]


def test_lora_run_keeps_the_peft_adapter_beside_merged_weights(tiny_model_path, tmp_path):
    peft = pytest.importorskip("peft")
    out = tmp_path / "lora"
    cfg = _sft(
        tiny_model_path, lora=True, lora_r=2, lora_alpha=4, max_steps=1, lora_target_modules=["q_proj"]
    )
    final = train_sft(cfg, [_trajectories(tmp_path)], out)
    adapter = out / "adapter"
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 2
    assert (adapter / "adapter_model.safetensors").exists()
    assert not (final / "adapter_config.json").exists()  # final/ stays a plain merged model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    loaded = peft.PeftModel.from_pretrained(base, str(adapter))
    assert loaded.peft_config["default"].r == 2


@pytest.mark.parametrize(
    ("over", "pattern"),
    [
        ({"lr": float("inf")}, r"lr = inf must be a finite number"),
        ({"lr": float("nan")}, r"lr = nan must be a finite number"),
        ({"temperature": -1.0}, r"temperature = -1.0 must be > 0"),
        ({"top_p": 0.0}, r"top_p = 0.0 must be in \(0, 1\]"),
        ({"max_new_tokens": 0}, r"max_new_tokens = 0 must be >= 1"),
        ({"lora_dropout": 1.5}, r"lora_dropout = 1.5 must be in \[0, 1\)"),
        ({"device": "gpu"}, r"device = 'gpu' must be cpu, cuda"),
        ({"dtype": "float8"}, r"dtype = 'float8' is not one of"),
        ({"tracker": "mlflow"}, r"tracker = 'mlflow' is not one of 'none', 'wandb'"),
    ],
)
def test_bad_config_values_are_refused(over, pattern):
    with pytest.raises(ConfigError, match=pattern) as e:
        load_config(TrainConfig, overrides=over)
    assert e.value.exit_code == 2


def test_config_errors_name_the_file_and_table(tmp_path):
    p = tmp_path / "run.toml"
    p.write_text("[train]\nlr = inf\n")
    with pytest.raises(ConfigError) as e:
        load_config(TrainConfig, p)
    assert str(e.value).startswith(f"{p}: [train.lr] lr = inf must be a finite number")
    with pytest.raises(ConfigError) as e:
        load_config(TrainConfig, p, ["lr=1e-5", "group_size=1"])
    assert str(e.value).startswith("[group_size] --set: group_size = 1 must be >= 2")
    p.write_text("[train\n")
    with pytest.raises(ConfigError, match=f"^{p}: invalid TOML"):
        load_config(TrainConfig, p)
    with pytest.raises(ConfigError, match="finite"):
        config_from_dict(SFTConfig, {"epochs": float("inf")})


def test_wandb_tracker_without_the_package_is_refused_before_training(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "wandb" else object())
    with pytest.raises(ConfigError, match="needs the wandb package"):
        load_config(TrainConfig, overrides={"tracker": "wandb"})


def test_tracker_receives_numeric_metrics_and_resumes_the_same_run(tmp_path, monkeypatch):
    """WandbTracker against a recording stand-in for the wandb module (the real package is not
    installed in CI): init with a stable id and resume="allow", log per step, finish on close."""
    calls: list[tuple] = []

    class Run:
        def log(self, data, step):
            calls.append(("log", step, data))

        def finish(self):
            calls.append(("finish",))

    fake = types.SimpleNamespace(init=lambda **kw: calls.append(("init", kw)) or Run())
    monkeypatch.setitem(sys.modules, "wandb", fake)

    for resume_step in (0, 1):
        logger = MetricsLogger(
            tmp_path, resume_step, False, open_tracker("wandb", tmp_path, "proj", {"lr": 1})
        )
        logger.log({"step": resume_step + 1, "loss": 0.5, "flag": True, "note": "x", "bad": float("nan")})
        logger.close()
    inits = [c[1] for c in calls if c[0] == "init"]
    assert (
        inits[0]["id"] == inits[1]["id"] and inits[0]["resume"] == "allow" and inits[0]["project"] == "proj"
    )
    assert [c for c in calls if c[0] == "log"][0] == ("log", 1, {"train/loss": 0.5})
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]
    assert calls[-1] == ("finish",)


def test_parse_kv_one_parser_for_every_flag():
    assert parse_kv(["lr=1e-5", "a.b=2", "name=runs/x", 'l=[1, "x"]']) == {
        "lr": 1e-5,
        "a": {"b": 2},
        "name": "runs/x",
        "l": [1, "x"],
    }
    assert parse_kv(["base_url=http://h:1/v1", "x.y=1", "n=NaN"], flag="--policy-option", syntax="json") == {
        "base_url": "http://h:1/v1",
        "x.y": 1,
        "n": "NaN",
    }
    for bad in (["novalue"], ["=1"], ["a..b=1"], ["a=1", "a.b=2"]):
        with pytest.raises(ConfigError, match="^--opt: "):
            parse_kv(bad, flag="--opt")


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("toy")
def test_grpo_with_fewer_pivots_than_a_batch_and_a_run_killed_before_its_checkpoint(
    tiny_model_path, tmp_path
):
    pivots = write_pivots(tmp_path / "p.jsonl", n=2)
    cfg = config(tiny_model_path, batch_pivots=4, num_minibatches=1, max_steps=2, save_every=2)

    def kill(step: int, row: dict) -> None:
        raise KeyboardInterrupt  # after step 1, before the first checkpoint (step 2)

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(cfg, pivots, out, on_step_end=kill)
    assert (out / "config.json").exists() and not (out / "checkpoints" / "latest").exists()
    result = train(cfg, pivots, out)  # neither "already holds a run" nor stuck
    assert result.steps == 2 and [r["step"] for r in read_metrics(out / "metrics.jsonl")] == [1, 2]
    with pytest.raises(ConfigError, match="already holds a run"):
        train(cfg, pivots, out)


def test_real_wandb_offline_run_is_resumed_under_the_same_id(tiny_model_path, tmp_path, monkeypatch):
    """With the real wandb package (not installed by `make`; `pip install wandb` to run this)."""
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    data, out = _trajectories(tmp_path), tmp_path / "run"
    for steps, resume in ((2, False), (3, True)):
        train_sft(
            _sft(tiny_model_path, max_steps=steps, save_every=1, tracker="wandb"), [data], out, resume=resume
        )
    run_id = json.loads((out / "tracker.json").read_text())["id"]
    runs = sorted((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(
        r.name.endswith(run_id) and (r / f"run-{run_id}.wandb").exists() for r in runs
    )
