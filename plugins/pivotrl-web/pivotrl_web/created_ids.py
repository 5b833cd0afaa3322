"""The record ids upstream's id-creating hidden tools return, reported by this world's outputs.

This world records state-changing hidden calls instead of applying their effects
(:mod:`pivotrl_web.world`). Two of those tools create a record whose id a later gold action
needs: ``open_bank_account_4821`` (a new account, then a deposit or a transfer into it: tasks
055, 056, 057, 062) and ``order_debit_card_5739`` (a new card, then its activation: tasks 077,
080). Upstream's ids are deterministic (SHA-256 of a seed, ``utils.py``), so the output can name
the same id upstream's would, and an agent can learn it as it would upstream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

__all__ = ["TODAY", "created_ids"]

TODAY = "11/14/2025"
"""Upstream's fixed date (``get_today_str``)."""


def _id(seed: str, length: int = 16) -> str:
    return hashlib.sha256(seed.encode()).digest()[: length // 2].hex()


def created_ids(tool: str, args: Mapping[str, Any]) -> str:
    """The sentence naming the id ``tool`` creates with ``args`` ("" for other tools)."""
    if tool == "open_bank_account_4821":
        seed = f"account:{args.get('user_id')}:{args.get('account_type')}:{args.get('account_class')}"
        return f"\nAccount ID: {_id(seed)}"
    if tool == "order_debit_card_5739":
        card = _id(f"debit_card:{args.get('account_id')}:{args.get('user_id')}:{TODAY}", 12)
        return f"\nCard ID: dbc_{card}"
    return ""
