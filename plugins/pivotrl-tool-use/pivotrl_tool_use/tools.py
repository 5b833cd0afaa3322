"""The agent's nine tools: JSON-Schema definitions and their effects on a world database.

:func:`execute` is the only way a tool touches the database. It never raises: a bad call (an
unknown tool, arguments that break the schema, an order in the wrong status) returns a string
starting with ``"Error: "`` and leaves the database unchanged, exactly as a real tool API would.
Look-ups are forgiving where a real service is (e-mail and name casing, ``#W12345`` vs
``W12345``), which is what makes several different calls functionally equivalent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator

from .world import money, norm_order_id

__all__ = ["CANCEL_REASONS", "TOOLS", "TOOL_NAMES", "WRITE_TOOLS", "execute", "is_error"]

CANCEL_REASONS = ("no longer needed", "ordered by mistake")


def _tool(name: str, description: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": props,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


_S = {"type": "string"}
TOOLS: tuple[dict[str, Any], ...] = (
    _tool("find_user_by_email", "Find a user id.", {"email": _S}, ["email"]),
    _tool(
        "find_user_by_name_zip",
        "Find a user id.",
        {"first_name": _S, "last_name": _S, "zip": _S},
        ["first_name", "last_name", "zip"],
    ),
    _tool("get_user", "Payment methods and orders.", {"user_id": _S}, ["user_id"]),
    _tool("get_order", "Status and items.", {"order_id": _S}, ["order_id"]),
    _tool("get_product", "Variants.", {"product_id": _S}, ["product_id"]),
    _tool(
        "cancel_order",
        "reason: 'no longer needed' or 'ordered by mistake'.",
        {"order_id": _S, "reason": _S},
        ["order_id", "reason"],
    ),
    _tool(
        "return_items",
        "Refund to the original payment method unless payment_method_id is given.",
        {"order_id": _S, "item_ids": {"type": "array", "items": _S, "minItems": 1}, "payment_method_id": _S},
        ["order_id", "item_ids"],
    ),
    _tool(
        "exchange_item",
        "new_item_id: another variant of the same product.",
        {"order_id": _S, "item_id": _S, "new_item_id": _S},
        ["order_id", "item_id", "new_item_id"],
    ),
    _tool("transfer_to_human", "Hand the user to a human agent.", {"summary": _S}, ["summary"]),
)
TOOL_NAMES = tuple(t["function"]["name"] for t in TOOLS)
WRITE_TOOLS = frozenset({"cancel_order", "return_items", "exchange_item", "transfer_to_human"})
_VALIDATORS = {t["function"]["name"]: Draft202012Validator(t["function"]["parameters"]) for t in TOOLS}


class ToolError(Exception):
    """A tool refused the call; the message becomes the tool output."""


def is_error(output: str) -> bool:
    """True when a tool output reports an error."""
    return output.startswith("Error: ")


def _dump(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _order(db: dict[str, Any], order_id: str) -> tuple[str, dict[str, Any]]:
    oid = norm_order_id(order_id)
    if oid is None or oid not in db["orders"]:
        raise ToolError(f"no order with id '{oid or order_id.strip()}'")
    return oid, db["orders"][oid]


def _user_id(db: dict[str, Any], user_id: str) -> str:
    uid = user_id.strip().lower()
    if uid not in db["users"]:
        raise ToolError(f"no user with id '{uid}'")
    return uid


def _find_by_email(db: dict[str, Any], email: str) -> str:
    key = email.strip().lower()
    for uid, user in db["users"].items():
        if user["email"] == key:
            return uid
    raise ToolError(f"no user with email '{key}'")


def _find_by_name_zip(db: dict[str, Any], first_name: str, last_name: str, zip: str) -> str:
    want = (first_name.strip().casefold(), last_name.strip().casefold(), zip.strip())
    for uid, user in db["users"].items():
        if (user["name"]["first"].casefold(), user["name"]["last"].casefold(), user["zip"]) == want:
            return uid
    raise ToolError(f"no user named {want[0]} {want[1]} with zip {want[2]}")


def _get_user(db: dict[str, Any], user_id: str) -> str:
    uid = _user_id(db, user_id)
    user = db["users"][uid]
    methods = [{"id": k, **v} for k, v in sorted(user["payment_methods"].items())]
    name = f"{user['name']['first']} {user['name']['last']}"
    return _dump({"user_id": uid, "name": name, "payment_methods": methods, "orders": user["orders"]})


def _get_order(db: dict[str, Any], order_id: str) -> str:
    oid, order = _order(db, order_id)
    items = [
        {k: it[k] for k in ("item_id", "product_id", "name", "option", "price")} for it in order["items"]
    ]
    total = money(sum(it["price"] for it in order["items"]))
    return _dump(
        {
            "order_id": oid,
            "user_id": order["user_id"],
            "status": order["status"],
            "items": items,
            "total": total,
            "payment_method_id": order["payment_method_id"],
        }
    )


def _get_product(db: dict[str, Any], product_id: str) -> str:
    pid = product_id.strip()
    if pid not in db["products"]:
        raise ToolError(f"no product with id '{pid}'")
    prod = db["products"][pid]
    variants = [{"item_id": k, **v} for k, v in sorted(prod["variants"].items())]
    return _dump({"product_id": pid, "name": prod["name"], "variants": variants})


def _refund(db: dict[str, Any], order: dict[str, Any], method: str, amount: float) -> None:
    pm = db["users"][order["user_id"]]["payment_methods"][method]
    if pm["type"] == "gift card":
        pm["balance"] = money(pm["balance"] + amount)


def _cancel(db: dict[str, Any], order_id: str, reason: str) -> str:
    oid, order = _order(db, order_id)
    if order["status"] != "pending":
        raise ToolError(f"order {oid} is {order['status']}; only pending orders can be cancelled")
    why = reason.strip().lower()
    if why not in CANCEL_REASONS:
        raise ToolError(f"reason must be one of: {', '.join(CANCEL_REASONS)}")
    amount = money(sum(it["price"] for it in order["items"]))
    order["status"] = "cancelled"
    order["cancel"] = {"reason": why, "refund": amount}
    _refund(db, order, order["payment_method_id"], amount)
    return _dump(
        {
            "order_id": oid,
            "status": "cancelled",
            "refund": amount,
            "payment_method_id": order["payment_method_id"],
        }
    )


def _check_delivered(oid: str, order: dict[str, Any], what: str) -> None:
    if order["status"] != "delivered":
        raise ToolError(f"order {oid} is {order['status']}; only delivered orders can be {what}")


def _return(
    db: dict[str, Any], order_id: str, item_ids: list[str], payment_method_id: str | None = None
) -> str:
    oid, order = _order(db, order_id)
    _check_delivered(oid, order, "returned")
    ids = [i.strip() for i in item_ids]
    by_id = {it["item_id"]: it for it in order["items"]}
    if len(set(ids)) != len(ids) or any(i not in by_id for i in ids):
        raise ToolError(f"item_ids must be distinct items of order {oid}")
    method = (payment_method_id or order["payment_method_id"]).strip()
    methods = db["users"][order["user_id"]]["payment_methods"]
    if method != order["payment_method_id"] and methods.get(method, {}).get("type") != "gift card":
        raise ToolError("refunds go to the original payment method or one of the user's gift cards")
    amount = money(sum(by_id[i]["price"] for i in ids))
    order["status"] = "return requested"
    order["return"] = {"item_ids": sorted(ids), "refund": amount, "payment_method_id": method}
    _refund(db, order, method, amount)
    return _dump(
        {
            "order_id": oid,
            "status": order["status"],
            "item_ids": sorted(ids),
            "refund": amount,
            "payment_method_id": method,
        }
    )


def _exchange(db: dict[str, Any], order_id: str, item_id: str, new_item_id: str) -> str:
    oid, order = _order(db, order_id)
    _check_delivered(oid, order, "exchanged")
    item = next((it for it in order["items"] if it["item_id"] == item_id.strip()), None)
    if item is None:
        raise ToolError(f"item '{item_id}' is not in order {oid}")
    variant = db["products"][item["product_id"]]["variants"].get(new_item_id.strip())
    if variant is None or new_item_id.strip() == item["item_id"]:
        raise ToolError(f"'{new_item_id}' is not another variant of {item['name']}")
    if not variant["available"]:
        raise ToolError(f"item '{new_item_id}' is not available")
    order["status"] = "exchange requested"
    order["exchange"] = {"item_id": item["item_id"], "new_item_id": new_item_id.strip()}
    return _dump({"order_id": oid, "status": order["status"], **order["exchange"]})


def _transfer(db: dict[str, Any], summary: str) -> str:
    db["handoffs"] += 1
    return "Transfer successful. A human agent will take over."


_IMPL = {
    "find_user_by_email": _find_by_email,
    "find_user_by_name_zip": _find_by_name_zip,
    "get_user": _get_user,
    "get_order": _get_order,
    "get_product": _get_product,
    "cancel_order": _cancel,
    "return_items": _return,
    "exchange_item": _exchange,
    "transfer_to_human": _transfer,
}


def execute(db: dict[str, Any], name: str, arguments: Mapping[str, Any] | None) -> str:
    """Run one tool call against ``db`` (mutated in place on success); return its output text."""
    if name not in _IMPL:
        return f"Error: unknown tool '{name}'"
    if not isinstance(arguments, Mapping):
        return "Error: arguments must be a JSON object"
    problems = sorted(_VALIDATORS[name].iter_errors(dict(arguments)), key=lambda e: list(e.path))
    if problems:
        return f"Error: invalid arguments for {name}: {problems[0].message}"
    try:
        return _IMPL[name](db, **arguments)
    except ToolError as e:
        return f"Error: {e}"
