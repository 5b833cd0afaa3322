"""Benchmark the ``web_search`` verifier on search turns of the tau2 banking corpus.

Candidates: every search turn of the expert's trajectories on the ``train`` tasks. Sampled
actions, five per candidate, each a ``search``: the demonstration itself; a *paraphrase* (12
words from the body of the document the demonstration opened); the *first half* of the
demonstration's query; its words *shuffled*; the title of a random *other* document.

Measured, side by side with NVIDIA's rule for search data (the core's ``tool_call`` verifier,
word overlap >= 0.3, as the ``search`` domain configures it): verdicts per second (best of
``--repeats``; for ``web_search`` its query memo is cleared before every repeat, so every query
is scored; "cold" also clears the per-term BM25 score columns), the ratio, and where the two
verdicts disagree. The ground truth for a
disagreement is the retrieval itself: does the sampled query's top k contain the document the
demonstration went on to open (or another required document not opened yet)?
Results go to ``benchmarks/results/web_search_verifier.txt``.

    PIVOTRL_WEB_DATA=../shared/data/tau2-banking .venv/bin/python benchmarks/web_search_verifier.py
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from collections import Counter
from pathlib import Path

from pivotrl_web.banking import load_banking
from pivotrl_web.corpus import load_corpus
from pivotrl_web.generate import generate

from pivotrl_core import ExtractOptions, Message, ToolCall, default_extractor, get_registry, verify_many

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "web_search_verifier.txt"
KINDS = ("demonstration", "paraphrase", "first half", "shuffled", "other doc")


def _candidates() -> list:
    opts = ExtractOptions(domain="web")
    return [c for t in generate(1000, 0, "train") for c in default_extractor(t, opts)]


def _search(query: str, k: int) -> Message:
    return Message(role="assistant", tool_calls=(ToolCall("search", {"query": query, "k": k}),))


def _pairs(seed: int) -> list[tuple[str, object, Message]]:
    data = load_banking()
    corpus = load_corpus(data.documents_dir)
    rng = random.Random(seed)
    searches = [
        c for c in _candidates() if c.expected.tool_calls and c.expected.tool_calls[0].name == "search"
    ]
    ids = list(corpus.documents)
    out = []
    for c in searches:
        args = c.expected.tool_calls[0].arguments
        query, k = args["query"], int(args.get("k", 5))
        target = c.metadata["web"]["turns"][str(c.turn_index)]["targets"][0]
        body = corpus.documents[target].content.replace("#", " ").split()
        words = query.split()
        shuffled = words[:]
        rng.shuffle(shuffled)
        variants = (
            query,
            " ".join(body[20:32]),
            " ".join(words[: max(1, len(words) // 2)]),
            " ".join(shuffled),
            corpus.documents[rng.choice(ids)].title,
        )
        out.extend((kind, c, _search(v, k)) for kind, v in zip(KINDS, variants, strict=True))
    return out


def _rate(verifier, pairs, repeats: int, clear=None) -> tuple[float, list]:
    best, verdicts = 0.0, []
    for _ in range(repeats):
        if clear is not None:
            clear()
        start = time.perf_counter()
        verdicts = verify_many(verifier, pairs)
        best = max(best, len(pairs) / (time.perf_counter() - start))
    return best, verdicts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    start = time.perf_counter()
    rows = _pairs(args.seed)
    setup = time.perf_counter() - start
    pairs = [(c, a) for _, c, a in rows]
    reg = get_registry()
    functional = reg.verifier("web_search")
    overlap = reg.verifier("tool_call", threshold=0.3)
    corpus = load_corpus(load_banking().documents_dir)

    def cold() -> None:
        corpus.search.cache_clear()
        corpus._column.cache_clear()

    c_rate, _ = _rate(functional, pairs, args.repeats, cold)
    f_rate, f_verdicts = _rate(functional, pairs, args.repeats, corpus.search.cache_clear)
    o_rate, o_verdicts = _rate(overlap, pairs, args.repeats)
    table: Counter[tuple[str, bool, bool]] = Counter()
    for (kind, _, _), fv, ov in zip(rows, f_verdicts, o_verdicts, strict=True):
        table[(kind, fv.passed, ov.passed)] += 1
    lines = [
        "web_search verifier vs NVIDIA's word-overlap rule (tool_call, threshold 0.3), search turns",
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs shared with other jobs"
        f" (load average {load:.1f} at start), python {platform.python_version()}",
        f"corpus: tau2 banking knowledge base, {len(corpus)} documents; BM25 = rank_bm25.BM25Okapi",
        f"candidates: {len(pairs) // len(KINDS)} search turns x {len(KINDS)} sampled searches"
        f" = {len(pairs)} pairs (setup {setup:.1f} s)",
        "",
        f"web_search, cold (query memo and BM25 term columns cleared): {c_rate:10.0f} verdicts/s",
        f"web_search, warm term columns (query memo cleared):          {f_rate:10.0f} verdicts/s",
        f"tool_call threshold 0.3 (NVIDIA, word overlap):                {o_rate:10.0f} verdicts/s",
        f"ratio web_search / word overlap: cold {c_rate / o_rate:.4f}, warm {f_rate / o_rate:.4f}",
        "",
        "verdicts by sampled search: F/f = functional pass/fail, O/o = overlap pass/fail",
    ]
    for kind in KINDS:
        cells = [
            f"{'F' if f else 'f'}{'O' if o else 'o'}={table[(kind, f, o)]}" for f in (1, 0) for o in (1, 0)
        ]
        lines.append(f"  {kind:13s} " + "  ".join(cells))
    agree = sum(n for (_, f, o), n in table.items() if f == o)
    lines.append(f"agreement: {agree}/{len(pairs)} ({agree / len(pairs):.1%})")
    every = [(c, c.expected) for c in _candidates()]
    a_rate, a_verdicts = _rate(reg.verifier("web_search"), every, args.repeats)
    lines += [
        "",
        f"all {len(every)} expert turns (search, open, replayed actions, messages), demonstrations:",
        f"  web_search {a_rate:.0f} verdicts/s (fresh verifier, prefix worlds cached per turn), "
        f"{sum(v.passed for v in a_verdicts)} passed",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    OUT.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
