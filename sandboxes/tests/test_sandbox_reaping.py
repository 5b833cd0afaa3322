"""Nothing outlives its owner: exit hooks, Ctrl-C, ``kill``, ``kill -9`` and start-up reaping."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pivotrl_core.sandbox import SandboxSpec

CHILD = r"""
import json, sys, time
from pivotrl_core.sandbox import SandboxSpec
from pivotrl_sandboxes import BwrapSandbox, DockerSandbox
out = {}
if "docker" in sys.argv:
    d = DockerSandbox(SandboxSpec(timeout_s=5, memory_mb=99), pool_size=1)
    d.run("(sleep 600 > /dev/null 2>&1 &)")
    out["docker"] = d.container_id
if "bwrap" in sys.argv:
    b = BwrapSandbox(SandboxSpec(timeout_s=5))
    b.write_files({"f": "x"})
    out["bwrap"] = str(b._dir)
print(json.dumps(out), flush=True)
time.sleep(600)
"""


def _containers(*ids: str) -> set[str]:
    out = subprocess.run(["docker", "ps", "-aq", "--no-trunc"], capture_output=True, text=True, check=True)
    return set(ids) & set(out.stdout.split())


def _wait_gone(check, timeout: float = 15.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not check():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.docker
@pytest.mark.bwrap
@pytest.mark.parametrize(
    "sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["kill-9", "kill", "ctrl-c"]
)
def test_owner_death_removes_its_sandboxes(
    docker_ready: None, bwrap_ready: None, sig: signal.Signals
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, "docker", "bwrap"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()  # type: ignore[union-attr]
        assert line, child.stderr.read()  # type: ignore[union-attr]
        made = json.loads(line)
        assert _containers(made["docker"]) and Path(made["bwrap"]).is_dir()
        child.send_signal(sig)
        child.wait(20)
    finally:
        if child.poll() is None:
            child.kill()
    assert _wait_gone(lambda: _containers(made["docker"])), "container left behind"
    assert _wait_gone(lambda: Path(made["bwrap"]).exists()), "bwrap state left behind"


@pytest.mark.docker
def test_startup_reaping_removes_orphans_only(docker_ready: None) -> None:
    from pivotrl_sandboxes.containers import container_config, docker_client, reap_containers
    from pivotrl_sandboxes.session import LABEL, LABEL_OWNER, LABEL_SESSION, current_session

    client = docker_client()
    dead = {LABEL: "1", LABEL_SESSION: "deadbeef", LABEL_OWNER: f"{socket.gethostname()}:999999999:1"}
    orphan = client.containers.run(**container_config(SandboxSpec(), dead)).id
    alive = client.containers.run(**container_config(SandboxSpec(), current_session().labels())).id
    try:
        removed = reap_containers()
        assert orphan[:12] in removed and alive[:12] not in removed
        assert _containers(alive) == {alive} and not _containers(orphan)
    finally:
        for cid in (orphan, alive):
            subprocess.run(["docker", "rm", "-f", cid], capture_output=True)


@pytest.mark.bwrap
def test_bwrap_orphan_state_is_reaped(
    bwrap_ready: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pivotrl_sandboxes.bwrap_state import reap_state_dirs

    monkeypatch.setenv("PIVOTRL_SANDBOX_DIR", str(tmp_path))
    orphan = tmp_path / "pivotrl-bwrap-dead"
    (orphan / "sbx-1" / "work").mkdir(parents=True)
    (orphan / "owner").write_text(f"{socket.gethostname()}:999999999:1")
    mine = tmp_path / "pivotrl-bwrap-live"
    mine.mkdir()
    from pivotrl_sandboxes.session import process_owner

    (mine / "owner").write_text(process_owner())
    assert reap_state_dirs() == ["pivotrl-bwrap-dead"]
    assert not orphan.exists() and mine.exists()


@pytest.mark.docker
def test_cli_reap_reports_what_it_removed(docker_ready: None) -> None:
    from pivotrl_sandboxes.containers import container_config, docker_client
    from pivotrl_sandboxes.session import LABEL, LABEL_OWNER, LABEL_SESSION

    dead = {LABEL: "1", LABEL_SESSION: "cafe", LABEL_OWNER: f"{socket.gethostname()}:999999998:1"}
    orphan = docker_client().containers.run(**container_config(SandboxSpec(), dead)).id
    pivotrl = Path(sys.executable).with_name("pivotrl")
    out = subprocess.run(
        [str(pivotrl), "sandbox", "reap"], capture_output=True, text=True, env={**os.environ}
    )
    assert out.returncode == 0, out.stderr
    assert f"removed container {orphan[:12]}" in out.stdout
    assert not _containers(orphan)


@pytest.mark.bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_cleanup_never_deletes_through_a_mount(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder mounted inside a state dir is unmounted, never emptied (its files survive)."""
    from pivotrl_sandboxes.bwrap_state import cleanup_state_dir, mounts_under

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("do not delete")
    state = tmp_path / "pivotrl-bwrap-x"
    view = state / "sbx-1" / "view"
    view.mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(precious), str(view)], check=True)
    subprocess.run(["mount", "--bind", str(precious), str(view)], check=True)  # stacked twice
    assert mounts_under(state) == [view]
    cleanup_state_dir(state)
    assert not mounts_under(state)
    assert (precious / "keep.txt").read_text() == "do not delete"
    assert not state.exists()
