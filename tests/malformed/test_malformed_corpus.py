"""Run the malformed-input corpus in-process: every case exits 2 with ``Error: <place>: ...``,
prints no traceback and leaves the folder exactly as it was (nothing written, nothing changed)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from malformed_cases import Case, all_cases, fixture_files

from pivotrl_core.cli import build_cli, cli
from pivotrl_core.plugins import set_plugin_manager
from pivotrl_core.testing import use_plugin_manager

CASES = all_cases()


@pytest.fixture(autouse=True)
def _restore_plugin_manager():
    """Each case builds a manager without tau2 (``PIVOTRL_DISABLE_PLUGINS``); put the previous one back after,
    or later tests in the same session find a process-wide manager that lacks the tau2 entry point."""
    with use_plugin_manager():
        yield


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


def _materialise(root: Path, case: Case) -> None:
    for name, content in {**fixture_files(), **case.files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def test_the_corpus_is_large_and_covers_every_command() -> None:
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)
    firsts = {c.args[2] if c.args[0] == "--plugin" else c.args[0] for c in CASES}
    wanted = {"extract", "export", "profile", "select", "train", "sft", "eval", "verify", "check-verifier"}
    assert wanted | {"serve", "run", "help"} <= firsts


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_is_a_clean_exit_2(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIVOTRL_DISABLE_PLUGINS", "tau2")
    _materialise(tmp_path, case)
    before = _snapshot(tmp_path)
    set_plugin_manager(None)
    build_cli()
    result = CliRunner().invoke(cli, case.args, catch_exceptions=True)
    out = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{case.id}: raised {type(result.exception).__name__}: {result.exception}"
    )
    assert "Traceback" not in out, out
    assert result.exit_code == 2, f"{case.id}: exit {result.exit_code}\n{out}"
    errors = [line for line in out.splitlines() if line.startswith("Error: ")]
    assert errors, out
    assert re.search(case.expect, errors[-1]), f"{case.id}: {errors[-1]!r} does not match {case.expect!r}"
    assert _snapshot(tmp_path) == before, f"{case.id}: files were written or changed"
