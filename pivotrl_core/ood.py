"""The out-of-domain (OOD) probe suite: skills agent data never touches.

PivotRL's claim is that turn-level RL on pivots keeps the skills SFT damages. This module ships
a fixed probe set (``pivotrl_core/data/ood_probes.jsonl``) in four skills -- ``arithmetic``,
``unit_conversion``, ``string`` manipulation and ``factual`` recall -- scored by exact match
after a documented normalisation (:func:`score_answer`, ``docs/evaluation.md``).

The file is produced by :func:`generate_probes` (seeded, deterministic) followed by
:func:`build_probe_file`, which answers every probe greedily with the reference model
(``smollm2-135m`` as shipped), keeps only the factual items it answers correctly and records
``base_correct`` on the others. Rebuild it with::

    python -m pivotrl_core.ood --model smollm2-135m -o pivotrl_core/data/ood_probes.jsonl
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import _ood_facts as facts
from .errors import InputError
from .jsonl import read_jsonl, write_jsonl
from .policies.base import Prompt
from .types import Message

__all__ = [
    "SKILLS",
    "SYSTEM_PROMPT",
    "Probe",
    "default_probe_path",
    "generate_probes",
    "load_probes",
    "normalise",
    "probe_prompt",
    "score_answer",
]

SKILLS = ("arithmetic", "unit_conversion", "string", "factual")
SYSTEM_PROMPT = "Answer the question. Give only the answer."


@dataclass(frozen=True)
class Probe:
    """One OOD item: a question, its answer and accepted variants (``aliases``)."""

    id: str
    skill: str
    question: str
    answer: str
    aliases: tuple[str, ...] = ()
    case_sensitive: bool = False
    base_correct: bool | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["aliases"] = list(self.aliases)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Probe:
        for key in ("id", "skill", "question", "answer"):
            if not isinstance(d.get(key), str):
                raise InputError("missing or not a string", field=key)
        return cls(
            id=d["id"],
            skill=d["skill"],
            question=d["question"],
            answer=d["answer"],
            aliases=tuple(d.get("aliases") or ()),
            case_sensitive=bool(d.get("case_sensitive", False)),
            base_correct=d.get("base_correct"),
            meta=dict(d.get("meta") or {}),
        )


# -- generation ----------------------------------------------------------------------------

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
_NUM_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
]


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
            aliases = (_NUM_WORDS[len(w)],) if len(w) < len(_NUM_WORDS) else ()
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


# -- prompts and scoring ------------------------------------------------------------------


def probe_prompt(probe: Probe, system_prompt: str = SYSTEM_PROMPT) -> Prompt:
    """The chat prompt of a probe: a short system instruction and the question, no tools."""
    return Prompt(messages=(Message("system", system_prompt), Message("user", probe.question)))


_STRIP = " \t\"'`*_.,!?;:()[]"
_ARTICLE = re.compile(r"^(the|a|an)\s+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_SPLITTERS = ("=", " is ", " are ", " was ", " equals ", " has ", " have ", ":", "->")
_SENTENCE_END = re.compile(r"(\. |! |; | \()")


def normalise(text: str, case_sensitive: bool = False) -> str:
    """NFKC, trim quotes/punctuation at both ends, thousands separators out, one space,
    lower case (unless ``case_sensitive``) and no leading article."""
    s = unicodedata.normalize("NFKC", text)
    s = _THOUSANDS.sub("", s)
    s = " ".join(s.split()).strip(_STRIP)
    if not case_sensitive:
        s = s.lower()
    s = _ARTICLE.sub("", s) if not case_sensitive else s
    return s.strip(_STRIP)


def answer_spans(response: str) -> list[str]:
    """The spans of a response compared with the answer: its first non-empty line, that
    line's first sentence, and the part of the sentence after the last ``=``, `` is ``,
    `` are ``, `` was ``, `` equals ``, `` has ``, `` have ``, ``:`` or ``->``."""
    line = next((ln for ln in response.strip().splitlines() if ln.strip()), "")
    sentence = _SENTENCE_END.split(line, maxsplit=1)[0]
    spans = [line, sentence]
    low = sentence.lower()
    for sep in _SPLITTERS:
        idx = low.rfind(sep)
        if idx >= 0:
            spans.append(sentence[idx + len(sep) :])
    return spans


def score_answer(probe: Probe, response: str) -> bool:
    """Exact match of a normalised span with the normalised answer or an alias.

    A numeric answer (digits or a number word) also matches a span that is that number
    followed by one or two unit words (``"7 days"`` for ``7``).
    """
    targets = {normalise(a, probe.case_sensitive) for a in (probe.answer, *probe.aliases)}
    numbers = [t for t in targets if t.lstrip("-").isdigit() or t in _NUM_WORDS]
    for span in answer_spans(response):
        got = normalise(span, probe.case_sensitive)
        if got in targets:
            return True
        if any(re.fullmatch(rf"{re.escape(n)}(\s+[^\d\s]+){{1,2}}", got) for n in numbers):
            return True
    return False


# -- the shipped file -----------------------------------------------------------------------


def default_probe_path() -> Path:
    return Path(__file__).parent / "data" / "ood_probes.jsonl"


def load_probes(
    path: str | Path | None = None, skills: Sequence[str] | None = None, limit_per_skill: int | None = None
) -> list[Probe]:
    """Read a probe file (the shipped one by default), optionally a subset by skill.

    ``limit_per_skill`` keeps the first N of each skill (the file order is a seeded shuffle,
    so this is a fixed, unbiased subset).
    """
    probes = list(read_jsonl(path or default_probe_path(), Probe.from_dict))
    if skills:
        unknown = set(skills) - set(SKILLS)
        if unknown:
            raise InputError(f"unknown OOD skill(s) {sorted(unknown)}; known: {', '.join(SKILLS)}")
        probes = [p for p in probes if p.skill in skills]
    if limit_per_skill is not None:
        seen: dict[str, int] = {}
        kept = []
        for p in probes:
            seen[p.skill] = seen.get(p.skill, 0) + 1
            if seen[p.skill] <= limit_per_skill:
                kept.append(p)
        probes = kept
    return probes


def build_probe_file(policy: Any, out: str | Path, seed: int = 0, max_new_tokens: int = 24) -> dict[str, Any]:
    """Generate the probes, answer them greedily with ``policy`` and write the shipped file.

    Factual items the policy gets wrong are dropped (the suite measures retention of what the
    base model knows); other items are kept with ``base_correct`` recorded. The rows are
    shuffled with ``seed`` so that a per-skill prefix is a fair subset.
    """
    from .eval import answer_probes

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


def _main(argv: Sequence[str] | None = None) -> None:
    import argparse
    import json

    from .registry import get_registry

    ap = argparse.ArgumentParser(description="Rebuild the shipped OOD probe file.")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default=str(default_probe_path()))
    args = ap.parse_args(argv)
    policy = get_registry().policy("hf", model=args.model)
    print(json.dumps(build_probe_file(policy, args.output, seed=args.seed), indent=2))


if __name__ == "__main__":
    _main()
