"""The simulated world and its tools."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
from pivotrl_tool_use.tools import TOOL_NAMES, TOOLS, WRITE_TOOLS, execute, is_error
from pivotrl_tool_use.world import build_db, canonical_json, db_hash, norm_order_id


def _user_with(db, pred):
    return next(uid for uid, u in db["users"].items() if pred(u))


def _order_with(db, status):
    oid = sorted(db["orders"])[0]
    db["orders"][oid]["status"] = status
    return oid, db["orders"][oid]


def test_same_seed_same_world_in_a_fresh_process_with_another_hash_seed():
    code = "from pivotrl_tool_use.world import build_db, db_hash; print(db_hash(build_db(5)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout.strip()
    assert out == db_hash(build_db(5))
    assert db_hash(build_db(5)) != db_hash(build_db(6))


def test_world_shape_and_canonical_form():
    db = build_db(3)
    assert set(db) == {"users", "orders", "products", "handoffs"}
    assert len(db["users"]) == 4 and db["handoffs"] == 0
    for uid, user in db["users"].items():
        assert user["orders"] and all(db["orders"][o]["user_id"] == uid for o in user["orders"])
        assert any(pm["type"] == "credit card" for pm in user["payment_methods"].values())
    assert json.loads(canonical_json(db)) == db
    assert canonical_json(copy.deepcopy(db)) == canonical_json(db)


def test_nine_tools_with_json_schema_parameters():
    assert len(TOOLS) == 9 and len(set(TOOL_NAMES)) == 9
    assert set(TOOL_NAMES) >= WRITE_TOOLS
    for tool in TOOLS:
        params = tool["function"]["parameters"]
        assert params["type"] == "object" and set(params["required"]) <= set(params["properties"])


@pytest.mark.parametrize("raw", ["#W12345", "W12345", "w12345", " 12345 ", 12345])
def test_order_id_forms(raw):
    assert norm_order_id(raw) == "#W12345"


def test_lookups_forgive_casing_and_order_id_form():
    db = build_db(11)
    uid = sorted(db["users"])[0]
    user = db["users"][uid]
    assert execute(db, "find_user_by_email", {"email": user["email"].upper()}) == uid
    args = {
        "first_name": user["name"]["first"].lower(),
        "last_name": user["name"]["last"].upper(),
        "zip": user["zip"],
    }
    assert execute(db, "find_user_by_name_zip", args) == uid
    oid = user["orders"][0]
    assert execute(db, "get_order", {"order_id": oid}) == execute(
        db, "get_order", {"order_id": oid[1:].lower()}
    )
    assert json.loads(execute(db, "get_user", {"user_id": uid}))["orders"] == user["orders"]


def test_bad_calls_are_error_outputs_and_change_nothing():
    db = build_db(12)
    before = canonical_json(db)
    oid, _ = _order_with(db, "delivered")
    before = canonical_json(db)
    outs = [
        execute(db, "no_such_tool", {}),
        execute(db, "get_order", None),
        execute(db, "get_order", {"order_id": 5}),
        execute(db, "get_order", {"order_id": "#W1", "extra": 1}),
        execute(db, "cancel_order", {"order_id": oid, "reason": "no longer needed"}),  # not pending
        execute(db, "return_items", {"order_id": oid, "item_ids": ["00000"]}),
        execute(db, "find_user_by_email", {"email": "nobody@example.com"}),
    ]
    assert all(is_error(o) for o in outs), outs
    assert canonical_json(db) == before


def test_cancel_refunds_and_is_recorded():
    db = build_db(13)
    oid, order = _order_with(db, "pending")
    out = json.loads(execute(db, "cancel_order", {"order_id": oid[1:], "reason": "Ordered by Mistake"}))
    total = round(sum(it["price"] for it in order["items"]), 2)
    assert out == {
        "order_id": oid,
        "status": "cancelled",
        "refund": total,
        "payment_method_id": order["payment_method_id"],
    }
    assert db["orders"][oid]["cancel"] == {"reason": "ordered by mistake", "refund": total}
    assert is_error(execute(db, "cancel_order", {"order_id": oid, "reason": "no longer needed"}))


def test_return_to_gift_card_credits_the_balance_and_item_order_does_not_matter():
    base = build_db(21)
    uid = _user_with(base, lambda u: any(p["type"] == "gift card" for p in u["payment_methods"].values()))
    gift = next(k for k, v in base["users"][uid]["payment_methods"].items() if v["type"] == "gift card")
    oid = base["users"][uid]["orders"][0]
    base["orders"][oid]["status"] = "delivered"
    base["orders"][oid]["items"].append(dict(base["orders"][oid]["items"][0], item_id="99999"))
    ids = [it["item_id"] for it in base["orders"][oid]["items"]]
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    execute(a, "return_items", {"order_id": oid, "item_ids": ids, "payment_method_id": gift})
    execute(b, "return_items", {"item_ids": ids[::-1], "payment_method_id": gift, "order_id": oid})
    assert canonical_json(a) == canonical_json(b)
    amount = round(sum(it["price"] for it in base["orders"][oid]["items"]), 2)
    old = base["users"][uid]["payment_methods"][gift]["balance"]
    assert a["users"][uid]["payment_methods"][gift]["balance"] == round(old + amount, 2)
    # omitting the optional payment method is the same as naming the original one
    c, d = copy.deepcopy(base), copy.deepcopy(base)
    execute(c, "return_items", {"order_id": oid, "item_ids": ids[:1]})
    execute(
        d,
        "return_items",
        {"order_id": oid, "item_ids": ids[:1], "payment_method_id": base["orders"][oid]["payment_method_id"]},
    )
    assert canonical_json(c) == canonical_json(d)


def test_exchange_needs_an_available_other_variant():
    db = build_db(31)
    oid, order = _order_with(db, "delivered")
    item = order["items"][0]
    variants = db["products"][item["product_id"]]["variants"]
    other = next(k for k in sorted(variants) if k != item["item_id"])
    variants[other]["available"] = False
    assert "not available" in execute(
        db, "exchange_item", {"order_id": oid, "item_id": item["item_id"], "new_item_id": other}
    )
    variants[other]["available"] = True
    out = json.loads(
        execute(db, "exchange_item", {"order_id": oid, "item_id": item["item_id"], "new_item_id": other})
    )
    assert out["status"] == "exchange requested" and db["orders"][oid]["exchange"]["new_item_id"] == other


def test_transfer_counts_handoffs():
    db = build_db(1)
    assert not is_error(execute(db, "transfer_to_human", {"summary": "anything"}))
    assert db["handoffs"] == 1 and db_hash(db) != db_hash(build_db(1))
