"""The CLI's one error boundary, `pivotrl help`, and the packaging facts a library user relies on."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pivotrl_core.cli import build_cli, cli, error_message
from pivotrl_core.commands._options import check_io, resume_options
from pivotrl_core.commands.help_cmd import doc_topics, read_topic
from pivotrl_core.errors import ConfigError, InputError, PluginError, help_hint

ROOT = Path(__file__).resolve().parents[1]
PIVOTRL = str(Path(sys.executable).with_name("pivotrl"))


@pytest.fixture(scope="module")
def app():
    return build_cli()


def test_os_errors_on_outputs_are_exit_2_naming_the_file(app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("t.jsonl").write_text(
        json.dumps(
            {
                "id": "t",
                "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
            }
        )
        + "\n"
    )
    out = "/proc/self/cannot/o.jsonl"  # the kernel refuses it, even to root
    result = CliRunner().invoke(app, ["extract", "t.jsonl", "-o", out])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: ")
    assert "/proc/self/cannot" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (PermissionError(13, "Permission denied", "out.jsonl"), "out.jsonl: Permission denied"),
        (OSError(28, "No space left on device", "big.jsonl"), "big.jsonl: No space left on device"),
        (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
        (EOFError("Compressed file ended"), "EOFError: Compressed file ended"),
        (InputError("bad", path="a.jsonl", line=3, field="id"), "a.jsonl:3: field 'id': bad"),
        (ConfigError("must be > 0", flag="--k"), "--k: must be > 0"),
        (PluginError("broken"), "broken"),
    ],
)
def test_every_expected_failure_maps_to_exit_2(exc, message):
    text, code = error_message(exc)
    assert code == 2 and message in text


def test_a_bug_keeps_its_traceback(app):
    @cli.command("boom-for-test", hidden=True)
    def boom() -> None:
        raise ZeroDivisionError("a bug")

    try:
        result = CliRunner().invoke(app, ["boom-for-test"])
        assert isinstance(result.exception, ZeroDivisionError)  # not swallowed into "Error: ..."
    finally:
        cli.commands.pop("boom-for-test", None)


def test_help_lists_and_prints_the_packaged_pages(app):
    topics = doc_topics()
    assert {"cli", "trainer", "profiling", "domains/terminal"} <= set(topics)
    listing = CliRunner().invoke(app, ["help"])
    assert listing.exit_code == 0 and "trainer" in listing.output
    page = CliRunner().invoke(app, ["help", "trainer"])
    assert page.exit_code == 0
    assert page.output.strip() == (ROOT / "docs" / "trainer.md").read_text().strip()
    assert read_topic("docs/cli.md") == (ROOT / "docs" / "cli.md").read_text()
    bad = CliRunner().invoke(app, ["help", "trainr"])
    assert bad.exit_code == 2 and "did you mean 'trainer'" in bad.output
    assert help_hint("trainer") == "see `pivotrl help trainer`"


def test_no_message_points_at_a_docs_file_a_wheel_does_not_ship():
    """Error messages say `pivotrl help TOPIC`, never ``docs/x.md`` (absent from an installed wheel)."""
    offenders = []
    for path in (ROOT / "pivotrl_core").rglob("*.py"):
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Raise) and "docs/" in (ast.get_source_segment(source, node) or ""):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_pyproject_declares_ranges_and_constraints_pin_them():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["requires-python"] == ">=3.11"  # transformers 5.x needs 3.11
    deps = meta["dependencies"] + [d for ds in meta["optional-dependencies"].values() for d in ds]
    assert not [d for d in deps if "==" in d and not d.startswith(("pytest",))], (
        "exact pins belong in constraints.txt"
    )
    assert "ray" not in meta["optional-dependencies"] or (ROOT / "pivotrl_core" / "profile_ray.py").is_file()
    pins = {
        line.split("==")[0].lower(): line.split("==")[1]
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    for name in ("transformers", "accelerate", "torch", "pluggy", "openai"):
        assert name in pins, name
    makefile = (ROOT / "Makefile").read_text()
    installs = [
        line for line in makefile.splitlines() if "pip install" in line and "--upgrade pip" not in line
    ]
    assert installs and all("$(PIN)" in line for line in installs)


def test_plugin_file_errors_through_the_console_script(tmp_path):
    """The real entry point (not CliRunner): a broken --plugin file is exit 2, no traceback."""
    bad = tmp_path / "bad.py"
    bad.write_text("def broken(:\n")
    out = subprocess.run([PIVOTRL, "--plugin", str(bad), "plugins"], capture_output=True, text=True)
    assert out.returncode == 2 and "bad.py" in out.stderr and "Traceback" not in out.stderr


def test_resume_options_pass_one_mode():
    @click.command()
    @resume_options
    def cmd(resume_mode: str) -> None:
        click.echo(resume_mode)

    runner = CliRunner()
    assert runner.invoke(cmd, []).output.strip() == "resume"
    assert runner.invoke(cmd, ["--fresh"]).output.strip() == "fresh"
    assert runner.invoke(cmd, ["--force-resume"]).output.strip() == "force"
    both = runner.invoke(cmd, ["--fresh", "--force-resume"])
    assert both.exit_code == 2 and "cannot be used together" in both.output


def test_check_io_runs_before_any_work(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("{}\n")
    with pytest.raises(InputError, match="no such file"):
        check_io(tmp_path / "o.jsonl", [tmp_path / "missing.jsonl"])
    with pytest.raises(ConfigError, match="given twice"):
        check_io(tmp_path / "o.jsonl", [src, tmp_path / "." / "in.jsonl"])
    with pytest.raises(ConfigError, match="is also an input"):
        check_io(src, [src])
    check_io(tmp_path / "new" / "o.jsonl", [src])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
