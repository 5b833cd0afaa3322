"""The plugin contract: built-ins through hooks, isolation, allow/block lists, entry points, pip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pluggy
import pytest

from pivotrl_core import Domain, hookimpl
from pivotrl_core import plugins as plugin_mod
from pivotrl_core.errors import PluginError, UnknownNameError
from pivotrl_core.plugins import PluginLoadWarning, new_plugin_manager, plugin_infos, set_plugin_manager
from pivotrl_core.registry import get_registry, reset_registry

REPO = Path(__file__).resolve().parents[1]
PIVOTRL = str(Path(sys.executable).with_name("pivotrl"))
EXAMPLE = REPO / "docs" / "plugins" / "example"


def _fake_distribution(root: Path, dist: str, ep_name: str, module: str, source: str) -> None:
    """An installed distribution (dist-info with an entry point) in ``root``, as pip would leave it."""
    info = root / f"{dist.replace('-', '_')}-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[pivotrl]\n{ep_name} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(source))


GOOD = """
    from pivotrl_core import Domain, hookimpl

    @hookimpl
    def pivotrl_register_domains(register):
        register(Domain(name="good-domain", description="from an entry point"))
"""


@pytest.fixture
def site(tmp_path, monkeypatch, pivotrl_pm):
    """A directory on sys.path holding a good and a broken entry-point plugin."""
    root = tmp_path / "site"
    _fake_distribution(root, "good-plugin", "goodthing", "good_plugin_mod", GOOD)
    _fake_distribution(
        root, "broken-plugin", "brokenthing", "broken_plugin_mod", "raise RuntimeError('boom at import')\n"
    )
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PIVOTRL_LOAD_PLUGINS", "goodthing,brokenthing")  # ignore other installed plugins
    monkeypatch.delenv("PIVOTRL_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("PIVOTRL_DISABLE_PLUGINS", raising=False)
    for mod in ("good_plugin_mod", "broken_plugin_mod"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    return root


def _rebuild() -> pluggy.PluginManager:
    plugin_mod._infos.clear()
    pm = new_plugin_manager()
    set_plugin_manager(pm)
    return pm


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIVOTRL_")}
    env.update(HF_HUB_OFFLINE="1", **extra)
    return env


def test_builtins_are_registered_through_the_same_hooks(pivotrl_pm):
    registry = get_registry()
    for name in ("openai", "sharegpt", "nemo-gym"):
        assert registry.entry("format", name).plugin == "formats"
    info = plugin_infos()["formats"]
    assert info.builtin and info.distribution == "pivotrl-core"
    assert info.hooks == ["pivotrl_register_formats"]
    assert pivotrl_pm.get_plugin("formats").pivotrl_register_formats in [
        impl.function for impl in pivotrl_pm.hook.pivotrl_register_formats.get_hookimpls()
    ]


def test_broken_entry_point_plugin_is_one_warning_and_the_rest_works(site):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _rebuild()
        registry = get_registry()
    ours = [w for w in caught if issubclass(w.category, PluginLoadWarning)]
    assert len(ours) == 1, [str(w.message) for w in ours]
    msg = str(ours[0].message)
    assert "brokenthing" in msg and "broken-plugin" in msg and "boom at import" in msg
    assert registry.domain("good-domain").description == "from an entry point"
    assert registry.names("format") == ["nemo-gym", "openai", "sharegpt"]
    infos = plugin_infos()
    assert infos["brokenthing"].error and infos["goodthing"].error is None
    assert (infos["goodthing"].distribution, infos["goodthing"].version) == ("good-plugin", "0.3")


def test_strict_mode_raises_on_a_broken_plugin(site, monkeypatch):
    monkeypatch.setenv("PIVOTRL_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="boom at import"):
        _rebuild()


def test_allow_and_block_lists(site, monkeypatch):
    monkeypatch.setenv("PIVOTRL_LOAD_PLUGINS", "goodthing")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginLoadWarning)  # the broken one is never imported
        _rebuild()
    assert "good-domain" in get_registry().names("domain")
    assert "brokenthing" not in plugin_infos()

    monkeypatch.setenv("PIVOTRL_LOAD_PLUGINS", "goodthing,brokenthing")
    monkeypatch.setenv("PIVOTRL_DISABLE_PLUGINS", "brokenthing,formats")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginLoadWarning)
        _rebuild()
    registry = get_registry()
    assert "good-domain" in registry.names("domain")
    assert registry.names("format") == []  # a built-in can be blocked too
    assert "formats" not in plugin_infos()


class _VerifierA:
    @hookimpl
    def pivotrl_register_verifiers(self, register):
        register(lambda c, a: True, name="dup_check")


class _VerifierB:
    @hookimpl
    def pivotrl_register_verifiers(self, register):
        register(lambda c, a: False, name="dup_check")


def test_duplicate_names_are_rejected_naming_both_plugins(register_plugin, monkeypatch):
    monkeypatch.delenv("PIVOTRL_STRICT_PLUGINS", raising=False)
    register_plugin(_VerifierA(), name="plugin-a")
    with pytest.warns(PluginLoadWarning) as caught:
        registry = register_plugin(_VerifierB(), name="plugin-b")
    msg = " ".join(str(w.message) for w in caught)
    assert "'dup_check'" in msg and "plugin 'plugin-a'" in msg and "plugin 'plugin-b'" in msg
    assert registry.entry("verifier", "dup_check").plugin == "plugin-a"  # the first one stays
    monkeypatch.setenv("PIVOTRL_STRICT_PLUGINS", "1")
    reset_registry()
    with pytest.raises(PluginError, match="registered by both plugin 'plugin-a' and plugin 'plugin-b'"):
        get_registry()


def test_unknown_names_suggest_close_ones(pivotrl_pm):
    with pytest.raises(UnknownNameError) as e:
        get_registry().format("opanai")
    assert "did you mean 'openai'?" in str(e.value)
    assert e.value.exit_code == 2
    with pytest.raises(UnknownNameError) as e:
        get_registry().format("zzzzzz")
    assert "did you mean" not in str(e.value) and "Install the plugin" in str(e.value)


def test_misspelt_hook_name_is_caught(register_plugin):
    class Typo:
        @hookimpl
        def pivotrl_register_domain(self, register):  # missing "s"
            register(Domain(name="never"))

    with pytest.raises(pluggy.PluginValidationError, match="pivotrl_register_domain"):
        register_plugin(Typo(), name="typo")


def test_misspelt_hook_in_an_entry_point_plugin_is_a_warning(site, monkeypatch):
    _fake_distribution(
        site,
        "typo-plugin",
        "typothing",
        "typo_plugin_mod",
        """
        from pivotrl_core import Domain, hookimpl

        @hookimpl
        def pivotrl_register_domain(register):  # missing "s"
            register(Domain(name="never"))
    """,
    )
    monkeypatch.setenv("PIVOTRL_LOAD_PLUGINS", "goodthing,typothing")
    monkeypatch.delitem(sys.modules, "typo_plugin_mod", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = _rebuild()
        registry = get_registry()
    msgs = [str(w.message) for w in caught if issubclass(w.category, PluginLoadWarning)]
    assert len(msgs) == 1 and "typothing" in msgs[0] and "pivotrl_register_domain" in msgs[0], msgs
    assert not pm.has_plugin("typothing")
    assert registry.domain("good-domain").description == "from an entry point"


def test_plugin_file_and_plugins_json(tmp_path):
    plugin = tmp_path / "one_off.py"
    plugin.write_text(
        textwrap.dedent(
            """
        import click
        from pivotrl_core import Domain, hookimpl

        @hookimpl
        def pivotrl_register_domains(register):
            register(Domain(name="one-off", description="from a file"))

        @hookimpl
        def pivotrl_register_commands(cli):
            @cli.command("hello")
            def hello():
                click.echo("hello from a file plugin")
        """
        )
    )
    env = _env(PIVOTRL_LOAD_PLUGINS="")
    out = subprocess.run([PIVOTRL, "--plugin", str(plugin), "hello"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "hello from a file plugin", out.stderr
    out = subprocess.run([PIVOTRL, f"--plugin={plugin}", "plugins"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    mine = rows["file:one_off.py"]
    assert mine["registered"] == {"domain": ["one-off"]} and mine["error"] is None
    assert mine["hooks"] == ["pivotrl_register_commands", "pivotrl_register_domains"]
    formats = rows["formats"]
    assert formats["builtin"] is True and formats["registered"] == {
        "format": ["nemo-gym", "openai", "sharegpt"]
    }
    assert set(formats) == {"name", "distribution", "version", "builtin", "hooks", "registered", "error"}


def test_broken_plugin_file_warns_and_cli_still_works(tmp_path):
    plugin = tmp_path / "broken_file.py"
    plugin.write_text("import does_not_exist_anywhere\n")
    out = subprocess.run(
        [PIVOTRL, "--plugin", str(plugin), "formats", "--json"],
        capture_output=True,
        text=True,
        env=_env(PIVOTRL_LOAD_PLUGINS=""),
    )
    assert out.returncode == 0, out.stderr
    assert [f["name"] for f in json.loads(out.stdout)] == ["nemo-gym", "openai", "sharegpt"]
    warnings_ = [line for line in out.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warnings_) == 1 and "does_not_exist_anywhere" in warnings_[0]


def _pip_install_example(tmp_path: Path) -> Path:
    src = tmp_path / "example-src"
    shutil.copytree(EXAMPLE, src)  # build from a copy: pip leaves build/ and egg-info beside the source
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(src),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return target


def test_example_plugin_installed_with_pip(tmp_path, monkeypatch, pivotrl_pm):
    """The tutorial's plugin (docs/plugins/example), installed by pip, found through its entry point."""
    target = _pip_install_example(tmp_path)
    assert (target / "pivotrl_calculator.py").is_file()
    out = subprocess.run(
        [PIVOTRL, "plugins"],
        capture_output=True,
        text=True,
        env=_env(PYTHONPATH=str(target), PIVOTRL_LOAD_PLUGINS="calculator"),
    )
    assert out.returncode == 0, out.stderr
    row = {r["name"]: r for r in json.loads(out.stdout)}["calculator"]
    assert (row["distribution"], row["version"], row["error"]) == ("pivotrl-calculator", "0.1.0", None)
    assert row["registered"] == {"domain": ["calculator"], "verifier": ["calculator_value"]}
    cands = tmp_path / "c.jsonl"
    out = subprocess.run(
        [PIVOTRL, "extract", str(EXAMPLE / "calculator.jsonl"), "--domain", "calculator", "-o", str(cands)],
        capture_output=True,
        text=True,
        env=_env(PYTHONPATH=str(target), PIVOTRL_LOAD_PLUGINS="calculator"),
    )
    assert out.returncode == 0 and "wrote 8 candidates" in out.stdout, out.stderr

    monkeypatch.syspath_prepend(str(target))
    monkeypatch.setenv("PIVOTRL_LOAD_PLUGINS", "calculator")
    monkeypatch.delitem(sys.modules, "pivotrl_calculator", raising=False)
    _rebuild()
    registry = get_registry()
    assert registry.entry("domain", "calculator").plugin == "calculator"
    verifier = registry.domain_verifier("calculator")
    from pivotrl_core import Candidate, Message, ToolCall, run_verifier
    from pivotrl_core.extract import read_candidates
    from pivotrl_core.testing import check_domain

    def call(expr: str) -> Message:
        return Message(
            role="assistant", tool_calls=(ToolCall(name="calculate", arguments={"expression": expr}),)
        )

    cand = Candidate(
        id="q:1",
        domain="calculator",
        trajectory_id="q",
        turn_index=1,
        messages=(Message(role="user", content="2*(3+4)?"),),
        expected=call("2*(3+4)"),
    )
    assert run_verifier(verifier, cand, call("14")).passed
    assert run_verifier(verifier, cand, call("7 + 7.0")).passed
    assert not run_verifier(verifier, cand, call("15")).passed
    assert not run_verifier(verifier, cand, call("__import__('os')")).passed
    assert not run_verifier(verifier, cand, Message(role="assistant", content="14")).passed
    check_domain("calculator", read_candidates(cands))  # the conformance helper plugin authors use


def test_tutorial_snippets_are_the_example_code():
    """docs/plugins/tutorial.md quotes docs/plugins/example verbatim (so the two cannot drift)."""
    import re

    tutorial = (REPO / "docs" / "plugins" / "tutorial.md").read_text()
    module = (EXAMPLE / "pivotrl_calculator.py").read_text()
    pyproject = (EXAMPLE / "pyproject.toml").read_text()
    blocks = re.findall(r"```python\n(.*?)```", tutorial, re.S)
    quoted = [b for b in blocks if "hookimpl" in b or "def same_value" in b]
    assert len(quoted) == 2 and all(b in module for b in quoted)
    (toml,) = re.findall(r"```toml\n(.*?)```", tutorial, re.S)
    assert all(line in pyproject.splitlines() for line in toml.splitlines())
