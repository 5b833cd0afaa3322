"""The history window: what a policy sees of an episode, the same in extraction and in the agent."""

from __future__ import annotations

import pytest
from pivotrl_swe.agents import PolicyAgent
from pivotrl_swe.extract import extract_swe
from pivotrl_swe.history import DEFAULT_WINDOW, HistoryWindow, apply_window

from pivotrl_core import Completion, ConfigError, ExtractOptions, Message, ToolCall, Trajectory


def _episode(n_turns: int, observation: str = "out") -> list[Message]:
    msgs = [Message(role="system", content="sys"), Message(role="user", content="fix it")]
    for i in range(n_turns):
        msgs.append(
            Message(role="assistant", tool_calls=(ToolCall("bash", {"command": f"c{i}"}, id=f"t{i}"),))
        )
        msgs.append(Message(role="tool", content=f"{observation}{i}", tool_call_id=f"t{i}", name="bash"))
    return msgs


def test_window_keeps_the_task_and_the_last_turns_with_clipped_observations():
    msgs = _episode(3, observation="x" * 500)
    kept = apply_window(msgs, HistoryWindow(turns=1, observation_chars=100))
    assert [m.role for m in kept] == ["system", "user", "assistant", "tool"]
    assert kept[2].tool_calls[0].arguments == {"command": "c2"}
    assert len(kept[3].content) < 160 and "characters cut" in kept[3].content
    assert kept[3].content.endswith("x2")  # the tail of an observation is kept
    assert apply_window(msgs, HistoryWindow(turns=2, observation_chars=None))[2:] == tuple(msgs[4:])
    assert apply_window(msgs, HistoryWindow(turns=0))[2:] == ()
    assert apply_window(msgs, HistoryWindow(turns=None, observation_chars=None)) == tuple(msgs)
    assert apply_window(msgs, None) == tuple(msgs)
    assert apply_window(msgs[:2], DEFAULT_WINDOW) == tuple(msgs[:2])  # the first turn: the task only


def test_bad_windows_are_config_errors():
    with pytest.raises(ConfigError, match="turns"):
        HistoryWindow(turns=-1)
    with pytest.raises(ConfigError, match="observation_chars"):
        HistoryWindow(observation_chars=5)


def test_extraction_cuts_prefixes_to_the_recorded_window_only():
    msgs = _episode(3)
    windowed = Trajectory(
        id="e", messages=tuple(msgs), metadata={"swe": {"window": {"turns": 1, "observation_chars": 2000}}}
    )
    cands = list(extract_swe(windowed, ExtractOptions(domain="swe")))
    assert [len(c.messages) for c in cands] == [2, 4, 4]  # task (+ the previous turn)
    assert cands[2].messages[2:] == tuple(msgs[4:6])
    third_party = Trajectory(id="t", messages=tuple(msgs), metadata={"swe": {}})
    assert [len(c.messages) for c in extract_swe(third_party, ExtractOptions(domain="swe"))] == [2, 4, 6]


class _Recorder:
    name = "recorder"
    model_id = "recorder"

    def __init__(self) -> None:
        self.prompts = []

    def sample(self, prompts, n, sampling):
        self.prompts += list(prompts)
        msg = Message(role="assistant", tool_calls=(ToolCall("submit", {}, id="s"),))
        return [[Completion(text="", message=msg)] for _ in prompts]

    def close(self) -> None:
        pass


def test_the_policy_agent_sees_the_same_window():
    policy = _Recorder()
    msgs = _episode(3)
    PolicyAgent(policy)(msgs)
    assert policy.prompts[0].messages == apply_window(msgs, DEFAULT_WINDOW)
    PolicyAgent(policy, window=None)(msgs)
    assert policy.prompts[1].messages == tuple(msgs)
