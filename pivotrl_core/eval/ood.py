"""The out-of-domain (OOD) probe suite at run time: skills agent data never touches.

PivotRL's claim is that turn-level RL on pivots keeps the skills SFT damages. The shipped probe
set (``pivotrl_core/data/ood_probes.jsonl``) has four skills -- ``arithmetic``,
``unit_conversion``, ``string`` manipulation and ``factual`` recall -- scored by exact match after
a documented normalisation (:func:`score_answer`, ``docs/evaluation.md``). :func:`evaluate_ood`
reports the accuracy, the retention rate on the probes the shipped base model answers correctly,
and the mean token-level KL(pi_theta || pi_0) to a reference model, computed exactly (full
vocabulary) at every token of the probes' reference answers (teacher forcing; no sampling noise).

The file itself is built by :mod:`pivotrl_core.eval.ood_build`.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..jsonl import read_jsonl
from ..policies.base import Policy, Prompt, SamplingParams
from ..policies.chat import end_of_turn, render_prompt
from ..types import Message

__all__ = [
    "NUM_WORDS",
    "SKILLS",
    "SYSTEM_PROMPT",
    "Probe",
    "answer_probes",
    "answer_spans",
    "default_probe_path",
    "evaluate_ood",
    "load_probes",
    "normalise",
    "ood_kl",
    "probe_prompt",
    "score_answer",
]

SKILLS = ("arithmetic", "unit_conversion", "string", "factual")
SYSTEM_PROMPT = "Answer the question. Give only the answer."

Progress = Callable[[int], None]


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


NUM_WORDS = [
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
    numbers = [t for t in targets if t.lstrip("-").isdigit() or t in NUM_WORDS]
    for span in answer_spans(response):
        got = normalise(span, probe.case_sensitive)
        if got in targets:
            return True
        if any(re.fullmatch(rf"{re.escape(n)}(\s+[^\d\s]+){{1,2}}", got) for n in numbers):
            return True
    return False


# -- the shipped file -----------------------------------------------------------------------


def default_probe_path() -> Path:
    """The shipped probe file, ``pivotrl_core/data/ood_probes.jsonl``."""
    return Path(__file__).resolve().parent.parent / "data" / "ood_probes.jsonl"


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


# -- answering and scoring a policy ---------------------------------------------------------


def answer_probes(
    policy: Policy,
    probes: Sequence[Probe],
    *,
    max_new_tokens: int = 24,
    batch_size: int = 32,
    advance: Progress | None = None,
) -> list[str]:
    """Greedy answers of ``policy`` to the probes (a tool call counts as its raw text)."""
    sampling = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)
    answers: list[str] = []
    for i in range(0, len(probes), batch_size):
        chunk = probes[i : i + batch_size]
        comps = policy.sample([probe_prompt(p) for p in chunk], 1, sampling)
        answers.extend(c[0].text if c else "" for c in comps)
        if advance is not None:
            advance(len(chunk))
    return answers


def _answer_ids(tokenizer: Any, probe: Probe) -> tuple[list[int], list[int]]:
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
    policy: Policy,
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
