"""Sandbox backends for pivotrl: ``docker`` (a real engine via the docker SDK, warm pool) and
``bwrap`` (bubblewrap). Both implement :class:`pivotrl_core.sandbox.Sandbox`; see
``docs/sandboxes.md`` for the threat model and configuration."""

from __future__ import annotations

from .build import Recipe, build_image, build_rootfs
from .bwrap_backend import BwrapSandbox
from .containers import reap_containers
from .docker_backend import DockerSandbox
from .pool import DockerPool, close_pools, get_pool

__all__ = [
    "BwrapSandbox",
    "DockerPool",
    "DockerSandbox",
    "Recipe",
    "build_image",
    "build_rootfs",
    "close_pools",
    "get_pool",
    "reap_containers",
]
__version__ = "0.1.0"
