"""The ``sandboxes`` plugin: registers the ``docker`` and ``bwrap`` backends and ``pivotrl sandbox``."""

from __future__ import annotations

from typing import Any

from pivotrl_core import Register, hookimpl

from .bwrap_backend import BwrapSandbox
from .cli import sandbox_group
from .docker_backend import DockerSandbox


@hookimpl
def pivotrl_register_sandboxes(register: Register) -> None:
    register(DockerSandbox, name="docker", description="containers on a Docker engine, warm pool")
    register(BwrapSandbox, name="bwrap", description="bubblewrap namespaces, no daemon needed")


@hookimpl
def pivotrl_register_commands(cli: Any) -> None:
    if "sandbox" not in cli.commands:
        cli.add_command(sandbox_group)
