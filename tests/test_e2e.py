"""End-to-end RL (``pivotrl_core.train.e2e``) on a tiny model: episodes run to their end, every model
call is counted as a rollout turn, the reward is the episode's outcome, and the update moves the
weights only when a group's outcomes differ."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pivotrl_core import ConfigError
from pivotrl_core.policies.base import Prompt, SamplingParams
from pivotrl_core.train.e2e import (
    E2EConfig,
    EpisodeLike,
    episode_adapter,
    group_advantages,
    play_episodes,
    register_episode_adapter,
    train_e2e,
)
from pivotrl_core.types import Message

pytestmark = pytest.mark.usefixtures("one_thread")


class ParityEpisode:
    """A two-turn environment: the episode succeeds when the agent's last reply hashes to even."""

    def __init__(self, question: str, max_turns: int) -> None:
        self.messages = [Message("system", "Answer."), Message("user", question)]
        self.max_turns = min(max_turns, 2)
        self.replies: list[str] = []

    @property
    def done(self) -> bool:
        return len(self.replies) >= self.max_turns

    def prompt(self) -> Prompt:
        return Prompt(messages=tuple(self.messages))

    def act(self, message: Message) -> None:
        self.replies.append(message.content or "")
        self.messages += [Message("assistant", message.content or ""), Message("user", "and?")]

    def outcome(self) -> dict:
        last = self.replies[-1] if self.replies else ""
        return {"success": hashlib.sha256(last.encode()).digest()[0] % 2 == 0, "turns": len(self.replies)}


def parity_adapter(split: str, seed: int, n: int, max_turns: int) -> list[ParityEpisode]:
    return [ParityEpisode(f"{split} question {seed}-{i}", max_turns) for i in range(n)]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def test_tool_use_episodes_run_count_model_calls_and_reward_from_outcome(tiny_model_path: str) -> None:
    pytest.importorskip("pivotrl_tool_use", reason="needs the pivotrl-tool-use plugin")
    from pivotrl_core.policies.hf import HFPolicy

    episodes = episode_adapter("tool-use")("train", 7, 3, 4)
    assert all(isinstance(e, EpisodeLike) for e in episodes)
    policy = HFPolicy(model=tiny_model_path, max_prompt_tokens=2000)
    rollouts = play_episodes(
        policy, episodes, [0, 1, 2], SamplingParams(temperature=1.0, max_new_tokens=8, seed=1)
    )
    assert all(e.done for e in episodes)
    for ep, r in zip(episodes, rollouts, strict=True):
        out = ep.outcome()
        assert r.model_calls == out["turns"] <= 4  # one model call per assistant turn
        assert r.reward == float(out["success"]) and r.outcome == out
        assert len(r.turns) <= r.model_calls


def test_train_e2e_on_tool_use_counts_turns_and_keeps_weights_without_signal(
    tiny_model_path: str, tmp_path: Path
) -> None:
    pytest.importorskip("pivotrl_tool_use", reason="needs the pivotrl-tool-use plugin")
    cfg = E2EConfig(
        model=tiny_model_path,
        max_steps=2,
        tasks_per_step=1,
        group_size=2,
        max_turns=2,
        max_new_tokens=6,
        train_top_n_layers=1,
        max_prompt_tokens=2000,
    )
    summary = train_e2e(cfg, tmp_path / "e2e")
    rows = [json.loads(x) for x in (tmp_path / "e2e" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert (
        summary["rollout_turns"]
        == rows[-1]["cumulative_rollout_turns"]
        == sum(r["rollout_turns"] for r in rows)
    )
    assert 0 < summary["rollout_turns"] <= 2 * 2 * 2  # steps x episodes x max_turns
    # a random tiny model never solves a task: every group is all-fail, zero advantage, no update
    assert all(
        r["reward_mean"] == 0.0 and r["zero_var_frac"] == 1.0 and r["updated_turns"] == 0 for r in rows
    )
    before, after = _weights(Path(tiny_model_path)), _weights(tmp_path / "e2e" / "final")
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_train_e2e_updates_from_mixed_episode_outcomes(tiny_model_path: str, tmp_path: Path) -> None:
    register_episode_adapter("parity", parity_adapter)
    cfg = E2EConfig(
        domain="parity",
        model=tiny_model_path,
        max_steps=2,
        tasks_per_step=2,
        group_size=4,
        max_turns=2,
        max_new_tokens=6,
        temperature=1.0,
        lr=1e-3,
        train_top_n_layers=1,
        max_prompt_tokens=2000,
    )
    summary = train_e2e(cfg, tmp_path / "e2e")
    rows = [json.loads(x) for x in (tmp_path / "e2e" / "metrics.jsonl").read_text().splitlines()]
    assert summary["rollout_turns"] == 2 * 2 * 4 * 2  # every episode plays both turns
    assert summary["episodes"] == 16
    assert any(0 < r["reward_mean"] < 1 for r in rows)
    assert sum(r["updated_turns"] for r in rows) > 0
    before, after = _weights(Path(tiny_model_path)), _weights(tmp_path / "e2e" / "final")
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed and all(".layers.1." in k or k == "model.norm.weight" for k in changed)  # top layer only


def test_group_advantages_are_normalised_within_each_task() -> None:
    from pivotrl_core.train.e2e import EpisodeRollout

    rs = [EpisodeRollout(g, r, {}, [], 1) for g, r in ((0, 1.0), (0, 0.0), (1, 1.0), (1, 1.0))]
    adv = group_advantages(rs)
    assert adv[0] == pytest.approx(-adv[1]) and adv[0] > 0.99
    assert adv[2] == adv[3] == 0.0  # an all-pass group teaches nothing


def test_unknown_domain_and_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="no episode environment for domain 'nope'"):
        episode_adapter("nope")
    with pytest.raises(ConfigError, match="group_size"):
        E2EConfig(group_size=1)
