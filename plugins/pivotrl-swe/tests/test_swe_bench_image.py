"""A SWE-bench-schema instance with its own image, run by the benchmark adapter unchanged.

No registry is reachable here, so the fixture builds the instance image locally, the way SWE-bench
names and lays out its images: ``FROM`` the project's sandbox image, a small git repository at
``/testbed`` at its base commit, ``git`` and ``pytest`` inside; tag
``sweb.eval.x86_64.<instance id>:latest``. The instance row has SWE-bench's fields only (no image
name, no test command): the adapter derives both as SWE-bench's harness does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pivotrl_sandboxes.pool import close_pools
from pivotrl_swe.bench import swe_tasks
from pivotrl_swe.tasks import load_tasks, swebench_image

pytestmark = pytest.mark.docker

INSTANCE_ID = "pivotrl__calc-1"
CALC = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a + b\n"
TESTS = "from calc import add, mul\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
NEW_TEST = "\n\ndef test_mul():\n    assert mul(2, 3) == 6\n    assert mul(0, 7) == 0\n"
DOCKERFILE = """FROM pivotrl/sandbox-py
COPY git /usr/local/bin/git
COPY site-packages/ /usr/local/lib/python3.11/dist-packages/
COPY testbed/ /testbed/
RUN git --version && python3 -m pytest --version
"""
PYTEST_PACKAGES = ("pytest", "_pytest", "pluggy", "iniconfig", "packaging", "pygments", "py.py")


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    res = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True)
    return res.stdout


def _repository(root: Path) -> dict:
    """The repository at its base commit in ``root/testbed`` and the instance row (SWE-bench schema)."""
    repo = root / "testbed"
    (repo / "tests").mkdir(parents=True)
    (repo / "calc.py").write_text(CALC)
    (repo / "tests" / "test_calc.py").write_text(TESTS)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    base = _git(repo, "rev-parse", "HEAD").strip()
    (repo / "calc.py").write_text(
        CALC.replace("mul(a, b):\n    return a + b", "mul(a, b):\n    return a * b")
    )
    patch = _git(repo, "diff")
    _git(repo, "checkout", "-q", "calc.py")
    (repo / "tests" / "test_calc.py").write_text(TESTS + NEW_TEST)
    test_patch = _git(repo, "diff")
    _git(repo, "checkout", "-q", "tests/test_calc.py")
    return {
        "repo": "pivotrl/calc",
        "instance_id": INSTANCE_ID,
        "base_commit": base,
        "patch": patch,
        "test_patch": test_patch,
        "problem_statement": "`calc.mul(a, b)` adds its arguments instead of multiplying them.",
        "hints_text": "",
        "created_at": "2026-12-03T00:00:00Z",
        "version": "0.1",
        "FAIL_TO_PASS": json.dumps(["tests/test_calc.py::test_mul"]),
        "PASS_TO_PASS": json.dumps(["tests/test_calc.py::test_add"]),
        "environment_setup_commit": base,
    }


def _context(root: Path) -> None:
    """The build context: git (the host's binary; the sandbox image has the same Debian release),
    pytest and its pure-Python dependencies from this interpreter, the repository."""
    (root / "Dockerfile").write_text(DOCKERFILE)
    shutil.copy2(shutil.which("git") or "git", root / "git")
    site = Path(pytest.__file__).resolve().parents[1]
    infos = [d.name for d in site.glob("*.dist-info") if d.name.split("-")[0].lower() in PYTEST_PACKAGES]
    for name in (*PYTEST_PACKAGES, *infos):
        src = site / name
        dest = root / "site-packages" / name
        if src.is_dir():
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)


@pytest.fixture(scope="module")
def instance_file(docker_ready, tmp_path_factory):
    """An instances file of one SWE-bench-schema row whose image is built here (removed afterwards)."""
    if shutil.which("git") is None:
        pytest.skip("git is needed to build the instance repository")
    import docker

    root = tmp_path_factory.mktemp("swebench-image")
    row = _repository(root)
    _context(root)
    image = swebench_image(INSTANCE_ID)
    client = docker.from_env()
    try:
        client.images.build(path=str(root), tag=image, rm=True, forcerm=True, pull=False, network_mode="none")
    except docker.errors.BuildError as e:
        pytest.skip(f"cannot build the instance image here: {e}")
    path = root / "instances.jsonl"
    path.write_text(json.dumps(row) + "\n")
    yield path
    client.images.remove(image, force=True)


def _sandboxes_of(pid: int) -> list[str]:
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=pivotrl.sandbox"], capture_output=True, text=True
    ).stdout.split()
    mine = []
    for cid in ids:
        owner = subprocess.run(
            ["docker", "inspect", "-f", '{{index .Config.Labels "pivotrl.owner"}}', cid],
            capture_output=True,
            text=True,
        ).stdout.strip()
        mine += [cid] if owner.split(":")[1:2] == [str(pid)] else []
    return mine


def test_the_row_is_read_as_an_image_task(instance_file):
    (task,) = load_tasks(instance_file)
    assert task.swebench_style and task.image == "sweb.eval.x86_64.pivotrl__calc-1:latest"
    assert task.repo_dir == "/testbed" and task.test_command == "python -m pytest -rA"
    assert task.fail_to_pass == ("tests/test_calc.py::test_mul",)


def test_gold_patch_resolves_empty_patch_does_not_and_no_container_is_left(instance_file, docker_ready):
    gold = swe_tasks(None, instances=str(instance_file), agent="expert", backend=docker_ready)
    (result,) = gold["instances"]
    assert gold["n_resolved"] == 1 and gold["n_errored"] == 0, result["test_output"]
    assert result["tests"] == {
        "tests/test_calc.py::test_mul": "PASSED",
        "tests/test_calc.py::test_add": "PASSED",
    }
    assert result["patch"].startswith("--- a/calc.py") and "+    return a * b" in result["patch"]
    assert ".git" not in result["patch"] and "test_calc" not in result["patch"]
    noop = swe_tasks(None, instances=str(instance_file), agent="noop", backend=docker_ready)
    (result,) = noop["instances"]
    assert noop["n_resolved"] == 0 and noop["n_errored"] == 0 and result["patch"] == ""
    assert result["tests"] == {
        "tests/test_calc.py::test_mul": "FAILED",
        "tests/test_calc.py::test_add": "PASSED",
    }
    close_pools()  # the process-wide warm pools: every container is either pooled or removed
    assert _sandboxes_of(os.getpid()) == []


def test_the_command_line_runs_the_instance_file(instance_file, docker_ready, tmp_path):
    out = tmp_path / "gold.json"
    pivotrl = str(Path(sys.executable).with_name("pivotrl"))
    cmd = [pivotrl, "swe", "bench", "--instances", str(instance_file), "--agent", "expert", "-o", str(out)]
    proc = subprocess.Popen([*cmd, "--backend", docker_ready], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert b"resolved 1/1" in stdout and json.loads(out.read_text())["resolved_ids"] == [INSTANCE_ID]
    assert _sandboxes_of(proc.pid) == []  # the process has exited: none of its sandboxes remain
