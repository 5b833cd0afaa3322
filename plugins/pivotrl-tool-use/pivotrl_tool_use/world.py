"""The simulated retail world: a small, seeded database of users, orders, products and payment
methods.

The database is plain JSON-able data (``dict``/``list``/``str``/``float``), so it deep-copies,
compares and hashes trivially: :func:`canonical_json` is its canonical form and :func:`db_hash`
its fingerprint. :func:`build_db` makes the same database for the same seed on every machine
(``random.Random`` seeded with a string is stable across Python versions and platforms).
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

__all__ = [
    "CATALOG",
    "WORLD_VERSION",
    "build_db",
    "canonical_json",
    "db_hash",
    "money",
    "norm_order_id",
]

WORLD_VERSION = 1
"""Bumped whenever :func:`build_db` or a tool's semantics change (recorded in trajectories)."""

FIRST_NAMES = (
    "Mia",
    "Noah",
    "Emma",
    "Liam",
    "Ava",
    "Lucas",
    "Sofia",
    "Ethan",
    "Chloe",
    "Omar",
    "Yara",
    "Ivan",
    "Lena",
    "Raj",
    "Aisha",
    "Mateo",
    "Hana",
    "Felix",
    "Nora",
    "Kofi",
)
LAST_NAMES = (
    "Lopez",
    "Smith",
    "Chen",
    "Garcia",
    "Patel",
    "Kim",
    "Muller",
    "Rossi",
    "Silva",
    "Nguyen",
    "Brown",
    "Khan",
    "Sato",
    "Okafor",
    "Novak",
    "Dubois",
    "Haddad",
    "Jensen",
    "Costa",
    "Ito",
)
CITIES = ("Austin", "Denver", "Boston", "Seattle", "Chicago", "Phoenix", "Portland", "Atlanta")

CATALOG: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("desk lamp", "color", ("black", "white", "silver")),
    ("t-shirt", "size", ("S", "M", "L", "XL")),
    ("coffee mug", "color", ("blue", "red", "white")),
    ("backpack", "color", ("black", "green", "gray")),
    ("running shoes", "size", ("8", "9", "10", "11")),
    ("water bottle", "color", ("blue", "pink", "steel")),
    ("headphones", "color", ("black", "white")),
    ("yoga mat", "color", ("purple", "blue", "black")),
    ("jacket", "size", ("S", "M", "L")),
    ("notebook", "color", ("red", "green", "black")),
)
"""(product name, option name, option values): the product kinds every world sells."""

STATUSES = ("pending", "shipped", "delivered", "cancelled")


def money(x: float) -> float:
    """Round to cents (all amounts in the world are stored this way)."""
    return round(float(x) + 1e-9, 2)


def norm_order_id(order_id: Any) -> str | None:
    """``'#W12345'``, ``'W12345'``, ``'w12345'`` and ``'12345'`` all name order ``#W12345``."""
    if isinstance(order_id, int):
        order_id = str(order_id)
    if not isinstance(order_id, str):
        return None
    s = order_id.strip().upper().lstrip("#")
    if s.startswith("W"):
        s = s[1:]
    return f"#W{s}" if s.isdigit() else None


def canonical_json(db: dict[str, Any]) -> str:
    """The canonical JSON text of a database (sorted keys, no spaces)."""
    return json.dumps(db, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def db_hash(db: dict[str, Any]) -> str:
    """A short fingerprint of a database (first 16 hex digits of SHA-256 of its canonical form)."""
    return hashlib.sha256(canonical_json(db).encode()).hexdigest()[:16]


def _unique(rng: random.Random, taken: set[str], make: Any) -> str:
    while True:
        value = make(rng)
        if value not in taken:
            taken.add(value)
            return value


def _products(rng: random.Random, taken: set[str]) -> dict[str, Any]:
    products: dict[str, Any] = {}
    for name, option, values in CATALOG:
        pid = _unique(rng, taken, lambda r: str(r.randint(1000, 9999)))
        price = money(rng.randint(8, 150) + rng.choice((0.0, 0.49, 0.99, 0.5, 0.25)))
        variants = {}
        for v in values:
            iid = _unique(rng, taken, lambda r: str(r.randint(10000, 99999)))
            variants[iid] = {"option": {option: v}, "price": price, "available": rng.random() < 0.75}
        products[pid] = {"name": name, "variants": variants}
    return products


def _user(rng: random.Random, taken: set[str], first: str, last: str) -> tuple[str, dict[str, Any]]:
    uid = _unique(rng, taken, lambda r: f"{first.lower()}_{last.lower()}_{r.randint(100, 999)}")
    sep = rng.choice((".", "_", ""))
    email = f"{first.lower()}{sep}{last.lower()}{rng.randint(1, 99)}@example.com"
    card = _unique(rng, taken, lambda r: f"credit_card_{r.randint(1000, 9999)}")
    methods: dict[str, Any] = {card: {"type": "credit card"}}
    if rng.random() < 0.6:
        gift = _unique(rng, taken, lambda r: f"gift_card_{r.randint(1000, 9999)}")
        methods[gift] = {"type": "gift card", "balance": money(rng.randint(0, 120))}
    return uid, {
        "name": {"first": first, "last": last},
        "email": email,
        "zip": f"{rng.randint(10000, 99999)}",
        "city": rng.choice(CITIES),
        "payment_methods": methods,
        "orders": [],
    }


def _order(
    rng: random.Random, taken: set[str], uid: str, user: dict[str, Any], products: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    oid = _unique(rng, taken, lambda r: f"#W{r.randint(10000, 99999)}")
    items = []
    for pid in rng.sample(sorted(products), rng.randint(1, 3)):
        iid = rng.choice(sorted(products[pid]["variants"]))
        variant = products[pid]["variants"][iid]
        items.append(
            {
                "item_id": iid,
                "product_id": pid,
                "name": products[pid]["name"],
                "option": dict(variant["option"]),
                "price": variant["price"],
            }
        )
    user["orders"].append(oid)
    return oid, {
        "user_id": uid,
        "status": rng.choice(STATUSES),
        "items": items,
        "payment_method_id": sorted(user["payment_methods"])[0],
    }


def build_db(seed: int, n_users: int = 4) -> dict[str, Any]:
    """Build the seeded world database: ``{"users", "orders", "products", "handoffs"}``
    (``handoffs`` counts transfers to a human agent).

    Every user has a credit card (and often a gift card) and one to three orders of one to
    three items; order statuses are random (tasks patch the ones they need).
    """
    rng = random.Random(f"pivotrl-tool-use/world/{WORLD_VERSION}/{seed}")
    taken: set[str] = set()
    products = _products(rng, taken)
    users: dict[str, Any] = {}
    orders: dict[str, Any] = {}
    names = rng.sample([(f, la) for f in FIRST_NAMES for la in LAST_NAMES], n_users)
    for first, last in names:
        uid, user = _user(rng, taken, first, last)
        users[uid] = user
        for _ in range(rng.randint(1, 3)):
            oid, order = _order(rng, taken, uid, user, products)
            orders[oid] = order
    return {"users": users, "orders": orders, "products": products, "handoffs": 0}
