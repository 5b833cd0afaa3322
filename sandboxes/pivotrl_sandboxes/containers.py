"""Docker containers for the ``docker`` backend: the engine client, limits, create/exec/reset/remove.

The lowest module of the backend: :mod:`~pivotrl_sandboxes.agent` (the in-container executor),
:mod:`~pivotrl_sandboxes.pool` (warm pools) and :mod:`~pivotrl_sandboxes.docker_backend` (the
``Sandbox``) all build on it, and it imports none of them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from typing import Any

from pivotrl_core import SandboxError, SandboxSpec

from ._io import Capped
from .session import LABEL, LABEL_OWNER, LABEL_SESSION, current_session, owner_alive

__all__ = [
    "GRACE_S",
    "SANDBOX_USER",
    "container_config",
    "create_container",
    "docker_client",
    "exec_capture",
    "exec_reset",
    "kill_all",
    "on_forget",
    "reap_containers",
    "remove_container",
]

_forget_hooks: list[Callable[[str], None]] = []

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
        f" find {workdir} /tmp -mindepth 1 -delete 2>/dev/null;"
        f' [ -z "$(ls -A {workdir})$(ls -A /tmp)" ] || exit 4'
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
    from docker.types import Ulimit  # lazy: docker is an optional dependency

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


def on_forget(hook: Callable[[str], None]) -> None:
    """Call ``hook(cid)`` whenever a container's processes are killed or it is removed: the
    executor (:mod:`pivotrl_sandboxes.agent`) drops its connection then. Hooks keep this module
    below the ones that use it."""
    _forget_hooks.append(hook)


def _forget(cid: str) -> None:
    for hook in _forget_hooks:
        hook(cid)


def remove_container(cid: str) -> None:
    """Remove a container (already gone is fine)."""
    _forget(cid)
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
    """Kill every process of the sandbox user (the executor too); True when none is left."""
    _forget(cid)
    api = docker_client().api
    try:
        ex = api.exec_create(cid, ["bash", "-c", KILL_ALL], user=SANDBOX_USER)
        api.exec_start(ex["Id"])
        return api.exec_inspect(ex["Id"]).get("ExitCode") == 0
    except Exception:  # noqa: BLE001
        return False


def exec_reset(cid: str, workdir: str) -> bool:
    """Kill the user's processes and empty the work dir and /tmp with a ``docker exec``; False
    means discard the container (:func:`pivotrl_sandboxes.agent.reset_container` tries the faster
    executor first)."""
    _forget(cid)
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
