"""State-changing hidden tools are recorded, not applied: what that means, checked on the 97 tasks."""

from __future__ import annotations

import json
import re

from pivotrl_web.created_ids import created_ids
from pivotrl_web.reward import gold_calls, gold_hash, new_world
from pivotrl_web.values import json_args

ID = re.compile(r"^(dbc_[0-9a-f]{12}|[0-9a-f]{16})$")


def _strings(value):
    if isinstance(value, str):
        parsed = json_args(value) if value.startswith("{") else value
        return _strings(parsed) if isinstance(parsed, dict) else [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def test_every_record_id_a_gold_action_needs_is_shown_before_it(banking) -> None:
    """Ids of records that upstream's effects create (a new account, a new card) are named by the
    creating call's output, so an agent can learn them; every other id is in the initial data."""
    needed = {}
    for task in banking.tasks.values():
        world = new_world(task, banking)
        seen = task.instructions + json.dumps(banking.initial_db(task))
        for requestor, name, args in gold_calls(task):
            for value in _strings(args):
                if ID.match(value):
                    assert value in seen, (task.id, name, value)
                    needed.setdefault(task.id, set()).add(value)
            seen += world.execute(name, args, requestor)
    created = {
        t for t in needed if any(v not in json.dumps(banking.initial_db(banking.tasks[t])) for v in needed[t])
    }
    assert created == {"task_055", "task_056", "task_057", "task_062", "task_077", "task_080"}


def test_created_ids_follow_upstream_seeds() -> None:
    # upstream utils.py: sha256("account:{user}:{type}:{class}")[:8].hex();
    # cards: "dbc_" + sha256("debit_card:{account}:{user}:{date}")[:6].hex()
    assert created_ids(
        "open_bank_account_4821", {"user_id": "u", "account_type": "t", "account_class": "c"}
    ) == ("\nAccount ID: " + __import__("hashlib").sha256(b"account:u:t:c").digest()[:8].hex())
    assert created_ids("order_debit_card_5739", {"account_id": "a", "user_id": "u"}).startswith(
        "\nCard ID: dbc_"
    )
    assert created_ids("freeze_debit_card_3892", {"card_id": "x"}) == ""


def test_recorded_calls_separate_arguments_and_ignore_repeats(banking) -> None:
    """The DB comparison sees (tool, arguments) of each state-changing hidden call: a wrong argument
    fails the task; a repeated identical call leaves the state as it was (docs/domains/web.md says
    where upstream differs: a repeated payment or transfer applies twice there)."""
    task = banking.tasks["task_056"]
    calls = gold_calls(task)
    world = new_world(task, banking)
    world.replay(calls)
    assert world.db_hash() == gold_hash(task, banking)
    last = next(c for c in reversed(calls) if c[1] == "call_discoverable_agent_tool")
    world.replay([last])  # the same call again
    assert world.db_hash() == gold_hash(task, banking)
    args = json_args(last[2]["arguments"])
    key = next(k for k, v in args.items() if isinstance(v, str))
    wrong = {**last[2], "arguments": json.dumps({**args, key: args[key] + "x"})}
    world.replay([(last[0], last[1], wrong)])
    assert world.db_hash() != gold_hash(task, banking)
