"""Helpers for tests that run real sandboxes (pivotrl's own and plugins').

``TIGHT`` is a spec with small limits that keeps abuse tests fast; :func:`unavailable` says why a
backend cannot run here (``None`` when it can), for ``pytest.skip`` messages.
"""

from __future__ import annotations

from pivotrl_core import SandboxSpec, get_registry

__all__ = ["TIGHT", "unavailable"]

TIGHT = SandboxSpec(
    memory_mb=96, pids=48, timeout_s=3.0, output_limit_bytes=64 << 10, disk_mb=8, tmp_mb=4, cpus=1.0
)


def unavailable(backend: str) -> str | None:
    """Why ``backend`` cannot run here, or None."""
    cls = get_registry().get("sandbox", backend)
    ok, reason = cls.available()
    return None if ok else reason
