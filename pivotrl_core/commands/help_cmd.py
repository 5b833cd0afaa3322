"""``pivotrl help [TOPIC]``: the documentation pages, shipped inside the package.

``pivotrl_core/docs`` is a link to the repository's ``docs/`` folder; a built wheel carries the
pages as package data, so an error's "see `pivotrl help TOPIC`" works wherever pivotrl is installed.
"""

from __future__ import annotations

import difflib
from importlib import resources
from importlib.resources.abc import Traversable

import click

from ..errors import ConfigError

__all__ = ["COMMANDS", "doc_topics", "read_topic"]


def _root() -> Traversable:
    return resources.files("pivotrl_core") / "docs"


def _walk(node: Traversable, prefix: str = "") -> dict[str, Traversable]:
    out: dict[str, Traversable] = {}
    if not node.is_dir():
        return out
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.is_dir():
            out.update(_walk(child, f"{prefix}{child.name}/"))
        elif child.name.endswith(".md"):
            out[prefix + child.name[: -len(".md")]] = child
    return out


def doc_topics() -> dict[str, Traversable]:
    """``{"trainer": <page>, "domains/terminal": <page>, ...}`` for every packaged page."""
    return _walk(_root())


def read_topic(topic: str) -> str:
    """The Markdown text of one page; an unknown topic is a :class:`ConfigError` listing close ones."""
    pages = doc_topics()
    key = topic.strip().removesuffix(".md").removeprefix("docs/")
    if key not in pages:
        close = difflib.get_close_matches(key, list(pages), n=3, cutoff=0.4)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise ConfigError(f"no help topic {topic!r}; {hint}`pivotrl help` lists them", flag="TOPIC")
    return pages[key].read_text(encoding="utf-8")


@click.command("help")
@click.argument("topic", required=False)
def help_command(topic: str | None) -> None:
    """Print a documentation page (TOPIC, e.g. trainer, cli, domains/terminal), or list them."""
    if topic is None:
        pages = doc_topics()
        if not pages:
            raise ConfigError("this installation ships no documentation pages")
        click.echo("Help topics (pivotrl help TOPIC):")
        for name, page in pages.items():
            lines = page.read_text(encoding="utf-8").splitlines()
            title = next((x.lstrip("# ").strip() for x in lines if x.startswith("#")), "")
            click.echo(f"  {name:<24} {title}")
        return
    text = read_topic(topic)
    if click.get_text_stream("stdout").isatty():
        click.echo_via_pager(text)
    else:
        click.echo(text)


COMMANDS = [help_command]
