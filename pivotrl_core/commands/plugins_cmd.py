"""``pivotrl plugins`` and the listing commands (``domains``, ``verifiers``, ...)."""

from __future__ import annotations

import json

import click

from ..hookspecs import KINDS
from ..plugins import get_registry, plugin_infos
from ..registry import Registry


def registered_by_plugin(registry: Registry) -> dict[str, dict[str, list[str]]]:
    """``{plugin: {kind: [names]}}``: what each plugin registered."""
    out: dict[str, dict[str, list[str]]] = {}
    for kind in KINDS:
        for e in registry.entries(kind):
            out.setdefault(e.plugin, {}).setdefault(kind, []).append(e.name)
    return out


@click.command("plugins")
def plugins_command() -> None:
    """Print every plugin as JSON: name, version, hooks, what it registered, error."""
    registered = registered_by_plugin(get_registry())
    rows = []
    for name, info in sorted(plugin_infos().items()):
        rows.append(
            {
                "name": name,
                "distribution": info.distribution,
                "version": info.version,
                "builtin": info.builtin,
                "hooks": info.hooks,
                "registered": registered.get(name, {}),
                "error": info.error,
            }
        )
    click.echo(json.dumps(rows, indent=2))


def _lister(kind: str) -> click.Command:
    plural = {"policy": "policies", "sandbox": "sandboxes"}.get(kind, kind + "s")

    @click.command(plural, help=f"List the registered {plural} and the plugin of each.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
    def _cmd(as_json: bool) -> None:
        entries = get_registry().entries(kind)
        if as_json:
            click.echo(json.dumps([{"name": e.name, "plugin": e.plugin} for e in entries], indent=2))
            return
        for e in entries:
            desc = getattr(e.obj, "description", "") or (getattr(e.obj, "__doc__", "") or "").strip()
            click.echo(f"{e.name:<20} {e.plugin:<24} {desc.splitlines()[0] if desc else ''}")

    return _cmd


COMMANDS = [plugins_command, *(_lister(k) for k in KINDS)]
