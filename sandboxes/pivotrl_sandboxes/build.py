"""Build the sandbox image offline: debootstrap rootfs -> ``docker import`` -> a layered build.

No registry is reachable, so nothing is pulled. Three stages, each skipped when its output
already exists for the same recipe (the recipe hash is in folder names and image labels), so
``pivotrl sandbox build`` is idempotent:

1. **rootfs**: ``debootstrap --variant=minbase --include=python3,procps bookworm`` into the cache
   (:func:`rootfs_root`: ``/var/cache/pivotrl/sandbox`` as root), then users ``sandbox`` (uid 1000,
   runs commands) and ``keeper`` (uid 1001, owns the container's idle process) and the ``/work``
   mount point are added. The ``bwrap`` backend uses this folder as its read-only root.
2. **base image** ``pivotrl/sandbox-base:<hash>``: the rootfs streamed into ``docker import``.
3. **image** ``pivotrl/sandbox-py`` (``SandboxSpec.image``): a local build ``FROM`` the base that
   sets the environment and labels, with ``network_mode=none``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pivotrl_core import ConfigError, SandboxError, cache_dir

from .containers import docker_client

__all__ = ["Recipe", "build_image", "build_rootfs", "image_status", "rootfs_path"]

RECIPE_LABEL = "org.pivotrl.recipe"
SANDBOX_UID = 1000
KEEPER_UID = 1001

LAYER = """FROM {base}
ENV HOME=/tmp LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 \\
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN test "$(id -u sandbox)" = {uid} && python3 -c "print('python ok')" && mkdir -p /work
WORKDIR /work
"""

Log = Callable[[str], None]


@dataclass(frozen=True)
class Recipe:
    """What the image contains. Changing any field changes the hash and triggers a rebuild."""

    suite: str = "bookworm"
    variant: str = "minbase"
    include: tuple[str, ...] = ("python3", "procps")
    mirror: str = "http://deb.debian.org/debian"
    image: str = "pivotrl/sandbox-py"

    def hash(self) -> str:
        blob = json.dumps({**asdict(self), "layer": LAYER, "uids": [SANDBOX_UID, KEEPER_UID], "v": 1})
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def base_image(self) -> str:
        return f"pivotrl/sandbox-base:{self.suite}-{self.hash()}"


def _sandbox_cache() -> Path:
    return cache_dir() / "sandbox"


def rootfs_root() -> Path:
    """Where root file systems live: ``$PIVOTRL_ROOTFS_DIR``; as root ``/var/cache/pivotrl/sandbox``
    (the bwrap backend runs sandboxes as uid 65534, which must be able to reach the rootfs, and
    a home folder such as ``/root`` is closed to it); otherwise ``$PIVOTRL_CACHE/sandbox``."""
    env = os.environ.get("PIVOTRL_ROOTFS_DIR")
    if env:
        return Path(env)
    return Path("/var/cache/pivotrl/sandbox") if os.geteuid() == 0 else _sandbox_cache()


def rootfs_path(recipe: Recipe | None = None) -> Path:
    """Where the recipe's root file system lives (complete only if it has the marker file)."""
    recipe = recipe or Recipe()
    return rootfs_root() / f"rootfs-{recipe.suite}-{recipe.hash()}"


def rootfs_ready(recipe: Recipe | None = None) -> bool:
    return (rootfs_path(recipe) / ".pivotrl-rootfs").is_file()


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    path = _sandbox_cache() / f".{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _add_users(root: Path) -> None:
    with open(root / "etc/passwd", "a") as fh:
        fh.write(f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:/tmp:/bin/bash\n")
        fh.write(f"keeper:x:{KEEPER_UID}:{KEEPER_UID}:keeper:/nonexistent:/usr/sbin/nologin\n")
    with open(root / "etc/group", "a") as fh:
        fh.write(f"sandbox:x:{SANDBOX_UID}:\nkeeper:x:{KEEPER_UID}:\n")
    (root / "work").mkdir(mode=0o755, exist_ok=True)
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for p in (root / junk).glob("*"):
            if p.is_file():
                p.unlink()


def build_rootfs(recipe: Recipe | None = None, log: Log = print, force: bool = False) -> Path:
    """Stage 1: the debootstrap root file system (needs root and Debian's mirror)."""
    recipe = recipe or Recipe()
    target = rootfs_path(recipe)
    with _lock("rootfs"):
        if rootfs_ready(recipe) and not force:
            log(f"rootfs up to date: {target}")
            return target
        if os.geteuid() != 0:
            raise ConfigError(
                "building the rootfs runs debootstrap, which needs root: run `sudo pivotrl sandbox build`"
            )
        if shutil.which("debootstrap") is None:
            raise ConfigError("debootstrap is not installed: `apt-get install debootstrap`")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.parent.chmod(0o755)
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        cmd = [
            "debootstrap", f"--variant={recipe.variant}", f"--include={','.join(recipe.include)}",
            recipe.suite, str(partial), recipe.mirror,
        ]  # fmt: skip
        log(
            f"debootstrap {recipe.suite} ({recipe.variant}, +{','.join(recipe.include)}) from {recipe.mirror}"
        )
        start = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise SandboxError(f"debootstrap failed (exit {proc.returncode}):\n{tail}")
        _add_users(partial)
        (partial / ".pivotrl-rootfs").write_text(json.dumps({**asdict(recipe), "hash": recipe.hash()}))
        partial.rename(target)
        log(f"rootfs built in {time.monotonic() - start:.0f} s: {target}")
        return target


def _client() -> Any:
    return docker_client()


def _image(client: Any, name: str) -> Any | None:
    import docker.errors

    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        return None


def image_status(recipe: Recipe | None = None, client: Any = None) -> str:
    """``ready``, ``stale`` (built from another recipe) or ``missing``."""
    recipe = recipe or Recipe()
    img = _image(client or _client(), recipe.image)
    if img is None:
        return "missing"
    return "ready" if (img.labels or {}).get(RECIPE_LABEL) == recipe.hash() else "stale"


def _import_base(client: Any, recipe: Recipe, root: Path, log: Log) -> None:
    if _image(client, recipe.base_image) is not None:
        log(f"base image up to date: {recipe.base_image}")
        return
    log(f"docker import {root} -> {recipe.base_image}")
    repo, tag = recipe.base_image.rsplit(":", 1)
    tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
    assert tar.stdout is not None
    try:
        client.api.import_image(src=tar.stdout, repository=repo, tag=tag, stream_src=True)
    finally:
        tar.stdout.close()
        tar.wait()
    if _image(client, recipe.base_image) is None:
        raise SandboxError(f"docker import did not produce {recipe.base_image}")


def _build_layer(client: Any, recipe: Recipe, log: Log) -> None:
    log(f"docker build {recipe.image} FROM {recipe.base_image}")
    dockerfile = LAYER.format(base=recipe.base_image, uid=SANDBOX_UID).encode()
    try:
        client.images.build(
            fileobj=io.BytesIO(dockerfile), tag=recipe.image, rm=True, forcerm=True, pull=False,
            network_mode="none", labels={RECIPE_LABEL: recipe.hash()},
        )  # fmt: skip
    except Exception as e:  # docker.errors.BuildError / APIError
        raise SandboxError(f"docker build of {recipe.image} failed: {e}") from e


def build_image(recipe: Recipe | None = None, log: Log = print, force: bool = False) -> str:
    """All three stages (the rootfs is kept for bwrap); returns the image name.

    Idempotent unless ``force``."""
    recipe = recipe or Recipe()
    client = _client()
    with _lock("image"):
        root = build_rootfs(recipe, log=log, force=force)  # also the bwrap backend's root
        if not force and image_status(recipe, client) == "ready":
            log(f"image up to date: {recipe.image} (recipe {recipe.hash()})")
            return recipe.image
        if force and _image(client, recipe.base_image) is not None:
            client.images.remove(recipe.base_image, force=True)
        _import_base(client, recipe, root, log)
        _build_layer(client, recipe, log)
        log(f"image ready: {recipe.image} (recipe {recipe.hash()})")
        return recipe.image
