"""pivotrl's pivots and verifiers in the engines people already run: TRL, verl, Prime Intellect.

- :func:`reward_function`: a TRL ``GRPOTrainer`` reward function scoring completions with each
  pivot's own verifier; an errored verdict is ``None`` (TRL leaves it out), never 0.
- :func:`pivot_prompt` / :func:`pivots_dataset`: pivots as conversational prompts (a ``datasets``
  dataset with ``prompt`` and ``pivot`` columns) that ``GRPOTrainer`` takes as is.
- :func:`verl_rows`: rows of verl's RL parquet (``data_source``, ``prompt``, ``ability``,
  ``reward_model``, ``extra_info``); :func:`verl_reward` is a verl ``compute_score`` function.
- :func:`load_environment`: a Prime Intellect ``verifiers`` ``SingleTurnEnv`` whose rubric is our
  verifier.

Tools: per-pivot tool schemas are written into the system message (the instruction the ``hf``
policy uses for templates without native tools), because TRL and ``verifiers`` render one tool
list per trainer, not per row. Tool calls -- earlier ones in the prompt, the tool instruction's
example, and the calls parsed out of completions -- are in ``tool_format``: a format name
(:mod:`~pivotrl_core.policies.tool_formats`) or a format object such as
``detect_tool_format(tokenizer)``, the trained model's own (``engine = "trl"`` passes that);
without one, Hermes ``<tool_call>{json}</tool_call>`` (with the bare/fenced JSON fallback).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .extract import read_candidates
from .plugins import get_registry
from .policies.chat import parse_completion, to_hf_messages
from .policies.tool_formats import ToolCallFormat, get_tool_format
from .registry import Registry
from .rollouts import VerifierResolver
from .types import Candidate, Message, ToolCall, Verdict
from .verifiers.base import Verifier

__all__ = [
    "PIVOT_COLUMN",
    "completion_message",
    "load_environment",
    "pivot_prompt",
    "pivot_rows",
    "pivots_dataset",
    "reward_function",
    "score_completions",
    "verl_reward",
    "verl_rows",
]

PIVOT_COLUMN = "pivot"  # the dataset column holding the pivot (Candidate JSON) a reward needs

RewardFn = Callable[..., list[float | None]]
ToolFormatArg = str | ToolCallFormat | None


def _fmt(tool_format: ToolFormatArg) -> ToolCallFormat | None:
    """A format by name (unknown: UnknownNameError with "did you mean"), an object as is; None: Hermes."""
    return get_tool_format(tool_format) if isinstance(tool_format, str) else tool_format


def _resolver(
    registry: Registry | None, domain: str | None, verifier: str | None, options: Mapping[str, Any] | None
) -> VerifierResolver:
    return VerifierResolver(registry or get_registry(), domain=domain, verifier=verifier, options=options)


def pivot_prompt(
    candidate: Candidate, system_prompt: str | None = None, tool_format: ToolFormatArg = None
) -> list[dict[str, Any]]:
    """The pivot's prefix as chat messages (``role``/``content`` only), tools in the system message;
    earlier calls and the instruction's example in ``tool_format`` (default Hermes)."""
    msgs = candidate.messages
    if system_prompt and not (msgs and msgs[0].role == "system"):
        msgs = (Message(role="system", content=system_prompt), *msgs)
    return to_hf_messages(msgs, candidate.tools, native=False, fmt=_fmt(tool_format))


def pivot_rows(
    pivots: Iterable[Candidate] | str | Path,
    *,
    registry: Registry | None = None,
    domain: str | None = None,
    tool_format: ToolFormatArg = None,
) -> list[dict[str, Any]]:
    """``{"prompt", "pivot", "id"}`` rows (``pivot`` = the candidate as a JSON string)."""
    cands = read_candidates(pivots) if isinstance(pivots, (str, Path)) else pivots
    resolver = _resolver(registry, domain, None, None)
    fmt = _fmt(tool_format)
    return [
        {
            "prompt": pivot_prompt(c, resolver.system_prompt(c), fmt),
            PIVOT_COLUMN: json.dumps(c.to_dict(), ensure_ascii=False),
            "id": c.id,
        }
        for c in cands
    ]


def pivots_dataset(
    pivots: Iterable[Candidate] | str | Path,
    *,
    registry: Registry | None = None,
    domain: str | None = None,
    tool_format: ToolFormatArg = None,
) -> Any:
    """Pivots as a ``datasets.Dataset`` of conversational prompts for TRL's ``GRPOTrainer``."""
    import datasets

    rows = pivot_rows(pivots, registry=registry, domain=domain, tool_format=tool_format)
    return datasets.Dataset.from_list(rows)


def completion_message(
    completion: Any, tool_format: ToolFormatArg = None, tools: Sequence[dict[str, Any]] = ()
) -> Message:
    """An assistant :class:`Message` from a TRL/``verifiers`` completion (text or message list);
    text is parsed in ``tool_format`` (default Hermes), typed by the ``tools`` schemas."""
    fmt = _fmt(tool_format)
    if isinstance(completion, str):
        return parse_completion(completion, fmt=fmt, tools=tools)
    turns = [m for m in completion or () if isinstance(m, Mapping) and m.get("role") == "assistant"]
    if not turns:
        return Message(role="assistant", content=None)
    last = turns[-1]
    calls = last.get("tool_calls") or []
    if not calls:
        return parse_completion(str(last.get("content") or ""), fmt=fmt, tools=tools)
    parsed = []
    for c in calls:
        fn = c.get("function", c)
        parsed.append(ToolCall.from_raw(fn.get("name"), fn.get("arguments"), id=c.get("id")))
    text = str(last.get("content") or "").strip() or None
    return Message(role="assistant", content=text, tool_calls=tuple(parsed))


def _candidate(pivot: Any) -> Candidate:
    if isinstance(pivot, Candidate):
        return pivot
    return Candidate.from_dict(json.loads(pivot) if isinstance(pivot, str) else pivot)


def _verify_batch(verifier: Verifier, pairs: list[tuple[Candidate, Message]]) -> list[Verdict]:
    """``verifier.verify_batch`` (the judge's is concurrent); a failing batch API errors every verdict."""
    try:
        out = list(verifier.verify_batch(pairs))
    except Exception as e:  # noqa: BLE001 - an infrastructure failure is errored, never a 0
        return [Verdict.from_error(f"{type(e).__name__}: {e}", verifier=verifier.name) for _ in pairs]
    if len(out) != len(pairs):
        msg = f"verify_batch returned {len(out)} verdicts for {len(pairs)} actions"
        return [Verdict.from_error(msg, verifier=verifier.name) for _ in pairs]
    return out


def score_completions(
    resolver: VerifierResolver,
    pivots: Sequence[Any],
    completions: Sequence[Any],
    tool_format: ToolFormatArg = None,
) -> list[Verdict]:
    """Verdicts of ``completions`` (parsed in ``tool_format``) against their ``pivots`` (each
    pivot's own verifier; slow verifiers such as ``llm_judge`` run concurrently across the batch)."""
    fmt = _fmt(tool_format)
    cands = [_candidate(p) for p in pivots]
    pairs = [(c, completion_message(x, fmt, c.tools)) for c, x in zip(cands, completions, strict=True)]
    by_verifier: dict[int, list[int]] = {}
    verifiers = [resolver.for_candidate(c) for c, _ in pairs]
    for i, v in enumerate(verifiers):
        by_verifier.setdefault(id(v), []).append(i)
    out: list[Verdict | None] = [None] * len(pairs)
    for idx in by_verifier.values():
        for i, verdict in zip(idx, _verify_batch(verifiers[idx[0]], [pairs[i] for i in idx]), strict=True):
            out[i] = verdict
    return [v for v in out if v is not None]


def _reward(verdict: Verdict) -> float | None:
    if verdict.error or verdict.score is None or not math.isfinite(verdict.score):
        return None
    return float(verdict.score)


def reward_function(
    *,
    registry: Registry | None = None,
    domain: str | None = None,
    verifier: str | None = None,
    options: Mapping[str, Any] | None = None,
    tool_format: ToolFormatArg = None,
) -> RewardFn:
    """A TRL reward function ``(prompts, completions, pivot, **kw) -> list[float | None]``.

    It reads the ``pivot`` column of :func:`pivots_dataset`; ``None`` marks an errored verdict.
    Completions are parsed in ``tool_format``: the trained model's (the one its dataset was
    rendered with; ``engine = "trl"`` passes ``detect_tool_format(tokenizer, cfg.tool_format)``).
    """
    resolver = _resolver(registry, domain, verifier, options)
    fmt = _fmt(tool_format)

    def pivotrl_reward(
        prompts: Sequence[Any], completions: Sequence[Any], pivot: Sequence[Any], **_: Any
    ) -> list[float | None]:
        return [_reward(v) for v in score_completions(resolver, pivot, completions, fmt)]

    pivotrl_reward.__name__ = "pivotrl_reward"
    return pivotrl_reward


def verl_rows(
    pivots: Iterable[Candidate] | str | Path,
    *,
    registry: Registry | None = None,
    domain: str | None = None,
    split: str = "train",
    tool_format: ToolFormatArg = None,
) -> list[dict[str, Any]]:
    """Rows of verl's RL parquet: the prompt, and the pivot as ``reward_model.ground_truth``."""
    rows = []
    for i, row in enumerate(pivot_rows(pivots, registry=registry, domain=domain, tool_format=tool_format)):
        cand = json.loads(row[PIVOT_COLUMN])
        rows.append(
            {
                "data_source": f"pivotrl/{cand['domain']}",
                "prompt": row["prompt"],
                "ability": "agent",
                "reward_model": {"style": "rule", "ground_truth": row[PIVOT_COLUMN]},
                "extra_info": {"split": split, "index": i, "id": row["id"]},
            }
        )
    return rows


def verl_reward(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: Any = None,
    tool_format: str | None = None,
    **_: Any,
) -> float | None:
    """verl's ``compute_score`` signature: the pivot's verifier on ``solution_str`` (parsed in
    ``tool_format``, e.g. through verl's ``custom_reward_function.reward_kwargs``; default Hermes)."""
    resolver = _resolver(None, None, None, None)
    return _reward(score_completions(resolver, [ground_truth], [solution_str], tool_format)[0])


def load_environment(
    pivots: str | Path | Iterable[Candidate],
    *,
    registry: Registry | None = None,
    domain: str | None = None,
    verifier: str | None = None,
    options: Mapping[str, Any] | None = None,
    tool_format: ToolFormatArg = None,
    **env_args: Any,
) -> Any:
    """A Prime Intellect ``verifiers`` ``SingleTurnEnv`` over ``pivots`` whose rubric is our verifier.

    The rubric's ``pivotrl_reward`` is the verdict's score; an errored verdict scores NaN (never
    0) and the zero-weight metric ``pivotrl_errored`` is 1 for it, so a trainer can drop it.
    Prompts and parsing use ``tool_format`` (the model's; default Hermes).
    """
    import datasets
    import verifiers as vf

    resolver = _resolver(registry, domain, verifier, options)
    fmt = _fmt(tool_format)
    rows = pivot_rows(pivots, registry=resolver.registry, domain=domain, tool_format=fmt)
    data = datasets.Dataset.from_list(
        [{"prompt": r["prompt"], "answer": "", "info": {"pivot": r[PIVOT_COLUMN]}} for r in rows]
    )

    seen: dict[str, Verdict] = {}  # the reward and the metric share one verification

    def verdict_of(completion: Any, info: Mapping[str, Any]) -> Verdict:
        key = json.dumps([info["pivot"], completion], sort_keys=True, default=str)
        if key not in seen:
            seen[key] = score_completions(resolver, [info["pivot"]], [completion], fmt)[0]
        return seen[key]

    def pivotrl_reward(completion: Any, info: Mapping[str, Any], **_: Any) -> float:
        score = _reward(verdict_of(completion, info))
        return math.nan if score is None else score

    def pivotrl_errored(completion: Any, info: Mapping[str, Any], **_: Any) -> float:
        return 0.0 if _reward(verdict_of(completion, info)) is not None else 1.0

    rubric = vf.Rubric(funcs=[pivotrl_reward, pivotrl_errored], weights=[1.0, 0.0])
    return vf.SingleTurnEnv(dataset=data, rubric=rubric, **env_args)
