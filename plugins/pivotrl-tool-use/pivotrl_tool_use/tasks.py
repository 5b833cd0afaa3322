"""Task templates: what a simulated customer wants, sampled from a seed.

A :class:`Task` fixes the world (``world_seed`` plus ``patches`` that put the target order in the
state the template needs), the customer (who they are, how they identify themselves, what they
ask for, whether they confirm) and hence the *expected* outcome: :func:`expected_db` applies the
gold write actions to the initial database, and ``must_say`` lists the facts the agent has to
state. Tasks of different splits (``train``, ``eval``, ...) come from disjoint seed streams.
"""

from __future__ import annotations

import copy
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from .text import NEGATIONS, UNAVAILABLE
from .tools import CANCEL_REASONS, execute, is_error
from .world import build_db, money

__all__ = ["KINDS", "Task", "expected_db", "gold_actions", "make_task", "make_tasks"]

KINDS = {"status": 3, "cancel": 4, "cancel_refused": 2, "return": 4, "exchange": 3, "handoff": 2}
"""Task kinds and their sampling weights."""

HANDOFF_TOPICS = (
    "I want to complain about the delivery driver.",
    "Can you price match an offer I saw on another site?",
    "I need to reset the password of my account.",
    "I'd like to open a business account with you.",
    "I was charged twice on my credit card statement.",
)


@dataclass(frozen=True)
class Task:
    """One customer-service task (JSON form via :meth:`to_dict` / :meth:`from_dict`)."""

    id: str
    kind: str
    world_seed: int
    user_id: str
    order_id: str
    patches: tuple[tuple[tuple[str, ...], Any], ...] = ()
    auth: str = "email"  # which identity the customer prefers: "email" or "name_zip"
    intro: bool = False  # identity given in the opening message
    order_ref: str = "upfront"  # "upfront" | "asked" | "latest"
    typo: str | None = None  # "email" | "order": first answer is wrong
    reason: str | None = None
    item_ids: tuple[str, ...] = ()
    new_item_id: str | None = None
    refund_to: str | None = None  # a gift card id, or None for the original payment method
    confirm: bool = True
    topic: str | None = None
    style: int = 0
    must_say: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["patches"] = [[list(path), value] for path, value in self.patches]
        d["item_ids"] = list(self.item_ids)
        d["must_say"] = [dict(f) for f in self.must_say]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Task:
        d = dict(d)
        d["patches"] = tuple((tuple(p), v) for p, v in d.get("patches", ()))
        d["item_ids"] = tuple(d.get("item_ids", ()))
        d["must_say"] = tuple(dict(f) for f in d.get("must_say", ()))
        return cls(**d)

    def initial_db(self) -> dict[str, Any]:
        """The database at the start of the episode: the seeded world plus this task's patches."""
        db = build_db(self.world_seed)
        for path, value in self.patches:
            node = db
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = copy.deepcopy(value)
        return db


def gold_actions(task: Task) -> list[tuple[str, dict[str, Any]]]:
    """The write calls a correct agent makes for ``task`` (empty for read-only outcomes)."""
    if task.kind == "handoff":
        return [("transfer_to_human", {"summary": task.topic or ""})]
    if not task.confirm or task.kind in ("status", "cancel_refused"):
        return []
    if task.kind == "cancel":
        return [("cancel_order", {"order_id": task.order_id, "reason": task.reason})]
    if task.kind == "return":
        args: dict[str, Any] = {"order_id": task.order_id, "item_ids": list(task.item_ids)}
        if task.refund_to:
            args["payment_method_id"] = task.refund_to
        return [("return_items", args)]
    if task.kind == "exchange" and task.new_item_id is not None:
        db = task.initial_db()
        prod = db["products"][_item(db, task)["product_id"]]
        if prod["variants"][task.new_item_id]["available"]:
            return [
                (
                    "exchange_item",
                    {"order_id": task.order_id, "item_id": task.item_ids[0], "new_item_id": task.new_item_id},
                )
            ]
    return []


def expected_db(task: Task) -> dict[str, Any]:
    """The database a correct agent leaves behind."""
    db = task.initial_db()
    for name, args in gold_actions(task):
        out = execute(db, name, args)
        if is_error(out):
            raise AssertionError(f"task {task.id}: gold action {name} failed: {out}")
    return db


def _item(db: dict[str, Any], task: Task) -> dict[str, Any]:
    return next(it for it in db["orders"][task.order_id]["items"] if it["item_id"] == task.item_ids[0])


def _typo_email(rng: random.Random, email: str, taken: set[str]) -> str:
    local, domain = email.split("@")
    while True:
        i = rng.randrange(len(local))
        wrong = local[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + local[i + 1 :]
        if wrong != local and f"{wrong}@{domain}" not in taken:
            return f"{wrong}@{domain}"


def _must_say(kind: str, confirm: bool, db: dict[str, Any], t: dict[str, Any]) -> list[dict[str, Any]]:
    order = db["orders"][t["order_id"]]
    if kind == "status":
        return [{"any": [order["status"]]}]
    if kind == "cancel_refused":
        return [{"any": [order["status"]]}, {"any": list(NEGATIONS)}]
    if kind == "handoff":
        return [{"any": ["transfer"]}]
    word = {"cancel": "cancel", "return": "return", "exchange": "exchang"}[kind]
    if kind == "exchange" and not t["available"]:
        return [{"any": list(UNAVAILABLE)}]
    if not confirm:
        return [{"any": [word]}, {"order_id": t["order_id"]}]
    if kind == "return":
        by_id = {it["item_id"]: it["price"] for it in order["items"]}
        return [{"amount": money(sum(by_id[i] for i in t["item_ids"]))}]
    return [{"any": [word]}]


def _target(rng: random.Random, db: dict[str, Any], kind: str, t: dict[str, Any]) -> list[Any]:
    """Choose the order's items/variants for ``kind``; return the patches that make it valid."""
    oid = t["order_id"]
    order = db["orders"][oid]
    status = {"cancel": "pending", "return": "delivered", "exchange": "delivered"}.get(kind)
    if kind == "cancel_refused":
        status = rng.choice(("shipped", "delivered"))
    patches: list[Any] = [[("orders", oid, "status"), status]] if status else []
    if kind == "cancel":
        t["reason"] = rng.choice(CANCEL_REASONS)
    elif kind == "return":
        items = order["items"]
        t["item_ids"] = [it["item_id"] for it in rng.sample(items, rng.randint(1, len(items)))]
        gifts = sorted(
            k for k, v in db["users"][t["user_id"]]["payment_methods"].items() if v["type"] == "gift card"
        )
        if gifts and rng.random() < 0.4:
            t["refund_to"] = gifts[0]
    elif kind == "exchange":
        item = rng.choice(order["items"])
        t["item_ids"] = [item["item_id"]]
        others = sorted(k for k in db["products"][item["product_id"]]["variants"] if k != item["item_id"])
        t["new_item_id"] = rng.choice(others)
        t["available"] = rng.random() >= 0.2
        path = ("products", item["product_id"], "variants", t["new_item_id"], "available")
        patches.append([path, t["available"]])
    elif kind == "handoff":
        t["topic"] = rng.choice(HANDOFF_TOPICS)
    return patches


def make_task(split: str, seed: int, index: int) -> Task:
    """The ``index``-th task of the ``(split, seed)`` stream (deterministic)."""
    rng = random.Random(f"pivotrl-tool-use/task/{split}/{seed}/{index}")
    world_seed = rng.randrange(2**31)
    db = build_db(world_seed)
    kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
    uid = rng.choice(sorted(db["users"]))
    orders = db["users"][uid]["orders"]
    order_ref = rng.choices(("upfront", "asked", "latest"), weights=(6, 2, 2))[0]
    t: dict[str, Any] = {
        "user_id": uid,
        "order_ref": order_ref,
        "available": True,
        "order_id": orders[-1] if order_ref == "latest" else rng.choice(orders),
    }
    patches = _target(rng, db, kind, t)
    for path, value in patches:
        node = db
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    writes = kind in ("cancel", "return", "exchange")
    confirm = not writes or not t["available"] or rng.random() >= 0.15
    typo = rng.choices((None, "email", "order"), weights=(7, 2, 1 if order_ref != "latest" else 0))[0]
    auth = "email" if typo == "email" else rng.choice(("email", "name_zip"))
    return Task(
        id=f"{split}-{seed}-{index}",
        kind=kind,
        world_seed=world_seed,
        user_id=uid,
        order_id=t["order_id"],
        patches=tuple((tuple(p), v) for p, v in patches),
        auth=auth,
        intro=rng.random() < 0.35,
        order_ref=order_ref,
        typo=typo,
        reason=t.get("reason"),
        item_ids=tuple(t.get("item_ids", ())),
        new_item_id=t.get("new_item_id"),
        refund_to=t.get("refund_to"),
        confirm=confirm,
        topic=t.get("topic"),
        style=rng.randrange(1_000_000),
        must_say=tuple(_must_say(kind, confirm, db, t)),
    )


def make_tasks(split: str, seed: int, n: int) -> list[Task]:
    """The first ``n`` tasks of a stream."""
    return [make_task(split, seed, i) for i in range(n)]


def typo_email(task: Task, email: str, taken: set[str]) -> str:
    """The mistyped e-mail a ``typo="email"`` customer gives first (deterministic per task)."""
    return _typo_email(random.Random(f"typo/{task.id}"), email, taken)
