"""Built-in rollout backends ``hf``, ``openai`` and ``vllm`` (see docs/policies.md).

The classes import their heavy dependencies (torch, transformers, vllm, openai) only when built,
so registering them costs nothing.
"""

from __future__ import annotations

from ..hookspecs import RegisterPolicy, hookimpl
from ..policies.hf import HFPolicy
from ..policies.openai_policy import OpenAIPolicy
from ..policies.vllm_policy import VLLMPolicy


@hookimpl
def pivotrl_register_policies(register: RegisterPolicy) -> None:
    register(HFPolicy, name="hf")  # transformers on CPU or GPU; K samples per prompt from one prefill
    register(OpenAIPolicy, name="openai")  # any OpenAI-compatible chat-completions server
    register(VLLMPolicy, name="vllm")  # vLLM's offline engine (extra: pip install 'pivotrl-core[vllm]')
