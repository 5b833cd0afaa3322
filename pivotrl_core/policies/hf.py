"""The ``hf`` rollout backend: transformers on CPU or GPU, K samples per prompt from one prefill.

How :meth:`HFPolicy.sample` works (``docs/policies.md``):

1. every prompt is rendered (:func:`~pivotrl_core.policies.chat.render_prompt`) and the context
   rule applied (``truncate``: drop the oldest turns, keeping the system prompt and tools;
   ``skip``: leave the prompt out and count it);
2. prompts are sorted by length and grouped into batches of at most ``batch_size`` rows
   (``prompts x n``) and ``max_batch_tokens`` cached tokens;
3. each batch is prefilled ONCE, left-padded (long prompts in chunks of ``prefill_chunk``
   tokens); the ``n`` rows of a prompt then decode over that one copy of the prompt's KV cache
   (shared-prefix attention; or, for models it does not support, a cache expanded to ``n``
   rows); rows that reach the end of the assistant turn leave the batch.

Each prompt draws its random numbers from its own generator seeded by ``(seed, prompt tokens)``,
so a prompt gets the same samples whatever batch it lands in and whatever order candidates are
processed in (up to floating-point differences between batch shapes).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ConfigError
from .base import Completion, Prompt, SamplingParams
from .chat import end_of_turn, end_of_turn_ids, fit_to_context, parse_completion, render_prompt
from .models import load_model, load_tokenizer
from .tool_formats import ToolCallFormat, detect_tool_format

if TYPE_CHECKING:
    from .prefix_cache import BlockStore

__all__ = ["ContextInfo", "HFPolicy", "prepare_prompt"]

ContextRule = Literal["truncate", "skip"]
"""What to do with a prompt over the context limit: drop oldest turns, or skip it."""


@dataclass(frozen=True)
class ContextInfo:
    """How one prompt was fitted to the context window.

    ``ids`` is ``None`` when the prompt was skipped (``skip_reason`` says why).
    """

    ids: tuple[int, ...] | None
    prompt_tokens: int
    dropped_turns: int = 0
    skip_reason: str | None = None
    tools: tuple[dict[str, Any], ...] = ()  # the prompt's tool specs, for typed call parsing

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "used_tokens": len(self.ids) if self.ids is not None else None,
            "dropped_turns": self.dropped_turns,
            "skipped": self.skip_reason,
        }


class HFPolicy:
    """Sample assistant turns from a transformers causal LM.

    ``model`` is a model name/folder (``smollm2-135m``, a local path, a hub id) or an already
    loaded ``PreTrainedModel`` (then pass ``tokenizer=`` too). ``context_rule`` decides what
    happens to prompts longer than ``max_prompt_tokens`` (default: the model's context length
    minus ``max_new_tokens``). ``shared_prefix`` (default True) decodes the K samples of a prompt
    over ONE copy of its KV cache (:mod:`~pivotrl_core.policies.attention`, any model family);
    ``False`` expands the cache to K rows.
    ``prefix_cache=N`` keeps the prefill of up to N prompts; later prompts reuse the longest
    common token prefix (:mod:`~pivotrl_core.policies.prefix_store`; frozen models only).
    """

    name = "hf"

    def __init__(
        self,
        model: Any,
        *,
        tokenizer: Any = None,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 32,
        max_batch_tokens: int = 65536,
        prefill_chunk: int = 2048,
        max_prompt_tokens: int | None = None,
        context_rule: ContextRule = "truncate",
        num_threads: int | None = None,
        shared_prefix: bool | None = None,
        prefix_cache: int = 0,
        tool_format: str | None = None,
    ) -> None:
        if context_rule not in ("truncate", "skip"):
            raise ConfigError(f"context_rule must be 'truncate' or 'skip', got {context_rule!r}")
        if batch_size < 1 or prefill_chunk < 1:
            raise ConfigError("batch_size and prefill_chunk must be at least 1")
        import torch

        if num_threads:
            torch.set_num_threads(num_threads)
        self.device = device
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.prefill_chunk = prefill_chunk
        self.max_prompt_tokens = max_prompt_tokens
        self.context_rule: ContextRule = context_rule
        self._model_id, self.model, self.tokenizer = _load(model, tokenizer, device, dtype)
        if isinstance(model, str):
            self.model.eval()  # a model passed in keeps the mode its owner set (e.g. a trainer's)
        self.shared_prefix = True if shared_prefix is None else bool(shared_prefix)
        from .prefix_store import PrefixStore

        self.prefix_store = PrefixStore(prefix_cache) if prefix_cache > 0 and self.shared_prefix else None
        self.end_token = end_of_turn(self.tokenizer)
        self.stop_ids = end_of_turn_ids(self.tokenizer, getattr(self.model, "generation_config", None))
        self.tool_format = detect_tool_format(self.tokenizer, tool_format)
        self.context_length = int(getattr(self.model.config, "max_position_embeddings", 0) or 1 << 30)
        params = inspect.signature(self.model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self.stats = {
            "prompts": 0,
            "skipped": 0,
            "truncated": 0,
            "prefill_tokens": 0,
            "reused_prefix_tokens": 0,
            "new_tokens": 0,
        }

    @property
    def model_id(self) -> str:
        return self._model_id

    def close(self) -> None:
        self.model = None

    # -- prompts ------------------------------------------------------------------------
    def prompt_limit(self, max_new_tokens: int) -> int:
        """The most prompt tokens allowed when ``max_new_tokens`` must still fit."""
        if self.max_prompt_tokens is not None:
            return self.max_prompt_tokens
        return max(1, self.context_length - max_new_tokens)

    def prepare(self, prompt: Prompt, max_new_tokens: int = 256) -> ContextInfo:
        """Render a prompt to token ids and apply the context rule."""
        limit = self.prompt_limit(max_new_tokens)
        return prepare_prompt(self.tokenizer, prompt, limit, self.context_rule, self.tool_format)

    # -- sampling -----------------------------------------------------------------------
    def sample(self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams) -> list[list[Completion]]:
        """``n`` completions per prompt; a prompt skipped by the context rule gets ``[]``."""
        infos = [self.prepare(p, sampling.max_new_tokens) for p in prompts]
        return self.sample_prepared(infos, n, sampling)

    def sample_prepared(
        self,
        infos: Sequence[ContextInfo],
        n: int,
        sampling: SamplingParams,
        record_layer: int = 0,
        frozen: BlockStore | None = None,
    ) -> list[list[Completion]]:
        """Like :meth:`sample` for prompts already passed through :meth:`prepare`.

        ``record_layer > 0`` also records the hidden states entering that decoder layer: the
        completions of a prompt carry ``meta["h_prompt"]`` (P, H) and ``meta["h_comp"]`` (n, T, H)
        (the trainer's loss then skips the frozen layers below it); the layers below it are
        prefilled block by block, their full blocks kept in ``frozen`` (:mod:`.prefix_cache`).
        """
        from .hf_sampler import generate

        if n < 1:
            raise ConfigError(f"n must be at least 1, got {n}")
        out: list[list[Completion]] = [[] for _ in infos]
        self.stats["prompts"] += len(infos)
        self.stats["skipped"] += sum(1 for i in infos if i.ids is None)
        self.stats["truncated"] += sum(1 for i in infos if i.dropped_turns)
        live = [i for i, info in enumerate(infos) if info.ids is not None]
        copies = 1 if self.shared_prefix else n  # cached copies of each prompt
        for batch in _batches(live, infos, n, copies, self.batch_size, self.max_batch_tokens):
            ids = [infos[i].ids for i in batch]
            hidden: list[Any] = []
            rows = generate(self, ids, n, sampling, record_layer, hidden, frozen)  # type: ignore[arg-type]
            for j, i in enumerate(batch):
                out[i] = [self._completion(r, infos[i], sampling.stop) for r in rows[j]]
                for c in out[i] if hidden else ():
                    c.meta.update(h_prompt=hidden[j][0], h_comp=hidden[j][1])
        return out

    def _completion(self, row: Any, info: ContextInfo, stops: Sequence[str] = ()) -> Completion:
        tokens, logps, reason = row
        body = tokens[:-1] if reason == "stop" and tokens and tokens[-1] in self.stop_ids else tokens
        text = self.tokenizer.decode(body, skip_special_tokens=False)
        for s in stops:
            text = text.split(s, 1)[0]
        self.stats["new_tokens"] += len(tokens)
        return Completion(
            text=text,
            message=parse_completion(text, self.end_token, self.tool_format, info.tools),
            token_ids=tuple(tokens),
            logprobs=tuple(logps),
            finish_reason=reason,
            meta={"context": info.to_dict(), "prompt_ids": info.ids},
        )

    # -- scoring ------------------------------------------------------------------------
    def logprobs(
        self,
        prompts: Sequence[Prompt],
        completions: Sequence[Completion | Sequence[int]],
        temperature: float = 1.0,
    ) -> list[Any]:
        """Per-token log-probabilities (1-D tensors) of given completions after their prompts.

        ``completions[i]`` continues ``prompts[i]``; a :class:`Completion` from :meth:`sample`
        reuses the prompt tokens it was sampled from. Log-probabilities are those of the
        temperature-scaled distribution, as recorded at sampling time (``temperature=0`` means 1).
        """
        from .hf_sampler import score

        if len(prompts) != len(completions):
            raise ValueError("logprobs() needs one completion per prompt")
        pairs: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        for p, c in zip(prompts, completions, strict=True):
            ids = tuple(c.token_ids or ()) if isinstance(c, Completion) else tuple(int(t) for t in c)
            prompt_ids = c.meta.get("prompt_ids") if isinstance(c, Completion) else None
            if prompt_ids is None:
                info = self.prepare(p, max_new_tokens=len(ids))
                if info.ids is None:
                    raise ValueError(f"prompt does not fit the context: {info.skip_reason}")
                prompt_ids = info.ids
            pairs.append((tuple(prompt_ids), ids))
        return score(self, pairs, temperature)


def prepare_prompt(
    tokenizer: Any,
    prompt: Prompt,
    limit: int,
    rule: ContextRule = "truncate",
    fmt: ToolCallFormat | None = None,
) -> ContextInfo:
    """Render ``prompt`` to token ids (earlier tool calls in ``fmt``, the model's tool-call format)
    and fit it into ``limit`` tokens under ``rule``.

    ``truncate`` drops the oldest turns (keeping the system prompt, the tools and the last
    message, see :func:`~pivotrl_core.policies.chat.fit_to_context`) and skips the prompt only
    when even that does not fit; ``skip`` skips every prompt over the limit.
    """
    ids = _encode(tokenizer, render_prompt(tokenizer, prompt.messages, prompt.tools, fmt))
    tools = tuple(prompt.tools)
    if len(ids) <= limit:
        return ContextInfo(tuple(ids), len(ids), tools=tools)
    if rule == "skip":
        reason = f"prompt has {len(ids)} tokens > limit {limit}"
        return ContextInfo(None, len(ids), skip_reason=reason, tools=tools)
    fitted = fit_to_context(tokenizer, prompt.messages, prompt.tools, limit, fmt)
    if fitted is None:
        reason = f"system prompt, tools and last turn exceed {limit} tokens"
        return ContextInfo(None, len(ids), skip_reason=reason, tools=tools)
    msgs, dropped = fitted
    fitted_ids = tuple(_encode(tokenizer, render_prompt(tokenizer, msgs, prompt.tools, fmt)))
    return ContextInfo(fitted_ids, len(ids), dropped, tools=tools)


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _load(model: Any, tokenizer: Any, device: str, dtype: str) -> tuple[str, Any, Any]:
    if isinstance(model, str):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        tok = tokenizer if tokenizer is not None else load_tokenizer(model)
        return model, load_model(model, device=device, dtype=dtype), tok
    if tokenizer is None:
        raise ConfigError("HFPolicy(model=<loaded model>) also needs tokenizer=")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    name = getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__
    return name, model, tokenizer


def _batches(
    live: list[int], infos: Sequence[ContextInfo], n: int, copies: int, max_rows: int, max_tokens: int
) -> list[list[int]]:
    """Group prompt indices (sorted by length) into batches bounded by decode rows (``prompts x n``)
    and cached prompt tokens (``prompts x copies x longest``)."""
    order = sorted(live, key=lambda i: len(infos[i].ids or ()))
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        longest = len(infos[i].ids or ())  # sorted: the newcomer is the longest
        if cur and ((len(cur) + 1) * n > max_rows or (len(cur) + 1) * copies * longest > max_tokens):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches
