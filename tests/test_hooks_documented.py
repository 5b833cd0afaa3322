"""Every hook has a section in docs/plugins/hooks.md, and every section's example works."""

from __future__ import annotations

import inspect
import re
import types
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pivotrl_core import (
    Candidate,
    ExtractOptions,
    Message,
    Prompt,
    SamplingParams,
    ToolCall,
    Trajectory,
    run_verifier,
)
from pivotrl_core.formats import read_trajectories
from pivotrl_core.hookspecs import KINDS, PivotrlSpecs

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins" / "hooks.md"
HOOKS = sorted(n for n, _ in inspect.getmembers(PivotrlSpecs, inspect.isfunction) if n.startswith("pivotrl_"))
KIND_OF = {hook: kind for kind, hook in KINDS.items()}


def sections() -> dict[str, str]:
    """``{hook name: section text}`` for the ``## `hook(args)` `` headings of hooks.md."""
    out = {}
    for chunk in DOC.read_text().split("\n## ")[1:]:
        heading, _, body = chunk.partition("\n")
        m = re.fullmatch(r"`(pivotrl_\w+)\((\w+)\)`", heading.strip())
        if m:
            out[m.group(1)] = (m.group(2), body)
    return out


def example(hook: str) -> types.ModuleType:
    arg, body = sections()[hook]
    blocks = re.findall(r"```python\n(.*?)```", body, re.S)
    assert len(blocks) == 1, f"section {hook} needs exactly one python example"
    module = types.ModuleType(f"doc_example_{hook}")
    exec(compile(blocks[0], f"{DOC}:{hook}", "exec"), module.__dict__)  # noqa: S102 - our own docs
    return module


def test_every_hook_has_a_section_with_its_argument():
    assert HOOKS, "no hookspecs found"
    documented = sections()
    missing = [h for h in HOOKS if h not in documented]
    assert not missing, f"undocumented hooks in {DOC}: {missing}"
    for hook in HOOKS:
        params = [p for p in inspect.signature(getattr(PivotrlSpecs, hook)).parameters if p != "self"]
        assert [documented[hook][0]] == params, f"{hook}: heading argument differs from the hookspec"
    assert not set(documented) - set(HOOKS), "hooks.md documents hooks that do not exist"


@pytest.mark.parametrize("hook", [h for h in HOOKS if h in KIND_OF])
def test_register_hook_example_registers_something(hook, register_plugin):
    module = example(hook)
    registry = register_plugin(module, name=f"doc-{hook}")
    registered = [e.name for e in registry.entries(KIND_OF[hook]) if e.plugin == f"doc-{hook}"]
    assert registered, f"the {hook} example registered nothing"


def test_domain_and_verifier_examples_work(register_plugin):
    register_plugin(example("pivotrl_register_verifiers"), name="doc-verifiers")
    registry = register_plugin(example("pivotrl_register_domains"), name="doc-domains")
    call = Message(role="assistant", tool_calls=(ToolCall(name="lookup", arguments={"q": "x"}),))
    cand = Candidate(
        id="t:1",
        domain="final-answer",
        trajectory_id="t",
        turn_index=1,
        messages=(Message(role="user", content="find x"),),
        expected=call,
    )
    assert run_verifier(registry.verifier("same_tool"), cand, call).passed
    assert not run_verifier(
        registry.verifier("same_tool"), cand, Message(role="assistant", content="hi")
    ).passed
    assert not run_verifier(
        registry.verifier("short_answer", max_chars=2), cand, Message(role="assistant", content="too long")
    ).passed
    traj = Trajectory(
        id="t",
        messages=(
            Message(role="user", content="a"),
            Message(role="assistant", content="b"),
            Message(role="user", content="c"),
            Message(role="assistant", content="d"),
        ),
    )
    extractor = registry.domain("final-answer").extractor
    assert [c.id for c in extractor(traj, ExtractOptions(domain="final-answer"))] == ["t:3"]


def test_policy_sandbox_and_format_examples_work(register_plugin, tmp_path):
    register_plugin(example("pivotrl_register_policies"), name="doc-policies")
    register_plugin(example("pivotrl_register_sandboxes"), name="doc-sandboxes")
    registry = register_plugin(example("pivotrl_register_formats"), name="doc-formats")
    policy = registry.policy("echo", model="m")
    (completions,) = policy.sample(
        [Prompt(messages=(Message(role="user", content="hello"),))], 2, SamplingParams()
    )
    assert [c.message.content for c in completions] == ["hello", "hello"]
    box = registry.sandbox("recording")
    box.write_files({"a.txt": "x"})
    assert box.run("ls").ok and box.read_files() == {"a.txt": b"x"}
    src = tmp_path / "pairs.jsonl"
    src.write_text('{"id": "p", "pairs": [["2+2?", "4"]]}\n')
    (traj,) = read_trajectories(src, formats=registry.formats())  # detected among the registered
    assert traj.messages[1].content == "4"
    assert registry.format("pairs").dump(traj) == {"id": "p", "pairs": [["2+2?", "4"]]}


def test_commands_example_adds_a_command(pivotrl_pm):
    group = click.Group("pivotrl")
    example("pivotrl_register_commands").pivotrl_register_commands(cli=group)
    res = CliRunner().invoke(group, ["count-domains"])
    assert res.exit_code == 0 and re.fullmatch(r"\d+ domains\n", res.output)
