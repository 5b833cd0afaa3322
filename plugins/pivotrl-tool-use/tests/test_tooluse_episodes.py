"""Tasks, the scripted customer and expert, generation and the episodes benchmark."""

from __future__ import annotations

import random
from collections import Counter

from pivotrl_tool_use.benchmark import episodes
from pivotrl_tool_use.episode import Episode, run_episodes
from pivotrl_tool_use.expert_policy import ExpertPolicy
from pivotrl_tool_use.tasks import KINDS, Task, expected_db, make_task, make_tasks
from pivotrl_tool_use.world import canonical_json

from pivotrl_core.policies.base import Completion, SamplingParams
from pivotrl_core.types import Message, ToolCall


class GarbagePolicy:
    """Random words or random calls: a floor the benchmark must score near 0."""

    name = "garbage"
    model_id = "garbage"

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def sample(self, prompts, n, sampling):
        out = []
        for _ in prompts:
            group = []
            for _ in range(n):
                if self.rng.random() < 0.5:
                    msg = Message(
                        "assistant",
                        content=" ".join(self.rng.choice(["zor", "plik", "ok", "the"]) for _ in range(6)),
                    )
                else:
                    msg = Message(
                        "assistant",
                        tool_calls=(
                            ToolCall("get_order", {"order_id": f"#W{self.rng.randint(10000, 99999)}"}),
                        ),
                    )
                group.append(Completion(text="", message=msg))
            out.append(group)
        return out

    def close(self):
        return None


def test_tasks_are_deterministic_and_round_trip():
    a, b = make_task("train", 3, 17), make_task("train", 3, 17)
    assert a == b and Task.from_dict(a.to_dict()) == a
    assert make_task("eval", 3, 17) != a
    tasks = make_tasks("train", 0, 200)
    assert set(Counter(t.kind for t in tasks)) == set(KINDS)
    assert {t.typo for t in tasks} == {None, "email", "order"}
    assert {t.order_ref for t in tasks} == {"upfront", "asked", "latest"}
    assert any(not t.confirm for t in tasks) and all(t.must_say for t in tasks)


def test_train_and_eval_streams_are_disjoint():
    train = {(t.world_seed, t.user_id, t.order_id) for s in range(3) for t in make_tasks("train", s, 300)}
    held_out = {
        (t.world_seed, t.user_id, t.order_id) for s in (1001, 1002, 1003) for t in make_tasks("eval", s, 100)
    }
    assert not train & held_out


def test_expert_solves_every_task_and_exercises_every_path():
    eps = run_episodes(ExpertPolicy(seed=1), make_tasks("train", 5, 300), SamplingParams(seed=1))
    outcomes = [e.outcome() for e in eps]
    assert all(o["success"] for o in outcomes), [o for o in outcomes if not o["success"]][:3]
    kinds = Counter(ann["kind"] for e in eps for ann in e.annotations.values())
    for kind in (
        "ask_auth",
        "auth_retry",
        "ask_order",
        "order_retry",
        "status",
        "refuse",
        "confirm",
        "done",
        "declined",
        "unavailable",
        "transfer",
    ):
        assert kinds[kind] > 0, kind
    errors = sum(
        1 for e in eps for m in e.messages if m.role == "tool" and (m.content or "").startswith("Error")
    )
    assert errors > 0  # the expert meets tool errors (mistyped e-mails, order ids) and recovers
    calls = Counter(tc.name for e in eps for m in e.messages for tc in m.tool_calls)
    assert set(calls) >= {
        "find_user_by_email",
        "find_user_by_name_zip",
        "get_user",
        "get_order",
        "get_product",
        "cancel_order",
        "return_items",
        "exchange_item",
        "transfer_to_human",
    }


def test_doing_nothing_fails_and_a_wrong_write_fails():
    task = next(t for t in make_tasks("train", 2, 100) if t.kind == "cancel" and t.confirm)
    ep = Episode(task)
    ep.act(Message("assistant", content="Hello there."))
    assert not ep.outcome()["success"]
    ep = Episode(task)
    ep.act(
        Message(
            "assistant",
            tool_calls=(
                ToolCall(
                    "cancel_order",
                    {
                        "order_id": task.order_id,
                        "reason": "ordered by mistake"
                        if task.reason == "no longer needed"
                        else "no longer needed",
                    },
                ),
            ),
        )
    )
    assert canonical_json(ep.db) != canonical_json(expected_db(task)) and not ep.outcome()["db_match"]


def test_customer_gives_up_after_three_unhelpful_answers():
    ep = Episode(make_task("train", 0, 1))
    for _ in range(3):
        ep.act(Message("assistant", content="I like turtles."))
    assert ep.termination == "user_stop" and ep.agent_turns == 3
    assert ep.messages[-1].content == "Never mind, I'll try again later."


def test_episodes_benchmark_scores_the_expert_1_and_garbage_0():
    good = episodes(ExpertPolicy(), n_tasks=15, seeds=(1001, 1002, 1003))
    assert good["pass^1"] == 1.0 and good["pass^1_std"] == 0.0 and good["authenticated"] == 1.0
    assert [r["seed"] for r in good["seeds"]] == [1001, 1002, 1003]
    assert all(len(r["tasks"]) == 15 and r["mean_turns"] > 2 for r in good["seeds"])
    bad = episodes(GarbagePolicy(), n_tasks=15, seeds=(1001, 1002), max_turns=8)
    assert bad["pass^1"] <= 0.1 and bad["pass^1_max"] <= 0.15 and bad["authenticated"] == 0.0
    assert {"pass^1", "pass^1_std", "pass^1_min", "pass^1_max", "mean_turns", "n_tasks"} <= set(bad)


def test_episodes_is_reachable_through_the_domain(pivotrl_pm):
    from pivotrl_core.plugins import get_registry

    registry = get_registry()
    domain = registry.domain("tool-use")
    policy = registry.policy("tool-use-expert")
    assert domain.benchmarks["episodes"](policy, n_tasks=4, seeds=(1001,))["pass^1"] == 1.0
