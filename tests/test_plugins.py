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
from pivotrl_core.errors import PluginError, UnknownNameError
from pivotrl_core.plugin_loader import new_plugin_manager
from pivotrl_core.plugin_status import PluginLoadWarning, infos
from pivotrl_core.plugins import get_plugin_manager, get_registry, plugin_infos, set_plugin_manager

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
    infos.clear()
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
    set_plugin_manager(get_plugin_manager())  # the same plugins, a registry built afresh
    with pytest.raises(PluginError, match="registered by both plugin 'plugin-a' and plugin 'plugin-b'"):
        get_registry()


def test_unknown_names_suggest_close_ones(pivotrl_pm):
    with pytest.raises(UnknownNameError) as e:
        get_registry().format("opanai")
    assert "did you mean 'openai'" in str(e.value)
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


BROKEN_FILES = {
    "import_error": ("import does_not_exist_anywhere\n", "does_not_exist_anywhere"),
    "syntax_error": ("def broken(:\n", "SyntaxError"),
    "failing_hook": (
        "from pivotrl_core import hookimpl\n\n@hookimpl\ndef pivotrl_register_domains(register):\n"
        "    raise RuntimeError('hook went wrong')\n",
        "hook went wrong",
    ),
    "duplicate_name": (
        "from pivotrl_core import hookimpl\n\ndef exact(candidate, action):\n    return True\n\n"
        "@hookimpl\ndef pivotrl_register_verifiers(register):\n    register(exact, name='exact')\n",
        "registered by both plugin 'verifiers' and plugin 'file:duplicate_name.py'",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_FILES))
def test_a_broken_plugin_file_is_a_clear_error(tmp_path, case):
    """--plugin FILE is an explicit request: any failure is exit 2 naming the file, not a warning."""
    source, expected = BROKEN_FILES[case]
    plugin = tmp_path / f"{case}.py"
    plugin.write_text(source)
    out = subprocess.run(
        [PIVOTRL, "--plugin", str(plugin), "formats", "--json"],
        capture_output=True,
        text=True,
        env=_env(PIVOTRL_LOAD_PLUGINS=""),
    )
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stderr.startswith("Error: ") and f"{case}.py" in out.stderr and expected in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_a_missing_plugin_file_is_a_clear_error(tmp_path):
    missing = tmp_path / "nowhere.py"
    out = subprocess.run([PIVOTRL, "--plugin", str(missing), "formats"], capture_output=True, text=True)
    assert out.returncode == 2 and "nowhere.py" in out.stderr and "Traceback" not in out.stderr


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


def test_testing_helpers_work_without_pytest():
    """``pivotrl_core.testing`` is a library too: importable where pytest is not installed."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["pytest"] = None  # as if pytest were not installed
        from pivotrl_core import Candidate, Message
        from pivotrl_core.testing import check_verifier, use_plugin_manager
        import pivotrl_core.testing as t
        assert not hasattr(t, "pivotrl_pm")  # the fixtures exist only with pytest
        c = Candidate(id="c", domain="generic", trajectory_id="t", turn_index=1,
                      messages=(Message("user", "hi"),), expected=Message("assistant", "hello there"))
        with use_plugin_manager() as pm:
            report = check_verifier("exact", [c])
        print(report.ok, pm is not None)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    assert out.returncode == 0 and out.stdout.split() == ["True", "True"], out.stderr


def test_registry_is_pure_meta_rides_on_the_entry_and_services_are_handed_in(pivotrl_pm):
    """Two registries over one plugin manager share nothing; ``register``'s keywords live in
    ``Entry.meta`` (the function is left untouched); a verifier class naming ``resolve`` gets the
    registry's resolver, so it can build child verifiers by name without a global."""
    from pivotrl_core import FunctionVerifier, Verifier
    from pivotrl_core.registry import Registry

    def slow_check(candidate, action):
        return True

    class Twice(Verifier):
        name = "twice"

        def __init__(self, inner: str = "exact", *, resolve=None):
            self.inner = resolve(inner)

        def verify(self, candidate, action):
            return self.inner.verify(candidate, action)

    class Plugin:
        @hookimpl
        def pivotrl_register_verifiers(self, register):
            register(slow_check, name="slow_check", cost="expensive", deterministic=False)
            register(Twice)

    pivotrl_pm.register(Plugin(), name="meta-plugin")
    failures: list[str] = []
    a = Registry(pivotrl_pm, lambda plugin, what, exc: failures.append(plugin))
    b = Registry(pivotrl_pm, lambda plugin, what, exc: failures.append(plugin))
    assert a.entry("verifier", "slow_check").meta == {"cost": "expensive", "deterministic": False}
    assert not hasattr(slow_check, "_pivotrl_meta")
    v = a.verifier("slow_check")
    assert isinstance(v, FunctionVerifier) and (v.cost, v.deterministic, v.name) == (
        "expensive",
        False,
        "slow_check",
    )
    assert a.verifier("twice", inner="fuzzy").inner.name == "fuzzy"
    assert a.entry("verifier", "twice") is not b.entry("verifier", "twice") and not failures
