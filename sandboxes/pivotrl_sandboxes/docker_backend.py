"""The ``docker`` backend: containers on a real Docker engine through the docker SDK.

Each container runs ``sleep infinity`` under ``tini`` as the ``keeper`` user (uid 1001) and
executes commands as the ``sandbox`` user (uid 1000), with: no network, memory (no swap), CPU and
process limits, a read-only root, size-limited tmpfs work dir and ``/tmp``, all capabilities
dropped, ``no-new-privileges``. A command runs under ``timeout -s KILL``; when it times out,
every process of uid 1000 is killed (the keeper is out of its reach). Containers come from a
warm pool (:mod:`pivotrl_sandboxes.pool`) and are labelled with the owning session.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

from pivotrl_core.errors import ConfigError
from pivotrl_core.sandbox import SandboxError, SandboxResult, SandboxSpec

from ._io import Capped, pack_files, unpack_files
from .session import LABEL, LABEL_OWNER, LABEL_SESSION, current_session, owner_alive

__all__ = ["DockerSandbox", "container_config", "docker_client", "reap_containers"]

SANDBOX_USER = "1000:1000"
KEEPER_USER = "1001:1001"
GRACE_S = 2.0
# Kill every process of the sandbox user but this shell, until none is left (builtins only: no
# fork). ``kill -1`` alone cannot tell: it succeeds while the keeper's processes exist.
KILL_ALL = (
    "i=0; while :; do kill -KILL -1 2>/dev/null; left=0;"
    ' for d in /proc/[0-9]*; do [ "${d#/proc/}" != "$$" ] && [ -O "$d" ] && left=$((left+1)); done;'
    " [ $left -eq 0 ] && break; i=$((i+1)); [ $i -ge 2000 ] && exit 3; done"
)


def reset_script(workdir: str) -> str:
    """Kill the user's processes, then empty the work dir and /tmp; exit 0 only when clean."""
    return (
        f"{KILL_ALL}; chmod -R u+rwX {workdir} /tmp 2>/dev/null;"
        f' find {workdir} /tmp -mindepth 1 -delete 2>/dev/null; [ -z "$(ls -A {workdir})$(ls -A /tmp)" ] || exit 4'
    )


_client: Any = None
_client_lock = threading.Lock()


def docker_client() -> Any:
    """The process-wide docker SDK client; SandboxError when no engine answers."""
    global _client
    with _client_lock:
        if _client is None:
            try:
                import docker
            except ImportError as e:
                raise SandboxError("the docker SDK is not installed: pip install docker") from e
            try:
                client = docker.from_env(timeout=120, max_pool_size=32)
                client.ping()
            except Exception as e:  # noqa: BLE001 - any failure means "no engine"
                raise SandboxError(f"cannot reach the Docker engine ({type(e).__name__}: {e})") from e
            _client = client
        return _client


def container_config(spec: SandboxSpec, labels: Mapping[str, str]) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.run``: every limit of the spec."""
    from docker.types import Ulimit

    tmpfs_opts = "rw,exec,nosuid,nodev,uid=1000,gid=1000"
    return {
        "image": spec.image,
        "command": ["sleep", "infinity"],
        "detach": True,
        "init": True,
        "user": KEEPER_USER,
        "network_mode": "none",
        "hostname": "sandbox",
        "mem_limit": f"{spec.memory_mb}m",
        "memswap_limit": f"{spec.memory_mb}m",
        "nano_cpus": int(spec.cpus * 1e9),
        "pids_limit": spec.pids,
        "read_only": True,
        "tmpfs": {
            spec.workdir: f"{tmpfs_opts},size={spec.disk_mb}m,mode=0755",
            "/tmp": f"{tmpfs_opts},size={spec.tmp_mb}m,mode=1777",
        },
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "ipc_mode": "private",
        "labels": dict(labels),
        "working_dir": spec.workdir,
        "environment": dict(spec.env),
        "ulimits": [Ulimit(name="nofile", soft=1024, hard=1024), Ulimit(name="core", soft=0, hard=0)],
        "stop_signal": "SIGKILL",
    }


def create_container(spec: SandboxSpec) -> str:
    """Start one container for ``spec``; returns its id."""
    client = docker_client()
    try:
        return client.containers.run(**container_config(spec, current_session().labels())).id
    except Exception as e:  # noqa: BLE001 - engine errors are infrastructure errors
        if not _has_image(client, spec.image):
            raise SandboxError(f"sandbox image {spec.image} is missing: run `pivotrl sandbox build`") from e
        raise SandboxError(f"cannot start a sandbox container from {spec.image}: {e}") from e


def _has_image(client: Any, image: str) -> bool:
    try:
        client.images.get(image)
    except Exception:  # noqa: BLE001 - ImageNotFound or the engine went away
        return False
    return True


def remove_container(cid: str) -> None:
    from .agent import drop_agent

    drop_agent(cid)
    with contextlib.suppress(Exception):  # already gone is fine
        docker_client().api.remove_container(cid, force=True)


def exec_capture(
    cid: str,
    argv: list[str],
    *,
    wait_s: float,
    limit: int,
    workdir: str,
    env: Mapping[str, str] | None = None,
) -> tuple[int | None, Capped, Capped, bool]:
    """Run ``argv`` as the sandbox user; returns (exit code, stdout, stderr, overran ``wait_s``)."""
    api = docker_client().api
    out, err = Capped(limit), Capped(limit)
    try:
        ex = api.exec_create(cid, argv, user=SANDBOX_USER, workdir=workdir, environment=dict(env or {}))
        stream = api.exec_start(ex["Id"], stream=True, demux=True)
    except Exception as e:  # noqa: BLE001
        raise SandboxError(f"docker exec failed: {e}") from e

    def _read() -> None:
        try:
            for o, e in stream:
                out.add(o)
                err.add(e)
        except Exception:  # noqa: BLE001 - the stream breaks when we kill everything
            pass

    reader = threading.Thread(target=_read, daemon=True)
    reader.start()
    reader.join(wait_s)
    overran = reader.is_alive()
    if overran:
        kill_all(cid)
        reader.join(GRACE_S)
    try:
        code = api.exec_inspect(ex["Id"]).get("ExitCode")
    except Exception as e:  # noqa: BLE001
        raise SandboxError(f"docker exec inspect failed: {e}") from e
    return code, out, err, overran


def kill_all(cid: str) -> bool:
    """Kill every process of the sandbox user in the container (the executor too); True when none is left."""
    from .agent import drop_agent

    drop_agent(cid)
    api = docker_client().api
    try:
        ex = api.exec_create(cid, ["bash", "-c", KILL_ALL], user=SANDBOX_USER)
        api.exec_start(ex["Id"])
        return api.exec_inspect(ex["Id"]).get("ExitCode") == 0
    except Exception:  # noqa: BLE001
        return False


def reset_container(cid: str, workdir: str) -> bool:
    """Kill the user's processes and empty the work dir and /tmp; False means discard it.

    Through the container's executor when it answers, else with a ``docker exec``.
    """
    from .agent import agent_reset, drop_agent

    if agent_reset(cid, workdir):
        return True
    drop_agent(cid)
    api = docker_client().api
    try:
        ex = api.exec_create(cid, ["bash", "-c", reset_script(workdir)], user=SANDBOX_USER)
        api.exec_start(ex["Id"])
        return api.exec_inspect(ex["Id"]).get("ExitCode") == 0
    except Exception:  # noqa: BLE001
        return False


def reap_containers(*, session: str | None = None, everything: bool = False) -> list[str]:
    """Remove pivotrl sandbox containers: a session's, every one, or (default) orphans only."""
    client = docker_client()
    label = [LABEL] + ([f"{LABEL_SESSION}={session}"] if session else [])
    removed = []
    for c in client.api.containers(all=True, filters={"label": label}):
        owner = (c.get("Labels") or {}).get(LABEL_OWNER, "")
        if session or everything or not owner_alive(owner):
            remove_container(c["Id"])
            removed.append(c["Id"][:12])
    return removed


class DockerSandbox:
    """A sandbox in a (pooled) container. See the module docstring for the limits."""

    name = "docker"

    def __init__(
        self, spec: SandboxSpec | None = None, *, pool: Any = True, pool_size: int = 2, executor: str = "agent",
        **options: Any,
    ) -> None:  # fmt: skip
        """``pool``: True (the process-wide pool for this spec), False (a container of its own,
        removed on close) or a :class:`~pivotrl_sandboxes.pool.DockerPool` to draw from.
        ``executor``: ``agent`` (commands go through the container's executor, see
        :mod:`pivotrl_sandboxes.agent`) or ``exec`` (one ``docker exec`` per command)."""
        if executor not in ("agent", "exec"):
            raise ConfigError(f"docker sandbox: executor must be agent or exec, got {executor!r}")
        self.executor = executor
        from .pool import DockerPool, get_pool

        self.spec = SandboxSpec.from_options(spec, **options)
        if isinstance(pool, DockerPool):
            self.spec, self._pool = pool.spec, pool
        else:
            self._pool = get_pool(self.spec, pool_size) if pool else None
        if self._pool is not None:
            self.container_id = self._pool.acquire()
        else:
            current_session().watch(docker=True)
            self.container_id = create_container(self.spec)
        self._closed = False

    @classmethod
    def available(cls, image: str | None = None) -> tuple[bool, str]:
        """Engine reachable and the image present."""
        try:
            client = docker_client()
        except SandboxError as e:
            return False, str(e)
        image = image or SandboxSpec().image
        try:
            client.images.get(image)
        except Exception:  # noqa: BLE001
            return False, f"image {image} is missing: run `pivotrl sandbox build`"
        return True, f"engine {client.version().get('Version', '?')}, image {image}"

    @property
    def pool(self) -> Any:
        """The :class:`~pivotrl_sandboxes.pool.DockerPool` this sandbox came from (or None)."""
        return self._pool

    def run(self, command: str, timeout_s: float | None = None) -> SandboxResult:
        self._check_open()
        t = float(timeout_s if timeout_s is not None else self.spec.timeout_s)
        if self.executor == "agent":
            from .agent import agent_for

            agent = agent_for(self.container_id, self.spec.workdir)
            if agent is not None:
                return self._run_agent(agent, command, t)
        return self._run_exec(command, t)

    def _run_agent(self, agent: Any, command: str, t: float) -> SandboxResult:
        from .agent import AgentLost

        start = time.monotonic()
        request = {"op": "run", "cmd": command, "timeout": t, "limit": self.spec.output_limit_bytes,
                   "cwd": self.spec.workdir, "env": dict(self.spec.env)}  # fmt: skip
        try:
            reply = agent.request(request, timeout=t + GRACE_S)
        except AgentLost:
            # the command killed or froze the executor: stop everything it left, report what we know
            took = time.monotonic() - start
            kill_all(self.container_id)
            self._check_alive()
            note = "[the command stopped the sandbox's executor; its output is lost]\n"
            return SandboxResult(124 if took >= t else 137, "", note, timed_out=took >= t, duration_s=took)
        return SandboxResult(
            exit_code=124 if reply["timed_out"] else int(reply["rc"]),
            stdout=agent.decode(reply, "out").decode("utf-8", "replace"),
            stderr=agent.decode(reply, "err").decode("utf-8", "replace"),
            timed_out=bool(reply["timed_out"]), truncated=reply["dropped"] > 0, duration_s=time.monotonic() - start,
        )  # fmt: skip

    def _check_alive(self) -> None:
        try:
            state = docker_client().api.inspect_container(self.container_id)["State"]
        except Exception as e:  # noqa: BLE001
            raise SandboxError(f"the sandbox container is gone: {e}") from e
        if not state.get("Running"):
            raise SandboxError(f"the sandbox container stopped (OOM killed: {state.get('OOMKilled')})")

    def _run_exec(self, command: str, t: float) -> SandboxResult:
        argv = ["timeout", "-s", "KILL", f"{t:g}", "bash", "-c", command]
        start = time.monotonic()
        code, out, err, overran = exec_capture(
            self.container_id, argv, wait_s=t + GRACE_S, limit=self.spec.output_limit_bytes,
            workdir=self.spec.workdir, env=self.spec.env,
        )  # fmt: skip
        took = time.monotonic() - start
        timed_out = overran or took >= t  # the command (or a child holding its output) lasted to the limit
        if timed_out and not overran:
            kill_all(self.container_id)  # background children of the killed shell
        if code is None and not timed_out:
            raise SandboxError("the sandbox container stopped while running a command")
        return SandboxResult(
            exit_code=124 if timed_out else int(code or 0), stdout=out.text(), stderr=err.text(),
            timed_out=timed_out, truncated=out.truncated or err.truncated, duration_s=took,
        )  # fmt: skip

    def write_files(self, files: Mapping[str, str | bytes]) -> None:
        self._check_open()
        blob = pack_files(files)
        api = docker_client().api
        try:
            ex = api.exec_create(
                self.container_id,
                ["tar", "-x", "-C", self.spec.workdir, "-f", "-"],
                stdin=True,
                user=SANDBOX_USER,
            )
            sock = api.exec_start(ex["Id"], socket=True)
            raw = getattr(sock, "_sock", sock)
            raw.sendall(blob)
            raw.shutdown(socket.SHUT_WR)
            while raw.recv(65536):
                pass
            raw.close()
            code = api.exec_inspect(ex["Id"]).get("ExitCode")
        except Exception as e:  # noqa: BLE001
            raise SandboxError(f"writing files into the sandbox failed: {e}") from e
        if code != 0:
            raise SandboxError(f"writing files into the sandbox failed (tar exit {code}; disk full?)")

    def read_files(self) -> dict[str, bytes]:
        self._check_open()
        api = docker_client().api
        try:
            ex = api.exec_create(
                self.container_id, ["tar", "-C", self.spec.workdir, "-cf", "-", "."], user=SANDBOX_USER
            )
            out, err = api.exec_start(ex["Id"], demux=True)
            code = api.exec_inspect(ex["Id"]).get("ExitCode")
        except Exception as e:  # noqa: BLE001
            raise SandboxError(f"reading the sandbox work dir failed: {e}") from e
        if code != 0:
            raise SandboxError(
                f"reading the sandbox work dir failed: {(err or b'').decode(errors='replace')}"
            )
        return unpack_files(out or b"", limit=self.spec.disk_mb << 20)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pool is not None:
            self._pool.release(self.container_id)
        else:
            remove_container(self.container_id)

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("this sandbox is closed")

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
