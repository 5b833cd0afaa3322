"""Build the shipped OOD probe file: the seeded generator, the fact tables, the base-model filter.

:func:`generate_probes` makes every candidate probe (seeded, deterministic) and
:func:`build_probe_file` answers them greedily with the reference model (``smollm2-135m`` as
shipped), keeps only the factual items it answers correctly and records ``base_correct`` on the
others. Rebuild the file with::

    python -m pivotrl_core.eval.ood_build --model smollm2-135m -o pivotrl_core/data/ood_probes.jsonl

The run-time side (loading, scoring, KL) is :mod:`pivotrl_core.eval.ood`.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..jsonl import write_jsonl
from ..policies.base import Policy
from ..policies.hf import HFPolicy
from . import ood_facts as facts
from .ood import NUM_WORDS, Probe, answer_probes, default_probe_path, score_answer

__all__ = ["build_probe_file", "generate_probes", "main"]


_WORDS = [
    "cat",
    "dog",
    "sun",
    "moon",
    "tree",
    "fish",
    "bird",
    "book",
    "lamp",
    "door",
    "cake",
    "milk",
    "rain",
    "snow",
    "star",
    "ship",
    "road",
    "frog",
    "bear",
    "lion",
    "wolf",
    "duck",
    "goat",
    "corn",
    "rice",
    "salt",
    "ring",
    "bell",
    "kite",
    "drum",
    "rose",
    "leaf",
    "seed",
    "nest",
    "hill",
    "lake",
    "apple",
    "table",
    "chair",
    "house",
    "water",
    "green",
    "light",
    "river",
    "stone",
    "bread",
    "plant",
    "cloud",
    "horse",
    "mouse",
    "pencil",
    "garden",
    "window",
    "orange",
    "yellow",
    "silver",
    "winter",
    "summer",
    "candle",
    "rabbit",
    "basket",
]
_COMPOUNDS = [
    ("sun", "flower"),
    ("rain", "bow"),
    ("foot", "ball"),
    ("tooth", "brush"),
    ("snow", "man"),
    ("butter", "fly"),
    ("fire", "work"),
    ("note", "book"),
    ("cup", "cake"),
    ("star", "fish"),
    ("bed", "room"),
    ("water", "fall"),
    ("moon", "light"),
    ("sea", "shell"),
    ("pan", "cake"),
    ("door", "bell"),
    ("hand", "bag"),
    ("key", "board"),
    ("air", "port"),
    ("bath", "tub"),
]
_UNITS = [  # (from, to, factor)
    ("meters", "centimeters", 100),
    ("kilometers", "meters", 1000),
    ("kilograms", "grams", 1000),
    ("hours", "minutes", 60),
    ("minutes", "seconds", 60),
    ("days", "hours", 24),
    ("weeks", "days", 7),
    ("years", "months", 12),
    ("feet", "inches", 12),
    ("liters", "milliliters", 1000),
    ("dozen", "items", 12),
    ("centuries", "years", 100),
]
_NUMBER = " Reply with the number only."
_WORD = " Reply with the word only."
_LETTER = " Reply with the letter only."


def _arithmetic(rng: random.Random, n: int) -> list[Probe]:
    out = []
    for i in range(n):
        op = ("+", "-", "*")[i % 3]
        if op == "+":
            a, b = rng.randint(1, 50), rng.randint(1, 50)
            q, ans = f"What is {a} + {b}?{_NUMBER}", a + b
        elif op == "-":
            a = rng.randint(5, 60)
            b = rng.randint(1, a)
            q, ans = f"What is {a} - {b}?{_NUMBER}", a - b
        else:
            a, b = rng.randint(2, 12), rng.randint(2, 12)
            q, ans = f"What is {a} times {b}?{_NUMBER}", a * b
        out.append(Probe(f"arithmetic-{i:03d}", "arithmetic", q, str(ans), meta={"op": op}))
    return out


def _unit_conversion(rng: random.Random, n: int) -> list[Probe]:
    out = []
    for i in range(n):
        src, dst, factor = _UNITS[i % len(_UNITS)]
        k = rng.randint(2, 9)
        q = (
            f"How many eggs are in {k} dozen?" if src == "dozen" else f"How many {dst} are in {k} {src}?"
        ) + _NUMBER
        ans = str(k * factor)
        out.append(
            Probe(
                f"unit_conversion-{i:03d}",
                "unit_conversion",
                q,
                ans,
                aliases=(f"{ans} {dst}",),
                meta={"from": src, "to": dst},
            )
        )
    return out


def _string(rng: random.Random, n: int) -> list[Probe]:
    kinds = ("reverse", "first_letter", "last_letter", "uppercase", "length", "join")
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        w = rng.choice(_WORDS)
        aliases: tuple[str, ...] = ()
        case = False
        if kind == "reverse":
            q, ans = f"Spell the word '{w}' backwards.{_WORD}", w[::-1]
        elif kind == "first_letter":
            q, ans = f"What is the first letter of the word '{w}'?{_LETTER}", w[0]
        elif kind == "last_letter":
            q, ans = f"What is the last letter of the word '{w}'?{_LETTER}", w[-1]
        elif kind == "uppercase":
            q, ans, case = f"Write the word '{w}' in capital letters.{_WORD}", w.upper(), True
        elif kind == "length":
            q, ans = f"How many letters are in the word '{w}'?{_NUMBER}", str(len(w))
            aliases = (NUM_WORDS[len(w)],) if len(w) < len(NUM_WORDS) else ()
        else:
            a, b = rng.choice(_COMPOUNDS)
            q, ans = f"Join the words '{a}' and '{b}' into one word.{_WORD}", a + b
        out.append(
            Probe(
                f"string-{i:03d}", "string", q, ans, aliases=aliases, case_sensitive=case, meta={"op": kind}
            )
        )
    return out


def _factual() -> list[Probe]:
    rows: list[tuple[str, str, tuple[str, ...]]] = []
    for country, capital, *alt in facts.CAPITALS:
        rows.append((f"What is the capital of {country}?", capital, tuple(alt)))
    for country, lang, *alt in facts.LANGUAGES:
        rows.append((f"What is the main language spoken in {country}?", lang, tuple(alt)))
    for word, opp, *alt in facts.OPPOSITES:
        rows.append((f"What is the opposite of '{word}'?", opp, tuple(alt)))
    for word, plural, *alt in facts.PLURALS:
        rows.append((f"What is the plural of '{word}'?", plural, tuple(alt)))
    for thing, color, *alt in facts.COLORS:
        rows.append((f"What color is {thing}?", color, tuple(alt)))
    for what, count, *alt in facts.COUNTS:
        rows.append((f"How many {what}?", count, tuple(alt)))
    for question, ans, *alt in facts.MISC:
        rows.append((question, ans, tuple(alt)))
    return [Probe(f"factual-{i:03d}", "factual", q, a, aliases=al) for i, (q, a, al) in enumerate(rows)]


def generate_probes(
    seed: int = 0, n_arithmetic: int = 120, n_units: int = 96, n_string: int = 96
) -> list[Probe]:
    """All candidate probes, deterministic for a seed (factual items are not yet filtered)."""
    rng = random.Random(seed)
    return [
        *_arithmetic(rng, n_arithmetic),
        *_unit_conversion(rng, n_units),
        *_string(rng, n_string),
        *_factual(),
    ]


def build_probe_file(
    policy: Policy, out: str | Path, seed: int = 0, max_new_tokens: int = 24
) -> dict[str, Any]:
    """Generate the probes, answer them greedily with ``policy`` and write the shipped file.

    Factual items the policy gets wrong are dropped (the suite measures retention of what the
    base model knows); other items are kept with ``base_correct`` recorded. The rows are
    shuffled with ``seed`` so that a per-skill prefix is a fair subset.
    """
    probes = generate_probes(seed)
    answers = answer_probes(policy, probes, max_new_tokens=max_new_tokens)
    kept = []
    for p, text in zip(probes, answers, strict=True):
        ok = score_answer(p, text)
        if p.skill == "factual" and not ok:
            continue
        kept.append(Probe(**{**p.__dict__, "base_correct": ok}))
    random.Random(seed).shuffle(kept)
    write_jsonl(out, kept)
    counts: dict[str, Any] = {}
    for p in kept:
        c = counts.setdefault(p.skill, {"n": 0, "base_correct": 0})
        c["n"] += 1
        c["base_correct"] += int(bool(p.base_correct))
    counts["factual_candidates"] = sum(1 for p in probes if p.skill == "factual")
    return counts


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m pivotrl_core.eval.ood_build [--model M] [--seed S] [-o FILE]``."""
    ap = argparse.ArgumentParser(description="Rebuild the shipped OOD probe file.")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default=str(default_probe_path()))
    args = ap.parse_args(argv)
    policy = HFPolicy(args.model)
    print(json.dumps(build_probe_file(policy, args.output, seed=args.seed), indent=2))


if __name__ == "__main__":
    main()
