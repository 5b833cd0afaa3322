"""The docker warm pool: reuse after reset, speed, concurrency."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from pivotrl_sandboxes import DockerSandbox
from pivotrl_sandboxes.pool import DockerPool
from pivotrl_sandboxes.testing import TIGHT

pytestmark = pytest.mark.docker


@pytest.fixture
def pool(docker_ready: None):  # noqa: ANN201
    p = DockerPool(TIGHT.replace(memory_mb=97), size=2)  # a spec of its own: no other test shares it
    yield p
    p.close()


def _use(pool: DockerPool, command: str) -> tuple[str, str]:
    with DockerSandbox(pool=pool) as box:
        return box.container_id, box.run(command).stdout


def test_released_container_is_reset_and_reused(pool: DockerPool) -> None:
    pool.warm()
    assert pool.idle == 2
    cid, _ = _use(pool, "echo secret > f; echo t > /tmp/t; (sleep 300 > /dev/null 2>&1 &)")
    pool.settle()
    cid2, out = _use(pool, "ls -A . /tmp | grep -v ':$'; ps -e -o comm= | grep -c sleep")
    assert cid2 == cid  # the same container, handed out again ...
    assert out.split() == ["1"]  # ... with no files and only the keeper's own `sleep infinity`
    assert pool.stats["reset"] >= 1 and pool.stats["discarded"] == 0


def test_warm_acquire_is_much_faster_than_a_cold_start(pool: DockerPool) -> None:
    start = time.perf_counter()
    cid = pool.acquire()  # cold: nothing idle yet
    cold = time.perf_counter() - start
    pool.release(cid)
    pool.settle()
    pool.warm()
    start = time.perf_counter()
    cid = pool.acquire()
    warm = time.perf_counter() - start
    pool.release(cid)
    assert warm * 10 < cold, (warm, cold)


def test_concurrent_users_get_distinct_containers(pool: DockerPool) -> None:
    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(lambda i: _use(pool, f"echo {i} > mine; sleep 0.3; cat mine"), range(4)))
    assert sorted(out for _, out in results) == ["0\n", "1\n", "2\n", "3\n"]
    assert len({cid for cid, _ in results}) == 4


def test_broken_container_is_discarded_not_reused(pool: DockerPool) -> None:
    from pivotrl_sandboxes.containers import docker_client

    cid = pool.acquire()
    docker_client().api.kill(cid)  # the container dies under us: the reset must fail
    pool.release(cid)
    pool.settle()
    assert pool.stats["discarded"] == 1
    assert cid not in pool._idle


def test_close_removes_every_idle_container(pool: DockerPool) -> None:
    import subprocess

    pool.warm()
    ids = list(pool._idle)
    pool.close()
    out = subprocess.run(
        ["docker", "ps", "-aq", "--no-trunc"], capture_output=True, text=True, check=True
    ).stdout
    assert not set(ids) & set(out.split())
