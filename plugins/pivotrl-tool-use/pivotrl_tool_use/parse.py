"""What the scripted expert reads off a conversation: customer facts, its own earlier calls and
their outputs. Everything comes from the visible messages (no hidden task), so the expert can
play any episode a policy can.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pivotrl_core import Message

from .tools import is_error
from .world import CATALOG, norm_order_id

__all__ = ["Call", "Conversation", "read_conversation"]

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_NAME = re.compile(r"(?:I'm|I am|name is|[Ii]t's)\s+([A-Z][a-z]+)\s+([A-Z][a-z]+)")
_ZIP = re.compile(r"(?<![\dWw#])(\d{5})(?!\d)")
_ORDER = re.compile(r"#?[Ww](\d{5})(?!\d)")
_INTENTS = (
    ("exchange", ("exchange", "swap")),
    ("return", ("return",)),
    ("cancel", ("cancel",)),
    ("status", ("status", "where is", "check on", "track")),
)


@dataclass(frozen=True)
class Call:
    """One tool call the agent made and the output it got (``None`` before the output)."""

    name: str
    arguments: dict[str, Any]
    output: str | None

    @property
    def ok(self) -> bool:
        return self.output is not None and not is_error(self.output)

    def json(self) -> Any:
        return json.loads(self.output) if self.ok and (self.output or "").startswith(("{", "[")) else None


@dataclass
class Conversation:
    """The parsed state of a conversation, from the agent's side."""

    user_texts: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    last_agent_text: str | None = None
    last_role: str | None = None

    # -- customer facts ------------------------------------------------------------------
    @property
    def opening(self) -> str:
        return self.user_texts[0] if self.user_texts else ""

    @property
    def all_user_text(self) -> str:
        return "\n".join(self.user_texts)

    @property
    def last_user_text(self) -> str:
        return self.user_texts[-1] if self.user_texts else ""

    def latest_email(self) -> str | None:
        found = [m.group(0) for t in self.user_texts for m in _EMAIL.finditer(t)]
        return found[-1] if found else None

    def latest_name_zip(self) -> tuple[str, str, str] | None:
        for text in reversed(self.user_texts):
            name, zips = _NAME.search(text), _ZIP.findall(text)
            if name and zips:
                return name.group(1), name.group(2), zips[-1]
        return None

    def latest_order_id(self) -> str | None:
        found = [f"#W{m.group(1)}" for t in self.user_texts for m in _ORDER.finditer(t)]
        return found[-1] if found else None

    def intent(self) -> str:
        low = self.opening.lower()
        for name, words in _INTENTS:
            if any(w in low for w in words):
                return name
        return "handoff"

    def wants_latest(self) -> bool:
        low = self.all_user_text.lower()
        return any(w in low for w in ("most recent order", "last order", "latest order"))

    def reason(self) -> str:
        return "ordered by mistake" if "mistake" in self.all_user_text.lower() else "no longer needed"

    def wants_gift_card(self) -> bool:
        return "gift card" in self.all_user_text.lower()

    def mentioned_products(self) -> set[str]:
        low = self.all_user_text.lower()
        return {name for name, _, _ in CATALOG if name in low}

    def wanted_option(self, values: Sequence[str]) -> str | None:
        text = self.all_user_text
        for v in values:
            if re.search(rf"\bsize {re.escape(v)}\b|\b{re.escape(v)} one\b", text, re.I):
                return v
        return None

    # -- the agent's own calls -----------------------------------------------------------
    def tried(self, name: str, key: Any) -> bool:
        return any(c.name == name and _lookup_key(c) == key for c in self.calls)

    def user_id(self) -> str | None:
        for c in reversed(self.calls):
            if c.name.startswith("find_user") and c.ok:
                return (c.output or "").strip()
        return None

    def output(self, name: str, **match: str) -> Call | None:
        """The latest call of ``name`` whose arguments match (order ids normalised)."""
        for c in reversed(self.calls):
            if c.name == name and all(_same(c.arguments.get(k), v) for k, v in match.items()):
                return c
        return None


def _same(a: Any, b: str) -> bool:
    if isinstance(a, str) and norm_order_id(a) and norm_order_id(b):
        return norm_order_id(a) == norm_order_id(b)
    return isinstance(a, str) and a.strip().lower() == b.strip().lower()


def _lookup_key(c: Call) -> Any:
    if c.name == "find_user_by_email":
        return str(c.arguments.get("email", "")).strip().lower()
    if c.name == "find_user_by_name_zip":
        a = c.arguments
        return tuple(str(a.get(k, "")).strip().lower() for k in ("first_name", "last_name", "zip"))
    return None


def read_conversation(messages: Sequence[Message]) -> Conversation:
    """Parse a prefix (system, user, assistant and tool messages) into a :class:`Conversation`."""
    conv = Conversation()
    pending: dict[str, int] = {}
    for m in messages:
        if m.role == "user":
            conv.user_texts.append(m.content or "")
        elif m.role == "assistant":
            for tc in m.tool_calls:
                conv.calls.append(Call(tc.name, dict(tc.arguments or {}), None))
                pending[tc.id or f"#{len(conv.calls)}"] = len(conv.calls) - 1
            if not m.tool_calls:
                conv.last_agent_text = m.content or ""
        elif m.role == "tool":
            key = m.tool_call_id if m.tool_call_id in pending else next(iter(pending), None)
            if key is not None:
                i = pending.pop(key)
                c = conv.calls[i]
                conv.calls[i] = Call(c.name, c.arguments, m.content or "")
        if m.role != "system":
            conv.last_role = m.role
    return conv
