"""Built-in verifiers (see docs/verifiers.md), registered through the same hook as any plugin's.

``exact``, ``fuzzy``, ``json_schema``, ``tool_call``, ``llm_judge``, ``sandbox_exec`` and the
combinators ``cascade``, ``all``, ``any`` and ``weighted``.
"""

from __future__ import annotations

from ..hookspecs import RegisterVerifier, hookimpl
from ..verifiers.combinators import AllVerifier, AnyVerifier, CascadeVerifier, WeightedVerifier
from ..verifiers.exact import ExactVerifier
from ..verifiers.fuzzy import FuzzyVerifier
from ..verifiers.json_schema import JsonSchemaVerifier
from ..verifiers.llm_judge import LLMJudgeVerifier
from ..verifiers.sandbox_exec import SandboxExecVerifier
from ..verifiers.tool_call import ToolCallVerifier

BUILTIN = (
    ExactVerifier,
    FuzzyVerifier,
    JsonSchemaVerifier,
    ToolCallVerifier,
    LLMJudgeVerifier,
    SandboxExecVerifier,
    CascadeVerifier,
    AllVerifier,
    AnyVerifier,
    WeightedVerifier,
)


@hookimpl
def pivotrl_register_verifiers(register: RegisterVerifier) -> None:
    for cls in BUILTIN:
        register(cls)
