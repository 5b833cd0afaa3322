"""The ``swe`` plugin: domain, verifiers, trajectory formats and the ``pivotrl swe`` commands."""

from __future__ import annotations

from typing import Any

from pivotrl_core import Domain, Register, hookimpl

from .bench import swe_tasks
from .cli import swe_group
from .extract import extract_swe
from .format_mini import MiniSweAgentFormat
from .format_openhands import OpenHandsFormat
from .format_sweagent import SweAgentFormat
from .generate import generate_expert
from .verifier import SweExecVerifier, SwePivotVerifier, SweVerifier
from .warmup import warmup

SWE = Domain(
    name="swe",
    description="Software-engineering agents: NVIDIA's swe_pivot verifier, sandboxed repository tasks.",
    verifier="swe",
    verifier_options={"mode": "auto"},
    extractor=extract_swe,
    benchmarks={"swe-tasks": swe_tasks},
    generate=generate_expert,
    warmup=warmup,
    metadata={"nemo_gym_config": "swe_pivot", "tools": ["bash", "str_replace_editor", "submit"]},
)


@hookimpl
def pivotrl_register_domains(register: Register) -> None:
    register(SWE)


@hookimpl
def pivotrl_register_verifiers(register: Register) -> None:
    for verifier in (SwePivotVerifier, SweExecVerifier, SweVerifier):
        register(verifier)


@hookimpl
def pivotrl_register_formats(register: Register) -> None:
    for fmt in (SweAgentFormat(), MiniSweAgentFormat(), OpenHandsFormat()):
        register(fmt)


@hookimpl
def pivotrl_register_commands(cli: Any) -> None:
    if "swe" not in cli.commands:
        cli.add_command(swe_group)
