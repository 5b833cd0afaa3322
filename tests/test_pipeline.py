"""`pivotrl run`: stage skipping and resuming (manifest), config checks, and a tiny end-to-end run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pivotrl_core import Message, hookimpl
from pivotrl_core.domains import Domain
from pivotrl_core.errors import ConfigError
from pivotrl_core.pipeline import Manifest, Stage, run_stage
from pivotrl_core.pipeline_config import SCHEMA, load_pipeline_config

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
        Stage("b", _writer(tmp / "b.txt", "b", log, "b"), [tmp / "b.txt"], after=["a"]),
    ]


def _run_all(stages: list[Stage], manifest: Manifest) -> list[str]:
    return [run_stage(s, manifest, lambda m: None)["status"] for s in stages]


def test_current_stages_are_skipped_and_changed_outputs_rerun(tmp_path: Path) -> None:
    log: list[str] = []
    m = Manifest(tmp_path)
    assert _run_all(_chain(tmp_path, log), m) == ["ran", "ran"]
    assert _run_all(_chain(tmp_path, log), Manifest(tmp_path)) == ["skipped", "skipped"]
    (tmp_path / "b.txt").unlink()  # a deleted output re-runs that stage only
    assert _run_all(_chain(tmp_path, log), Manifest(tmp_path)) == ["skipped", "ran"]
    (tmp_path / "a.txt").write_text("edited by hand")  # a changed output re-runs it and what follows
    assert _run_all(_chain(tmp_path, log), Manifest(tmp_path)) == ["ran", "ran"]
    assert (tmp_path / "a.txt").read_text() == "a"
    assert _run_all(_chain(tmp_path, log, a_text="new"), Manifest(tmp_path)) == [
        "ran",
        "ran",
    ]  # config change
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
    from pivotrl_core.errors import PivotrlError

    with pytest.raises(PivotrlError, match="finished without writing"):
        run_stage(Stage("x", lambda resume: None, [tmp_path / "never"]), Manifest(tmp_path), print)
    assert Manifest(tmp_path).entry("x")["status"] == "started"


# -- config ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"rn": {}}, r"unknown table \[rn\]; did you mean \[run\]"),
        (
            {"data": {"generate": ["x"]}, "profile": {"kk": 3}},
            r"unknown field \[profile\] kk; did you mean 'k'",
        ),
        (
            {"data": {"generate": ["x"]}, "profile": {"k": "8"}},
            r"\[profile\] k = '8' must be a int; e.g. k = 8",
        ),
        ({}, r"\[data\] needs trajectories"),
        ({"data": {"generate": ["tool-use", "generate", "-o", "x"]}}, "leave out -o"),
        (
            {"data": {"generate": ["x"]}, "select": {"max_mean": 1.5}},
            r"\[select\] max_mean must be in \(0, 1\]",
        ),
        ({"data": {"generate": ["x"]}, "model": {"warmup": "nocolon"}}, "package.module:function"),
    ],
)
def test_config_errors_say_how_to_fix(doc: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_pipeline_config(doc)


def test_config_defaults_paths_and_overrides(tmp_path: Path) -> None:
    cfg_file = tmp_path / "run.toml"
    cfg_file.write_text('[data]\ntrajectories = ["t.jsonl"]\n[profile]\nk = 4\n[train]\nmax_steps = 3\n')
    cfg = load_pipeline_config(cfg_file, {"profile": {"k": 6}, "train.lr": 1e-4})
    assert cfg["data"]["trajectories"] == [str(tmp_path / "t.jsonl")]
    assert cfg["profile"]["k"] == 6 and cfg["profile"]["temperature"] == 1.0
    assert cfg["train"] == {"max_steps": 3, "lr": 1e-4}
    assert set(cfg) == {*SCHEMA, "train", "sft"}


def test_every_config_field_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "pipeline.md").read_text()
    for table, fields in SCHEMA.items():
        assert f"### [{table}]" in doc, table
        for key in fields:
            assert f"| `{key}` |" in doc, f"[{table}] {key} is not documented in docs/pipeline.md"


# -- end to end on a tiny model ----------------------------------------------------------------------


def coin(candidate, action: Message) -> bool:  # noqa: ANN001
    """A deterministic verifier with mixed outcomes for a random tiny model (half the texts pass)."""
    text = (action.content or "") + "".join(tc.name for tc in action.tool_calls)
    return hashlib.sha256(text.encode()).digest()[0] % 2 == 0


class CoinPlugin:
    @hookimpl
    def pivotrl_register_verifiers(self, register):  # noqa: ANN001, ANN201
        register(coin, name="coin")

    @hookimpl
    def pivotrl_register_domains(self, register):  # noqa: ANN001, ANN201
        register(Domain("coin", verifier="coin"))


def _tiny_config(model: str) -> dict:
    return {
        "run": {"name": "tiny", "domain": "coin", "seed": 0},
        "model": {"name": model},
        "data": {"generate": ["tool-use", "generate", "--n", "3", "--seed", "1"]},
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
        "eval": {
            "heldout_generate": [
                ["tool-use", "generate", "--n", "1", "--split", "heldout", "--seed", "1001"]
            ],
            "limit": 3,
            "max_new_tokens": 6,
            "ood_limit_per_skill": 1,
            "validation": False,
        },
    }


def test_tiny_end_to_end_run_skips_and_reruns(tiny_model_path: str, tmp_path: Path, register_plugin) -> None:
    pytest.importorskip(
        "pivotrl_tool_use",
        reason="needs the pivotrl-tool-use plugin (pip install -e plugins/pivotrl-tool-use)",
    )
    from pivotrl_core.pipeline import run_pipeline

    register_plugin(CoinPlugin(), name="coin-plugin")
    run_dir = tmp_path / "run"
    res = run_pipeline(_tiny_config(tiny_model_path), run_dir, say=lambda m: None)
    status = {r["name"]: r["status"] for r in res.stages}
    assert status == {
        n: "ran"
        for n in (
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
    }
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

    again = run_pipeline(_tiny_config(tiny_model_path), run_dir, say=lambda m: None)
    assert {r["status"] for r in again.stages} == {"skipped"}

    (run_dir / "pivots.jsonl").unlink()  # delete one stage's output: it and the stages after it re-run
    third = run_pipeline(_tiny_config(tiny_model_path), run_dir, say=lambda m: None)
    status = {r["name"]: r["status"] for r in third.stages}
    assert [n for n, s in status.items() if s == "skipped"] == ["generate", "heldout", "extract", "profile"]
    assert all(status[n] == "ran" for n in ("select", "train", "eval-base", "eval-pivotrl", "report"))


def _cli(args: list[str]):  # noqa: ANN202
    from click.testing import CliRunner

    from pivotrl_core.cli import build_cli, cli

    build_cli()
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_run_cli_reports_config_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text('[data]\ngenerate = ["tool-use", "generate"]\n[profile]\nk = 1\n')
    r = _cli(["run", str(cfg), "-o", str(tmp_path / "run")])
    assert r.exit_code == 2 and "[profile] k must be >= 2" in r.output
    assert not (tmp_path / "run").exists()  # nothing started
    r = _cli(["run", str(cfg), "--set", "profile.kk=3"])
    assert r.exit_code == 2 and "did you mean 'k'" in r.output


def test_quickstart_config_is_valid_and_printable() -> None:
    from pivotrl_core.commands.quickstart_cmd import quickstart_config_path

    cfg = load_pipeline_config(quickstart_config_path())
    assert cfg["run"]["domain"] == "tool-use" and cfg["model"]["warmup"]
    assert len(cfg["eval"]["heldout_generate"]) >= 3  # spread over held-out seeds
    seeds = {a[a.index("--seed") + 1] for a in cfg["eval"]["heldout_generate"]}
    train_seed = cfg["data"]["generate"][cfg["data"]["generate"].index("--seed") + 1]
    assert train_seed not in seeds
    r = _cli(["quickstart", "--print-config"])
    assert r.exit_code == 0 and r.output == quickstart_config_path().read_text()


def test_report_table_and_improvement_verdict(tmp_path: Path) -> None:
    from pivotrl_core.report import improvement, render_table, write_report

    def doc(label: str, means: list[float], ood: float, kl: float | None) -> dict:
        from pivotrl_core.eval import mean_std

        return {
            "label": label,
            "held_out": {"sets": {}, "summary": {**mean_std(means), "over": "sets"}},
            "ood": {
                "accuracy": ood,
                "retention": ood,
                "n": 10,
                "n_base_correct": 5,
                "by_skill": {"factual": {"n": 10, "accuracy": ood}},
                **({"kl": {"kl_per_token": kl}} if kl is not None else {}),
            },
        }

    evals = {
        "base": doc("base", [0.4, 0.5, 0.45], 0.6, None),
        "pivotrl": doc("pivotrl", [0.6, 0.65, 0.55], 0.58, 0.012),
    }
    table = render_table(evals)
    assert table[0] == ["metric", "base (pi_0)", "PivotRL"]
    rows = {r[0]: r[1:] for r in table[1:]}
    assert rows["In-domain held-out accuracy"] == ["45.0% ± 4.1", "60.0% ± 4.1"]
    assert rows["OOD KL to pi_0 (nats/token)"] == ["0", "0.012"]
    assert rows["  OOD factual"] == ["60.0%", "58.0%"]
    imp = improvement(evals)
    assert (
        imp["improved"]
        and imp["delta"] == pytest.approx(0.15)
        and imp["spread"] == pytest.approx(0.0408, abs=1e-3)
    )
    evals["pivotrl"] = doc("pivotrl", [0.5, 0.4, 0.55], 0.6, 0.01)
    assert not improvement(evals)["improved"]  # +1.7 points is inside the spread

    (tmp_path / "eval").mkdir()
    for label, d in evals.items():
        (tmp_path / "eval" / f"{label}.json").write_text(json.dumps(d))
    cfg = {"run": {"name": "r", "domain": "d"}, "model": {"name": "m", "warmup": ""}}
    text = write_report(tmp_path, cfg).read_text()
    assert "| In-domain held-out accuracy | 45.0% ± 4.1 | 48.3% ± 6.2 |" in text
    assert "NOT more than the spread" in text
    assert (tmp_path / "plots" / "base_vs_trained.png").stat().st_size > 1000
