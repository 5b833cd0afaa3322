"""One inference stack for every model family: tiny random-weight models of several architectures
(QK-norm, MoE, sliding windows, soft-capping, fused projections), each checked against plain
transformers forward passes: the hf sampler's log-probs, the loss's shared-prompt logits and
gradients, and the frozen-layer skip."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from pivotrl_core.policies.attention import record_layer_input
from pivotrl_core.policies.base import Prompt, SamplingParams
from pivotrl_core.policies.hf import HFPolicy
from pivotrl_core.policies.models import load_tokenizer
from pivotrl_core.train.forward import group_logits, naive_group_logits
from pivotrl_core.train.loss import aggregate, clipped_surrogate, token_logprobs
from pivotrl_core.types import Message

pytestmark = pytest.mark.usefixtures("one_thread")

SIZES = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
}
WINDOW = 8  # shorter than the prompts: the sliding-window layers really slide

FAMILIES: dict[str, tuple[str, dict[str, Any]]] = {
    "llama": ("LlamaConfig", {}),
    "qwen2": ("Qwen2Config", {}),
    "qwen3": ("Qwen3Config", {"head_dim": 8}),
    "qwen3_moe": (
        "Qwen3MoeConfig",
        {"head_dim": 8, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 16},
    ),
    "mistral": ("MistralConfig", {"sliding_window": WINDOW}),
    "gemma2": ("Gemma2Config", {"head_dim": 8, "sliding_window": WINDOW}),
    "gemma3": ("Gemma3TextConfig", {"head_dim": 8, "sliding_window": WINDOW}),
    "phi3": ("Phi3Config", {}),
}


@pytest.fixture(scope="module")
def tokenizer(tiny_model_path: str) -> Any:
    return load_tokenizer(tiny_model_path)


def build(family: str, tokenizer: Any) -> Any:
    import transformers

    cls, extra = FAMILIES[family]
    ids = {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id, "bos_token_id": 1}
    cfg = getattr(transformers, cls)(vocab_size=len(tokenizer), **SIZES, **extra, **ids)
    torch.manual_seed(0)
    impl = "eager" if family == "gemma2" else "sdpa"  # transformers refuses sdpa for gemma2
    model = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation=impl)
    return model.float().eval()


def _plain_logprobs(model: Any, prompt: tuple[int, ...], tokens: tuple[int, ...]) -> torch.Tensor:
    ids = torch.tensor([list(prompt) + list(tokens)])
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False).logits[0, len(prompt) - 1 : -1]
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, torch.tensor(tokens)[:, None])[:, 0]


PROMPTS = [
    Prompt((Message("system", "Follow the policy. " * 12), Message("user", "Hello! What is 12 plus 30?"))),
    Prompt((Message("user", "Cancel it please."),)),
]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_sampled_logprobs_equal_a_plain_forward_pass(family: str, tokenizer: Any) -> None:
    model = build(family, tokenizer)
    policy = HFPolicy(model, tokenizer=tokenizer, prefill_chunk=16)
    sampling = SamplingParams(temperature=1.0, max_new_tokens=6, seed=1)
    infos = [policy.prepare(p, 6) for p in PROMPTS]
    assert len(infos[0].ids or ()) > 64 > WINDOW  # more than one prefill block and window
    shared = policy.sample_prepared(infos, 3, sampling)
    frozen = policy.sample_prepared(infos, 3, sampling, record_layer=1)  # block-wise bottom layer
    single = policy.sample_prepared(infos, 1, sampling)  # one row per prompt: the batched kernel
    for rows, again, one, info in zip(shared, frozen, single, infos, strict=True):
        assert [c.token_ids for c in rows] == [c.token_ids for c in again]
        for c in rows + again + one:
            want = _plain_logprobs(model, info.ids or (), c.token_ids or ())
            assert torch.allclose(torch.tensor(c.logprobs), want, atol=1e-4), family


def _loss_and_grads(model: Any, logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> tuple:
    model.zero_grad(set_to_none=True)
    logp, _ = token_logprobs(logits, tokens)
    adv = torch.tensor([1.0, -0.5, 0.25])
    loss_tok, _, _ = clipped_surrogate(logp, logp.detach() + 0.1, adv, 0.2, 0.2)
    loss = aggregate(loss_tok, mask, "token", float(mask.sum()))
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return logp.detach() * mask, loss.item(), grads


@pytest.mark.parametrize("family", list(FAMILIES))
def test_shared_prompt_loss_and_frozen_skip_equal_the_plain_path(family: str, tokenizer: Any) -> None:
    model = build(family, tokenizer)
    g = torch.Generator().manual_seed(0)
    prompt = torch.randint(3, len(tokenizer), (21,), generator=g)
    tokens = torch.randint(3, len(tokenizer), (3, 9), generator=g)
    lengths = torch.tensor([9, 4, 7])
    mask = (torch.arange(9)[None] < lengths[:, None]).float()
    plain = _loss_and_grads(model, naive_group_logits(model, prompt, tokens, lengths), tokens, mask)
    shared = _loss_and_grads(model, group_logits(model, prompt, tokens), tokens, mask)
    # the frozen-layer skip: layers 1.. from the states entering layer 1, recorded by the sampler
    sink: list[torch.Tensor] = []
    with torch.no_grad(), record_layer_input(model, 1, sink):
        model(input_ids=torch.cat([prompt[None].expand(3, -1), tokens], dim=1))
    h = sink[0]
    skip = _loss_and_grads(model, group_logits(model, prompt, tokens, 1, h[0, :21], h[:, 21:]), tokens, mask)
    for got in (shared, skip):
        assert torch.allclose(got[0], plain[0], atol=1e-5), family
        assert got[1] == pytest.approx(plain[1], abs=1e-6)
    assert shared[2].keys() == plain[2].keys()
    for name, grad in plain[2].items():
        assert torch.allclose(shared[2][name], grad, atol=1e-5), (family, name)
        if ".layers.0." not in name and "embed" not in name:  # what a frozen-bottom run trains
            assert torch.allclose(skip[2][name], grad, atol=1e-5), (family, name)
    assert any(".layers.2." in n for n in skip[2]) and not any(".layers.0." in n for n in skip[2])
