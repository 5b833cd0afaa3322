"""The shape of the code, held by measure: size budgets and no hidden (function-level) imports.

The import layering itself is import-linter's contract in ``pyproject.toml`` (``make lint`` and
CI run ``lint-imports``); these tests hold what it does not: how big modules and functions may
grow, and that no module of the project imports another of its own modules inside a function
(the way circles used to hide), except the named lazy heavy modules below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [
    ROOT / "pivotrl_core",
    *sorted(p for p in (ROOT / "plugins").glob("*/pivotrl_*") if p.is_dir()),
    ROOT / "sandboxes" / "pivotrl_sandboxes",
]
OWN = ("pivotrl_core", "pivotrl_")

MODULE_LINES = 400
FUNCTION_LINES = 60
SPECIAL_BUDGETS = {
    "pivotrl_core/hookspecs.py": 120,
    "pivotrl_core/train/grpo.py": 300,
}
LOADER_AND_REGISTRY = ("pivotrl_core/plugin_loader.py", "pivotrl_core/registry.py")
LOADER_AND_REGISTRY_BUDGET = 250

LAZY_HEAVY = {
    # project modules that pull torch/transformers/vllm/docker/ray at import time; a function may
    # import these lazily so that `pivotrl --help` and plugin discovery stay fast
    "pivotrl_core.policies.hf",
    "pivotrl_core.policies.hf_sampler",
    "pivotrl_core.policies.prefix_store",
    "pivotrl_core.policies.vllm_policy",
    "pivotrl_core.policies.tiny",
    "pivotrl_core.train",
}


def _files() -> list[Path]:
    return [f for pkg in PACKAGES for f in sorted(pkg.rglob("*.py"))]


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _module_name(path: Path) -> str:
    parts = list(path.with_suffix("").parts)
    for i, part in enumerate(parts):
        if part.startswith("pivotrl_"):
            parts = parts[i:]
            break
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _target(node: ast.Import | ast.ImportFrom, module: str, is_pkg: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level == 0:
        return [node.module or ""]
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return [".".join([*base, node.module]) if node.module else ".".join(base)]


def _lines(node: ast.AST) -> int:
    return node.end_lineno - node.lineno + 1  # type: ignore[attr-defined]


def test_module_size_budgets() -> None:
    over = []
    for f in _files():
        n = len(f.read_text().splitlines())
        budget = SPECIAL_BUDGETS.get(_rel(f), MODULE_LINES)
        if n > budget:
            over.append(f"{_rel(f)}: {n} lines > {budget}")
    assert not over, "modules over budget:\n" + "\n".join(over)


def test_loader_and_registry_budget() -> None:
    """The loader (plugin_loader.py) and the registry together; the process-wide singletons
    (plugins.py) and the status records (plugin_status.py) are modules of their own."""
    total = sum(len((ROOT / p).read_text().splitlines()) for p in LOADER_AND_REGISTRY)
    assert total <= LOADER_AND_REGISTRY_BUDGET, f"plugin_loader.py + registry.py: {total} lines"


def test_function_size_budget() -> None:
    over = []
    for f in _files():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _lines(node) > FUNCTION_LINES:
                over.append(f"{_rel(f)}:{node.lineno} {node.name}: {_lines(node)} lines")
    assert not over, f"functions over {FUNCTION_LINES} lines:\n" + "\n".join(over)


def _function_level_imports(path: Path) -> list[str]:
    module = _module_name(path)
    found = []
    for fn in ast.walk(ast.parse(path.read_text())):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _target(node, module, path.name == "__init__.py"):
                own = target.startswith(OWN)
                lazy = any(target == m or target.startswith(m + ".") for m in LAZY_HEAVY)
                if own and not lazy:
                    found.append(f"{_rel(path)}:{node.lineno} imports {target} inside {fn.name}()")
    return found


def test_no_function_level_imports_of_own_modules() -> None:
    found = [hit for f in _files() for hit in _function_level_imports(f)]
    assert not found, "function-level imports of project modules:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n    from .registry import get_registry\n", 1),
        ("def f():\n    import torch\n", 0),
        ("from .registry import get_registry\n", 0),
        ("def f():\n    from pivotrl_core.policies.hf import HFPolicy\n", 0),
    ],
)
def test_the_import_counter_sees_what_it_should(tmp_path: Path, source: str, expected: int) -> None:
    pkg = tmp_path / "pivotrl_core"
    pkg.mkdir()
    f = pkg / "mod.py"
    f.write_text(source)
    assert len(_function_level_imports_at(f, tmp_path)) == expected


def _function_level_imports_at(path: Path, root: Path) -> list[str]:
    global ROOT
    saved, ROOT = ROOT, root
    try:
        return _function_level_imports(path)
    finally:
        ROOT = saved


FAMILY_WORDS = ("llama", "qwen", "mistral", "gemma", "phi3", "olmo", "gpt-oss", "gpt_oss", "harmony")
# the parser table, the packaged-model catalogue (names SmolLM2's package) and the tiny test model
FAMILY_ALLOWED = {"policies/tool_formats.py", "policies/tool_parsers.py", "policies/tiny.py"}


def _code_strings_and_names(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants other than docstrings, and attribute/variable names, with their lines."""
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings:
            out.append((n.lineno, n.value))
        elif isinstance(n, ast.Attribute):
            out.append((n.lineno, n.attr))
        elif isinstance(n, ast.Name):
            out.append((n.lineno, n.id))
    return out


def test_no_module_branches_on_a_model_family_outside_the_parser_table() -> None:
    """Family knowledge lives in the tool-call parser table only: no ``model_type`` checks and no
    family names in code (docstrings may mention them) anywhere else in the core."""
    core = ROOT / "pivotrl_core"
    found = []
    for path in sorted(core.rglob("*.py")):
        rel = path.relative_to(core).as_posix()
        if rel in FAMILY_ALLOWED:
            continue
        for line, text in _code_strings_and_names(ast.parse(path.read_text(encoding="utf-8"))):
            low = text.lower()
            if low == "model_type" or any(w in low for w in FAMILY_WORDS):
                found.append(f"{rel}:{line}: {text[:60]!r}")
    assert not found, "model-family knowledge outside the parser table:\n" + "\n".join(found)
