"""Evaluation: held-out turns, the domain's benchmark, and the OOD probe suite with KL.

Three parts, each usable alone (``docs/evaluation.md``):

* :func:`evaluate_candidates` -- functional accuracy on held-out candidates (the validation split
  of ``pivotrl select``, or candidates extracted from held-out trajectories): one action per
  candidate, greedy by default, scored by the domain's verifier. Errored verdicts are excluded
  from the accuracy and counted.
* :func:`run_benchmark` -- the domain's benchmark adapter, ``Domain.benchmarks[name](policy, ...)``.
* :func:`evaluate_ood` -- exact-match accuracy on the OOD probes (:mod:`pivotrl_core.ood`), the
  retention rate on the probes the shipped base model answers correctly, and the mean token-level
  KL(pi_theta || pi_0) to a reference model, computed exactly (full vocabulary) at every token of
  the probes' reference answers (teacher forcing; no sampling noise).

:func:`evaluate` runs the parts a caller asks for and returns the ``eval.json`` document.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .ood import Probe, load_probes, probe_prompt, score_answer
from .policies.base import Prompt, SamplingParams
from .types import Candidate, Verdict

__all__ = [
    "answer_probes",
    "evaluate",
    "evaluate_candidates",
    "evaluate_ood",
    "evaluate_sets",
    "mean_std",
    "ood_kl",
    "run_benchmark",
]

Progress = Callable[[int], None]


def mean_std(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "std", "n", "values"}`` with the population std (0 for a single value)."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"mean": None, "std": None, "n": 0, "values": []}
    return {
        "mean": statistics.fmean(vals),
        "std": statistics.pstdev(vals) if len(vals) > 1 else 0.0,
        "n": len(vals),
        "values": vals,
    }


def _sample_in_batches(
    policy: Any,
    prompts: Sequence[Prompt],
    n: int,
    sampling: SamplingParams,
    batch: int,
    advance: Progress | None,
) -> list[list[Any]]:
    out: list[list[Any]] = []
    for i in range(0, len(prompts), batch):
        chunk = prompts[i : i + batch]
        out.extend(policy.sample(chunk, n, sampling))
        if advance is not None:
            advance(len(chunk))
    return out


# -- held-out candidates ---------------------------------------------------------------------


def _kind(c: Candidate) -> str:
    return "call" if c.expected.tool_calls else "message"


def _tool(c: Candidate) -> str:
    return ",".join(tc.name for tc in c.expected.tool_calls) or "message"


def _accumulate(table: dict[str, dict[str, float]], key: str, verdict: Verdict) -> None:
    row = table.setdefault(key, {"n": 0, "passed": 0, "errored": 0})
    if verdict.errored:
        row["errored"] += 1
    else:
        row["n"] += 1
        row["passed"] += int(verdict.passed)


def _finish(table: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    return {k: {**v, "accuracy": v["passed"] / v["n"] if v["n"] else None} for k, v in sorted(table.items())}


def evaluate_candidates(
    policy: Any,
    candidates: Sequence[Candidate],
    verifier: Any,
    *,
    sampling: SamplingParams | None = None,
    n_samples: int = 1,
    batch_size: int = 16,
    system_prompt: str | None = None,
    advance: Progress | None = None,
) -> dict[str, Any]:
    """Functional accuracy of ``policy`` on held-out candidates.

    Each candidate gets ``n_samples`` actions (greedy by default: ``temperature=0``), scored by
    ``verifier``; ``accuracy`` = passed / scored over all actions (pass@1 averaged over samples).
    Prompts are built as profiling and training build them (``system_prompt``, the domain's, is
    prepended to a prefix without one). A prompt the policy skipped (too long for its context)
    counts in ``skipped``, not as a fail.
    """
    from .profile import candidate_prompt
    from .verifiers.base import verify_many

    sampling = sampling or SamplingParams(temperature=0.0, max_new_tokens=96)
    prompts = [candidate_prompt(c, system_prompt) for c in candidates]
    completions = _sample_in_batches(policy, prompts, n_samples, sampling, batch_size, advance)
    pairs = [(c, comp.message) for c, comps in zip(candidates, completions, strict=True) for comp in comps]
    verdicts = verify_many(verifier, pairs)
    overall: dict[str, dict[str, float]] = {}
    by_kind: dict[str, dict[str, float]] = {}
    by_tool: dict[str, dict[str, float]] = {}
    for (c, _), v in zip(pairs, verdicts, strict=True):
        _accumulate(overall, "all", v)
        _accumulate(by_kind, _kind(c), v)
        _accumulate(by_tool, _tool(c), v)
    all_row = _finish(overall).get("all", {"n": 0, "passed": 0, "errored": 0, "accuracy": None})
    emitted_calls = sum(1 for _, a in pairs if a.tool_calls)
    return {
        "accuracy": all_row["accuracy"],
        "n_candidates": len(candidates),
        "n_scored": all_row["n"],
        "n_passed": all_row["passed"],
        "n_errored": all_row["errored"],
        "skipped": sum(1 for comps in completions if not comps),
        "tool_call_rate": emitted_calls / len(pairs) if pairs else None,
        "by_kind": _finish(by_kind),
        "by_tool": _finish(by_tool),
        "sampling": sampling.to_dict(),
        "n_samples": n_samples,
    }


# -- benchmark adapters -----------------------------------------------------------------------


def run_benchmark(policy: Any, domain: str, name: str, **options: Any) -> dict[str, Any]:
    """Run ``get_registry().domain(domain).benchmarks[name](policy, **options)``."""
    from .errors import UnknownNameError
    from .registry import get_registry

    benches = get_registry().domain(domain).benchmarks
    if name not in benches:
        raise UnknownNameError("benchmark", name, list(benches))
    result = benches[name](policy, **options)
    if not isinstance(result, dict):
        raise ConfigError(
            f"benchmark '{name}' of domain '{domain}' returned {type(result).__name__}, not a dict"
        )
    return result


# -- OOD probes -----------------------------------------------------------------------------


def answer_probes(
    policy: Any,
    probes: Sequence[Probe],
    *,
    max_new_tokens: int = 24,
    batch_size: int = 32,
    advance: Progress | None = None,
) -> list[str]:
    """Greedy answers of ``policy`` to the probes (a tool call counts as its raw text)."""
    sampling = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)
    prompts = [probe_prompt(p) for p in probes]
    comps = _sample_in_batches(policy, prompts, 1, sampling, batch_size, advance)
    return [c[0].text if c else "" for c in comps]


def _answer_ids(tokenizer: Any, probe: Probe) -> tuple[list[int], list[int]]:
    from .policies.chat import end_of_turn, render_prompt

    prompt = render_prompt(tokenizer, probe_prompt(probe).messages)
    p_ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    a_ids = list(tokenizer(probe.answer + end_of_turn(tokenizer), add_special_tokens=False)["input_ids"])
    return p_ids, a_ids


def ood_kl(
    model: Any, reference: Any, tokenizer: Any, probes: Sequence[Probe], *, batch_size: int = 16
) -> dict[str, Any]:
    """Mean token-level KL(pi_theta || pi_0) on the probes' reference answers.

    For every probe the prompt is followed by its reference answer and the end-of-turn token
    (teacher forcing). At each answer position t the two next-token distributions are compared
    exactly over the whole vocabulary: KL_t = sum_v p_theta(v) (log p_theta(v) - log p_0(v)).
    Returns the mean over all answer tokens (``kl_per_token``) and the mean over probes of each
    probe's token mean (``kl_per_probe``), in nats.
    """
    import torch

    total, n_tok, per_probe = 0.0, 0, []
    model.eval()
    reference.eval()
    for i in range(0, len(probes), batch_size):
        seqs = [_answer_ids(tokenizer, p) for p in probes[i : i + batch_size]]
        width = max(len(p) + len(a) for p, a in seqs)
        pad = tokenizer.pad_token_id or 0
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for b, (p, a) in enumerate(seqs):  # right padding: positions start at 0 for every row
            ids[b, : len(p) + len(a)] = torch.tensor(p + a)
            mask[b, : len(p) + len(a)] = 1
        with torch.no_grad():
            lp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), -1)
            lq = torch.log_softmax(reference(input_ids=ids, attention_mask=mask).logits.float(), -1)
        kl = (lp.exp() * (lp - lq)).sum(-1)  # (B, T): KL of the distribution predicting token t+1
        for b, (p, a) in enumerate(seqs):
            k = kl[b, len(p) - 1 : len(p) + len(a) - 1]  # positions that predict the answer tokens
            total += float(k.sum())
            n_tok += k.numel()
            per_probe.append(float(k.mean()))
    return {
        "kl_per_token": total / n_tok if n_tok else None,
        "kl_per_probe": statistics.fmean(per_probe) if per_probe else None,
        "n_tokens": n_tok,
        "n_probes": len(per_probe),
        "method": "exact, teacher-forced on reference answers",
    }


def evaluate_ood(
    policy: Any,
    probes: Sequence[Probe],
    *,
    reference_model: Any = None,
    max_new_tokens: int = 24,
    advance: Progress | None = None,
) -> dict[str, Any]:
    """OOD accuracy (overall and per skill), retention on base-correct probes, and KL.

    ``retention`` is the accuracy on the probes the shipped base model answered correctly
    (``base_correct``), so 1.0 means nothing the base knew was forgotten. KL needs a ``policy``
    with ``.model``/``.tokenizer`` (the ``hf`` backend) and a ``reference_model``.
    """
    answers = answer_probes(policy, probes, max_new_tokens=max_new_tokens, advance=advance)
    rows = [(p, score_answer(p, a)) for p, a in zip(probes, answers, strict=True)]
    by_skill: dict[str, list[bool]] = {}
    for p, ok in rows:
        by_skill.setdefault(p.skill, []).append(ok)
    kept = [ok for p, ok in rows if p.base_correct]
    out: dict[str, Any] = {
        "accuracy": sum(ok for _, ok in rows) / len(rows) if rows else None,
        "retention": sum(kept) / len(kept) if kept else None,
        "n": len(rows),
        "n_base_correct": len(kept),
        "by_skill": {s: {"n": len(v), "accuracy": sum(v) / len(v)} for s, v in sorted(by_skill.items())},
        "tool_call_answers": sum(1 for a in answers if "<tool_call>" in a),
        "examples": [
            {"id": p.id, "question": p.question, "answer": p.answer, "response": a, "correct": ok}
            for (p, ok), a in list(zip(rows, answers, strict=True))[:8]
        ],
    }
    if reference_model is not None and hasattr(policy, "model"):
        out["kl"] = ood_kl(policy.model, reference_model, policy.tokenizer, probes)
    return out


# -- everything ------------------------------------------------------------------------------


def evaluate_sets(
    policy: Any,
    domain: str | None,
    paths: Sequence[str | Path],
    seeds: Sequence[int],
    sampling: SamplingParams,
    n_samples: int,
    limit: int | None,
) -> dict[str, Any]:
    """Accuracy on each candidates file (a held-out set) and the mean and spread over the sets
    (over the sampling seeds when there is one set and the decoding is sampled)."""
    from .jsonl import read_jsonl
    from .registry import get_registry

    sets: dict[str, Any] = {}
    for path in paths:
        cands = list(read_jsonl(path, Candidate.from_dict))[:limit]
        if not cands:
            raise ConfigError(f"{path} holds no candidates; point --candidates at a non-empty JSONL file")
        dom = domain or cands[0].domain
        verifier = get_registry().domain_verifier(dom)
        system = get_registry().domain(dom).system_prompt
        runs = [
            evaluate_candidates(
                policy,
                cands,
                verifier,
                n_samples=n_samples,
                system_prompt=system,
                sampling=dataclasses.replace(sampling, seed=s),
            )
            for s in (seeds if sampling.temperature > 0 else seeds[:1])
        ]
        result = runs[0]
        if len(runs) > 1:
            result["per_seed"] = [r["accuracy"] for r in runs]
            result["accuracy"] = mean_std(result["per_seed"])["mean"]
        sets[Path(path).stem] = result
    accs = [r["accuracy"] for r in sets.values() if r["accuracy"] is not None]
    spread_over = "sets" if len(sets) > 1 else "seeds"
    if len(sets) == 1:
        only = next(iter(sets.values()))
        accs = only.get("per_seed", accs)
    return {"sets": sets, "summary": {**mean_std(accs), "over": spread_over}}


def evaluate(
    model: str | Any,
    *,
    domain: str | None = None,
    candidates: Sequence[str | Path] = (),
    benchmark: str | None = None,
    benchmark_options: dict[str, Any] | None = None,
    ood: bool = False,
    ood_limit_per_skill: int | None = None,
    reference: str | None = None,
    seeds: Sequence[int] | None = None,
    sampling: SamplingParams | None = None,
    n_samples: int = 1,
    limit: int | None = None,
    policy_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the requested parts for one model and return the ``eval.json`` document.

    ``model`` is a model name/folder (loaded with the ``hf`` backend) or a ready policy.
    ``seeds`` are the sampling seeds of sampled held-out evaluation (default ``(0,)``; greedy
    uses the first). The benchmark adapter gets ``benchmark_options`` (its task seeds among them
    when wanted; ``pivotrl eval --seeds`` puts them there).
    """
    from .registry import get_registry

    if not (candidates or benchmark or ood):
        raise ConfigError(
            "nothing to evaluate: pass --candidates FILE, --benchmark NAME (with --domain) or --ood"
        )
    if benchmark and not domain:
        raise ConfigError(
            "--benchmark needs --domain to find the adapter, e.g. --domain tool-use --benchmark episodes"
        )
    t0 = time.perf_counter()
    if isinstance(model, str):  # held-out turns and episodes share prefixes: prefill each once
        from .policies.prefix_store import DEFAULT_PREFIX_CACHE

        policy = get_registry().policy(
            "hf", model=model, **{"prefix_cache": DEFAULT_PREFIX_CACHE, **(policy_options or {})}
        )
    else:
        policy = model
    sampling = sampling or SamplingParams(temperature=0.0, max_new_tokens=96)
    doc: dict[str, Any] = {
        "model": model if isinstance(model, str) else getattr(policy, "model_id", "policy"),
        "domain": domain,
        "seeds": list(seeds) if seeds else None,
        "timing": {},
    }
    if candidates:
        t = time.perf_counter()
        doc["held_out"] = evaluate_sets(policy, domain, candidates, seeds or (0,), sampling, n_samples, limit)
        doc["timing"]["held_out_s"] = time.perf_counter() - t
    if benchmark:
        t = time.perf_counter()
        doc["benchmark"] = {
            "name": benchmark,
            **run_benchmark(policy, domain or "", benchmark, **(benchmark_options or {})),
        }
        doc["timing"]["benchmark_s"] = time.perf_counter() - t
    if ood:
        t = time.perf_counter()
        ref_model = None
        if reference is not None:
            from .policies.models import load_model

            ref_model = load_model(reference)
        probes = load_probes(limit_per_skill=ood_limit_per_skill)
        doc["ood"] = evaluate_ood(policy, probes, reference_model=ref_model)
        doc["ood"]["reference"] = reference
        doc["timing"]["ood_s"] = time.perf_counter() - t
    doc["timing"]["total_s"] = time.perf_counter() - t0
    return _clean(doc)


def _clean(obj: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by None, recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj
