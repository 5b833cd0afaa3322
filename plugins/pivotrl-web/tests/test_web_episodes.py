"""Episodes and the ``tasks`` benchmark: the expert solves the tasks, a policy that never searches fails."""

from __future__ import annotations

from collections.abc import Sequence

from pivotrl_web.benchmark import tasks_benchmark
from pivotrl_web.episode import run_episodes
from pivotrl_web.expert import ExpertPolicy

from pivotrl_core import Completion, Message, Prompt, SamplingParams, ToolCall, get_registry


class NeverSearches:
    """Talks to the customer and reads the clock, never searches: it cannot learn the bank's tools."""

    name = "never-searches"
    model_id = "never-searches"

    def sample(self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams) -> list[list[Completion]]:
        out = []
        for p in prompts:
            asked = sum(m.role == "assistant" for m in p.messages)
            if asked == 0:
                msg = Message(role="assistant", tool_calls=(ToolCall("get_current_time", {}),))
            else:
                msg = Message(
                    role="assistant", content="I understand. Could you tell me more about your request?"
                )
            out.append([Completion(text=msg.content or "", message=msg) for _ in range(n)])
        return out

    def close(self) -> None:
        return None


def test_expert_solves_every_offline_task(banking):
    tasks = [t for t in banking.tasks.values() if t.offline]
    outcomes = [e.outcome() for e in run_episodes(ExpertPolicy(), tasks, data=banking)]
    assert sum(o["success"] for o in outcomes) / len(outcomes) >= 0.9
    assert all(o["searches"] >= 1 and o["opened"] >= 1 for o in outcomes)


def test_benchmark_adapter_through_the_domain(banking):
    bench = get_registry().domain("web").benchmarks["tasks"]
    expert = bench(ExpertPolicy(), split="heldout")
    assert expert["n_tasks"] >= 10 and expert["success_rate"] >= 0.9
    assert expert["searches_per_episode"] >= 1.0
    assert {"task_id", "reward", "searches", "termination"} <= set(expert["tasks"][0])
    never = tasks_benchmark(NeverSearches(), split="heldout")
    assert never["success_rate"] == 0.0 and never["searches_per_episode"] == 0.0
    assert never["n_tasks"] == expert["n_tasks"]


def test_customer_acts_only_when_told_what_it_needs(banking):
    task = banking.tasks["task_001"]  # the customer applies for the card the agent recommends
    (ep,) = run_episodes(NeverSearches(), [task], data=banking)
    assert not ep.outcome()["success"] and ep.termination == "user_gave_up"
    assert not any(c.requestor == "user" for c in ep.world.calls)
