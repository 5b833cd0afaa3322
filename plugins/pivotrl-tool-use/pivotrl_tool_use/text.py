"""Reading agent messages: required facts, claimed actions and conversational cues.

A *fact* is a small JSON object that a message must contain, checked leniently:

* ``{"any": ["cannot", "can't", ...]}``: one of the phrases appears (case-insensitive);
* ``{"amount": 54.2}``: a number equal to it (to the cent) appears (``$54.20``, ``54.2``);
* ``{"order_id": "#W12345"}``: the order is named, with or without ``#`` / ``W``.

The scripted user, the ``tool_state`` verifier (message turns) and the episode benchmark all use
these helpers, so "the required information was given" means the same thing everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "CONFIRM_CUES",
    "NEGATIONS",
    "UNAVAILABLE",
    "asks_confirmation",
    "asks_order_id",
    "claimed_actions",
    "fact_present",
    "missing_facts",
    "user_says_no",
    "user_says_yes",
]

CONFIRM_CUES = (
    "confirm",
    "proceed",
    "go ahead",
    "shall i",
    "should i",
    "do you want me",
    "would you like me",
)
NEGATIONS = (
    "cannot",
    "can't",
    "can not",
    "unable",
    "not able",
    "only pending",
    "only delivered",
    "not possible",
)
UNAVAILABLE = ("not available", "unavailable", "out of stock")

_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})*(?:\.\d+)?|(?<![\w.])\d+(?:\.\d+)?")
_ORDER = re.compile(r"(?i)(?<![\w#])#?\s?w?(\d{5})(?!\d)")
_ID_WORD = re.compile(r"\b(id|number|#)\b|order #", re.I)

# "has been cancelled", "I've refunded", "successfully exchanged", "is now cancelled", ...
_CLAIM = re.compile(
    r"\b(?:has been|have been|i've|i have|i just|successfully|is now|are now|i went ahead and)\s+"
    r"(?:\w+\s+){0,2}?(cancel\w*|return\w*|refund\w*|exchang\w*|transferr\w*)",
    re.I,
)
_CLAIM_TOOL = {
    "cancel": "cancel_order",
    "return": "return_items",
    "refund": None,
    "exchang": "exchange_item",
    "transferr": "transfer_to_human",
}


def _numbers(text: str) -> list[float]:
    out = []
    for m in _NUMBER.finditer(text):
        try:
            out.append(float(m.group(0).replace(",", "")))
        except ValueError:
            continue
    return out


def fact_present(fact: Mapping[str, Any], text: str) -> bool:
    """Whether ``text`` states ``fact`` (see the module docstring for the fact kinds)."""
    low = text.lower()
    if "any" in fact:
        return any(p.lower() in low for p in fact["any"])
    if "amount" in fact:
        want = float(fact["amount"])
        return any(abs(x - want) < 0.005 for x in _numbers(text))
    if "order_id" in fact:
        digits = str(fact["order_id"]).lstrip("#Ww")
        return any(m.group(1) == digits for m in _ORDER.finditer(text))
    raise ValueError(f"unknown fact kind: {dict(fact)}")


def missing_facts(facts: Iterable[Mapping[str, Any]], text: str) -> list[dict[str, Any]]:
    """The facts of ``facts`` that ``text`` does not state."""
    return [dict(f) for f in facts if not fact_present(f, text)]


def claimed_actions(text: str) -> set[str]:
    """Tool names whose completion the text claims (``"refund"`` claims any refunding write)."""
    found: set[str] = set()
    for m in _CLAIM.finditer(text):
        word = m.group(1).lower()
        for stem, tool in _CLAIM_TOOL.items():
            if word.startswith(stem):
                found.add(tool or "refund")
    return found


def asks_confirmation(text: str) -> bool:
    """An agent message asking the user to confirm an action."""
    low = text.lower()
    return "?" in low and any(c in low for c in CONFIRM_CUES)


def asks_order_id(text: str) -> bool:
    """An agent message asking which order (its id or number)."""
    low = text.lower()
    return "?" in low and "order" in low and bool(_ID_WORD.search(low))


_YES = re.compile(r"^\W*(yes|yeah|yep|sure|please do|go ahead|correct|ok|okay|that's right)\b", re.I)
_NO = re.compile(r"^\W*(no|nope|actually,? no|don't|do not|never mind|wait,? no)\b", re.I)


def user_says_yes(text: str) -> bool:
    return bool(_YES.search(text)) and not user_says_no(text)


def user_says_no(text: str) -> bool:
    return bool(_NO.search(text))
