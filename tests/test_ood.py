"""The OOD probe suite: generator, exact-match normalisation, the shipped file."""

from __future__ import annotations

import re

import pytest

from pivotrl_core.errors import InputError
from pivotrl_core.eval.ood import (
    SKILLS,
    Probe,
    answer_spans,
    default_probe_path,
    load_probes,
    normalise,
    score_answer,
)
from pivotrl_core.eval.ood_build import generate_probes


def _probe(answer: str, *aliases: str, case: bool = False) -> Probe:
    return Probe("x", "factual", "q?", answer, aliases=aliases, case_sensitive=case)


def test_generator_is_seeded_and_answers_are_right() -> None:
    a, b, c = generate_probes(0), generate_probes(0), generate_probes(1)
    assert [p.to_dict() for p in a] == [p.to_dict() for p in b]
    assert [p.question for p in a if p.skill == "arithmetic"] != [
        p.question for p in c if p.skill == "arithmetic"
    ]
    assert {p.skill for p in a} == set(SKILLS)
    assert len({p.id for p in a}) == len(a)
    for p in a:
        if p.skill == "arithmetic":
            x, op, y = re.match(r"What is (\d+) (\+|-|times) (\d+)\?", p.question).groups()
            expect = {"+": int(x) + int(y), "-": int(x) - int(y), "times": int(x) * int(y)}[op]
            assert p.answer == str(expect), p
        if p.skill == "string" and p.meta["op"] == "reverse":
            word = re.search(r"'(\w+)'", p.question).group(1)
            assert p.answer == word[::-1]


@pytest.mark.parametrize(
    ("answer", "aliases", "response", "ok"),
    [
        ("Paris", (), "Paris", True),
        ("Paris", (), "The capital of France is Paris.", True),
        ("Paris", (), "  **Paris**  ", True),
        ("Paris", (), "Lyon", False),
        ("Paris", (), "Lyon\nParis", False),  # only the first non-empty line counts
        ("Paris", (), "\n\nParis\nmore text", True),
        ("12", (), "7 + 5 = 12.", True),
        ("12", (), "12 apples", True),  # a number followed by unit words
        ("12", (), "120", False),
        ("12", (), "112", False),
        ("1000", (), "1,000", True),
        ("mice", (), "The plural of 'mouse' is 'mice' (irregular).", True),
        ("slow", (), "The opposite of 'fast' is 'slow'. 'Fast' is a verb.", True),
        ("the Nile", ("Nile",), "The Nile", True),
        ("Washington, D.C.", ("Washington",), "Washington, D.C.", True),
        ("4", ("four",), "A square has four sides.", True),
        ("tac", (), "cat", False),
        ("Paris", (), '<tool_call>{"name": "find_user", "arguments": {}}</tool_call>', False),
    ],
)
def test_score_answer(answer: str, aliases: tuple[str, ...], response: str, ok: bool) -> None:
    assert score_answer(_probe(answer, *aliases), response) is ok


def test_case_sensitive_items() -> None:
    p = _probe("LAMP", case=True)
    assert score_answer(p, "LAMP")
    assert score_answer(p, "The answer is LAMP.")
    assert not score_answer(p, "lamp")
    assert not score_answer(p, "Lamp")


def test_normalise_and_spans() -> None:
    assert normalise('  "The  Answer!" ') == "answer"
    assert normalise("A Cat", case_sensitive=True) == "A Cat"
    spans = answer_spans("The answer is 42. More.\nignored")
    assert spans == ["The answer is 42. More.", "The answer is 42", "42"]


def test_shipped_file() -> None:
    probes = load_probes()
    assert default_probe_path().exists()
    assert len(probes) >= 300  # several hundred items
    by_skill = {s: [p for p in probes if p.skill == s] for s in SKILLS}
    assert all(len(v) >= 50 for v in by_skill.values()), {k: len(v) for k, v in by_skill.items()}
    # factual items are kept only when the shipped base model answers them correctly
    assert all(p.base_correct is True for p in by_skill["factual"])
    assert all(p.base_correct is not None for p in probes)
    assert len({p.id for p in probes}) == len(probes)
    # every item's own answer passes its scorer
    assert all(score_answer(p, p.answer) for p in probes)


def test_load_subsets_and_errors(tmp_path) -> None:
    two = load_probes(limit_per_skill=2)
    assert sorted(p.skill for p in two) == sorted(SKILLS * 2)
    assert {p.skill for p in load_probes(skills=["string"])} == {"string"}
    with pytest.raises(InputError, match="unknown OOD skill"):
        load_probes(skills=["poetry"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "skill": "string", "question": "q"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:1: field 'answer'"):
        load_probes(bad)


@pytest.mark.slow
def test_factual_items_are_right_for_smollm2_as_shipped() -> None:
    """The real SmolLM2-135M (greedy) still answers a sample of the shipped factual items."""
    from pivotrl_core.eval import answer_probes
    from pivotrl_core.plugins import get_registry

    probes = load_probes(skills=["factual"])[:12]
    policy = get_registry().policy("hf", model="smollm2-135m")
    answers = answer_probes(policy, probes)
    assert all(score_answer(p, a) for p, a in zip(probes, answers, strict=True)), list(
        zip(probes, answers, strict=True)
    )
