"""The ``bwrap`` backend: bubblewrap namespaces for machines without Docker.

Each ``run`` starts ``bwrap --unshare-all`` (new user, pid, net, ipc, uts, cgroup namespaces:
only a private loopback, no host processes) with a read-only root (the ``pivotrl sandbox build``
rootfs when present, else the host's ``/usr`` and a minimal generated ``/etc``), a writable work
dir and ``/tmp`` bound from a per-sandbox host folder, uid 1000 inside and no capabilities.
Limits: ``timeout -s KILL`` plus a deadline in Python; ``prlimit`` (open files, core, CPU seconds,
file size); as root also a cgroup (memory without swap, pids, CPU), size-limited tmpfs mounts for
the work dir and ``/tmp``, and an unprivileged host uid (``setpriv``). Without root, memory and
process limits fall back to ``RLIMIT_AS``/``RLIMIT_NPROC`` and the disk limit to ``RLIMIT_FSIZE``
(per file). Processes never outlive their ``run``: the pid namespace dies with its command.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pivotrl_core import SandboxError, SandboxResult, SandboxSpec

from . import cgroups
from ._io import Capped, drain, pack_files, unpack_files
from .build import rootfs_path, rootfs_ready
from .bwrap_state import cleanup_sandbox, cleanup_state_dir, reap_state_dirs, state_root
from .session import current_session

__all__ = ["BwrapSandbox"]

GRACE_S = 2.0
HOST_UID = 65534  # "nobody": the host uid sandboxes run as when we are root
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ENTER_CGROUPS = (
    'while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; done; shift; exec "$@"'
)
ETC_FILES = {
    "passwd": "root:x:0:0:root:/root:/bin/bash\nsandbox:x:1000:1000:sandbox:/tmp:/bin/bash\n",
    "group": "root:x:0:\nsandbox:x:1000:\n",
    "hostname": "sandbox\n",
    "hosts": "127.0.0.1 localhost sandbox\n",
}


def _is_root() -> bool:
    return os.geteuid() == 0


_SESSION_LOCK = threading.Lock()  # sandboxes opened from several threads (a benchmark's pool) share one dir


def _session_dir() -> Path:
    with _SESSION_LOCK:
        return _make_session_dir()


def _make_session_dir() -> Path:
    session = current_session()
    d = state_root() / f"pivotrl-bwrap-{session.id}"
    if not d.exists():
        reap_state_dirs()
        d.mkdir(mode=0o755, parents=True)
        (d / "owner").write_text(session.owner)
        etc = d / "etc"
        etc.mkdir()
        for name, text in ETC_FILES.items():
            (etc / name).write_text(text)
        (etc / "alternatives").mkdir()  # mount points for the host's, bound read-only over them
        (etc / "ld.so.cache").touch()
        session.watch(bwrap_dir=str(d))
        session.on_exit(lambda: cleanup_state_dir(d))
    return d


def _root_binds(rootfs: Path | None, etc: Path) -> list[str]:
    if rootfs is not None:
        return ["--ro-bind", str(rootfs), "/"]
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / top
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{top}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{top}"]
    args += ["--ro-bind", str(etc), "/etc"]
    for extra in ("/etc/alternatives", "/etc/ld.so.cache"):
        if os.path.exists(extra):
            args += ["--ro-bind", extra, extra]
    return args


def _reachable(path: Path, uid: int) -> bool:
    """Whether ``uid`` (not the owner, not root) can traverse every folder up to ``path``."""
    for p in [path, *path.parents]:
        st = p.stat()
        if not st.st_mode & 0o001 and st.st_uid != uid:
            return False
    return True


def _default_rootfs(uid: int | None = None) -> Path | None:
    """The built rootfs when it exists and ``uid`` can reach it; else None (host ``/usr`` mode)."""
    with contextlib.suppress(Exception):
        if rootfs_ready() and (uid is None or uid == os.geteuid() or _reachable(rootfs_path(), uid)):
            return rootfs_path()
    return None


class BwrapSandbox:
    """A sandbox made of a host state folder; every ``run`` is a fresh bwrap process tree."""

    name = "bwrap"

    def __init__(self, spec: SandboxSpec | None = None, *, rootfs: str | None = None, **options: Any):
        self.spec = SandboxSpec.from_options(spec, **options)
        if shutil.which("bwrap") is None:
            raise SandboxError("bubblewrap is not installed: `apt-get install bubblewrap`")
        self._uid = HOST_UID if _is_root() and shutil.which("setpriv") else os.geteuid()
        self.rootfs = Path(rootfs) if rootfs else (None if rootfs == "" else _default_rootfs(self._uid))
        if self.rootfs is not None and not (self.rootfs / "usr").is_dir():
            raise SandboxError(
                f"bwrap rootfs {self.rootfs} is not a root file system (run `pivotrl sandbox build`)"
            )
        self._dir = _session_dir() / f"sbx-{uuid.uuid4().hex[:10]}"
        self._dir.mkdir(mode=0o755)
        self._meta: dict[str, list[str]] = {"mounts": [], "cgroups": []}
        if self.rootfs is not None and self._uid != os.geteuid() and not _reachable(self.rootfs, self._uid):
            raise SandboxError(
                f"bwrap rootfs {self.rootfs} is not reachable by the sandbox uid {self._uid}: every folder "
                "on its path needs o+x (build it with `pivotrl sandbox build`, which puts it under "
                "/var/cache/pivotrl as root)"
            )
        self._cg: cgroups.CgroupSet | None = None
        self._closed = False
        try:
            self._prepare()
        except Exception:
            cleanup_sandbox(self._dir)
            raise

    def _prepare(self) -> None:
        spec = self.spec
        for name, size in (("work", spec.disk_mb), ("tmp", spec.tmp_mb)):
            path = self._dir / name
            path.mkdir(mode=0o700)
            if _is_root():  # a size-limited tmpfs; where mounting is not allowed, RLIMIT_FSIZE remains
                opts = f"size={size}m,uid={self._uid},gid={self._uid},mode=0700"
                done = subprocess.run(
                    ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True
                )
                if done.returncode == 0:
                    self._meta["mounts"].append(str(path))
                else:
                    os.chown(path, self._uid, self._uid)
        if _is_root():
            with contextlib.suppress(OSError):
                self._cg = cgroups.create(
                    f"{current_session().id}-{self._dir.name}", spec.memory_mb, spec.pids, spec.cpus
                )
                self._meta["cgroups"] = [str(p) for p in self._cg.paths]
        (self._dir / "meta.json").write_text(json.dumps(self._meta))

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """bubblewrap installed and able to create namespaces here."""
        if shutil.which("bwrap") is None:
            return False, "bubblewrap is not installed (apt-get install bubblewrap)"
        probe = subprocess.run(
            ["bwrap", "--unshare-all", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
             "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "true"],
            capture_output=True, text=True,
        )  # fmt: skip
        if probe.returncode != 0:
            return False, f"bwrap cannot create namespaces here: {probe.stderr.strip()}"
        root = "rootfs " + str(_default_rootfs()) if _default_rootfs() else "host /usr (no rootfs built)"
        limits = "cgroups + tmpfs quotas" if _is_root() else "rlimits only (not root)"
        return True, f"{root}; {limits}"

    @property
    def limits(self) -> str:
        """``cgroup`` when memory/pids are enforced by a cgroup, else ``rlimit``."""
        return "cgroup" if self._cg is not None else "rlimit"

    @property
    def disk_quota(self) -> bool:
        """Whether the work dir and /tmp are size-limited tmpfs mounts (else only RLIMIT_FSIZE)."""
        return len(self._meta["mounts"]) == 2

    def _bwrap_argv(self, command: list[str]) -> list[str]:
        spec = self.spec
        argv = [
            "bwrap",
            "--unshare-all",
            "--unshare-user",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
        ]
        argv += _root_binds(self.rootfs, self._dir.parent / "etc")
        argv += ["--proc", "/proc", "--dev", "/dev"]
        argv += ["--bind", str(self._dir / "work"), spec.workdir, "--bind", str(self._dir / "tmp"), "/tmp"]
        if self.rootfs is None:
            argv += ["--remount-ro", "/"]
        argv += ["--uid", "1000", "--gid", "1000", "--hostname", "sandbox", "--chdir", spec.workdir]
        env = {"HOME": "/tmp", "PATH": PATH, "LANG": "C.UTF-8", "USER": "sandbox", **dict(spec.env)}
        for k, v in env.items():
            argv += ["--setenv", k, v]
        return argv + ["--cap-drop", "ALL", *command]

    def _limits_argv(self, timeout_s: float) -> list[str]:
        spec = self.spec
        argv = [
            "prlimit", "--nofile=1024", "--core=0", f"--cpu={math.ceil(timeout_s) + 1}",
            f"--fsize={spec.disk_mb << 20}",
        ]  # fmt: skip
        if self._cg is None:
            argv += [
                f"--as={(spec.memory_mb + 64) << 20}",
                f"--nproc={spec.pids + _user_processes(self._uid)}",
            ]
        return argv

    def _spawn(
        self, command: list[str], timeout_s: float, stdin: bytes | None = None, limit: int | None = None
    ) -> tuple[int, Capped, Capped, bool, float]:
        chain = ["timeout", "-s", "KILL", f"{timeout_s:g}"]
        if self._uid != os.geteuid():
            chain += ["setpriv", f"--reuid={self._uid}", f"--regid={self._uid}", "--clear-groups"]
        # inside, the first thing that runs reports on a pipe that the sandbox came up
        status_r, status_w = os.pipe()
        started = ["bash", "-c", f'printf up >&{status_w}; exec {status_w}>&-; exec "$@"', "sh", *command]
        chain += self._limits_argv(timeout_s) + self._bwrap_argv(started)
        if self._cg is not None:
            chain = ["sh", "-c", ENTER_CGROUPS, "sh", *self._meta["cgroups"], "--", *chain]
        limit = limit or self.spec.output_limit_bytes
        out, err = Capped(limit), Capped(self.spec.output_limit_bytes)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                chain, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, pass_fds=(status_w,),
            )  # fmt: skip
        except OSError as e:
            os.close(status_r)
            raise SandboxError(f"cannot start bwrap: {e}") from e
        finally:
            os.close(status_w)
        status = Capped(1 << 16)
        readers = [drain(proc.stdout, out), drain(proc.stderr, err), drain(os.fdopen(status_r, "rb"), status)]  # type: ignore[arg-type]
        if stdin is not None:
            assert proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(stdin)
            proc.stdin.close()
        overran = False
        try:
            code = proc.wait(timeout_s + GRACE_S)
        except subprocess.TimeoutExpired:
            overran = True
            self._kill(proc)
            code = proc.wait()
        if self._cg is not None:
            self._cg.kill()
        for r in readers:
            r.join(GRACE_S)
        if status.raw() != b"up" and not overran:
            raise SandboxError(
                f"bwrap could not set up the sandbox (exit {code}): {err.text().strip()[-300:]}"
            )
        return code, out, err, overran, time.monotonic() - start

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        if self._cg is not None:
            self._cg.kill()

    def run(self, command: str, timeout_s: float | None = None) -> SandboxResult:
        self._check_open()
        t = float(timeout_s if timeout_s is not None else self.spec.timeout_s)
        code, out, err, overran, took = self._spawn(["bash", "-c", command], t)
        if code == 125 and self._cg is not None and not out.text() and "cgroup" in err.text():
            raise SandboxError(f"could not enter the sandbox cgroup: {err.text().strip()}")
        timed_out = overran or (code in (137, -9) and took >= t)
        return SandboxResult(
            exit_code=124 if timed_out else code, stdout=out.text(), stderr=err.text(),
            timed_out=timed_out, truncated=out.truncated or err.truncated, duration_s=took,
        )  # fmt: skip

    def write_files(self, files: Mapping[str, str | bytes]) -> None:
        self._check_open()
        blob = pack_files(files)
        code, _, err, _, _ = self._spawn(
            ["tar", "-x", "--no-same-owner", "-C", self.spec.workdir, "-f", "-"], 30, blob
        )
        if code != 0:
            raise SandboxError(
                f"writing files into the sandbox failed (tar exit {code}): {err.text().strip()[:300]}"
            )

    def read_files(self) -> dict[str, bytes]:
        self._check_open()
        tar_limit = (self.spec.disk_mb << 20) + (1 << 20)  # the whole work dir fits, plus tar headers
        code, out, err, _, _ = self._spawn(
            ["tar", "-C", self.spec.workdir, "-cf", "-", "."], 30, limit=tar_limit
        )
        if code != 0:
            raise SandboxError(
                f"reading the sandbox work dir failed (tar exit {code}): {err.text().strip()[:300]}"
            )
        return unpack_files(out.raw(), limit=self.spec.disk_mb << 20)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        cleanup_sandbox(self._dir)

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("this sandbox is closed")

    def __enter__(self) -> BwrapSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _user_processes(uid: int) -> int:
    """How many processes ``uid`` runs now (RLIMIT_NPROC counts them all)."""
    n = 0
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                n += p.stat().st_uid == uid
    return n
