"""Sandboxed parts on a real Docker engine: episodes, the benchmark, the functional verifier, faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pivotrl_swe.bench import swe_tasks
from pivotrl_swe.extract import extract_swe
from pivotrl_swe.functional import FunctionalCheck
from pivotrl_swe.generate import generate_expert

from pivotrl_core import ExtractOptions, Message, ToolCall, Verdict, get_registry, run_verifier, verify_many
from pivotrl_core.testing import check_domain

pytestmark = pytest.mark.docker
SWE = ExtractOptions(domain="swe")
SAMPLE_IDS = [
    "Python/0",
    "Python/10",
    "Python/32",
    "Python/119",
    "Python/142",
]  # a timeout, a bad test, 26 lines


def _call(name: str, **args) -> Message:
    return Message(role="assistant", tool_calls=(ToolCall(name, args, id="x"),))


def _containers_of(pid: int) -> list[str]:
    """Sandbox containers whose owner label names process ``pid`` (``<host>:<pid>:<start>``)."""
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=pivotrl.sandbox"], capture_output=True, text=True
    )
    mine = []
    for cid in ids.stdout.split():
        owner = subprocess.run(
            ["docker", "inspect", "-f", '{{index .Config.Labels "pivotrl.owner"}}', cid],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if owner.split(":")[1:2] == [str(pid)]:
            mine.append(cid)
    return mine


def _bench(agent: str, out: Path, *ids: str) -> tuple[dict, int]:
    cmd = [
        str(Path(sys.executable).with_name("pivotrl")),
        "swe",
        "bench",
        "--agent",
        agent,
        "--backend",
        "docker",
        "-o",
        str(out),
        *[f"--ids={i}" for i in ids],
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out.read_text()), proc.pid


def test_benchmark_all_164_gold_resolves_161_noop_none_and_no_sandbox_left(pack, docker_ready, tmp_path):
    gold, pid = _bench("expert", tmp_path / "gold.json")
    assert _containers_of(pid) == []  # the bench process has exited: none of its sandboxes remain
    assert gold["n_instances"] == 164 and gold["n_errored"] == 0
    assert gold["n_resolved"] >= 161
    assert {i["instance_id"] for i in gold["instances"] if not i["resolved"]} <= {
        "Python/32",
        "Python/38",
        "Python/50",
    }
    noop, pid = _bench("noop", tmp_path / "noop.json", "Python/0", "Python/10", "Python/38", "Python/142")
    assert _containers_of(pid) == []
    assert noop["n_resolved"] == 0 and noop["n_errored"] == 0 and noop["n_instances"] == 4
    timed = next(i for i in noop["instances"] if i["instance_id"] == "Python/10")
    assert timed["tests"] == {"test.py": "TIMEOUT"}


@pytest.fixture(scope="module")
def expert_candidates(pack, docker_ready):
    trajectories = list(
        generate_expert(
            3, seed=1, split="train", instances=str(pack / "instances.jsonl"), backend=docker_ready
        )
    )
    assert len(trajectories) == 3
    return [c for t in trajectories for c in extract_swe(t, SWE)]


def test_expert_candidates_carry_their_state_and_pass_domain_qa(expert_candidates):
    assert len(expert_candidates) == 15  # ls, view, edit, run, submit per task
    assert all("sandbox" in c.metadata for c in expert_candidates)
    finals = [c for c in expert_candidates if c.metadata["swe"]["final_edit"]]
    assert len(finals) == 3 and all(
        c.expected.tool_calls[0].arguments["command"] == "str_replace" for c in finals
    )
    report = check_domain("swe", expert_candidates[:5], repeats=2)
    assert report.ok


def test_functional_check_judges_effects(expert_candidates, docker_ready):
    check = get_registry().verifier("swe_exec", backend=docker_ready)
    final = next(c for c in expert_candidates if c.metadata["swe"]["final_edit"])
    args = dict(final.expected.tool_calls[0].arguments)
    path = args["path"]
    # the same fix written another way: the whole file with the gold text (hidden tests pass)
    fixed = final.metadata["sandbox"]["files"][path].replace(args["old_str"], args["new_str"], 1)
    rewrite = _call("bash", command=f"cat > {path} <<'EOF'\n{fixed}\nEOF")
    assert run_verifier(check, final, rewrite).passed
    wrong = _call(
        "str_replace_editor",
        command="str_replace",
        path=path,
        old_str=args["old_str"],
        new_str=args["old_str"] + " ",
    )
    verdict = run_verifier(check, final, wrong)
    assert not verdict.errored and not verdict.passed
    listing = next(
        c for c in expert_candidates if c.expected.tool_calls[0].arguments.get("command") == "ls -a"
    )
    assert run_verifier(check, listing, _call("bash", command="ls -a .")).passed
    assert not run_verifier(check, listing, _call("bash", command="ls -la")).passed
    quick = FunctionalCheck(backend=docker_ready, timeout_s=1.0)
    verdict = quick.verify(listing, _call("bash", command="sleep 5"))
    assert not verdict.passed and "timed out" in verdict.reason  # the sample's own timeout fails


def test_sandbox_faults_are_errored_verdicts_and_counted(expert_candidates, docker_ready):
    final = next(c for c in expert_candidates if c.metadata["swe"]["final_edit"])
    # 1. the demonstration times out (a 1 s limit on a turn that sleeps): errored, not failed
    slow = final.__class__(
        **{**final.__dict__, "id": final.id + "-slow", "expected": _call("bash", command="sleep 5")}
    )
    short = get_registry().verifier("swe_exec", backend=docker_ready, timeout_s=1.0)
    assert run_verifier(short, slow, _call("bash", command="ls")).errored
    # 2. the container is killed while the sampled action runs (only this process's containers)
    check = get_registry().verifier("swe_exec", backend=docker_ready, timeout_s=15.0)
    killer = _kill_own_containers_after(1.5)
    verdict = run_verifier(check, final, _call("bash", command="sleep 10"))
    killer.join()
    assert verdict.errored and "sandbox" in (verdict.error or "").lower()
    # 3. errored verdicts are counted apart from fails in a batch
    verdicts = verify_many(short, [(slow, _call("bash", command="ls")), (final, _call("submit"))])
    assert [v.errored for v in verdicts] == [True, False]
    assert sum(v.errored for v in verdicts) == 1 and isinstance(verdicts[1], Verdict)


def _kill_own_containers_after(delay: float) -> threading.Thread:
    def kill() -> None:
        time.sleep(delay)
        for cid in _containers_of(os.getpid()):
            subprocess.run(["docker", "kill", cid], capture_output=True)

    t = threading.Thread(target=kill)
    t.start()
    return t


@pytest.mark.bwrap
def test_bwrap_fallback_runs_the_same_episodes(pack, bwrap_ready):
    report = swe_tasks(
        None,
        instances=str(pack / "instances.jsonl"),
        ids=["Python/0", "Python/1"],
        agent="expert",
        backend=bwrap_ready,
    )
    assert report["n_resolved"] == 2 and report["n_errored"] == 0
