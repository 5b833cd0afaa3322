"""The plugin's hook implementations (entry point ``tool-use`` in group ``pivotrl``)."""

from __future__ import annotations

from typing import Any

from pivotrl_core import Domain, Register, hookimpl

from .benchmark import episodes
from .commands import tool_use
from .expert_policy import ExpertPolicy
from .extractor import extract_tool_use
from .generate import generate_trajectories
from .policy import SYSTEM_PROMPT
from .tau2 import Tau2Format
from .tools import TOOL_NAMES
from .verifier import ToolStateVerifier, ToolUseCallVerifier
from .warmup import warmup
from .world import WORLD_VERSION

TOOL_USE = Domain(
    name="tool-use",
    description="Conversational tool use in a simulated retail store (tau2-Bench style); "
    "tool_state verifier.",
    verifier="tool_state",
    extractor=extract_tool_use,
    benchmarks={"episodes": episodes},
    system_prompt=SYSTEM_PROMPT,
    generate=generate_trajectories,
    warmup=warmup,
    metadata={
        "world_version": WORLD_VERSION,
        "tools": list(TOOL_NAMES),
        "alternative_verifier": "tool_use_call",
    },
)


@hookimpl
def pivotrl_register_domains(register: Register) -> None:
    register(TOOL_USE)


@hookimpl
def pivotrl_register_verifiers(register: Register) -> None:
    register(ToolStateVerifier)
    register(ToolUseCallVerifier)


@hookimpl
def pivotrl_register_policies(register: Register) -> None:
    register(ExpertPolicy, name="tool-use-expert")


@hookimpl
def pivotrl_register_formats(register: Register) -> None:
    register(Tau2Format())


@hookimpl
def pivotrl_register_commands(cli: Any) -> None:
    if "tool-use" not in cli.commands:
        cli.add_command(tool_use)
