"""Fixtures for the sandbox tests: which backends work here (skips say why), tight limits.

This folder does not inherit tests/conftest.py. A backend that cannot run here is skipped
with the reason (``-ra`` prints it), never silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pivotrl_sandboxes.testing import TIGHT, unavailable

from pivotrl_core.sandbox import SandboxSpec

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def docker_ready() -> None:
    """Skip when no Docker engine or no sandbox image is here."""
    reason = unavailable("docker")
    if reason:
        pytest.skip(f"docker backend unavailable: {reason}")


@pytest.fixture(scope="session")
def bwrap_ready() -> None:
    reason = unavailable("bwrap")
    if reason:
        pytest.skip(f"bwrap backend unavailable: {reason}")


BACKENDS = [
    pytest.param("docker", marks=pytest.mark.docker, id="docker"),
    pytest.param("bwrap", marks=pytest.mark.bwrap, id="bwrap"),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each test using it runs once per backend; unavailable backends are skipped with a reason."""
    request.getfixturevalue(f"{request.param}_ready")
    return request.param


@pytest.fixture
def open_box(backend: str) -> Iterator[Callable[..., Any]]:
    """``open_box(spec=TIGHT, **opts)`` opens a sandbox of the current backend; all closed after."""
    from pivotrl_core.plugins import get_registry

    opened: list[Any] = []

    def _open(spec: SandboxSpec = TIGHT, **opts: Any) -> Any:
        if backend == "docker":
            opts.setdefault("pool_size", 1)
        box = get_registry().sandbox(backend, spec=spec, **opts)
        opened.append(box)
        return box

    yield _open
    for box in opened:
        box.close()


@pytest.fixture(scope="session")
def any_backend_name() -> str:
    """The backend ``auto`` picks here; skipped (with the reason) when there is none."""
    from pivotrl_core.errors import ConfigError
    from pivotrl_core.plugins import resolve_backend

    try:
        return resolve_backend("auto")
    except ConfigError as e:
        pytest.skip(str(e))
