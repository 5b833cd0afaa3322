"""The ``terminal`` plugin: domain, verifiers and the ``pivotrl terminal`` commands."""

from __future__ import annotations

from typing import Any

from pivotrl_core import Domain, Register, hookimpl

from .atif import AtifFormat
from .bench import terminal_bench
from .cli import terminal_group
from .extract import extract_terminal
from .verifier import TerminalVerifier

TERMINAL = Domain(
    name="terminal",
    description=(
        "Terminal agents (Terminus JSON turns, Terminal-Bench 2 tasks in Harbor's format); "
        "schema -> similarity -> sandbox -> judge."
    ),
    verifier="terminal",
    verifier_options={"threshold": 0.95},
    extractor=extract_terminal,
    benchmarks={"terminal-bench": terminal_bench},
    metadata={"nemo_gym_config": "terminus_judge", "harnesses": ["terminus_1", "terminus_2"]},
)


@hookimpl
def pivotrl_register_domains(register: Register) -> None:
    register(TERMINAL)


@hookimpl
def pivotrl_register_verifiers(register: Register) -> None:
    register(TerminalVerifier)


@hookimpl
def pivotrl_register_commands(cli: Any) -> None:
    if "terminal" not in cli.commands:
        cli.add_command(terminal_group)


@hookimpl
def pivotrl_register_formats(register: Register) -> None:
    register(AtifFormat())
