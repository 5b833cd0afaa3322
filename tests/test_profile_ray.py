"""``pivotrl profile --ray``: a local Ray cluster on CPU (2 CPUs) gives the single-process rows,
and an actor that dies mid-task loses and duplicates nothing (Ray restarts it, retries the task)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from pivot_data import make_candidates, write_candidates

from pivotrl_core.cli import build_cli, cli
from pivotrl_core.plugins import get_registry
from pivotrl_core.policies.base import SamplingParams
from pivotrl_core.profile import ProfileConfig, profile_candidates

ray = pytest.importorskip("ray")
CRASH = Path(__file__).with_name("ray_crash_plugin.py")
CONFIG = ProfileConfig(
    k=4, sampling=SamplingParams(1.0, max_new_tokens=8, seed=0), batch_size=2, save_samples=True
)


@pytest.fixture(scope="module")
def cluster():  # noqa: ANN201 - one local cluster for the module (startup is the slow part)
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ["PIVOTRL_PLUGIN_FILES"] = str(CRASH)  # the actors' workers inherit it
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    os.environ.pop("PIVOTRL_PLUGIN_FILES", None)


@pytest.fixture(scope="module")
def single(tiny_model_path: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The candidates and the single-process rows (the reference)."""
    tmp = tmp_path_factory.mktemp("ray")
    cands = write_candidates(tmp / "cands.jsonl", make_candidates(3, 3, domain="generic"))
    pol = get_registry().policy("hf", model=tiny_model_path, batch_size=8)
    profile_candidates(cands, tmp / "single.jsonl", pol, CONFIG, registry=get_registry(), progress=False)
    return cands, _rows(tmp / "single.jsonl")


def _rows(path: Path) -> dict:
    out = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        row["metadata"].pop("seconds")
        assert row["candidate_id"] not in out, "duplicated row"
        out[row["candidate_id"]] = row
    return out


def test_ray_rows_equal_single_process_rows(cluster, single, tiny_model_path: str, tmp_path: Path) -> None:  # noqa: ANN001
    cands, want = single
    out = tmp_path / "ray.jsonl"
    args = ["profile", str(cands), "-o", str(out), "--model", tiny_model_path, "--k", "4"]
    args += ["--max-new-tokens", "8", "--batch-size", "2", "--save-samples", "--no-progress", "--json"]
    args += ["--policy-option", "batch_size=8", "--ray", "--ray-actors", "2"]
    build_cli()
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output[res.output.index("{") :])["profiled"] == 9
    got = _rows(out)
    assert got == want  # samples included: the same draws, not just the same scores
    assert any(r["samples"] for r in got.values())
    single_settings = json.loads(Path(str(cands).replace("cands", "single") + ".settings.json").read_text())
    assert json.loads(Path(f"{out}.settings.json").read_text()) == single_settings  # resumable either way


def test_dead_actor_loses_and_duplicates_no_row(
    cluster, single, tiny_model_path: str, tmp_path: Path
) -> None:  # noqa: ANN001
    from pivotrl_core.profile_ray import profile_ray

    cands, want = single
    marker = tmp_path / "crashed"
    out = tmp_path / "ray.jsonl"
    opts = {"batch_size": 8, "marker": str(marker)}
    stats = profile_ray(cands, out, "hf-crash-once", tiny_model_path, opts, CONFIG, actors=2, progress=False)
    assert marker.exists(), "no actor died: the fault was not injected"
    assert int(marker.read_text()) != os.getpid()
    got = _rows(out)
    assert stats.profiled == 9 and got == want
