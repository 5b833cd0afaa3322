"""``pivotrl profile``: rows, errored samples, context rule, early stop, kill -9 + resume, resume
refusing changed settings and redoing errored rows."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pivot_data import make_candidates, write_candidates

from pivotrl_core import Domain, early_stop, hookimpl
from pivotrl_core.cli import main
from pivotrl_core.errors import ResumeMismatchError
from pivotrl_core.plugins import get_registry, load_plugin_file
from pivotrl_core.policies.base import SamplingParams
from pivotrl_core.policies.hf import HFPolicy
from pivotrl_core.policies.openai_policy import OpenAIPolicy
from pivotrl_core.profile import ProfileConfig, profile_candidates

PLUGIN = Path(__file__).with_name("profile_plugin.py")
PIVOTRL = str(Path(sys.executable).parent / "pivotrl")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def plugin(pivotrl_pm):  # noqa: ANN001, ANN201 - a fresh plugin manager with the test plugin
    load_plugin_file(PLUGIN, pivotrl_pm)
    return pivotrl_pm


@pytest.fixture(scope="module")
def tiny_policy(tiny_model_path: str) -> HFPolicy:
    return HFPolicy(tiny_model_path)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _config(**kw) -> ProfileConfig:  # noqa: ANN003
    kw.setdefault("sampling", SamplingParams(temperature=1.0, max_new_tokens=8, seed=0))
    return ProfileConfig(**{"k": 4, "batch_size": 3, **kw})


def _cli(*args: str) -> int:
    try:
        main([*args])
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def test_rows_record_scores_stats_and_settings(plugin, tiny_policy, tmp_path: Path) -> None:  # noqa: ANN001
    cands = write_candidates(tmp_path / "c.jsonl", make_candidates(3, 2))
    stats = profile_candidates(
        cands,
        tmp_path / "p.jsonl",
        tiny_policy,
        _config(save_samples=True),
        registry=get_registry(),
        progress=False,
    )
    rows = _rows(tmp_path / "p.jsonl")
    assert [r["candidate_id"] for r in rows] == [c.id for c in make_candidates(3, 2)]
    assert stats.profiled == 6 and stats.samples == 24 and stats.errored_samples == 0
    for r in rows:
        assert r["k"] == 4 and len(r["scores"]) == 4 and set(r["scores"]) <= {0.0, 1.0}
        assert r["mean"] == pytest.approx(sum(r["scores"]) / 4)
        assert (
            r["policy"].startswith("hf:")
            and r["sampling"]["temperature"] == 1.0
            and r["sampling"]["seed"] == 0
        )
        assert len(r["samples"]) == 4 and r["verifier"] == {"name": "ptest_parity", "options": {}}
        assert r["metadata"]["context"]["dropped_turns"] == 0
        # the verdict is the plugin's rule applied to the saved sample
        assert r["scores"] == [float(len(s["content"] or "") % 2 == 0) for s in r["samples"]]
    assert any(0 < r["mean"] < 1 for r in rows)


def test_errored_verdicts_are_null_and_excluded(plugin, tiny_policy, tmp_path: Path) -> None:  # noqa: ANN001
    cands = write_candidates(tmp_path / "c.jsonl", make_candidates(3, 2, domain="pflaky"))
    stats = profile_candidates(
        cands,
        tmp_path / "p.jsonl",
        tiny_policy,
        _config(k=6, save_samples=True),
        registry=get_registry(),
        progress=False,
    )
    rows = _rows(tmp_path / "p.jsonl")
    assert stats.errored_samples == sum(r["n_errors"] for r in rows) > 0
    for r in rows:
        lengths = [len(s["content"] or "") for s in r["samples"]]
        assert r["scores"] == [None if n % 3 == 0 else float(n % 2 == 0) for n in lengths]
        vals = [s for s in r["scores"] if s is not None]
        assert r["mean"] == (pytest.approx(sum(vals) / len(vals)) if vals else None)


def test_policy_failure_is_errored_not_zero(plugin, tmp_path: Path) -> None:  # noqa: ANN001
    cands = write_candidates(tmp_path / "c.jsonl", make_candidates(1, 2))
    dead = OpenAIPolicy("tiny", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2)
    stats = profile_candidates(
        cands, tmp_path / "p.jsonl", dead, _config(), registry=get_registry(), progress=False
    )
    rows = _rows(tmp_path / "p.jsonl")
    assert stats.errored_samples == 8
    assert all(r["scores"] == [None] * 4 and r["mean"] is None and r["n_errors"] == 4 for r in rows)


def test_context_rule_is_recorded(plugin, tiny_model_path: str, tmp_path: Path) -> None:  # noqa: ANN001
    cands = write_candidates(tmp_path / "c.jsonl", make_candidates(1, 3))
    pol = HFPolicy(tiny_model_path, max_prompt_tokens=220, context_rule="skip")  # prompts: 194, 244, 296
    stats = profile_candidates(
        cands, tmp_path / "skip.jsonl", pol, _config(), registry=get_registry(), progress=False
    )
    rows = _rows(tmp_path / "skip.jsonl")
    skipped = [r for r in rows if not r["scores"]]
    assert stats.skipped_context == len(skipped) == 2 and len(rows) == 3
    assert all("limit 220" in r["metadata"]["context"]["skipped"] and r["mean"] is None for r in skipped)
    trunc = HFPolicy(tiny_model_path, max_prompt_tokens=220)
    stats = profile_candidates(
        cands, tmp_path / "trunc.jsonl", trunc, _config(), registry=get_registry(), progress=False
    )
    assert stats.truncated == 2 and stats.skipped_context == 0 and stats.samples == 12
    ctx = [r["metadata"]["context"] for r in _rows(tmp_path / "trunc.jsonl")]
    assert [c["dropped_turns"] > 0 for c in ctx] == [False, True, True]
    assert all(c["used_tokens"] <= 220 for c in ctx)


def _filter(scores: list[float | None], lam: float) -> bool:
    vals = [s for s in scores if s is not None]
    if not vals:
        return False
    mean = sum(vals) / len(vals)
    return max(vals) > min(vals) and mean < lam


@pytest.mark.parametrize("k,lam", [(6, 0.6), (6, 0.5), (5, 0.34), (8, 0.6), (4, 1.0)])
def test_early_stop_never_changes_the_filter_outcome(k: int, lam: float) -> None:
    """Exhaustive: for every sequence of pass/fail/errored draws, stopping early gives the
    full-K verdict of the filter, and saves samples where it can."""
    saved = 0
    for seq in itertools.product((1.0, 0.0, None), repeat=k):
        drawn: list[float | None] = []
        decision = None
        while len(drawn) < k and decision is None:
            n = early_stop.next_chunk(drawn, k, lam, min_chunk=1)
            assert 1 <= n <= k - len(drawn)
            drawn += list(seq[len(drawn) : len(drawn) + n])
            decision = early_stop.decide(drawn, k, lam)
        full = _filter(list(seq), lam)
        if decision is not None:
            assert (decision == "keep") == full, (seq, drawn, decision)
        else:
            assert len(drawn) == k
        saved += k - len(drawn)
    assert saved > 0


def test_early_stop_run_reports_saved_samples(plugin, tiny_model_path: str, tmp_path: Path) -> None:  # noqa: ANN001
    cands = write_candidates(tmp_path / "c.jsonl", make_candidates(4, 3))
    cfg = _config(k=8, early_stop=True, max_mean=0.5, min_chunk=1)
    policy = HFPolicy(tiny_model_path, prefix_cache=8)  # the prefix cache is a construction option
    store = policy.prefix_store
    before = policy.stats["prefill_tokens"]
    stats = profile_candidates(
        cands, tmp_path / "p.jsonl", policy, cfg, registry=get_registry(), progress=False
    )
    rows = _rows(tmp_path / "p.jsonl")
    assert stats.samples_saved == sum(8 - len(r["scores"]) for r in rows) > 0
    # several rounds per candidate, but each prompt was prefilled once (kept between rounds)
    assert any(r["metadata"]["rounds"] > 1 for r in rows) and policy.prefix_store is store is not None
    prompt_tokens = sum(r["metadata"]["context"]["used_tokens"] for r in rows)
    # (at most one token more per prompt: one whose cache a longer prompt extending it replaced)
    assert policy.stats["prefill_tokens"] - before <= prompt_tokens + len(rows)
    for r in rows:
        es = r["metadata"]["early_stop"]
        vals = r["scores"]
        if es["decision"] is None:
            assert len(vals) == 8
        elif es["decision"] == "keep":
            assert r["std"] > 0 and (sum(vals) + 8 - len(vals)) / 8 < 0.5
        else:
            assert sum(vals) / 8 >= 0.5
        assert es["saved"] == 8 - len(vals)


def test_bad_candidates_fail_before_anything_is_written(
    plugin, tmp_path: Path, tiny_model_path: str, capsys
) -> None:  # noqa: ANN001
    good = [json.dumps(c.to_dict()) for c in make_candidates(1, 2)]
    bad = json.loads(good[0])
    del bad["expected"]
    (tmp_path / "c.jsonl").write_text("\n".join([*good, json.dumps(bad)]) + "\n")
    out = tmp_path / "p.jsonl"
    code = _cli(
        "profile", str(tmp_path / "c.jsonl"), "-o", str(out), "--model", tiny_model_path, "--no-progress"
    )
    err = capsys.readouterr().err
    assert code == 2 and "c.jsonl:3" in err and "expected" in err
    assert not out.exists() or out.read_text() == ""


def test_unknown_domain_and_policy_are_exit_2(plugin, tmp_path: Path, tiny_model_path: str, capsys) -> None:  # noqa: ANN001
    cands = write_candidates(tmp_path / "c.jsonl", make_candidates(1, 1))
    args = [
        "profile",
        str(cands),
        "-o",
        str(tmp_path / "p.jsonl"),
        "--model",
        tiny_model_path,
        "--no-progress",
    ]
    assert _cli(*args, "--domain", "ptets") == 2
    assert "did you mean 'ptest'" in capsys.readouterr().err
    assert _cli(*args, "--policy", "hff") == 2
    assert "did you mean 'hf'" in capsys.readouterr().err


def _wait_for_rows(path: Path, n: int, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"profile exited early: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.05)
    pytest.fail("profile wrote no rows in time")


def test_kill_9_then_resume_equals_uninterrupted_run(
    plugin, tiny_policy, tiny_model_path: str, tmp_path: Path
) -> None:  # noqa: ANN001
    cands = write_candidates(tmp_path / "c.jsonl", make_candidates(4, 3))
    ref = tmp_path / "ref.jsonl"
    profile_candidates(
        cands, ref, tiny_policy, _config(batch_size=5), registry=get_registry(), progress=False
    )
    out = tmp_path / "p.jsonl"
    args = [
        "profile",
        str(cands),
        "-o",
        str(out),
        "--model",
        tiny_model_path,
        "--k",
        "4",
        "--max-new-tokens",
        "8",
        "--batch-size",
        "1",
        "--no-progress",
    ]
    env = {**os.environ, "PTEST_DELAY": "0.15", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [PIVOTRL, "--plugin", str(PLUGIN), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_rows(out, 3, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    partial = out.read_text()
    n_before = partial.count("\n")
    assert 3 <= n_before < 12, "the kill did not land mid-run"
    with open(out, "a") as fh:  # a write torn by the crash
        fh.write('{"candidate_id": "traj3:8", "scores": [1.0, 0.')
    assert _cli("--plugin", str(PLUGIN), *args) == 0
    rows, ref_rows = _rows(out), _rows(ref)
    ids = [r["candidate_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 12
    assert sorted(ids) == sorted(r["candidate_id"] for r in ref_rows)
    assert out.read_text().startswith(partial.rsplit("\n", 1)[0])  # finished rows kept as they were
    by_id = {r["candidate_id"]: r["scores"] for r in ref_rows}
    assert all(r["scores"] == by_id[r["candidate_id"]] for r in rows)  # same samples: per-prompt seeds
    assert _cli("--plugin", str(PLUGIN), *args) == 0  # a third run has nothing left to do
    assert len(_rows(out)) == 12


def _profile(cands: Path, out: Path, policy, **kw) -> object:  # noqa: ANN001
    mode = kw.pop("resume_mode", "resume")
    return profile_candidates(
        cands, out, policy, _config(**kw), registry=get_registry(), progress=False, resume_mode=mode
    )


def test_resume_refuses_changed_settings(
    plugin, tiny_policy, tiny_model_path: str, tmp_path: Path, capsys
) -> None:  # noqa: ANN001
    cands = write_candidates(tmp_path / "c.jsonl", make_candidates(1, 2))
    out = tmp_path / "p.jsonl"
    _profile(cands, out, tiny_policy)
    assert json.loads((tmp_path / "p.jsonl.settings.json").read_text())["fingerprint"]["k"] == 4
    with pytest.raises(ResumeMismatchError, match="k: 4 -> 6") as e:
        _profile(cands, out, tiny_policy, k=6)
    assert "--fresh" in str(e.value) and "--force-resume" in str(e.value)
    hot = SamplingParams(temperature=0.7, max_new_tokens=8, seed=0)
    with pytest.raises(ResumeMismatchError, match="sampling"):
        _profile(cands, out, tiny_policy, sampling=hot)
    with pytest.raises(ResumeMismatchError, match="verifier"):
        _profile(cands, out, tiny_policy, verifier="ptest_flaky")
    write_candidates(cands, make_candidates(2, 2))  # the input changed under the output
    with pytest.raises(ResumeMismatchError, match="input"):
        _profile(cands, out, tiny_policy)
    # the CLI: exit 2 with the way out, nothing written
    before = out.read_text()
    args = ["profile", str(cands), "-o", str(out), "--model", tiny_model_path, "--k", "4", "--no-progress"]
    assert _cli(*args, "--max-new-tokens", "8") == 2
    err = capsys.readouterr().err
    assert "Error:" in err and "--fresh" in err and "Traceback" not in err and out.read_text() == before
    stats = _profile(cands, out, tiny_policy, k=6, resume_mode="fresh")
    assert stats.profiled == 4 and all(r["k"] == 6 for r in _rows(out))
    stats = _profile(cands, out, tiny_policy, resume_mode="force")  # keeps the k=6 rows
    assert stats.already_done == 4 and stats.profiled == 0
    assert _cli(*args, "--max-new-tokens", "8", "--fresh") == 0  # the CLI's way to start over
    assert all(r["k"] == 4 for r in _rows(out)) and len(_rows(out)) == 4


class _Judge:
    """A verifier plugin whose judge can be down (every call raises, as a dead judge server)."""

    down = True

    @hookimpl
    def pivotrl_register_domains(self, register):  # noqa: ANN001, ANN201
        register(Domain(name="pjudge", verifier="pjudge"))

    @hookimpl
    def pivotrl_register_verifiers(self, register):  # noqa: ANN001, ANN201
        def judge(candidate, action):  # noqa: ANN001, ANN202
            if _Judge.down:
                raise ConnectionError("judge unreachable")
            return len(action.content or "") % 2 == 0

        register(judge, name="pjudge")


def test_errored_rows_are_redone_on_resume_bounded_and_counted(
    plugin, register_plugin, tiny_policy, tmp_path: Path
) -> None:  # noqa: ANN001
    register_plugin(_Judge(), name="pjudge-plugin")
    cands = write_candidates(tmp_path / "c.jsonl", make_candidates(2, 2, domain="pjudge"))
    out = tmp_path / "p.jsonl"
    _Judge.down = True
    first = _profile(cands, out, tiny_policy, retry_errored=2)
    assert first.errored_samples == 16 and first.retried == 0
    again = _profile(cands, out, tiny_policy, retry_errored=2)  # still down: redone (attempt 2)
    assert again.retried == again.profiled == 4 and again.errored_samples == 16
    assert [r["metadata"]["attempt"] for r in _rows(out)] == [2, 2, 2, 2]
    _Judge.down = False
    fixed = _profile(cands, out, tiny_policy, retry_errored=2)  # the judge is back: attempt 3 scores
    assert fixed.retried == 4 and fixed.errored_samples == 0
    rows = _rows(out)
    assert len(rows) == 4 and all(r["n_errors"] == 0 and r["metadata"]["attempt"] == 3 for r in rows)
    _Judge.down = True
    out2 = tmp_path / "q.jsonl"
    for _ in range(3):
        _profile(cands, out2, tiny_policy, retry_errored=2)
    last = _profile(cands, out2, tiny_policy, retry_errored=2)  # 3 attempts made: no more retries
    assert last.profiled == 0 and last.already_done == 4 and last.retried == 0
