"""Where the ``bwrap`` backend keeps its per-session state, and how leftovers are cleaned.

Each session has a folder ``pivotrl-bwrap-<session>`` under :func:`state_root` holding its owner
pid, a private ``/etc`` and one ``sbx-*`` folder per sandbox (cgroups and mounts recorded in its
``meta.json``). Cleaning never deletes through a mount point.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import cgroups
from .session import owner_alive

__all__ = ["cleanup_sandbox", "cleanup_state_dir", "mounts_under", "reap_state_dirs", "state_root"]


def state_root() -> Path:
    return Path(os.environ.get("PIVOTRL_SANDBOX_DIR") or tempfile.gettempdir())


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def cleanup_sandbox(folder: Path) -> None:
    """Remove one sandbox folder: its cgroups, its mounts, then the folder."""
    meta_file = folder / "meta.json"
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    cgroups.remove(cgroups.CgroupSet([Path(p) for p in meta.get("cgroups", [])]))
    for m in meta.get("mounts", []):
        _umount(Path(m))
    _safe_rmtree(folder)


def mounts_under(folder: Path) -> list[Path]:
    """Mount points at or below ``folder`` (from /proc/self/mountinfo), deepest first."""
    base = str(folder.resolve())
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point == base or point.startswith(base + "/"):
                found.append(Path(point))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def _safe_rmtree(folder: Path) -> bool:
    """Delete ``folder`` only when nothing is mounted below it (never delete through a mount)."""
    for _ in range(10):
        mounted = mounts_under(folder)
        if not mounted:
            shutil.rmtree(folder, ignore_errors=True)
            return True
        for m in mounted:
            _umount(m)
    return False


def cleanup_state_dir(folder: str | Path) -> None:
    """Remove one session's bwrap state: kill leftovers, remove cgroups, unmount, delete."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for sub in folder.glob("sbx-*"):
        cleanup_sandbox(sub)
    _safe_rmtree(folder)


def reap_state_dirs(everything: bool = False) -> list[str]:
    """Clean the state folders of sessions whose owner is gone (or all with ``everything``)."""
    removed = []
    for folder in state_root().glob("pivotrl-bwrap-*"):
        try:
            owner = (folder / "owner").read_text().strip()
        except OSError:
            owner = ""
        if everything or not owner_alive(owner):
            cleanup_state_dir(folder)
            removed.append(folder.name)
    return removed
