"""``pivotrl sandbox build | reap | doctor | run``."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict

import click
from rich.console import Console

from pivotrl_core import ConfigError, SandboxError, SandboxSpec, open_sandbox, resolve_backend

from .build import Recipe, build_image, build_rootfs
from .bwrap_state import reap_state_dirs
from .containers import reap_containers
from .doctor import run_checks

__all__ = ["sandbox_group"]


@click.group("sandbox")
def sandbox_group() -> None:
    """Build, check and clean up the sandboxes that run model-written commands."""


@sandbox_group.command("build")
@click.option("--force", is_flag=True, help="Rebuild every stage even when it is up to date.")
@click.option("--suite", default="bookworm", show_default=True, help="Debian suite for debootstrap.")
@click.option("--mirror", default="http://deb.debian.org/debian", show_default=True, help="Debian mirror.")
@click.option("--image", default=SandboxSpec().image, show_default=True, help="Name of the final image.")
@click.option(
    "--rootfs-only", is_flag=True, help="Only build the rootfs (for bwrap; no Docker engine needed)."
)
def build_command(force: bool, suite: str, mirror: str, image: str, rootfs_only: bool) -> None:
    """Build the sandbox image offline: debootstrap rootfs -> docker import -> local build.

    Idempotent: stages whose output exists for the same recipe are skipped.
    """
    console = Console(stderr=True)
    recipe = Recipe(suite=suite, mirror=mirror, image=image)
    start = time.monotonic()
    with console.status("building the sandbox image", spinner="dots") as status:

        def log(msg: str) -> None:
            status.update(msg)
            console.log(msg)

        try:
            if rootfs_only:
                build_rootfs(recipe, log=log, force=force)
            else:
                build_image(recipe, log=log, force=force)
        except SandboxError as e:
            raise ConfigError(f"sandbox build failed: {e}") from e
    console.log(f"done in {time.monotonic() - start:.1f} s")


@sandbox_group.command("reap")
@click.option("--all", "everything", is_flag=True, help="Also remove sandboxes of processes still running.")
def reap_command(everything: bool) -> None:
    """Remove leftover sandboxes (containers and bwrap folders) whose owner process is gone."""
    removed: list[str] = []
    try:
        removed += [f"container {c}" for c in reap_containers(everything=everything)]
    except SandboxError as e:
        click.echo(f"docker: skipped ({e})", err=True)
    removed += [f"bwrap {d}" for d in reap_state_dirs(everything=everything)]
    for r in removed:
        click.echo(f"removed {r}")
    click.echo(f"{len(removed)} sandbox(es) removed")


@sandbox_group.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def doctor_command(as_json: bool) -> None:
    """Check the Docker engine, the image, bubblewrap and which backend `auto` picks."""
    checks = run_checks()
    if as_json:
        click.echo(json.dumps([c.to_dict() for c in checks], indent=2))
    else:
        for c in checks:
            click.echo(f"{'ok ' if c.ok else 'NO '} {c.name:<14} {c.detail}")
    if not checks[-1].ok:
        sys.exit(1)


@sandbox_group.command("run")
@click.argument("command")
@click.option("--backend", default=None, help="docker, bwrap or auto (default: $PIVOTRL_SANDBOX or auto).")
@click.option("--timeout", "timeout_s", type=float, default=10.0, show_default=True, help="Seconds.")
@click.option("--memory-mb", type=int, default=256, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the SandboxResult as JSON.")
def run_command(command: str, backend: str | None, timeout_s: float, memory_mb: int, as_json: bool) -> None:
    """Run one shell COMMAND in a fresh sandbox and exit with its status."""
    spec = SandboxSpec(timeout_s=timeout_s, memory_mb=memory_mb)
    name = resolve_backend(backend)
    opts = {"pool": False} if name == "docker" else {}  # one command: a warm pool would be waste
    with open_sandbox(name, spec, **opts) as box:  # type: ignore[attr-defined]
        res = box.run(command)
    if as_json:
        click.echo(json.dumps({"backend": box.name, **asdict(res)}))
    else:
        click.echo(res.stdout, nl=False)
        click.echo(res.stderr, nl=False, err=True)
    sys.exit(res.exit_code)
