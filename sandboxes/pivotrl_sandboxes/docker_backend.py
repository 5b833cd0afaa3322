"""The ``docker`` backend: containers on a real Docker engine through the docker SDK.

Each container runs ``sleep infinity`` under ``tini`` as the ``keeper`` user (uid 1001) and
executes commands as the ``sandbox`` user (uid 1000), with: no network, memory (no swap), CPU and
process limits, a read-only root, size-limited tmpfs work dir and ``/tmp``, all capabilities
dropped, ``no-new-privileges``. A command runs under ``timeout -s KILL``; when it times out,
every process of uid 1000 is killed (the keeper is out of its reach). Containers come from a
warm pool (:mod:`pivotrl_sandboxes.pool`) and are labelled with the owning session.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any

from pivotrl_core import ConfigError, SandboxError, SandboxResult, SandboxSpec

from ._io import pack_files, unpack_files
from .agent import AgentLost, agent_for
from .containers import (
    GRACE_S,
    SANDBOX_USER,
    create_container,
    docker_client,
    exec_capture,
    kill_all,
    remove_container,
)
from .pool import DockerPool, get_pool
from .session import current_session

__all__ = ["DockerSandbox"]


class DockerSandbox:
    """A sandbox in a (pooled) container. See the module docstring for the limits."""

    name = "docker"

    def __init__(
        self,
        spec: SandboxSpec | None = None,
        *,
        pool: Any = True,
        pool_size: int = 2,
        executor: str = "agent",
        **options: Any,
    ) -> None:
        """``pool``: True (the process-wide pool for this spec), False (a container of its own,
        removed on close) or a :class:`~pivotrl_sandboxes.pool.DockerPool` to draw from.
        ``executor``: ``agent`` (commands go through the container's executor, see
        :mod:`pivotrl_sandboxes.agent`) or ``exec`` (one ``docker exec`` per command)."""
        if executor not in ("agent", "exec"):
            raise ConfigError(f"docker sandbox: executor must be agent or exec, got {executor!r}")
        self.executor = executor
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
            agent = agent_for(self.container_id, self.spec.workdir)
            if agent is not None:
                return self._run_agent(agent, command, t)
        return self._run_exec(command, t)

    def _run_agent(self, agent: Any, command: str, t: float) -> SandboxResult:
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
            timed_out=bool(reply["timed_out"]),
            truncated=reply["dropped"] > 0,
            duration_s=time.monotonic() - start,
        )

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
