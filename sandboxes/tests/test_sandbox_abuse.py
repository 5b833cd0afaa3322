"""The abuse suite, on both backends: each attack is contained, the host and the next command
in the pool are unaffected, and nothing is left running afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from pivotrl_sandboxes.testing import TIGHT

ALLOWED_AFTER = {"bash", "ps", "timeout", "bwrap"}  # the checking command itself


def _next_command_is_clean(backend: str, box, open_box) -> None:  # noqa: ANN001
    """Close ``box``; the next sandbox (the same container, reset, for docker) starts clean."""
    box.close()
    if backend == "docker":
        box.pool.settle()
    nxt = open_box()
    if backend == "docker":
        assert nxt.container_id == box.container_id, (
            "the pool discarded the container instead of resetting it"
        )
    res = nxt.run("echo ok; find . /tmp -mindepth 1 | wc -l; ps -e -o user=,args=", timeout_s=5)
    assert res.ok, res
    lines = res.stdout.splitlines()
    assert lines[:2] == ["ok", "0"], res.stdout  # works, and the work dir and /tmp are empty
    procs = [line.split()[1:] for line in lines[2:] if line.startswith("sandbox ")]
    procs = [
        p for p in procs if p[:4] != ["python3", "-u", "-I", "-c"]
    ]  # docker's executor (pivotrl_sandboxes.agent)
    names = [p[0].rsplit("/", 1)[-1] for p in procs]
    assert set(names) <= ALLOWED_AFTER and names.count("bash") <= 1, f"leftover processes: {procs}"


def _host_responsive() -> float:
    start = time.monotonic()
    subprocess.run(["true"], check=True)
    return time.monotonic() - start


def test_fork_bomb(backend: str, open_box) -> None:  # noqa: ANN001
    box = open_box()
    result: list = []
    t = threading.Thread(target=lambda: result.append(box.run(":(){ :|:& };: ; sleep 10", timeout_s=2)))
    t.start()
    time.sleep(0.8)
    assert _host_responsive() < 1.0  # the host can still fork while the bomb runs
    t.join(15)
    res = result[0]
    assert res.timed_out and res.exit_code == 124, res
    assert res.duration_s < 2 + 3.5
    _next_command_is_clean(backend, box, open_box)


def test_memory_hog(backend: str, open_box) -> None:  # noqa: ANN001
    box = open_box()
    res = box.run("python3 -c 'x = []\nwhile True: x.append(bytearray(8 << 20))'", timeout_s=10)
    assert res.exit_code != 0 and not res.timed_out, res  # killed or MemoryError, well before the timeout
    assert res.duration_s < 8
    _next_command_is_clean(backend, box, open_box)


def test_infinite_loop_is_killed(backend: str, open_box) -> None:  # noqa: ANN001
    box = open_box()
    res = box.run("while :; do :; done", timeout_s=1)
    assert res.timed_out and res.exit_code == 124
    assert 0.9 < res.duration_s < 1 + 2.5
    _next_command_is_clean(backend, box, open_box)


def test_background_process_is_killed_with_its_command(backend: str, open_box) -> None:  # noqa: ANN001
    box = open_box()
    res = box.run("(sleep 60 &) ; sleep 60", timeout_s=1)
    assert res.timed_out
    _next_command_is_clean(backend, box, open_box)


def test_100mb_stdout_is_capped(backend: str, open_box) -> None:  # noqa: ANN001
    box = open_box()
    res = box.run("head -c 100000000 /dev/zero | tr '\\0' x; echo done >&2", timeout_s=15)
    assert res.truncated
    assert len(res.stdout) == TIGHT.output_limit_bytes and set(res.stdout) == {"x"}
    assert res.ok and res.stderr == "done\n"  # the producer was drained, not blocked
    _next_command_is_clean(backend, box, open_box)


def test_disk_fill_is_bounded(backend: str, open_box) -> None:  # noqa: ANN001
    box = open_box()
    res = box.run(
        "dd if=/dev/zero of=big bs=1M count=100 2>&1; du -m big | cut -f1;"
        " dd if=/dev/zero of=/tmp/t bs=1M count=100",
        timeout_s=10,
    )
    assert "No space left" in res.stdout + res.stderr
    size_mb = int(res.stdout.strip().splitlines()[-1])
    assert size_mb <= TIGHT.disk_mb
    assert res.exit_code != 0
    _next_command_is_clean(backend, box, open_box)


def test_cannot_write_outside_the_work_dir(backend: str, open_box, tmp_path: Path) -> None:  # noqa: ANN001
    box = open_box()
    targets = [
        "/etc/pivotrl-x",
        "/usr/pivotrl-x",
        "/pivotrl-x",
        "/root/pivotrl-x",
        "/var/pivotrl-x",
        str(tmp_path / "x"),
    ]
    script = (
        "; ".join(f"touch {t} 2>/dev/null && echo WROTE {t}" for t in targets) + "; mkdir -p ok && touch ok/f"
    )
    res = box.run(script)
    assert "WROTE" not in res.stdout, res.stdout
    assert box.run("test -f ok/f").ok  # the work dir itself is writable
    for t in targets:
        assert not os.path.exists(t)
    _next_command_is_clean(backend, box, open_box)


def test_cannot_read_host_files(backend: str, open_box, tmp_path: Path) -> None:  # noqa: ANN001
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7f3a")
    secret.chmod(0o644)
    box = open_box()
    res = box.run(f"cat {secret} /etc/shadow /root/.bashrc 2>&1; ls -A /; ps -e | wc -l")
    assert "TOP-SECRET-7f3a" not in res.stdout
    assert f"{secret}: No such file or directory" in res.stdout
    assert "/etc/shadow: Permission denied" in res.stdout or "/etc/shadow: No such file" in res.stdout
    host_only = {p.name for p in Path("/").iterdir()} - {
        "bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "media", "mnt", "opt", "proc",
        "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var", "work", ".dockerenv",
    }  # fmt: skip
    assert not host_only & set(res.stdout.split()), host_only & set(res.stdout.split())
    assert int(res.stdout.split()[-1]) < 12  # only the sandbox's own processes are visible
    found = box.run("grep -rl TOP-SECRET-'7f3a' / --exclude-dir=proc --exclude-dir=sys 2>/dev/null | head -3")
    assert found.stdout == ""
    _next_command_is_clean(backend, box, open_box)


def test_no_network_even_to_host_loopback(backend: str, open_box) -> None:  # noqa: ANN001
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted: list[object] = []
    stop = threading.Event()

    def _accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    t = threading.Thread(target=_accept, daemon=True)
    t.start()
    try:
        box = open_box()
        res = box.run(
            f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)\" 2>&1;"
            f" (echo hi > /dev/tcp/127.0.0.1/{port}) 2>&1 && echo CONNECTED; ls /sys/class/net 2>/dev/null",
            timeout_s=8,
        )
        assert "CONNECTED" not in res.stdout
        assert "Connection refused" in res.stdout or "Network is unreachable" in res.stdout
    finally:
        stop.set()
        t.join(2)
        server.close()
    assert accepted == []
    _next_command_is_clean(backend, box, open_box)


@pytest.mark.docker
def test_no_container_left_behind_after_pools_close(docker_ready: None) -> None:
    """Runs after the docker abuse tests above: closing the pools leaves no labelled container."""
    from pivotrl_sandboxes import DockerSandbox
    from pivotrl_sandboxes.pool import close_pools
    from pivotrl_sandboxes.session import current_session

    from pivotrl_core.sandbox import SandboxSpec

    with DockerSandbox(SandboxSpec(timeout_s=5), pool_size=1) as box:
        assert box.run("true").ok
    close_pools()
    label = f"label=pivotrl.session={current_session().id}"
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", label], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


@pytest.mark.bwrap
def test_no_bwrap_process_or_cgroup_left(bwrap_ready: None) -> None:
    from pivotrl_sandboxes import BwrapSandbox

    box = BwrapSandbox(TIGHT)
    box.run("sleep 30 & sleep 30 & true")
    folder = box._dir
    cgs = list(box._meta["cgroups"])
    box.close()
    assert not folder.exists()
    assert not any(Path(c).exists() for c in cgs)
    ps = subprocess.run(["ps", "-e", "-o", "uid=,comm="], capture_output=True, text=True).stdout
    assert not [line for line in ps.splitlines() if line.split()[0] == "65534" and "sleep" in line]


def test_killing_every_process_of_the_user(backend: str, open_box) -> None:  # noqa: ANN001
    """``kill -9 -1`` (and ``pkill``) from a command takes down only the sandbox's own processes."""
    box = open_box()
    res = box.run("sleep 30 & kill -9 -1; pkill -9 -u sandbox; echo unreachable", timeout_s=5)
    assert "unreachable" not in res.stdout and not res.ok
    if backend == "docker":  # it took the executor down too: reported, and a new one takes over
        assert "stopped the sandbox's executor" in res.stderr
    assert box.run("echo still here").stdout == "still here\n"  # the same sandbox keeps working
    _next_command_is_clean(backend, box, open_box)
