"""`pivotrl run`: the stage engine (skip, resume, re-run), and a tiny end-to-end run of library calls."""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pivotrl_core import Domain, Message, hookimpl
from pivotrl_core.errors import PivotrlError
from pivotrl_core.policies.hf import HFPolicy
from pivotrl_core.run.engine import Manifest, Stage, run_stage

ROOT = Path(__file__).resolve().parents[1]

# -- the manifest: skip, re-run, resume ---------------------------------------------------------


def _writer(path: Path, text: str, log: list[str], name: str):  # noqa: ANN202
    def run(resume: bool) -> dict:
        log.append(f"{name}{'+resume' if resume else ''}")
        path.write_text(text)
        return {"text": text}

    return run


def _chain(tmp: Path, log: list[str], a_text: str = "a") -> list[Stage]:
    return [
        Stage("a", _writer(tmp / "a.txt", a_text, log, "a"), [tmp / "a.txt"], config={"text": a_text}),
        Stage("b", _writer(tmp / "b.txt", "b", log, "b"), [tmp / "b.txt"], after=["a"], command="pivotrl b"),
    ]


def _run_all(stages: list[Stage], manifest: Manifest) -> list[str]:
    return [run_stage(s, manifest, lambda m: None)["status"] for s in stages]


def test_current_stages_are_skipped_and_changed_outputs_rerun(tmp_path: Path) -> None:
    log: list[str] = []
    m = Manifest(tmp_path)
    assert _run_all(_chain(tmp_path, log), m) == ["ran", "ran"]
    assert Manifest(tmp_path).entry("b")["command"] == "pivotrl b"  # recorded for humans
    assert _run_all(_chain(tmp_path, log), Manifest(tmp_path)) == ["skipped", "skipped"]
    (tmp_path / "b.txt").unlink()  # a deleted output re-runs that stage only
    assert _run_all(_chain(tmp_path, log), Manifest(tmp_path)) == ["skipped", "ran"]
    (tmp_path / "a.txt").write_text("edited by hand")  # a changed output re-runs it and what follows
    assert _run_all(_chain(tmp_path, log), Manifest(tmp_path)) == ["ran", "ran"]
    assert (tmp_path / "a.txt").read_text() == "a"
    config_changed = _run_all(_chain(tmp_path, log, a_text="new"), Manifest(tmp_path))
    assert config_changed == ["ran", "ran"]
    assert log == ["a", "b", "b", "a", "b", "a", "b"]


def test_interrupted_resumable_stage_resumes_and_changed_one_starts_over(tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    calls: list[bool] = []

    def crash_once(resume: bool) -> None:
        calls.append(resume)
        with open(out, "a") as fh:
            fh.write("row\n")
        if len(calls) == 1:
            raise KeyboardInterrupt  # killed mid-stage

    m = Manifest(tmp_path)
    stage = Stage("profile", crash_once, [out], config={"k": 8}, resumable=True)
    with pytest.raises(KeyboardInterrupt):
        run_stage(stage, m, print)
    assert Manifest(tmp_path).entry("profile")["status"] == "started"
    assert run_stage(stage, Manifest(tmp_path), print)["status"] == "resumed"
    assert calls == [False, True] and out.read_text() == "row\nrow\n"  # the partial output was kept
    with pytest.raises(KeyboardInterrupt):  # interrupted again, then re-run with another config
        calls.clear()
        run_stage(
            Stage("profile", crash_once, [out], config={"k": 4}, resumable=True), Manifest(tmp_path), print
        )
    calls.append(True)
    run_stage(Stage("profile", crash_once, [out], config={"k": 2}, resumable=True), Manifest(tmp_path), print)
    assert calls[-1] is False and out.read_text() == "row\n"  # key changed: started over from empty


def test_stage_that_writes_nothing_fails(tmp_path: Path) -> None:
    with pytest.raises(PivotrlError, match="finished without writing"):
        run_stage(Stage("x", lambda resume: None, [tmp_path / "never"]), Manifest(tmp_path), print)
    assert Manifest(tmp_path).entry("x")["status"] == "started"


# -- `pivotrl run` is library calls, not the CLI ----------------------------------------------------


def test_run_package_imports_nothing_from_the_cli() -> None:
    for f in sorted((ROOT / "pivotrl_core" / "run").glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                target = "." * node.level + (node.module or "")
                assert not target.startswith(
                    ("..cli", "..commands", "pivotrl_core.cli", "pivotrl_core.commands")
                )
    code = (
        "import sys, pivotrl_core.run.stages, pivotrl_core.run.report\n"
        "bad = [m for m in sys.modules if m.startswith(('pivotrl_core.cli', 'pivotrl_core.commands'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# -- end to end on a tiny model ----------------------------------------------------------------------


def coin(candidate, action: Message) -> bool:  # noqa: ANN001
    """A deterministic verifier with mixed outcomes for a random tiny model (half the texts pass)."""
    text = (action.content or "") + "".join(tc.name for tc in action.tool_calls)
    return hashlib.sha256(text.encode()).digest()[0] % 2 == 0


BUILT: list[str] = []  # the models the run's policy was built for


def recording_hf(model: str, **options):  # noqa: ANN003, ANN201
    BUILT.append(model)
    return HFPolicy(model=model, **options)


class CoinPlugin:
    @hookimpl
    def pivotrl_register_verifiers(self, register):  # noqa: ANN001, ANN201
        register(coin, name="coin")

    @hookimpl
    def pivotrl_register_policies(self, register):  # noqa: ANN001, ANN201
        register(recording_hf, name="recording-hf")

    @hookimpl
    def pivotrl_register_domains(self, register):  # noqa: ANN001, ANN201
        from pivotrl_tool_use.generate import generate_trajectories

        register(Domain("coin", verifier="coin", generate=generate_trajectories))


def _tiny_config(model: str) -> dict:
    return {
        "run": {"name": "tiny", "domain": "coin", "seed": 0},
        "model": {"name": model},
        "data": {"generate": {"n": 3, "seed": 1}},
        "profile": {"k": 4, "max_new_tokens": 6, "limit": 8, "batch_size": 4},
        "select": {"max_mean": 1.0, "val_fraction": 0.0},
        "train": {
            "max_steps": 2,
            "batch_pivots": 2,
            "group_size": 2,
            "max_new_tokens": 6,
            "progress": False,
            "tensorboard": False,
            "max_prompt_tokens": 2000,
        },
        "heldout": {"generate": [{"n": 1, "seed": 1001}], "validation": False},
        "eval": {"limit": 3, "max_new_tokens": 6, "ood": True, "ood_limit_per_skill": 1, "progress": False},
    }


STAGES = (
    "generate",
    "heldout",
    "extract",
    "profile",
    "select",
    "train",
    "eval-base",
    "eval-pivotrl",
    "report",
)


def test_tiny_end_to_end_run_skips_and_reruns(tiny_model_path: str, tmp_path: Path, register_plugin) -> None:
    pytest.importorskip("pivotrl_tool_use", reason="needs the pivotrl-tool-use plugin")
    from pivotrl_core.run.stages import run_pipeline

    register_plugin(CoinPlugin(), name="coin-plugin")
    run_dir, BUILT[:] = tmp_path / "run", []
    res = run_pipeline(_tiny_config(tiny_model_path), run_dir, policy="recording-hf", say=lambda m: None)
    assert {r["name"]: r["status"] for r in res.stages} == {n: "ran" for n in STAGES}
    built_for = [tiny_model_path, tiny_model_path, str(run_dir / "train" / "final")]
    assert built_for == BUILT  # --policy: profile, eval-base, eval-pivotrl
    assert (run_dir / "train" / "final" / "config.json").exists()
    base, trained = (json.loads((run_dir / "eval" / f"{k}.json").read_text()) for k in ("base", "pivotrl"))
    assert base["held_out"]["sets"]["seed1001"]["n_candidates"] == 3
    assert trained["ood"]["kl"]["kl_per_token"] > 0  # the trained model moved away from pi_0
    report = (run_dir / "report.md").read_text()
    assert "| In-domain held-out accuracy |" in report and "| OOD KL to pi_0 (nats/token) |" in report
    assert {p.name for p in (run_dir / "plots").iterdir()} >= {
        "training.png",
        "pass_rate_hist.png",
        "base_vs_trained.png",
    }
    commands = {
        n: e.get("command") for n, e in json.loads((run_dir / "manifest.json").read_text())["stages"].items()
    }
    assert commands["generate"].startswith("Domain('coin').generate(n=3, seed=1, split='train')")
    assert (
        commands["profile"].startswith("pivotrl profile ") and "--policy recording-hf" in commands["profile"]
    )
    assert commands["train"].startswith("pivotrl train ") and "--set max_steps=2" in commands["train"]
    assert (
        commands["eval-pivotrl"].startswith("pivotrl eval --model ")
        and "--reference" in commands["eval-pivotrl"]
    )

    again = run_pipeline(_tiny_config(tiny_model_path), run_dir, policy="recording-hf", say=lambda m: None)
    assert {r["status"] for r in again.stages} == {"skipped"}

    (run_dir / "pivots.jsonl").unlink()  # delete one stage's output: it and the stages after it re-run
    third = run_pipeline(_tiny_config(tiny_model_path), run_dir, policy="recording-hf", say=lambda m: None)
    status = {r["name"]: r["status"] for r in third.stages}
    assert [n for n, s in status.items() if s == "skipped"] == ["generate", "heldout", "extract", "profile"]
    assert all(status[n] == "ran" for n in ("select", "train", "eval-base", "eval-pivotrl", "report"))

    # training killed after its last checkpoint, before final/: the next run resumes it
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["stages"]["train"]["status"] = "started"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    shutil.rmtree(run_dir / "train" / "final")
    fourth = run_pipeline(_tiny_config(tiny_model_path), run_dir, policy="recording-hf", say=lambda m: None)
    status = {r["name"]: r["status"] for r in fourth.stages}
    assert status["train"] == "resumed" and status["select"] == "skipped"
    assert status["eval-pivotrl"] == "ran" and (run_dir / "train" / "final" / "config.json").exists()
    assert len((run_dir / "train" / "metrics.jsonl").read_text().splitlines()) == 2  # no step twice


def test_domain_generator_writes_what_the_tool_use_command_writes(tmp_path: Path) -> None:
    pytest.importorskip("pivotrl_tool_use", reason="needs the pivotrl-tool-use plugin")
    from pivotrl_tool_use.plugin import TOOL_USE

    from pivotrl_core.run.stages import _write_trajectories

    r = _cli(
        [
            "tool-use",
            "generate",
            "--n",
            "3",
            "--seed",
            "2001",
            "--split",
            "heldout",
            "-o",
            str(tmp_path / "a"),
        ]
    )
    assert r.exit_code == 0, r.output
    assert _write_trajectories(tmp_path / "b", TOOL_USE.generate(n=3, seed=2001, split="heldout")) == 3
    assert (tmp_path / "a").read_bytes() == (
        tmp_path / "b"
    ).read_bytes()  # the quickstart's data is unchanged


def _cli(args: list[str]):  # noqa: ANN202
    from click.testing import CliRunner

    from pivotrl_core.cli import build_cli

    return CliRunner().invoke(build_cli(), args)


def test_run_cli_checks_every_table_before_any_stage(tmp_path: Path) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text('[data]\ngenerate = {n = 2}\n[profile]\nk = 4\n[sft]\nlr = "x"\n')
    r = _cli(["run", str(cfg), "-o", str(tmp_path / "run")])
    assert r.exit_code == 2 and f"{cfg}:6: [sft] lr = 'x'" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "run").exists()  # nothing started
    r = _cli(["run", str(cfg), "--set", "profile.kk=3"])
    assert r.exit_code == 2 and "did you mean 'k'" in r.output
    cfg.write_text('[run]\ndomain = "generic"\n[data]\ngenerate = {n = 2}\n')
    r = _cli(["run", str(cfg), "-o", str(tmp_path / "run")])
    assert r.exit_code == 2 and "has no generator" in r.output and not (tmp_path / "run").exists()
    cfg.write_text('[data]\ntrajectories = ["t.jsonl"]\n')
    r = _cli(["run", str(cfg), "--policy", "hff", "-o", str(tmp_path / "run")])
    assert r.exit_code == 2 and "unknown policy 'hff'" in r.output and not (tmp_path / "run").exists()


def test_quickstart_config_is_valid_and_printable() -> None:
    from pivotrl_core.commands.quickstart_cmd import quickstart_config_path
    from pivotrl_core.run.config import load_run_config

    cfg = load_run_config(quickstart_config_path())
    assert cfg.run.domain == "tool-use" and cfg.model.warmup and cfg.data.generate is not None
    seeds = {g.seed for g in cfg.heldout.generate}
    assert len(seeds) >= 3 and cfg.data.generate.seed not in seeds  # spread over unseen task seeds
    r = _cli(["quickstart", "--print-config"])
    assert r.exit_code == 0 and r.output == quickstart_config_path().read_text()
