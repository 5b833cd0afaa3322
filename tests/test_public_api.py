"""First-party plugins import the core only as ``from pivotrl_core import <name in __all__>``.

Plugins stand above the core and see it only through its public API, so the core's modules can
move without breaking them. Every import counts: module level or inside a function, plus
``importlib.import_module("pivotrl_core....")`` strings. Tests of plugins may import anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pivotrl_core

ROOT = Path(__file__).resolve().parents[1]


def plugin_sources() -> list[Path]:
    """Every module of a first-party plugin package (not its tests)."""
    packages = [*ROOT.glob("plugins/*/pivotrl_*"), ROOT / "sandboxes" / "pivotrl_sandboxes"]
    return sorted(p for pkg in packages if pkg.is_dir() for p in pkg.rglob("*.py") if "tests" not in p.parts)


def core_imports_outside_api(source: str, public: set[str]) -> list[tuple[int, str]]:
    """``(line, what)`` for every way ``source`` reaches the core other than the public names.

    ``from pivotrl_core import X`` and ``import pivotrl_core`` followed by ``pivotrl_core.X`` (the
    way to keep a lazy name lazy) are fine when ``X`` is public; a submodule is never.
    """
    tree = ast.parse(source)
    aliases = {
        a.asname or a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import)
        for a in n.names
        if a.name == "pivotrl_core"
    }
    bad: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bad += [
                (node.lineno, f"import {a.name}") for a in node.names if a.name.startswith("pivotrl_core.")
            ]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("pivotrl_core."):
                bad.append((node.lineno, f"from {node.module} import ..."))
            elif node.module == "pivotrl_core":
                bad += [
                    (node.lineno, f"from pivotrl_core import {a.name}")
                    for a in node.names
                    if a.name not in public
                ]
        elif (
            isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
        ):
            if node.attr not in public:
                bad.append((node.lineno, f"pivotrl_core.{node.attr}"))
        elif isinstance(node, ast.Call) and any(
            isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.startswith("pivotrl_core.")
            for a in node.args
        ):
            bad.append((node.lineno, "dynamic import of a core module"))
    return sorted(bad)


def test_the_checker_catches_every_way_in() -> None:
    public = {"Verdict", "cache_dir"}
    src = (
        "import pivotrl_core\nimport pivotrl_core.types as t\nfrom pivotrl_core.types import Verdict\n"
        "from pivotrl_core import Verdict, _LAZY\n"
        "def f():\n    from pivotrl_core.registry import Registry\n"
        "    importlib.import_module('pivotrl_core.extract')\n"
        "from . import sibling\nfrom pivotrl_tool_use import x\n"
        "pivotrl_core.cache_dir()\npivotrl_core.plugins.get_registry()\n"
    )
    lines = [line for line, _ in core_imports_outside_api(src, public)]
    assert lines == [2, 3, 4, 6, 7, 11], core_imports_outside_api(src, public)


def test_plugins_exist() -> None:
    names = {p.parts[-2] for p in plugin_sources() if p.name == "__init__.py"}
    assert {"pivotrl_tool_use", "pivotrl_terminal", "pivotrl_sandboxes"} <= names


@pytest.mark.parametrize("path", plugin_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_plugin_imports_only_the_public_api(path: Path) -> None:
    public = set(pivotrl_core.__all__)
    bad = core_imports_outside_api(path.read_text(), public)
    where = "\n".join(f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in bad)
    assert not bad, f"import these from `pivotrl_core` (its __all__) instead:\n{where}"


def test_every_public_name_resolves() -> None:
    for name in pivotrl_core.__all__:
        assert getattr(pivotrl_core, name) is not None, name
