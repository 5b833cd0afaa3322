"""The vllm policy on a GPU machine (skipped, with the reason, elsewhere)."""

from __future__ import annotations

import pytest

from pivotrl_core.errors import ConfigError
from pivotrl_core.plugins import get_registry
from pivotrl_core.policies.base import Prompt, SamplingParams
from pivotrl_core.policies.vllm_policy import vllm_available
from pivotrl_core.types import Message

REASON = vllm_available()


def test_missing_vllm_is_a_config_error() -> None:
    if REASON is None or "not installed" not in REASON:
        pytest.skip("vllm is installed here")
    with pytest.raises(ConfigError, match="pip install"):
        get_registry().policy("vllm", model="smollm2-135m")


@pytest.mark.gpu
@pytest.mark.skipif(REASON is not None, reason=f"vllm policy test needs vLLM and a GPU: {REASON}")
def test_vllm_samples_k_per_prompt_with_logprobs() -> None:
    pol = get_registry().policy("vllm", model="smollm2-135m", gpu_memory_utilization=0.3)
    prompts = [
        Prompt((Message("user", "What is the capital of France?"),)),
        Prompt((Message("user", "Hi!"),)),
    ]
    out = pol.sample(prompts, 4, SamplingParams(temperature=1.0, max_new_tokens=32, seed=0))
    assert [len(o) for o in out] == [4, 4]
    c = out[0][0]
    assert c.token_ids and c.logprobs and len(c.logprobs) == len(c.token_ids)
    [lp] = pol.logprobs(prompts[:1], [c])
    assert lp.shape[0] == len(c.token_ids)
    greedy = pol.sample(prompts[:1], 1, SamplingParams(temperature=0, max_new_tokens=32))
    assert "Paris" in greedy[0][0].text
