"""The plugin's hook implementations (entry point ``web`` in group ``pivotrl``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from pivotrl_core import Domain, Register, hookimpl

from .benchmark import tasks_benchmark
from .browsecomp import browsecomp_benchmark
from .commands import web
from .episode import SYSTEM_PROMPT
from .expert import ExpertPolicy
from .generate import generate
from .prompts import DEFAULT_CAPS, extract_web
from .verifier import WebSearchVerifier
from .warmup import warmup

WEB = Domain(
    name="web",
    description="Web-search agents over a local corpus (tau2 banking knowledge base); web_search verifier.",
    verifier="web_search",
    extractor=extract_web,
    benchmarks={"tasks": tasks_benchmark, "browsecomp": browsecomp_benchmark},
    system_prompt=SYSTEM_PROMPT,
    generate=generate,
    warmup=warmup,
    metadata={
        "corpus": "tau2-bench banking_knowledge (698 documents, 97 tasks)",
        "parity_verifier": {"name": "tool_call", "options": {"threshold": 0.3}},
        "prompt_caps": dataclasses.asdict(DEFAULT_CAPS),
    },
)


@hookimpl
def pivotrl_register_domains(register: Register) -> None:
    register(WEB)


@hookimpl
def pivotrl_register_verifiers(register: Register) -> None:
    register(WebSearchVerifier)


@hookimpl
def pivotrl_register_policies(register: Register) -> None:
    register(ExpertPolicy, name="web-expert")


@hookimpl
def pivotrl_register_commands(cli: Any) -> None:
    if "web" not in cli.commands:
        cli.add_command(web)
