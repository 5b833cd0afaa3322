"""The in-container executor that makes warm-pool commands cheap.

A ``docker exec`` costs a runc start per command (~60-100 ms here). Instead, each pooled
container runs one long-lived executor, started once with ``docker exec -i`` as the sandbox user:
a small stdlib-only Python program (:data:`AGENT_SOURCE`) that reads one JSON request per line on
stdin and answers one JSON line on stdout. ``run`` forks ``bash -c`` in a new session with stdin
closed, captures stdout/stderr up to the cap (the rest is drained and counted), kills the
session at the deadline and then every other process of the user; ``reset`` kills every other
process of the user and empties the work dir and ``/tmp``.

It runs as the sandbox user, so a command can kill or disturb it: the host side then gets no
answer (EOF or its own deadline), kills every process of the user with a plain ``docker exec`` and
starts a new executor for the next command. The executor is a convenience for speed, never a
security boundary: the container is.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import struct
import threading
import time
from typing import Any

from .containers import docker_client, exec_reset, on_forget

__all__ = ["AGENT_SOURCE", "AgentClient", "AgentLost", "agent_for", "drop_agent", "reset_container"]

AGENT_SOURCE = r"""
import base64, json, os, selectors, shutil, signal, subprocess, sys, time

ME = os.getpid()
UID = os.getuid()

def reap():
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass

def others():
    n = 0
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != ME:
            try:
                n += os.stat("/proc/" + name).st_uid == UID
            except OSError:
                pass
    return n

def kill_others():
    for _ in range(400):
        try:
            os.kill(-1, signal.SIGKILL)  # every process we may signal, except ourselves
        except OSError:
            pass
        reap()
        if not others():
            return True
        time.sleep(0.005)
    return False

def run(req):
    env = dict(os.environ, **req.get("env", {}))
    limit, deadline = req["limit"], time.monotonic() + req["timeout"]
    proc = subprocess.Popen(["bash", "-c", req["cmd"]], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, cwd=req["cwd"], env=env)
    kept = {1: bytearray(), 2: bytearray()}
    dropped = {1: 0, 2: 0}
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, 1)
    sel.register(proc.stderr, selectors.EVENT_READ, 2)
    timed_out = False
    while sel.get_map():
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        for key, _ in sel.select(min(left, 0.5)):
            data = os.read(key.fd, 65536)
            if not data:
                sel.unregister(key.fileobj)
                continue
            buf, room = kept[key.data], limit - len(kept[key.data])
            buf += data[:max(room, 0)]
            dropped[key.data] += max(0, len(data) - max(room, 0))
    if not timed_out:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
    if timed_out:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        kill_others()
    rc = proc.wait()
    sel.close()
    proc.stdout.close()
    proc.stderr.close()
    return {"rc": rc if rc >= 0 else 128 - rc, "timed_out": timed_out,
            "out": base64.b64encode(bytes(kept[1])).decode(),
            "err": base64.b64encode(bytes(kept[2])).decode(),
            "dropped": dropped[1] + dropped[2]}

def wipe(folders):
    for top in folders:
        for root, dirs, files in os.walk(top):
            for d in dirs:
                try:
                    os.chmod(os.path.join(root, d), 0o700)
                except OSError:
                    pass
        for name in os.listdir(top):
            path = os.path.join(top, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass
    return not any(os.listdir(top) for top in folders)

def answer(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()

for line in sys.stdin:
    req = json.loads(line)
    try:
        if req["op"] == "run":
            answer(run(req))
        elif req["op"] == "reset":
            answer({"ok": kill_others() and wipe(req["folders"])})
        else:
            answer({"ok": True, "pid": ME})
    except Exception as e:
        answer({"error": type(e).__name__ + ": " + str(e)})
"""


class AgentLost(Exception):
    """The executor did not answer (killed by a command, hung, or the container died)."""


class AgentClient:
    """The host side of one container's executor: one request at a time."""

    def __init__(self, cid: str, user: str, workdir: str) -> None:
        api = docker_client().api
        self.cid = cid
        try:
            ex = api.exec_create(
                cid, ["python3", "-u", "-I", "-c", AGENT_SOURCE], stdin=True, user=user, workdir=workdir
            )
            sock = api.exec_start(ex["Id"], socket=True)
        except Exception as e:  # noqa: BLE001
            raise AgentLost(f"cannot start the executor: {e}") from e
        self._sock: socket.socket = getattr(sock, "_sock", sock)
        self._keep = sock  # the SocketIO wrapper owns the connection; keep it alive
        self._frames = b""
        self._lines = b""
        self.request({"op": "ping"}, timeout=30)

    def request(self, obj: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request and wait up to ``timeout`` seconds for its answer."""
        deadline = time.monotonic() + timeout
        try:
            self._sock.sendall(json.dumps(obj).encode() + b"\n")
            while b"\n" not in self._lines:
                self._read_frame(deadline)
        except (OSError, ValueError) as e:
            self.close()
            raise AgentLost(f"the executor stopped answering: {e}") from e
        line, self._lines = self._lines.split(b"\n", 1)
        reply = json.loads(line)
        if "error" in reply:
            raise AgentLost(f"the executor failed: {reply['error']}")
        return reply

    def _recv(self, n: int, deadline: float) -> bytes:
        while len(self._frames) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer before the deadline")
            self._sock.settimeout(left)
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the executor exited")
            self._frames += chunk
        data, self._frames = self._frames[:n], self._frames[n:]
        return data

    def _read_frame(self, deadline: float) -> None:
        """One multiplexed frame of the exec stream: 8-byte header (stream, size), then payload."""
        stream, size = struct.unpack(">BxxxL", self._recv(8, deadline))
        payload = self._recv(size, deadline)
        if stream == 1:
            self._lines += payload

    def close(self) -> None:
        for closer in (self._sock.close, self._keep.close):
            with contextlib.suppress(Exception):  # already closed
                closer()

    @staticmethod
    def decode(reply: dict[str, Any], key: str) -> bytes:
        return base64.b64decode(reply[key])


_agents: dict[str, AgentClient] = {}
_agents_lock = threading.Lock()


def agent_for(cid: str, workdir: str) -> AgentClient | None:
    """The container's executor, started on first use; None when it cannot start (use exec)."""
    with _agents_lock:
        agent = _agents.get(cid)
    if agent is not None:
        return agent
    try:
        agent = AgentClient(cid, user="1000:1000", workdir=workdir)
    except AgentLost:
        return None
    with _agents_lock:
        _agents[cid] = agent
    return agent


def drop_agent(cid: str) -> None:
    """Forget (and disconnect) a container's executor: it died or its container is going away."""
    with _agents_lock:
        agent = _agents.pop(cid, None)
    if agent is not None:
        agent.close()


on_forget(drop_agent)


def _agent_reset(cid: str, workdir: str) -> bool:
    """Reset through the executor (fast); False when it could not, so the caller falls back."""
    agent = agent_for(cid, workdir)
    if agent is None:
        return False
    try:
        return bool(agent.request({"op": "reset", "folders": [workdir, "/tmp"]}, timeout=30).get("ok"))
    except AgentLost:
        drop_agent(cid)
        return False


def reset_container(cid: str, workdir: str) -> bool:
    """Kill the user's processes and empty the work dir and /tmp; False means discard it.

    Through the container's executor when it answers, else with a ``docker exec``.
    """
    return _agent_reset(cid, workdir) or exec_reset(cid, workdir)
