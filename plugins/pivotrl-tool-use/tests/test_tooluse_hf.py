"""The episodes benchmark with real model backends (the core ``hf`` policy)."""

from __future__ import annotations

import pytest
from pivotrl_tool_use.benchmark import episodes
from pivotrl_tool_use.episode import run_episodes
from pivotrl_tool_use.tasks import make_tasks

from pivotrl_core.plugins import get_registry
from pivotrl_core.policies.base import SamplingParams


def _check_consistent(result, n_tasks, seeds):
    assert [r["seed"] for r in result["seeds"]] == list(seeds)
    for r in result["seeds"]:
        assert len(r["tasks"]) == n_tasks
        assert r["pass^1"] == sum(t["success"] for t in r["tasks"]) / n_tasks
        assert sum(r["terminations"].values()) == n_tasks and None not in r["terminations"]
    rates = [r["pass^1"] for r in result["seeds"]]
    assert result["pass^1"] == pytest.approx(sum(rates) / len(rates))


class SkippingPolicy:
    """A backend that skips every prompt (as ``hf`` does for prompts its context rule drops)."""

    name = model_id = "skipping"

    def sample(self, prompts, n, sampling):
        return [[] for _ in prompts]

    def close(self):
        return None


def test_a_skipped_prompt_is_an_empty_agent_turn():
    (ep,) = run_episodes(SkippingPolicy(), make_tasks("eval", 1, 1), max_turns=5)
    assert ep.done and not ep.outcome()["success"]
    assert all(m.content == "" for m in ep.messages if m.role == "assistant")


def test_tiny_model_plays_episodes_through_the_hf_policy(pivotrl_pm, tool_use_tiny_model):
    policy = get_registry().policy("hf", model=tool_use_tiny_model)
    sampling = SamplingParams(temperature=1.0, max_new_tokens=12, seed=3)
    result = episodes(policy, n_tasks=2, seeds=(1001,), max_turns=2, sampling=sampling)
    _check_consistent(result, 2, (1001,))
    assert result["seeds"][0]["mean_turns"] == 2  # random text never satisfies the customer


@pytest.mark.slow
def test_smollm2_plays_episodes(pivotrl_pm):
    """Four single-prompt sampling steps of at most 32 tokens (well under a minute on idle cores)."""
    policy = get_registry().policy("hf", model="smollm2-135m")
    seeds = (1001, 1002)
    sampling = SamplingParams(temperature=0.0, max_new_tokens=32)
    result = episodes(policy, n_tasks=1, seeds=seeds, max_turns=2, sampling=sampling)
    _check_consistent(result, 1, seeds)
    assert result["policy"] == policy.model_id
    assert policy.stats["new_tokens"] > 0 and policy.stats["prompts"] >= 2
