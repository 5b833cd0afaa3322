"""pivotrl: PivotRL post-training for LLM agents.

The public API is this module's ``__all__``; everything else is private. Plugins (first-party
ones included, a test checks it) import from here only. Names that live in modules with heavy
dependencies are loaded on first use, so ``import pivotrl_core`` stays light.
"""

from __future__ import annotations

import importlib
from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

from .domains import Domain, ExtractOptions, Extractor, Generator, Split, Warmup
from .errors import ConfigError, InputError, PivotrlError, PluginError, UnknownNameError
from .hookspecs import Register, hookimpl
from .jsonl import atomic_output, dumps, iter_jsonl, read_jsonl, write_jsonl
from .policies.base import Completion, Policy, Prompt, SamplingParams
from .sandbox import Sandbox, SandboxError, SandboxResult, SandboxSpec
from .types import Candidate, Message, Profile, ToolCall, Trajectory, Verdict
from .verifiers.base import FunctionVerifier, Verifier, run_verifier, verify_many

try:
    __version__ = _metadata.version("pivotrl-core")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0"

_LAZY: dict[str, str] = {
    # name -> module that defines it (imported on first access)
    "get_registry": "pivotrl_core.registry",
    "open_sandbox": "pivotrl_core.sandbox",
    "resolve_backend": "pivotrl_core.sandbox",
    "default_extractor": "pivotrl_core.extract",
    "candidate_at": "pivotrl_core.extract",
    "OpenAIChatFormat": "pivotrl_core.formats.openai_chat",
    "row_to_candidate": "pivotrl_core.formats.nemo_gym",
    "render_action": "pivotrl_core.policies.chat",
    "RENDER_VERSION": "pivotrl_core.policies.chat",
    "cache_dir": "pivotrl_core.policies.models",
    "DEFAULT_PREFIX_CACHE": "pivotrl_core.policies.prefix_store",
    "action_script": "pivotrl_core.verifiers.sandbox_exec",
    "normalize_output": "pivotrl_core.verifiers.sandbox_exec",
    "SFTConfig": "pivotrl_core.train.config",
    "load_config": "pivotrl_core.train.config",
    "train_sft": "pivotrl_core.train.sft",
    "read_metrics": "pivotrl_core.train.metrics",
}

__all__ = [
    "RENDER_VERSION",
    "DEFAULT_PREFIX_CACHE",
    "Candidate",
    "Completion",
    "ConfigError",
    "Domain",
    "ExtractOptions",
    "Extractor",
    "FunctionVerifier",
    "Generator",
    "InputError",
    "Message",
    "OpenAIChatFormat",
    "PivotrlError",
    "PluginError",
    "Policy",
    "Profile",
    "Prompt",
    "Register",
    "SFTConfig",
    "Sandbox",
    "SandboxError",
    "SandboxResult",
    "SandboxSpec",
    "SamplingParams",
    "Split",
    "ToolCall",
    "Trajectory",
    "UnknownNameError",
    "Verdict",
    "Verifier",
    "Warmup",
    "__version__",
    "action_script",
    "atomic_output",
    "cache_dir",
    "candidate_at",
    "default_extractor",
    "dumps",
    "get_registry",
    "hookimpl",
    "iter_jsonl",
    "load_config",
    "normalize_output",
    "open_sandbox",
    "read_jsonl",
    "read_metrics",
    "render_action",
    "resolve_backend",
    "row_to_candidate",
    "run_verifier",
    "train_sft",
    "verify_many",
    "write_jsonl",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .extract import candidate_at, default_extractor
    from .formats.nemo_gym import row_to_candidate
    from .formats.openai_chat import OpenAIChatFormat
    from .policies.chat import RENDER_VERSION, render_action
    from .policies.models import cache_dir
    from .policies.prefix_store import DEFAULT_PREFIX_CACHE
    from .registry import get_registry
    from .sandbox import open_sandbox, resolve_backend
    from .train.config import SFTConfig, load_config
    from .train.metrics import read_metrics
    from .train.sft import train_sft
    from .verifiers.sandbox_exec import action_script, normalize_output


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pivotrl_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
