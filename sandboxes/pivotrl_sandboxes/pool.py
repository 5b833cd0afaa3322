"""A warm pool of reset containers for the ``docker`` backend.

A pool keeps ``size`` containers of one spec: idle ones, ones starting, and ones in use (they
come back). ``acquire()`` hands out the most recently reset idle container (or starts one when
none is idle) and starts replacements in the background while the pool is short;
``release()`` resets the container in the background (through its executor: kill every other
process of the sandbox user, empty the work dir and ``/tmp``) and keeps it for the next caller,
or removes it when the reset fails or the pool already holds ``size`` idle containers. One pool per distinct
:meth:`SandboxSpec.key` and size, per process; all are closed at exit.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from pivotrl_core import SandboxSpec

from .agent import agent_for, reset_container
from .containers import create_container, reap_containers, remove_container
from .session import current_session

__all__ = ["DockerPool", "close_pools", "get_pool"]


class DockerPool:
    """Keeps ``size`` containers of one spec (idle and in use); idle ones are reset and ready."""

    def __init__(self, spec: SandboxSpec, size: int = 2) -> None:
        self.spec = spec
        self.size = max(0, size)
        self._idle: list[str] = []
        self._pending = 0  # containers being started for the pool
        self._busy = 0  # handed out and not yet released (they come back after a reset)
        self._lock = threading.Lock()
        self._closed = False
        self._workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pivotrl-pool")
        self._inflight: set[Future[None]] = set()
        self.stats = {"warm": 0, "cold": 0, "reset": 0, "discarded": 0}

    def acquire(self) -> str:
        """A clean container id: warm from the pool when one is idle, else started now."""
        with self._lock:
            cid = self._idle.pop() if self._idle else None
            self.stats["warm" if cid else "cold"] += 1
            self._busy += 1
        if cid is None:
            cid = create_container(self.spec)
        self._top_up()
        return cid

    def release(self, cid: str) -> Future[None] | None:
        """Give a used container back: it is reset in the background, then reused or removed."""
        try:
            fut = self._workers.submit(self._recycle, cid)
        except RuntimeError:  # executor shut down: the pool is closing
            with self._lock:
                self._busy -= 1
            remove_container(cid)
            return None
        with self._lock:
            self._inflight.add(fut)
        fut.add_done_callback(self._done)
        return fut

    def _done(self, fut: Future[None]) -> None:
        with self._lock:
            self._inflight.discard(fut)

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until every release in flight has been reset (or discarded)."""
        with self._lock:
            pending = list(self._inflight)
        for fut in pending:
            fut.result(timeout=timeout)

    def _recycle(self, cid: str) -> None:
        ok = reset_container(cid, self.spec.workdir)
        surplus: list[str] = []
        with self._lock:
            self._busy -= 1
            if ok and not self._closed:
                self._idle.append(cid)  # handed out next (LIFO): the reset container is reused
                self.stats["reset"] += 1
                while len(self._idle) > self.size:
                    surplus.append(self._idle.pop(0))
            else:
                surplus.append(cid)
                self.stats["discarded"] += 1
        for old in surplus:
            remove_container(old)

    def _top_up(self) -> None:
        """Start containers until ``size`` exist (idle, starting or in use: those come back)."""
        with self._lock:
            missing = self.size - len(self._idle) - self._pending - self._busy
            if self._closed or missing <= 0:
                return
            self._pending += missing
        for _ in range(missing):
            try:
                self._workers.submit(self._warm_one)
            except RuntimeError:
                return

    def _warm_one(self) -> None:
        try:
            cid = create_container(self.spec)
            agent_for(cid, self.spec.workdir)  # start the executor now, off the critical path
        except Exception:  # noqa: BLE001 - warming is best effort; acquire() reports real errors
            cid = None
        with self._lock:
            self._pending -= 1
            if cid is not None and not self._closed and len(self._idle) < self.size:
                self._idle.append(cid)
                cid = None
        if cid is not None:
            remove_container(cid)

    def warm(self, wait: bool = True) -> None:
        """Fill the pool now (``wait``: until every idle container has started)."""
        self._top_up()
        if wait:
            self._workers.submit(lambda: None).result()
            while True:
                with self._lock:
                    if self._pending == 0 or self._closed:
                        return
                threading.Event().wait(0.02)

    @property
    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        """Stop warming, wait for resets in flight, remove every idle container."""
        with self._lock:
            self._closed = True
        self._workers.shutdown(wait=True)
        with self._lock:
            idle, self._idle = self._idle, []
        for cid in idle:
            remove_container(cid)


_pools: dict[tuple[object, ...], DockerPool] = {}
_pools_lock = threading.Lock()
_reaped = False


def get_pool(spec: SandboxSpec, size: int = 2) -> DockerPool:
    """The process-wide pool for ``spec`` (created, and orphans reaped, on first use)."""
    global _reaped
    key = (spec.key(), size)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None or pool._closed:
            session = current_session()
            if not _reaped:
                reap_containers()
                _reaped = True
                session.on_exit(close_pools)
            session.watch(docker=True)
            pool = _pools[key] = DockerPool(spec, size)
        return pool


def close_pools() -> None:
    """Close every pool of this process (also run at exit)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()
