"""The plugin's hook implementations (entry point ``tau2`` in group ``pivotrl``).

Registering costs a few small file reads (policies, prompt templates): tau2 itself is imported
only when a verifier, importer or benchmark first needs an environment.
"""

from __future__ import annotations

import functools
from typing import Any

from pivotrl_core import Domain, Register, hookimpl

from .benchmark import run_benchmark
from .commands import tau2_group
from .generate import generate_telecom
from .gold import GoldPolicy, TalkPolicy
from .spec import DOMAINS, DomainSpec, agent_system_prompt, tau2_root
from .verifier import Tau2Verifier

__all__ = ["TAU2_DOMAINS"]


def _domain(spec: DomainSpec) -> Domain:
    installed = tau2_root() is not None
    prompt = agent_system_prompt(spec.tau2_domain) if installed and not spec.solo else None
    return Domain(
        name=spec.name,
        description=spec.description,
        verifier="tau2",
        verifier_options={"domain": spec.name},
        benchmarks={"tau2": functools.partial(run_benchmark, domain=spec.name)},
        system_prompt=prompt,
        generate=generate_telecom if spec.tau2_domain == "telecom" else None,
        metadata={"tau2_domain": spec.tau2_domain, "solo": spec.solo, "tau2_installed": installed},
    )


TAU2_DOMAINS = tuple(_domain(s) for s in DOMAINS.values())


@hookimpl
def pivotrl_register_domains(register: Register) -> None:
    for d in TAU2_DOMAINS:
        register(d)


@hookimpl
def pivotrl_register_verifiers(register: Register) -> None:
    register(Tau2Verifier)


@hookimpl
def pivotrl_register_policies(register: Register) -> None:
    register(GoldPolicy, name="tau2-gold")
    register(TalkPolicy, name="tau2-talk")


@hookimpl
def pivotrl_register_commands(cli: Any) -> None:
    if "tau2" not in cli.commands:
        cli.add_command(tau2_group)
