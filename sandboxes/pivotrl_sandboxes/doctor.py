"""``pivotrl sandbox doctor``: what works on this machine, and why not."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any

from pivotrl_core import PivotrlError, SandboxError, SandboxSpec, get_registry, resolve_backend

from .build import Recipe, image_status, rootfs_path, rootfs_ready
from .bwrap_backend import BwrapSandbox
from .containers import docker_client

__all__ = ["Check", "run_checks"]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


def _docker_checks() -> list[Check]:
    checks: list[Check] = []
    try:
        import docker

        checks.append(Check("docker SDK", True, f"docker {docker.__version__}"))
    except ImportError:
        return [Check("docker SDK", False, "not installed: pip install docker")]
    try:
        client = docker_client()
    except SandboxError as e:
        return [*checks, Check("docker engine", False, f"{e}; start dockerd (see docs/sandboxes.md)")]
    checks.append(Check("docker engine", True, f"server {client.version().get('Version', '?')}"))
    recipe = Recipe()
    status = image_status(recipe, client)
    fix = "" if status == "ready" else ": run `pivotrl sandbox build`"
    checks.append(
        Check("docker image", status == "ready", f"{recipe.image} {status} (recipe {recipe.hash()}){fix}")
    )
    if status != "missing":
        checks.append(_probe("docker run", "docker"))
    return checks


def _probe(name: str, backend: str) -> Check:
    try:
        with get_registry().sandbox(backend, spec=SandboxSpec(timeout_s=10), **_no_pool(backend)) as box:
            res = box.run("echo ok; id -u")
    except Exception as e:  # noqa: BLE001 - report any failure
        return Check(name, False, f"{type(e).__name__}: {e}")
    ok = res.ok and res.stdout.split() == ["ok", "1000"]
    return Check(
        name, ok, f"exit {res.exit_code} in {res.duration_s * 1000:.0f} ms, uid {res.stdout.split()[-1:]}"
    )


def _no_pool(backend: str) -> dict[str, Any]:
    return {"pool": False} if backend == "docker" else {}


def _bwrap_checks() -> list[Check]:
    ok, reason = BwrapSandbox.available()
    checks = [Check("bubblewrap", ok, reason)]
    root = rootfs_path()
    checks.append(
        Check(
            "rootfs", rootfs_ready(), str(root) if rootfs_ready() else "not built (bwrap uses the host /usr)"
        )
    )
    if ok:
        checks.append(_probe("bwrap run", "bwrap"))
    return checks


def run_checks() -> list[Check]:
    """Every check, in order; the last says which backend ``auto`` picks."""
    checks = _docker_checks() + _bwrap_checks()
    checks.append(
        Check("root", os.geteuid() == 0, "root: cgroups and tmpfs quotas for bwrap" if os.geteuid() == 0 else
              "not root: bwrap falls back to rlimits")
    )  # fmt: skip
    checks.append(
        Check("debootstrap", shutil.which("debootstrap") is not None, "needed by `pivotrl sandbox build`")
    )
    try:
        checks.append(Check("auto backend", True, resolve_backend("auto")))
    except PivotrlError as e:
        checks.append(Check("auto backend", False, str(e)))
    return checks
