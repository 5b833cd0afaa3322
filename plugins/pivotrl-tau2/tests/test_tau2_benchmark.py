"""The tau2 benchmark adapter: telecom solo bounds, a user-simulated airline episode, pass^k."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from pivotrl_tau2.benchmark import pass_hat_k, run_benchmark, select_tasks
from pivotrl_tau2.gold import GoldPolicy, TalkPolicy
from pivotrl_tau2.world import world

from pivotrl_core import Completion, ConfigError, Message, Prompt, SamplingParams
from pivotrl_core.cli import build_cli


def test_telecom_solo_gold_scores_one_and_talk_scores_zero(tmp_path: Path) -> None:
    out = tmp_path / "tasks.jsonl"
    gold = run_benchmark(GoldPolicy("tau2-telecom"), domain="tau2-telecom", split="test", output=out)
    assert gold["n_tasks"] >= 40 and gold["pass^1"] == 1.0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == gold["n_tasks"] and all(r["terminations"] == ["agent_stop"] for r in rows)
    talk = run_benchmark(TalkPolicy(), domain="tau2-telecom", split="test")
    assert talk["n_tasks"] == gold["n_tasks"] and talk["pass^1"] == 0.0


def test_splits_are_tau2s_own() -> None:
    w = world("tau2-airline")
    test, _ = select_tasks(w, "test")
    train, _ = select_tasks(w, "train")
    assert {t.id for t in test}.isdisjoint({t.id for t in train})
    assert {t.id for t in test} <= set(w.splits()["test"])
    with pytest.raises(ConfigError, match="unknown split"):
        select_tasks(w, "heldout-ish")


class _User:
    """A scripted user simulator: asks for help once, then ends the conversation."""

    name = "scripted-user"
    model_id = "scripted-user"

    def sample(self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams) -> list[list[Completion]]:
        turns = sum(m.role == "assistant" for m in prompts[0].messages)  # the user's own earlier turns
        text = "I need help with my reservation." if turns == 0 else "Thanks. ###STOP###"
        return [[Completion(text=text, message=Message("assistant", content=text))] * n]

    def close(self) -> None:
        return None


def test_airline_episodes_with_a_user_simulator_policy() -> None:
    w = world("tau2-airline")
    tasks, _ = select_tasks(w, "test")
    ids = [t.id for t in tasks if any(w.is_write(a.name) for a in t.evaluation_criteria.actions or [])][:3]
    gold = run_benchmark(
        GoldPolicy("tau2-airline"), domain="tau2-airline", task_ids=ids, user_policy=_User(), trials=2
    )
    assert gold["n_tasks"] == 3 and gold["pass^1"] == 1.0 and gold["pass^2"] == 1.0
    talk = run_benchmark(TalkPolicy(), domain="tau2-airline", task_ids=ids, user_policy=_User())
    assert talk["pass^1"] == 0.0


def test_pass_hat_k_is_tau2s_definition() -> None:
    assert pass_hat_k([4, 2, 0], 4) == pytest.approx(
        {"pass^1": (1 + 0.5 + 0) / 3, "pass^2": (1 + 1 / 6 + 0) / 3, "pass^3": 1 / 3, "pass^4": 1 / 3}
    )


def test_domains_listed_without_importing_tau2() -> None:
    import subprocess
    import sys

    code = "import sys, pivotrl_tau2.plugin as p; print(len(p.TAU2_DOMAINS), 'tau2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["3", "False"]
    result = CliRunner().invoke(build_cli(), ["domains"])
    assert all(f"tau2-{d}" in result.output for d in ("airline", "retail", "telecom"))


def test_telecom_generates_gold_demonstrations_that_pass_the_verifier() -> None:
    from pivotrl_tau2.plugin import TAU2_DOMAINS
    from pivotrl_tau2.verifier import Tau2Verifier

    from pivotrl_core import ExtractOptions, default_extractor, run_verifier

    telecom = next(d for d in TAU2_DOMAINS if d.name == "tau2-telecom")
    assert telecom.generate is not None and all(d.generate is None for d in TAU2_DOMAINS if d is not telecom)
    train = list(telecom.generate(3, 0, "train"))
    held = list(telecom.generate(3, 0, "heldout"))
    w = world("tau2-telecom")
    assert {t.metadata["tau2"]["task_id"] for t in train} <= set(w.splits()["train"])
    assert {t.metadata["tau2"]["task_id"] for t in held} <= set(w.splits()["test"])
    assert [t.id for t in train] == [t.id for t in telecom.generate(3, 0, "train")]  # seeded
    assert all(t.metadata["tau2"]["reward"] == 1.0 for t in train + held)
    v = Tau2Verifier()
    cands = [c for t in train for c in default_extractor(t, ExtractOptions(domain="tau2-telecom"))]
    assert cands and cands[-1].expected.tool_calls[0].name == "done"
    assert all(run_verifier(v, c, c.expected).passed for c in cands)
