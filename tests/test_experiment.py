"""``pivotrl experiment``: arm x seed bookkeeping, skip and resume, the SFT search on the validation
split, and the table, on a tiny model with the tool-use generator and a mixed-outcome verifier."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from test_pipeline import CoinPlugin

from pivotrl_core import ConfigError
from pivotrl_core.experiment.config import load_experiment
from pivotrl_core.experiment.runner import run_experiment
from pivotrl_core.experiment.table import write_table
from pivotrl_core.jsonl import iter_jsonl
from pivotrl_core.train.e2e import register_episode_adapter

pytestmark = pytest.mark.usefixtures("one_thread")

RUN_TOML = """
[run]
name = "tiny"
domain = "coin"
[model]
name = "{model}"
[data]
generate = {{n = 3, seed = 1}}
[profile]
k = 4
max_new_tokens = 6
limit = 8
batch_size = 4
[select]
max_mean = 1.0
val_fraction = 0.0
[train]
max_steps = 2
batch_pivots = 2
group_size = 2
max_new_tokens = 6
progress = false
tensorboard = false
max_prompt_tokens = 2000
save_every = 1
[sft]
batch_size = 2
micro_batch_size = 2
max_seq_tokens = 2000
progress = false
tensorboard = false
[heldout]
generate = [{{n = 1, seed = 2001}}]
validation = false
[eval]
limit = 3
max_new_tokens = 6
ood = true
ood_limit_per_skill = 1
progress = false
"""

EXP_TOML = """
[experiment]
name = "tiny-exp"
run_config = "run.toml"
seeds = [0, 1]
arms = ["base", "sft", "pivotrl", "random-exact", "e2e"]

[validation]
generate = [{n = 1, seed = 1001}]

[sft_search]
epochs = [1.0]
lr = [1e-5, 1e-3]

[e2e]
max_steps = 1
tasks_per_step = 1
group_size = 2
max_turns = 2
max_new_tokens = 6
train_top_n_layers = 1
max_prompt_tokens = 2000

[ood]
n_per_task = 1
tasks = {chain_sum = {min_terms = 2, max_terms = 2, min_digits = 1, max_digits = 1}, letter_counting = {}}

[quick]
seeds = [0]
arms = ["base", "pivotrl"]
"""


def _write(tmp: Path, model: str, exp: str = EXP_TOML) -> Path:
    (tmp / "run.toml").write_text(RUN_TOML.format(model=model))
    (tmp / "exp.toml").write_text(exp)
    return tmp / "exp.toml"


@pytest.fixture
def coin_world(register_plugin):  # noqa: ANN001, ANN201
    pytest.importorskip("pivotrl_tool_use", reason="needs the pivotrl-tool-use plugin")
    pytest.importorskip("reasoning_gym", reason="needs reasoning-gym (pip install 'pivotrl[reasoning-gym]')")
    from pivotrl_core.train.e2e import episode_adapter

    register_plugin(CoinPlugin(), name="coin-plugin")
    register_episode_adapter("coin", episode_adapter("tool-use"))


def _statuses(rows: list[dict]) -> dict[str, str]:
    return {f"{r['where']}:{r['name']}": r["status"] for r in rows}


def test_experiment_runs_every_arm_and_seed_then_skips_and_resumes(
    tiny_model_path: str, tmp_path: Path, coin_world: None
) -> None:
    out = tmp_path / "exp"
    res = run_experiment(_write(tmp_path, tiny_model_path), out, say=lambda m: None)
    status = _statuses(res.rows)
    assert set(status.values()) == {"ran"}
    for arm in ("sft", "pivotrl", "random-exact", "e2e"):  # trained arms: one folder per seed
        for seed in (0, 1):
            assert (out / "arms" / arm / f"seed{seed}" / "eval.json").exists(), (arm, seed)
    assert (out / "arms" / "base" / "eval.json").exists() and not (out / "arms" / "base" / "seed0").exists()
    # the shared stages ran once; the SFT search trained each grid point once, on the validation split
    assert sum(k.startswith("shared:profile") for k in status) == 1
    choice = json.loads((out / "sft-search" / "choice.json").read_text())
    assert len(choice["scores"]) == 2 and res.summary["sft_choice"] == choice["chosen"]
    assert (out / "shared" / "validation" / "heldout" / "seed1001.jsonl").exists()
    # random turns: as many turns as there are pivots, drawn from every candidate
    n_pivots = sum(1 for _ in iter_jsonl(out / "shared" / "pivots.jsonl"))
    random_ids = [r["id"] for _, r in iter_jsonl(out / "arms" / "random-exact" / "seed0" / "turns.jsonl")]
    cand_ids = {r["id"] for _, r in iter_jsonl(out / "shared" / "candidates.jsonl")}
    assert len(random_ids) == min(n_pivots, len(cand_ids)) and set(random_ids) <= cand_ids
    exact_cfg = json.loads((out / "arms" / "random-exact" / "seed1" / "train" / "config.json").read_text())
    assert exact_cfg["train"]["verifier"] == "exact" and exact_cfg["train"]["seed"] == 1
    arms = res.summary["arms"]
    assert arms["e2e"]["seeds"]["0"]["train"]["rollout_turns"] > 0
    assert arms["pivotrl"]["seeds"]["1"]["train"]["rollout_turns"] == 2 * 2 * 2  # steps x B x G
    assert res.summary["profile_turns"] > 0
    ev = arms["pivotrl"]["seeds"]["0"]["eval"]
    assert set(ev["rg_by_task"]) == {"chain_sum", "letter_counting"} and ev["rg_kl"] >= 0
    # exact match never passes for a random tiny model: no update, so no drift from pi_0
    assert arms["random-exact"]["seeds"]["0"]["eval"]["rg_kl"] == 0.0

    again = run_experiment(_write(tmp_path, tiny_model_path), out, say=lambda m: None)
    assert set(_statuses(again.rows).values()) == {"skipped"}

    (out / "arms" / "pivotrl" / "seed1" / "eval.json").unlink()  # one arm's output lost: only it re-runs
    manifest = out / "arms" / "sft" / "seed0" / "manifest.json"  # one training killed before final/
    doc = json.loads(manifest.read_text())
    doc["stages"]["sft"]["status"] = "started"
    manifest.write_text(json.dumps(doc))
    shutil.rmtree(out / "arms" / "sft" / "seed0" / "sft" / "final")
    third = _statuses(run_experiment(_write(tmp_path, tiny_model_path), out, say=lambda m: None).rows)
    reran = {k: v for k, v in third.items() if v != "skipped"}
    assert reran == {"pivotrl/seed1:eval": "ran", "sft/seed0:sft": "resumed", "sft/seed0:eval": "ran"}

    from pivotrl_core.cli import build_cli  # the command: everything current, so it only writes the table

    cli = build_cli()

    target = tmp_path / "results" / "paper_table.md"
    result = CliRunner().invoke(
        cli, ["experiment", str(tmp_path / "exp.toml"), "-o", str(out), "--table", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert "skip" in result.output and (out / "paper_table.md").exists()
    assert "(n=2)" in target.read_text()
    table = write_table(
        json.loads((out / "summary.json").read_text()), tmp_path / "t2" / "paper_table.md", run=out
    )
    text = table.read_text()
    for label in ("SFT", "PivotRL (pivots + functional)", "random turns + exact match", "E2E RL (episodes)"):
        assert label in text
    assert "(n=2)" in text and "63.81" in text and "Machine:" in text
    assert {p.name for p in table.parent.glob("*.png")} == {"paper_turns.png", "paper_zero_variance.png"}


def test_quick_mode_uses_the_quick_table(tiny_model_path: str, tmp_path: Path) -> None:
    exp = load_experiment(_write(tmp_path, tiny_model_path), quick=True)
    assert exp.quick and exp.settings.seeds == [0] and exp.settings.arms == ["base", "pivotrl"]
    full = load_experiment(tmp_path / "exp.toml")
    assert full.settings.seeds == [0, 1] and full.e2e.max_steps == 1 and full.e2e.domain == "coin"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('arms = ["base", "sft"', 'arms = ["base", "sfft"'), r"exp.toml:6: unknown arm 'sfft'"),
        (("[ood]", "[oood]"), r"exp.toml:\d+: unknown table \[oood\]"),
        (("n_per_task = 1", "n_per_task = 'x'"), r"exp.toml:\d+: ood_n_per_task: Input should be a valid"),
        (("max_turns = 2", "group_size_x = 2"), r"\[e2e\]"),
    ],
)
def test_bad_config_is_a_clear_error_with_exit_code_2(
    tiny_model_path: str, tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    path = _write(tmp_path, tiny_model_path, EXP_TOML.replace(*edit))
    with pytest.raises(ConfigError, match=message):
        load_experiment(path)
    from pivotrl_core.cli import build_cli

    result = CliRunner().invoke(build_cli(), ["experiment", str(path)])
    assert result.exit_code == 2 and "Error: " in result.output and "exp.toml" in result.output


def test_bundled_experiment_config_is_valid() -> None:
    root = Path(__file__).resolve().parents[1] / "pivotrl_core" / "data" / "experiment.toml"
    full, quick = load_experiment(root), load_experiment(root, quick=True)
    assert len(full.settings.seeds) >= 3 and set(full.settings.arms) >= {"base", "sft", "pivotrl", "e2e"}
    assert quick.settings.seeds == [0] and quick.run.train.max_steps < full.run.train.max_steps
    held = {g.seed for g in full.run.heldout.generate}
    assert not held & {g.seed for g in full.settings.validation}  # SFT is never tuned on held-out tasks


def test_table_gives_per_seed_values_and_the_variance_collapse_in_numbers(tmp_path: Path) -> None:
    run = tmp_path / "exp"
    fracs = {"pivotrl": [0.0, 0.25, 0.0, 0.25], "random-functional": [0.5, 0.5, 1.0, 1.0]}
    for arm, seq in fracs.items():
        for seed in ("0", "1"):
            m = run / "arms" / arm / f"seed{seed}" / "train" / "metrics.jsonl"
            m.parent.mkdir(parents=True)
            m.write_text(
                "".join(
                    json.dumps({"step": i + 1, "frac_zero_variance": f}) + "\n" for i, f in enumerate(seq)
                )
            )
    (run / "sft-search" / "e1-lr0.0001").mkdir(parents=True)
    (run / "sft-search" / "e1-lr0.0001" / "manifest.json").write_text(
        json.dumps({"stages": {"sft": {"seconds": 42.0}}})
    )

    def seeds(acc: list[float]) -> dict:
        return {
            str(i): {"train": {"seconds": 10.0, "rollout_turns": 8}, "eval": {"held_out": a}}
            for i, a in enumerate(acc)
        }

    summary = {
        "name": "t",
        "seeds": [0, 1],
        "profile_turns": 100,
        "arms": {
            "base": {"seeds": {"-": {"eval": {"held_out": 0.25}}}},
            "pivotrl": {"seeds": seeds([0.5, 0.375])},
            "random-functional": {"seeds": seeds([0.25, 0.125])},
        },
        "sft_choice": {"epochs": 1.0, "lr": 1e-4},
    }
    text = write_table(summary, tmp_path / "out" / "paper_table.md", run=run).read_text()
    assert "| 43.8 +- 8.8 (n=2) | 50.0 / 37.5 |" in text  # mean +- sd, then each seed
    # zero-variance fraction: all steps, first half (steps 1-2), second half (steps 3-4)
    assert "| PivotRL (pivots + functional) | 0.12 | 0.12 | 0.12 | 8 |" in text
    assert "| random turns + functional | 0.75 | 0.50 | 1.00 | 8 |" in text
    assert "training cost 42 s" in text


BUNDLED = Path(__file__).resolve().parents[1] / "pivotrl_core" / "data" / "experiment.toml"


def test_gpu_size_scales_every_arm_up_on_cuda() -> None:
    full, gpu = load_experiment(BUNDLED), load_experiment(BUNDLED, gpu=True)
    assert gpu.size == "gpu" and full.size == "full"
    assert len(gpu.settings.seeds) > len(full.settings.seeds)
    assert gpu.run.train.max_steps > full.run.train.max_steps and gpu.e2e.max_steps > full.e2e.max_steps
    assert gpu.run.data.generate.n > full.run.data.generate.n and gpu.run.profile.k > full.run.profile.k
    assert len(gpu.run.heldout.generate) > len(full.run.heldout.generate)
    devices = {
        gpu.run.train.device,
        gpu.run.sft.device,
        gpu.e2e.device,
        gpu.run.model.policy_options["device"],
    }
    assert devices == {"cuda"} and full.run.train.device == "cpu"
    held = {g.seed for g in gpu.run.heldout.generate}
    assert not held & {g.seed for g in gpu.settings.validation}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_gpu_size_without_cuda_is_refused_before_anything_runs(tmp_path: Path) -> None:
    from pivotrl_core.cli import build_cli

    out = tmp_path / "exp"
    with pytest.raises(ConfigError, match=r"\[train\] device = 'cuda'.*no CUDA device.*without --gpu"):
        run_experiment(load_experiment(BUNDLED, gpu=True), out, say=lambda m: None)
    assert not out.exists()
    result = CliRunner().invoke(build_cli(), ["experiment", str(BUNDLED), "--gpu", "-o", str(out)])
    assert result.exit_code == 2 and "no CUDA device" in result.output and not out.exists()
    both = CliRunner().invoke(build_cli(), ["experiment", str(BUNDLED), "--gpu", "--quick", "-o", str(out)])
    assert both.exit_code == 2 and "choose one" in both.output
