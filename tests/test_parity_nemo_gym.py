"""Parity with NVIDIA NeMo Gym's verifier on its own recorded rollouts (../shared/data/nemo-gym)."""

from __future__ import annotations

import itertools

import pytest
from verifier_helpers import TOOL_USE, candidate_from_row, load_rows

from pivotrl_core.plugins import get_registry
from pivotrl_core.types import Message, ToolCall
from pivotrl_core.verifiers.base import run_verifier
from pivotrl_core.verifiers.tool_call import ToolCallVerifier, responses_output_to_message

NVIDIA_TOOL_USE = {"word_count_similarity_threshold": 0.1}  # configs/single_step_tool_use_...yaml
NVIDIA_PARALLEL = {  # configs/parallel_tool_calls_single_step_tool_use_...yaml
    "word_count_similarity_threshold": 0.1,
    "parallel_tool_call_rewarding": True,
    "allow_subset": True,
    "allow_superset": True,
    "parallel_tool_call_reward_mode": "f1",
}


@pytest.fixture(scope="module")
def rollouts(nemo_gym_dir):
    rows = load_rows(nemo_gym_dir / TOOL_USE / "example_rollouts.jsonl")
    assert len(rows) == 5 and all("reward" in r for r in rows)
    return rows


@pytest.fixture(scope="module")
def parallel_rows(nemo_gym_dir):
    return load_rows(nemo_gym_dir / TOOL_USE / "parallel_example.jsonl")


def test_tool_call_reproduces_every_recorded_reward_and_category(rollouts):
    verifier = ToolCallVerifier(**NVIDIA_TOOL_USE)
    got = []
    for i, row in enumerate(rollouts):
        v = run_verifier(
            verifier, candidate_from_row(row, f"row{i}"), responses_output_to_message(row["response"])
        )
        got.append((v.score, v.reason))
    assert got == [(row["reward"], row["category"]) for row in rollouts]
    assert {r for r, _ in got} == {0.0, 1.0}  # the rows exercise both outcomes


def test_generic_domain_is_configured_like_nvidia(rollouts, pivotrl_pm):
    verifier = get_registry().domain_verifier("generic")
    for i, row in enumerate(rollouts):
        v = verifier.verify(candidate_from_row(row, f"row{i}"), responses_output_to_message(row["response"]))
        assert v.score == row["reward"]


def test_response_conversion_keeps_calls_and_text(rollouts):
    msg = responses_output_to_message(rollouts[1]["response"])  # narration + one function_call
    assert msg.tool_calls[0].name == "authenticate_user"
    assert msg.tool_calls[0].arguments == {"user_id": "GROOM2024", "event_confirmation_code": "NIGHTCLUB2024"}
    assert msg.tool_calls[0].id.startswith("call_")
    assert msg.content.startswith("Thank you for confirming")
    assert responses_output_to_message([]) == Message("assistant")


def test_parallel_rows_accept_their_expected_batch_in_any_order(parallel_rows):
    verifier = ToolCallVerifier(**NVIDIA_PARALLEL)
    kinds = [row["expected_action"]["type"] for row in parallel_rows]
    assert kinds.count("function_call_batch") == 3
    for i, row in enumerate(parallel_rows):
        c = candidate_from_row(row, f"p{i}")
        for order in itertools.permutations(c.expected.tool_calls):
            v = verifier.verify(c, Message("assistant", content=c.expected.content, tool_calls=order))
            assert v.passed and v.score == 1.0, (i, v)


def test_parallel_rows_score_partial_batches_like_nvidia(parallel_rows):
    verifier = ToolCallVerifier(**NVIDIA_PARALLEL)
    weather = candidate_from_row(parallel_rows[0], "paris-tokyo-cairo")  # 3 expected calls
    paris, tokyo, cairo = weather.expected.tool_calls
    lima = ToolCall("get_weather", {"city": "Lima"})

    def score(*tcs):
        return verifier.verify(weather, Message("assistant", tool_calls=tcs)).score

    assert score(cairo, paris, tokyo) == 1.0
    assert score(paris, tokyo) == pytest.approx(2 * 2 / 5)  # subset admitted, f1
    assert score(paris, tokyo, cairo, lima) == pytest.approx(2 * 3 / 7)  # superset admitted, f1
    assert score(paris, tokyo, lima) == pytest.approx(2 * 2 / 6)  # one wrong city
    assert score(paris, paris, paris) == pytest.approx(2 * 1 / 6)  # a call matches at most once
    # NVIDIA's default (rewarding off): surplus calls are free, a missing one is fatal
    default = ToolCallVerifier(**NVIDIA_TOOL_USE)
    assert default.verify(weather, Message("assistant", tool_calls=(paris, tokyo, cairo, lima))).score == 1.0
    assert default.verify(weather, Message("assistant", tool_calls=(paris, tokyo))).score == 0.0


def test_parallel_message_row_and_single_call_row(parallel_rows):
    verifier = ToolCallVerifier(**NVIDIA_PARALLEL)
    single = candidate_from_row(parallel_rows[3], "single")
    bye = candidate_from_row(parallel_rows[4], "bye")
    assert single.expected.tool_calls[0].arguments == {"city": "Paris"}
    assert verifier.verify(bye, Message("assistant", content="Glad to help!")).passed
    assert not verifier.verify(bye, Message("assistant", tool_calls=single.expected.tool_calls)).passed
    assert verifier.verify(single, Message("assistant", content="It is sunny.")).score == 0.0
