"""OOD on third-party generators (``pivotrl_core.eval.reasoning_gym``): each generator's own scorer
decides, the last line of the reply is scored, and bad settings are clear errors."""

from __future__ import annotations

import pytest

from pivotrl_core import ConfigError
from pivotrl_core.policies.base import Completion, Prompt, SamplingParams
from pivotrl_core.types import Message

rg = pytest.importorskip("reasoning_gym", reason="needs reasoning-gym (pip install 'pivotrl[reasoning-gym]')")

from pivotrl_core.eval.reasoning_gym import RGTask, evaluate_reasoning_gym, load_items  # noqa: E402

TASKS = [RGTask("chain_sum", {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}, 4),
         RGTask("letter_counting", {}, 4)]  # fmt: skip


class ScriptedPolicy:
    """Answers from a table (question -> reply): right for chain_sum, wrong for letter_counting."""

    name = "scripted"
    model_id = "scripted"

    def __init__(self, replies: dict[str, str]) -> None:
        self.replies = replies

    def sample(self, prompts: list[Prompt], n: int, sampling: SamplingParams) -> list[list[Completion]]:
        out = []
        for p in prompts:
            text = self.replies[p.messages[-1].content]
            out.append([Completion(text=text, message=Message("assistant", text))])
        return out

    def close(self) -> None:
        pass


def test_each_generator_scores_with_its_own_scorer() -> None:
    items = load_items(TASKS, seed=3)
    replies = {
        it["question"]: (f"Let me add.\n{it['answer']}" if name == "chain_sum" else "seventeen")
        for name, _, it in items
    }
    doc = evaluate_reasoning_gym(ScriptedPolicy(replies), TASKS, seed=3)
    assert doc["by_task"]["chain_sum"] == {"n": 4, "accuracy": 1.0}  # the reply's last line is scored
    assert doc["by_task"]["letter_counting"] == {"n": 4, "accuracy": 0.0}
    assert doc["accuracy"] == 0.5 and "kl" not in doc
    assert [it["question"] for _, _, it in load_items(TASKS, seed=3)] == list(replies)  # same items per seed


def test_unknown_generator_or_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="reasoning-gym task 'no_such_task'"):
        load_items([RGTask("no_such_task")])
    with pytest.raises(ConfigError, match="chain_sum"):
        load_items([RGTask("chain_sum", {"min_terms": 5, "max_terms": 2})])
