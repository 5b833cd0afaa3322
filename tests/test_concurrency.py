"""Concurrent endpoints: the `openai` policy and `llm_judge` keep N requests in flight (bounded)
against a loopback server in its own process that answers after a fixed delay."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

# benchmarks/ is not put on sys.path: its verifiers.py would shadow the `verifiers` package
_spec = importlib.util.spec_from_file_location(
    "pivotrl_bench_concurrency", Path(__file__).resolve().parents[1] / "benchmarks" / "concurrency.py"
)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
DelayServer, judge_throughput, policy_throughput = (
    bench.DelayServer,
    bench.judge_throughput,
    bench.policy_throughput,
)
server_stats = bench.server_stats

from pivotrl_core.policies.base import Prompt, SamplingParams  # noqa: E402
from pivotrl_core.policies.openai_policy import OpenAIPolicy  # noqa: E402
from pivotrl_core.types import Candidate, Message  # noqa: E402
from pivotrl_core.verifiers.llm_judge import LLMJudgeVerifier  # noqa: E402

DELAY = 4.0  # long enough that a loaded 2-core CI machine is not the limit at 64 in flight


@pytest.fixture(scope="module")
def url():  # noqa: ANN201
    with DelayServer(DELAY) as u:
        yield u


@pytest.mark.parametrize("fn", [policy_throughput, judge_throughput], ids=["openai", "llm_judge"])
def test_64_in_flight_reach_80_percent_of_n_over_delay(url: str, fn) -> None:  # noqa: ANN001
    rps, _ = fn(url, 64, rounds=2)
    assert server_stats(url)["max_in_flight"] == 64
    assert rps >= 0.8 * 64 / DELAY, f"{rps:.1f} req/s with 64 in flight; ideal {64 / DELAY:.0f}"


def test_the_bound_holds_and_order_is_kept(url: str) -> None:
    pol = OpenAIPolicy("m", base_url=url, max_concurrency=5, max_retries=0)
    try:
        server_stats(url)
        prompts = [Prompt((Message("user", f"q{i}"),)) for i in range(10)]
        out = pol.sample(prompts, 2, SamplingParams(max_new_tokens=4))
    finally:
        pol.close()
    assert server_stats(url)["max_in_flight"] == 5 and pol.stats["max_in_flight"] == 5
    assert [len(c) for c in out] == [2] * 10 and all(c.text == "YES" for cs in out for c in cs)


def test_judge_batch_errors_are_errored_never_zero(url: str) -> None:
    judge = LLMJudgeVerifier(
        model="m", base_url=url, cache=False, max_concurrency=4, max_retries=0, timeout=0.5
    )
    cand = Candidate("c", "generic", "t", 1, (Message("user", "q"),), Message("assistant", "a"))
    try:
        verdicts = judge.verify_batch([(cand, Message("assistant", f"x{i}")) for i in range(6)])
    finally:
        judge.close()
    assert all(v.errored and v.reward is None for v in verdicts)  # 4 s answers, 0.5 s timeout
    assert all("timed out" in (v.error or "") for v in verdicts)


def test_trl_reward_with_the_judge_runs_the_batch_concurrently(url: str, tmp_path) -> None:  # noqa: ANN001
    """A TRL reward batch of 16 completions judged by `llm_judge`: 16 calls at once, not in series."""
    import time

    import pivotrl_core

    opts = {"model": "m", "base_url": url, "cache": False, "max_concurrency": 16, "max_retries": 0}
    reward = pivotrl_core.reward_function(verifier="llm_judge", options=opts)
    cand = Candidate("c", "generic", "t", 1, (Message("user", "q"),), Message("assistant", "a"))
    pivot = json.dumps(cand.to_dict())
    deadline = time.monotonic() + 2 * DELAY
    while server_stats(url)["in_flight"] and time.monotonic() < deadline:  # earlier tests' timed-out calls
        time.sleep(0.2)
    server_stats(url)
    start = time.monotonic()
    scores = reward([[]] * 16, [f"answer {i}" for i in range(16)], [pivot] * 16)
    assert scores == [1.0] * 16 and time.monotonic() - start < 2 * DELAY
    assert server_stats(url)["max_in_flight"] == 16
