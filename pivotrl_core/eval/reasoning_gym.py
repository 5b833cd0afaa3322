"""Out-of-domain retention on third-party generators: ``reasoning-gym`` (Apache-2.0).

Each task is a reasoning-gym generator (``gsm_symbolic``, ``basic_arithmetic``, ``chain_sum``,
``letter_counting``, ``word_sorting``, ...) with its own scorer (``dataset.score_answer``): the
project writes neither the questions nor the checks. Items are drawn with a fixed seed, so
every model of an experiment answers the same questions. The model answers greedily after a
short instruction; the answer scored is the reply's last non-empty line (a generator's scorer
decides what matches). With a reference model, the exact token-level KL(pi_theta || pi_0) on
the generators' reference answers is reported too (:func:`~.ood.ood_kl`, teacher-forced).

Needs ``pip install 'pivotrl[reasoning-gym]'`` (``reasoning-gym==0.1.25``).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..policies.base import Policy, Prompt, SamplingParams
from ..types import Message
from .ood import Probe, ood_kl

__all__ = ["DEFAULT_TASKS", "RGTask", "evaluate_reasoning_gym", "load_items", "require_reasoning_gym"]

INSTRUCTION = "Answer the question. Reply with the final answer only, on one line."

# Small settings a 135M model can sometimes solve (the generators' defaults are far beyond it);
# gsm_symbolic and word_sorting keep their defaults.
DEFAULT_TASKS: dict[str, dict[str, Any]] = {
    "gsm_symbolic": {},
    "basic_arithmetic": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1},
    "chain_sum": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1},
    "letter_counting": {"min_words": 3, "max_words": 5},
    "word_sorting": {"min_words": 3, "max_words": 3},
}


@dataclass(frozen=True)
class RGTask:
    """One generator: its name, its options and how many items to draw."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    n: int = 10


def require_reasoning_gym() -> Any:
    """The ``reasoning_gym`` module, or a :class:`ConfigError` saying how to install it."""
    try:
        import reasoning_gym
    except ImportError:
        raise ConfigError(
            "reasoning-gym is not installed: pip install 'pivotrl[reasoning-gym]' (reasoning-gym==0.1.25), "
            "or set [ood] reasoning_gym = false"
        ) from None
    return reasoning_gym


def _datasets(tasks: Sequence[RGTask], seed: int) -> list[tuple[RGTask, Any]]:
    reasoning_gym = require_reasoning_gym()
    out = []
    for t in tasks:
        try:
            out.append((t, reasoning_gym.create_dataset(t.name, size=t.n, seed=seed, **t.options)))
        except (ValueError, TypeError, AssertionError) as e:
            raise ConfigError(f"reasoning-gym task {t.name!r} with {t.options}: {e}") from None
    return out


def load_items(tasks: Sequence[RGTask], seed: int = 0) -> list[tuple[str, Any, dict[str, Any]]]:
    """``(task, dataset, item)`` for every drawn item (the dataset is the item's scorer)."""
    return [(t.name, ds, ds[i]) for t, ds in _datasets(tasks, seed) for i in range(len(ds))]


def _prompt(question: str) -> Prompt:
    return Prompt(messages=(Message("system", INSTRUCTION), Message("user", question)))


def final_line(text: str) -> str:
    """The last non-empty line of a reply (the scored answer)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def tasks_from(spec: Mapping[str, Mapping[str, Any]] | None, n: int) -> list[RGTask]:
    """Task list from ``{name: options}`` (default :data:`DEFAULT_TASKS`), ``n`` items each."""
    return [RGTask(name, dict(opts), n) for name, opts in (spec or DEFAULT_TASKS).items()]


def evaluate_reasoning_gym(
    policy: Policy,
    tasks: Sequence[RGTask],
    *,
    seed: int = 0,
    max_new_tokens: int = 48,
    batch_size: int = 16,
    reference_model: Any = None,
) -> dict[str, Any]:
    """Accuracy per generator (its own scorer) and overall (mean over generators), plus KL to pi_0."""
    items = load_items(tasks, seed)
    sampling = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)
    answers: list[str] = []
    for i in range(0, len(items), batch_size):
        chunk = items[i : i + batch_size]
        comps = policy.sample([_prompt(it["question"]) for _, _, it in chunk], 1, sampling)
        answers += [(c[0].message.content or c[0].text) if c else "" for c in comps]
    scores: dict[str, list[float]] = {}
    for (name, ds, item), ans in zip(items, answers, strict=True):
        scores.setdefault(name, []).append(float(ds.score_answer(final_line(ans), item)))
    out: dict[str, Any] = {
        "source": "reasoning-gym==0.1.25",
        "seed": seed,
        "by_task": {k: {"n": len(v), "accuracy": statistics.fmean(v)} for k, v in scores.items()},
        "accuracy": statistics.fmean(statistics.fmean(v) for v in scores.values()) if scores else None,
        "examples": [
            {"task": n, "question": it["question"][:200], "answer": it["answer"], "response": a[:200]}
            for (n, _, it), a in list(zip(items, answers, strict=True))[:5]
        ],
    }
    if reference_model is not None and hasattr(policy, "model"):
        probes = [
            Probe(id=f"{n}-{i}", skill=n, question=it["question"], answer=str(it["answer"]))
            for i, (n, _, it) in enumerate(items)
        ]
        out["kl"] = ood_kl(policy.model, reference_model, policy.tokenizer, probes)
    return out
