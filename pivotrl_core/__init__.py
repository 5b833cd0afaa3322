"""pivotrl: PivotRL post-training for LLM agents.

The public API is this module's ``__all__``; everything else is private. Plugins (first-party
ones included, a test checks it) import from here only. Names that live in modules with heavy
dependencies are loaded on first use, so ``import pivotrl_core`` stays light.
"""

from __future__ import annotations

import importlib
from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

from .domains import Domain, ExtractOptions, Extractor, Generator, Split, Warmup, candidate_at
from .errors import ConfigError, InputError, PivotrlError, PluginError, UnknownNameError
from .formats.base import TrajectoryFormat
from .hookspecs import (
    Register,
    RegisterDomain,
    RegisterFormat,
    RegisterPolicy,
    RegisterSandbox,
    RegisterToolFormat,
    RegisterVerifier,
    hookimpl,
)
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
    "get_registry": "pivotrl_core.plugins",
    "ResumableWriter": "pivotrl_core.jsonl",
    "ResumeMismatchError": "pivotrl_core.errors",
    "check_not_input": "pivotrl_core.jsonl",
    "file_digest": "pivotrl_core.jsonl",
    "open_sandbox": "pivotrl_core.plugins",
    "resolve_backend": "pivotrl_core.plugins",
    "default_extractor": "pivotrl_core.extract",
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
    "task_bar": "pivotrl_core.progress",
    "VerifierSpec": "pivotrl_core.types",
    "load_environment": "pivotrl_core.integrations",
    "pivots_dataset": "pivotrl_core.integrations",
    "reward_function": "pivotrl_core.integrations",
    "verl_rows": "pivotrl_core.integrations",
    "EpisodeLike": "pivotrl_core.train.e2e",
    "register_episode_adapter": "pivotrl_core.train.e2e",
    "train_e2e": "pivotrl_core.train.e2e",
    "run_experiment": "pivotrl_core.experiment.runner",
}

__all__ = [
    "EpisodeLike",
    "register_episode_adapter",
    "run_experiment",
    "train_e2e",
    "RENDER_VERSION",
    "ResumableWriter",
    "ResumeMismatchError",
    "check_not_input",
    "file_digest",
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
    "RegisterDomain",
    "RegisterFormat",
    "RegisterPolicy",
    "RegisterSandbox",
    "RegisterToolFormat",
    "RegisterVerifier",
    "SFTConfig",
    "Sandbox",
    "SandboxError",
    "SandboxResult",
    "SandboxSpec",
    "SamplingParams",
    "Split",
    "ToolCall",
    "Trajectory",
    "TrajectoryFormat",
    "UnknownNameError",
    "Verdict",
    "Verifier",
    "VerifierSpec",
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
    "load_environment",
    "pivots_dataset",
    "reward_function",
    "verl_rows",
    "normalize_output",
    "open_sandbox",
    "read_jsonl",
    "read_metrics",
    "render_action",
    "resolve_backend",
    "row_to_candidate",
    "run_verifier",
    "task_bar",
    "train_sft",
    "verify_many",
    "write_jsonl",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .extract import default_extractor
    from .formats.nemo_gym import row_to_candidate
    from .formats.openai_chat import OpenAIChatFormat
    from .integrations import load_environment, pivots_dataset, reward_function, verl_rows
    from .plugins import get_registry, open_sandbox, resolve_backend
    from .policies.chat import RENDER_VERSION, render_action
    from .policies.models import cache_dir
    from .policies.prefix_store import DEFAULT_PREFIX_CACHE
    from .progress import task_bar
    from .train.config import SFTConfig, load_config
    from .train.metrics import read_metrics
    from .train.sft import train_sft
    from .types import VerifierSpec
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
