"""The corpus, the banking world's tools and the official reward, on the real tau2 banking data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pivotrl_web.corpus import load_corpus, tokenize
from pivotrl_web.reward import gold_calls, new_world, official_reward

from pivotrl_core import InputError


def test_corpus_indexes_the_knowledge_base(corpus):
    assert len(corpus) == 698
    hits = corpus.search("Gold Rewards Card annual fee", 5)
    assert len(hits) == 5 and hits[0].score >= hits[-1].score
    assert corpus.search("", 5) == ()
    doc = corpus.open(hits[0].id)
    assert doc is not None and doc.id == hits[0].id and corpus.open("no-such-doc") is None


def test_any_jsonl_corpus_plugs_in_and_bad_rows_name_file_line_field(tmp_path):
    good = tmp_path / "c.jsonl"
    rows = [
        {"id": "a", "title": "Cats", "content": "cats purr"},
        {"id": "b", "title": "Dogs", "content": "dogs bark"},
        {"id": "c", "title": "Owls", "content": "owls hoot"},
    ]
    good.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert [h.id for h in load_corpus(good).search("dogs", 3)] == ["b"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rows[0]) + "\n" + json.dumps({"id": "x", "title": 3, "content": ""}) + "\n")
    with pytest.raises(InputError) as err:
        load_corpus(bad)
    assert err.value.line == 2 and err.value.field == "title" and str(bad) in str(err.value)
    assert err.value.exit_code == 2


def test_hidden_tools_must_be_unlocked_and_calls_are_recorded(banking):
    task = banking.tasks["task_020"]
    world = new_world(task, banking)
    before = world.db_hash()
    assert world.execute(
        "call_discoverable_agent_tool", {"agent_tool_name": "freeze_debit_card_3892"}
    ).startswith("Error")
    assert "Tool unlocked" in world.execute(
        "unlock_discoverable_agent_tool", {"agent_tool_name": "freeze_debit_card_3892"}
    )
    assert world.db_hash() == before  # unlocking is not in the database
    bad = world.execute(
        "call_discoverable_agent_tool", {"agent_tool_name": "freeze_debit_card_3892", "arguments": "{}"}
    )
    assert bad.startswith("Error: Invalid arguments")
    ok = world.execute(
        "call_discoverable_agent_tool",
        {"agent_tool_name": "freeze_debit_card_3892", "arguments": '{"card_id": "x"}'},
    )
    assert not ok.startswith("Error") and world.db_hash() != before
    # customer tools need the agent to give them first
    call = {"discoverable_tool_name": "get_referral_link", "arguments": '{"user_id": "1", "card_name": "c"}'}
    assert world.execute("call_discoverable_user_tool", call, "user").startswith("Error")
    world.execute("give_discoverable_user_tool", {"discoverable_tool_name": "get_referral_link"})
    assert not world.execute("call_discoverable_user_tool", call, "user").startswith("Error")


def test_reads_answer_from_the_database(banking):
    world = new_world(banking.tasks["task_001"], banking)
    out = world.execute("get_user_information_by_id", {"user_id": "123"})
    assert "Mia Smith" in out
    assert "No results" in world.execute("get_user_information_by_email", {"email": "nobody@x"})


def test_gold_actions_earn_the_reward_and_doing_nothing_does_not(banking):
    graded = [t for t in banking.tasks.values() if t.offline]
    assert len(graded) == 96
    for task in graded:
        idle = new_world(task, banking)
        done = new_world(task, banking)
        done.replay(gold_calls(task))
        assert official_reward(task, done, banking)["reward"] == 1.0, task.id
        if "DB" in task.reward_basis:
            assert official_reward(task, idle, banking)["reward"] == 0.0, task.id


def test_wrong_arguments_fail_the_db_reward(banking):
    task = banking.tasks["task_020"]
    world = new_world(task, banking)
    calls = gold_calls(task)
    requestor, name, args = calls[0]
    world.replay([(requestor, name, {**args, "phone_number": "000-000-0000"}), *calls[1:]])
    assert official_reward(task, world, banking)["reward"] == 0.0


def test_memoised_term_columns_equal_rank_bm25_scores(corpus):
    for query in ("Gold Rewards Card annual fee fee", "dispute a debit card charge", "zzz unknown"):
        assert np.array_equal(corpus.scores(query), corpus._bm25.get_scores(tokenize(query)))


def test_forks_and_fresh_worlds_never_share_writes(banking):
    task = banking.tasks["task_005"]
    base = new_world(task, banking)
    base.execute("change_user_email", {"user_id": "123", "new_email": "a@b.c"})
    twin = base.fork()
    twin.execute("change_user_email", {"user_id": "123", "new_email": "x@y.z"})
    base.execute("change_user_email", {"user_id": "123", "new_email": "p@q.r"})
    assert twin.table("users")["123"]["email"] == "x@y.z"
    assert base.table("users")["123"]["email"] == "p@q.r"
    assert new_world(task, banking).table("users")["123"]["email"] == "mia.smith8574@gmail.com"
    assert banking.db["users"]["data"]["123"]["email"] == "mia.smith8574@gmail.com"
