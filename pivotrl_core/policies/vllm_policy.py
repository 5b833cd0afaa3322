"""The ``vllm`` rollout backend: vLLM's offline engine (``vllm.LLM``) on a GPU machine.

An optional extra (``pip install 'pivotrl-core[vllm]'``), imported only when the policy is built.
Prompts are rendered and fitted to the context exactly like the ``hf`` backend
(:func:`~pivotrl_core.policies.hf.prepare_prompt`) and sent as token ids; vLLM shares the prefix
of the ``n`` samples of a prompt (``SamplingParams.n``) through its prefix cache. Log-probabilities
are vLLM's (``logprobs=0``: the sampled token's); see ``docs/policies.md`` for how they differ
from the ``hf`` backend's temperature-scaled ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from .base import Completion, Prompt, SamplingParams
from .chat import end_of_turn, end_of_turn_ids, parse_completion
from .hf import ContextInfo, ContextRule, prepare_prompt
from .models import resolve_model
from .tool_formats import detect_tool_format

__all__ = ["VLLMPolicy", "vllm_available"]


def vllm_available() -> str | None:
    """``None`` when vLLM and a CUDA GPU are usable, else the reason they are not."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed (pip install 'pivotrl-core[vllm]')"
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU is available"
    return None


class VLLMPolicy:
    """Sample with ``vllm.LLM``. Extra keyword arguments go to ``vllm.LLM(...)``."""

    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        dtype: str = "auto",
        gpu_memory_utilization: float = 0.85,
        max_model_len: int | None = None,
        context_rule: ContextRule = "truncate",
        max_prompt_tokens: int | None = None,
        tool_format: str | None = None,
        **engine_kwargs: Any,
    ) -> None:
        try:
            import vllm
        except ImportError as e:
            raise ConfigError(
                f"the vllm policy needs vLLM ({e}); install it with pip install 'pivotrl-core[vllm]' "
                "on a GPU machine, or use --policy hf"
            ) from None
        self._vllm = vllm
        self._model = model
        kwargs = {"dtype": dtype, "gpu_memory_utilization": gpu_memory_utilization, **engine_kwargs}
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        self.llm = vllm.LLM(model=resolve_model(model), **kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.end_token = end_of_turn(self.tokenizer)
        self.stop_ids = sorted(end_of_turn_ids(self.tokenizer, None))
        self.tool_format = detect_tool_format(self.tokenizer, tool_format)
        self.context_length = int(self.llm.llm_engine.model_config.max_model_len)
        self.context_rule = context_rule
        self.max_prompt_tokens = max_prompt_tokens
        self.stats = {"prompts": 0, "skipped": 0, "truncated": 0}

    @property
    def model_id(self) -> str:
        return self._model

    def close(self) -> None:
        self.llm = None

    def prepare(self, prompt: Prompt, max_new_tokens: int = 256) -> ContextInfo:
        limit = self.max_prompt_tokens or max(1, self.context_length - max_new_tokens)
        return prepare_prompt(self.tokenizer, prompt, limit, self.context_rule, self.tool_format)

    def _params(self, n: int, sampling: SamplingParams, **extra: Any) -> Any:
        stop_ids = list(self.stop_ids)
        return self._vllm.SamplingParams(
            n=n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_new_tokens,
            seed=sampling.seed,
            stop=list(sampling.stop) or None,
            stop_token_ids=[i for i in stop_ids if isinstance(i, int) and i >= 0],
            logprobs=0,
            **extra,
        )

    def sample(self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams) -> list[list[Completion]]:
        """``n`` completions per prompt; a prompt skipped by the context rule gets ``[]``."""
        from vllm.inputs import TokensPrompt

        infos = [self.prepare(p, sampling.max_new_tokens) for p in prompts]
        self.stats["prompts"] += len(infos)
        self.stats["skipped"] += sum(1 for i in infos if i.ids is None)
        self.stats["truncated"] += sum(1 for i in infos if i.dropped_turns)
        live = [i for i, info in enumerate(infos) if info.ids is not None]
        out: list[list[Completion]] = [[] for _ in prompts]
        if not live:
            return out
        reqs = [TokensPrompt(prompt_token_ids=list(infos[i].ids or ())) for i in live]
        results = self.llm.generate(reqs, self._params(n, sampling), use_tqdm=False)
        for i, res in zip(live, results, strict=True):
            out[i] = [self._completion(o, infos[i]) for o in res.outputs]
        return out

    def _completion(self, o: Any, info: ContextInfo) -> Completion:
        lps = None
        if o.logprobs:
            lps = tuple(float(d[t].logprob) for t, d in zip(o.token_ids, o.logprobs, strict=False))
        return Completion(
            text=o.text,
            message=parse_completion(o.text, self.end_token, self.tool_format, info.tools),
            token_ids=tuple(o.token_ids),
            logprobs=lps,
            finish_reason="length" if o.finish_reason == "length" else "stop",
            meta={"context": info.to_dict(), "prompt_ids": info.ids},
        )

    def logprobs(
        self,
        prompts: Sequence[Prompt],
        completions: Sequence[Completion | Sequence[int]],
        temperature: float = 1.0,
    ) -> list[Any]:
        """Log-probabilities of given completions (vLLM ``prompt_logprobs`` over prompt + completion)."""
        import torch
        from vllm.inputs import TokensPrompt

        reqs, spans = [], []
        for p, c in zip(prompts, completions, strict=True):
            ids = list(c.token_ids or ()) if isinstance(c, Completion) else [int(t) for t in c]
            prompt_ids = c.meta.get("prompt_ids") if isinstance(c, Completion) else None
            prompt_ids = list(prompt_ids or self.prepare(p, len(ids)).ids or ())
            reqs.append(TokensPrompt(prompt_token_ids=prompt_ids + ids))
            spans.append((len(prompt_ids), ids))
        params = self._vllm.SamplingParams(max_tokens=1, temperature=temperature or 1.0, prompt_logprobs=0)
        results = self.llm.generate(reqs, params, use_tqdm=False)
        out = []
        for res, (plen, ids) in zip(results, spans, strict=True):
            pl = res.prompt_logprobs or []
            out.append(torch.tensor([float(pl[plen + j][t].logprob) for j, t in enumerate(ids)]))
        return out
