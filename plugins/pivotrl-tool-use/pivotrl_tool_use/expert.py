"""The scripted expert agent: follows the policy from the visible conversation alone.

:func:`decide` returns the next action (one tool call or one message) and, for messages, an
*annotation*: ``{"kind": ..., "required": [facts]}`` naming the information the message must
carry (see :mod:`pivotrl_tool_use.text`). Trajectories record these annotations so the
``tool_state`` verifier can judge a sampled message by content, not by wording.

Where several actions are equally right, the expert picks one at random: look up by e-mail or
by name and zip, ``#W12345`` or ``W12345``, argument order, item order, an explicit or omitted
optional ``payment_method_id``, different phrasings. :class:`ExpertPolicy` wraps it as a
:class:`pivotrl_core.Policy` (registered as ``tool-use-expert``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from pivotrl_core import Message, ToolCall

from .parse import Conversation, read_conversation
from .text import CONFIRM_CUES, NEGATIONS, UNAVAILABLE, asks_confirmation, user_says_no, user_says_yes
from .tools import WRITE_TOOLS

__all__ = ["decide"]

Annotation = dict[str, Any]
Decision = tuple[Message, Annotation | None]


def _call(rng: random.Random, name: str, args: dict[str, Any]) -> Decision:
    items = list(args.items())
    rng.shuffle(items)  # argument order never matters
    return Message(role="assistant", tool_calls=(ToolCall(name=name, arguments=dict(items)),)), None


def _say(rng: random.Random, kind: str, options: Sequence[str], required: list[dict[str, Any]]) -> Decision:
    return Message(role="assistant", content=rng.choice(list(options))), {"kind": kind, "required": required}


def _oid(rng: random.Random, oid: str) -> str:
    return rng.choice((oid, oid[1:]))


def _money(x: float) -> str:
    return f"${x:.2f}"


_ASK_ID = [{"any": ["email", "zip"]}]
_PAST = {"cancel": "cancelled", "return": "returned", "exchange": "exchanged"}


def _authenticate(conv: Conversation, rng: random.Random) -> Decision:
    options = []
    email = conv.latest_email()
    if email and not conv.tried("find_user_by_email", email.strip().lower()):
        options.append(("find_user_by_email", {"email": rng.choice((email, email.lower()))}))
    nz = conv.latest_name_zip()
    if nz and not conv.tried("find_user_by_name_zip", tuple(x.lower() for x in nz)):
        first, last = (nz[0], nz[1]) if rng.random() < 0.8 else (nz[0].lower(), nz[1].lower())
        options.append(("find_user_by_name_zip", {"first_name": first, "last_name": last, "zip": nz[2]}))
    if options:
        return _call(rng, *rng.choice(options))
    if conv.calls:  # every identity we were given failed
        if conv.tried("find_user_by_email", (email or "").strip().lower()) and rng.random() < 0.6:
            return _say(
                rng,
                "auth_retry",
                [
                    (
                        "I couldn't find an account with that. "
                        "Could you give me your first and last name and zip code instead?"
                    ),
                    "Sorry, nothing matches that. Please tell me your full name and zip code.",
                ],
                _ASK_ID,
            )
        return _say(
            rng,
            "auth_retry",
            [
                "I couldn't find that account. Could you double-check your email address?",
                "Nothing matches that. Could you give me your email, or your name and zip code, again?",
            ],
            _ASK_ID,
        )
    return _say(
        rng,
        "ask_auth",
        [
            (
                "I can help with that. First, could you give me your email, "
                "or your first and last name and zip code?"
            ),
            "Sure. To verify your identity, please share your email address or your name and zip code.",
            "Happy to help. What is the email on your account? Your full name and zip code also work.",
        ],
        _ASK_ID,
    )


def _order(conv: Conversation, uid: str, rng: random.Random) -> Decision | dict[str, Any]:
    """The order the customer means (its ``get_order`` output), or the action to find it."""
    oid = conv.latest_order_id()
    if oid is None and conv.wants_latest():
        user = conv.output("get_user", user_id=uid)
        if user is None or not user.ok:
            return _call(rng, "get_user", {"user_id": uid})
        oid = user.json()["orders"][-1]
    if oid is None:
        return _say(
            rng,
            "ask_order",
            [
                "Thanks, you're verified. What is the order id?",
                "Got it. Which order is it? Please give me the order number.",
                "Thank you. Could you share the order id?",
            ],
            [{"any": ["order"]}, {"any": ["id", "number", "#"]}],
        )
    got = conv.output("get_order", order_id=oid)
    if got is None:
        return _call(rng, "get_order", {"order_id": _oid(rng, oid)})
    if not got.ok:
        return _say(
            rng,
            "order_retry",
            [
                f"I couldn't find order {oid}. Could you double-check the order id?",
                f"There is no order {oid}. Could you check the order number again?",
            ],
            [{"any": ["order"]}, {"any": ["id", "number", "#"]}],
        )
    order = got.json()
    if order["user_id"] != uid:
        return _say(
            rng,
            "not_yours",
            [f"Order {oid} is not on your account, so I can't help with it."],
            [{"any": ["not on your account", "not your", "another account"]}],
        )
    return order


def _refuse(rng: random.Random, order: dict[str, Any], verb: str, allowed: str) -> Decision:
    oid, status = order["order_id"], order["status"]
    return _say(
        rng,
        "refuse",
        [
            f"Order {oid} is {status}, so I can't {verb} it. Only {allowed} orders can be {_PAST[verb]}.",
            (
                f"I'm sorry, order {oid} is already {status}. "
                f"I'm unable to {verb} it; that is only possible for {allowed} orders."
            ),
        ],
        [{"any": [status]}, {"any": list(NEGATIONS)}],
    )


def _plan_cancel(conv: Conversation, order: dict[str, Any], rng: random.Random) -> Any:
    if order["status"] != "pending":
        return _refuse(rng, order, "cancel", "pending")
    oid, total, reason = order["order_id"], order["total"], conv.reason()
    confirm = _say(
        rng,
        "confirm",
        [
            (
                f"To confirm: I will cancel order {oid} (reason: {reason}) and refund {_money(total)} "
                "to your original payment method. Shall I proceed?"
            ),
            (
                f"Order {oid} is pending, total {_money(total)}. "
                f"Do you want me to cancel it as {reason}? Please confirm (yes/no)."
            ),
        ],
        [{"order_id": oid}, {"any": ["cancel"]}, {"any": list(CONFIRM_CUES)}],
    )
    done = [{"any": ["cancel"]}, {"amount": total}]
    return ("cancel_order", {"order_id": _oid(rng, oid), "reason": reason}), confirm, done


def _plan_return(conv: Conversation, uid: str, order: dict[str, Any], rng: random.Random) -> Any:
    if order["status"] != "delivered":
        return _refuse(rng, order, "return", "delivered")
    wanted = conv.mentioned_products()
    items = [it for it in order["items"] if it["name"] in wanted]
    if not items:
        return _say(
            rng,
            "ask_items",
            ["Which items of the order would you like to return?"],
            [{"any": ["which", "what"]}],
        )
    args: dict[str, Any] = {
        "order_id": _oid(rng, order["order_id"]),
        "item_ids": rng.sample([it["item_id"] for it in items], len(items)),
    }
    where = "your original payment method"
    if conv.wants_gift_card():
        user = conv.output("get_user", user_id=uid)
        if user is None or not user.ok:
            return _call(rng, "get_user", {"user_id": uid})
        gifts = [pm["id"] for pm in user.json()["payment_methods"] if pm["type"] == "gift card"]
        if gifts:
            args["payment_method_id"], where = gifts[0], f"your gift card {gifts[0]}"
    elif rng.random() < 0.3:
        args["payment_method_id"] = order["payment_method_id"]
    amount = round(sum(it["price"] for it in items), 2)
    names = " and ".join(it["name"] for it in items)
    oid = order["order_id"]
    confirm = _say(
        rng,
        "confirm",
        [
            (
                f"I will return the {names} from order {oid} and refund {_money(amount)} to {where}. "
                "Do you want me to proceed?"
            ),
            (
                f"To confirm: return {names} (order {oid}), refund of {_money(amount)} to {where}. "
                "Shall I go ahead?"
            ),
        ],
        [
            {"order_id": oid},
            {"any": ["return"]},
            *({"any": [it["name"]]} for it in items),
            {"amount": amount},
            {"any": list(CONFIRM_CUES)},
        ],
    )
    return ("return_items", args), confirm, [{"any": ["return", "refund"]}, {"amount": amount}]


def _plan_exchange(conv: Conversation, order: dict[str, Any], rng: random.Random) -> Any:
    if order["status"] != "delivered":
        return _refuse(rng, order, "exchange", "delivered")
    wanted = conv.mentioned_products()
    item = next((it for it in order["items"] if it["name"] in wanted), None)
    if item is None:
        return _say(
            rng, "ask_items", ["Which item would you like to exchange?"], [{"any": ["which", "what"]}]
        )
    prod = conv.output("get_product", product_id=item["product_id"])
    if prod is None or not prod.ok:
        return _call(rng, "get_product", {"product_id": item["product_id"]})
    variants = [v for v in prod.json()["variants"] if v["item_id"] != item["item_id"]]
    value = conv.wanted_option([next(iter(v["option"].values())) for v in variants])
    target = next((v for v in variants if value in v["option"].values()), None)
    if target is None:
        return _say(
            rng,
            "ask_variant",
            [f"Which variant of the {item['name']} would you like instead?"],
            [{"any": ["which", "what"]}],
        )
    opt = next(iter(target["option"]))
    value_text = f"size {value}" if opt == "size" else value
    if not target["available"]:
        return _say(
            rng,
            "unavailable",
            [
                (
                    f"I'm sorry, the {item['name']} in {value_text} is not available right now, "
                    "so I can't exchange it."
                ),
                f"Unfortunately the {item['name']} in {value_text} is out of stock at the moment.",
            ],
            [{"any": list(UNAVAILABLE)}],
        )
    oid = order["order_id"]
    confirm = _say(
        rng,
        "confirm",
        [
            (
                f"I will exchange the {item['name']} in order {oid} for {value_text} at the same price. "
                "Shall I proceed?"
            ),
            (
                f"To confirm: exchange your {item['name']} from order {oid} for {value_text}. "
                "Do you want me to go ahead?"
            ),
        ],
        [{"order_id": oid}, {"any": ["exchang"]}, {"any": [value]}, {"any": list(CONFIRM_CUES)}],
    )
    args = {"order_id": _oid(rng, oid), "item_id": item["item_id"], "new_item_id": target["item_id"]}
    return ("exchange_item", args), confirm, [{"any": ["exchang"]}]


def _done_text(rng: random.Random, name: str, conv: Conversation) -> list[str]:
    out = json.loads(conv.calls[-1].output or "{}") if conv.calls and conv.calls[-1].ok else {}
    refund = _money(out.get("refund", 0.0))
    if name == "cancel_order":
        return [
            (
                f"Done: order {out.get('order_id')} has been cancelled and {refund} will be refunded. "
                "Anything else?"
            ),
            f"Your order is now cancelled. The refund of {refund} goes back to your payment method.",
        ]
    if name == "return_items":
        return [
            f"Your return has been requested. A refund of {refund} will be issued once we receive the items.",
            f"All set: the return is requested and {refund} will be refunded. Anything else I can help with?",
        ]
    return [
        "The exchange has been requested. You'll get shipping instructions shortly.",
        "Done, the exchange is requested. Anything else I can help with?",
    ]


def _write_protocol(conv: Conversation, plan: Any, rng: random.Random) -> Decision:
    (name, args), confirm, done = plan
    if any(c.name in WRITE_TOOLS and c.ok for c in conv.calls):
        return _say(rng, "done", _done_text(rng, name, conv), done)
    if conv.last_role == "user" and conv.last_agent_text and asks_confirmation(conv.last_agent_text):
        if user_says_yes(conv.last_user_text):
            return _call(rng, name, args)
        if user_says_no(conv.last_user_text):
            return _say(
                rng,
                "declined",
                [
                    "Okay, I won't make any changes. Is there anything else?",
                    "No problem, I have left the order unchanged.",
                ],
                [{"any": ["won't", "will not", "no changes", "unchanged", "not make"]}],
            )
    return confirm


def decide(messages: Sequence[Message], rng: random.Random) -> Decision:
    """The expert's next action for a conversation prefix."""
    conv = read_conversation(messages)
    uid = conv.user_id()
    if uid is None:
        return _authenticate(conv, rng)
    intent = conv.intent()
    if intent == "handoff":
        if conv.output("transfer_to_human") is None:
            summary = rng.choice(("Customer request outside my scope: ", "User asks: ", "")) + conv.opening
            return _call(rng, "transfer_to_human", {"summary": summary})
        return _say(
            rng,
            "transfer",
            [
                "I've transferred you to a human agent who can help with that. Please hold on.",
                "You are being transferred to a human agent now.",
            ],
            [{"any": ["transfer"]}],
        )
    order = _order(conv, uid, rng)
    if isinstance(order, tuple):
        return order
    if intent == "status":
        oid, status = order["order_id"], order["status"]
        names = ", ".join(it["name"] for it in order["items"])
        return _say(
            rng,
            "status",
            [f"Order {oid} is {status}. It contains: {names}.", f"Your order {oid} is currently {status}."],
            [{"any": [status]}],
        )
    plan = {
        "cancel": lambda: _plan_cancel(conv, order, rng),
        "return": lambda: _plan_return(conv, uid, order, rng),
        "exchange": lambda: _plan_exchange(conv, order, rng),
    }[intent]()
    if len(plan) == 2:  # an action or message that comes before the write
        return plan
    return _write_protocol(conv, plan, rng)
