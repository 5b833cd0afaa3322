"""The Sandbox contract, identical on both backends."""

from __future__ import annotations

import pytest
from pivotrl_sandboxes.testing import TIGHT

from pivotrl_core.sandbox import Sandbox, SandboxError, SandboxSpec


def test_is_a_sandbox_and_runs_as_non_root_in_the_work_dir(backend: str, open_box) -> None:  # noqa: ANN001
    box = open_box()
    assert isinstance(box, Sandbox) and box.name == backend
    res = box.run("id -u; id -g; pwd; echo $HOME; python3 -c 'print(6 * 7)'")
    assert res.ok and res.stdout.split() == ["1000", "1000", "/work", "/tmp", "42"]
    assert res.duration_s > 0


def test_exit_status_stderr_and_env(backend: str, open_box) -> None:  # noqa: ANN001
    box = open_box(TIGHT.replace(env={"GREETING": "hello"}))
    res = box.run('echo "$GREETING"; echo oops >&2; exit 7')
    assert (res.exit_code, res.stdout, res.stderr, res.ok) == (7, "hello\n", "oops\n", False)


def test_files_round_trip_and_state_persists_between_runs(backend: str, open_box) -> None:  # noqa: ANN001
    box = open_box()
    box.write_files({"a.txt": "alpha\n", "src/run.sh": "#!/bin/sh\necho ran\n", "bin.dat": b"\x00\xff"})
    assert box.run("./src/run.sh && cat a.txt && echo x > /tmp/keep && mkdir -p out && echo y > out/y").ok
    assert box.run("cat /tmp/keep").stdout == "x\n"  # /tmp survives between runs of one sandbox
    files = box.read_files()
    assert files == {
        "a.txt": b"alpha\n", "src/": b"", "src/run.sh": b"#!/bin/sh\necho ran\n", "bin.dat": b"\x00\xff",
        "out/": b"", "out/y": b"y\n",
    }  # fmt: skip


def test_symlinks_are_reported_not_followed(backend: str, open_box) -> None:  # noqa: ANN001
    box = open_box()
    assert box.run("ln -s /etc/passwd leak").ok
    assert box.read_files() == {"leak": b"-> /etc/passwd"}


@pytest.mark.parametrize("path", ["/etc/x", "../x", "a/../../x"])
def test_write_files_refuses_paths_outside_the_work_dir(backend: str, open_box, path: str) -> None:  # noqa: ANN001
    box = open_box()
    with pytest.raises(ValueError, match="relative to the work dir"):
        box.write_files({path: "x"})


def test_write_files_beyond_the_disk_limit_is_a_sandbox_error(backend: str, open_box) -> None:  # noqa: ANN001
    box = open_box()
    with pytest.raises(SandboxError, match="writing files"):
        box.write_files({"big.bin": b"\0" * ((TIGHT.disk_mb + 2) << 20)})


def test_per_call_timeout_overrides_the_spec(backend: str, open_box) -> None:  # noqa: ANN001
    box = open_box(TIGHT.replace(timeout_s=30))
    res = box.run("sleep 5", timeout_s=0.5)
    assert res.timed_out and res.exit_code == 124 and res.duration_s < 3


def test_closed_sandbox_refuses_work(backend: str, open_box) -> None:  # noqa: ANN001
    box = open_box()
    box.close()
    box.close()  # idempotent
    with pytest.raises(SandboxError, match="closed"):
        box.run("true")


def test_unknown_spec_option_is_a_config_error(backend: str) -> None:
    from pivotrl_core.errors import ConfigError
    from pivotrl_core.plugins import get_registry

    with pytest.raises(ConfigError, match="memory_gb"):
        get_registry().sandbox(backend, spec=SandboxSpec(), memory_gb=1)


@pytest.mark.docker
def test_docker_exec_executor_keeps_the_same_contract(docker_ready: None) -> None:
    from pivotrl_sandboxes import DockerSandbox

    with DockerSandbox(TIGHT, executor="exec", pool=False) as box:
        res = box.run("echo out; echo err >&2; exit 4")
        assert (res.exit_code, res.stdout, res.stderr) == (4, "out\n", "err\n")
        slow = box.run("sleep 30", timeout_s=0.5)
        assert slow.timed_out and slow.exit_code == 124
        big = box.run("head -c 1000000 /dev/zero")
        assert big.truncated and len(big.stdout) == TIGHT.output_limit_bytes
