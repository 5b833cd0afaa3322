"""The banking world: a database, the search environment and every tool, for agent and customer.

:class:`World` executes tool calls (``execute(name, arguments, requestor)``) against its own copy
of the database and returns the tool's text output; bad calls return an ``Error: ...`` text, as
upstream tau2 does. Semantics follow the tau2-banking README and upstream's tool definitions:
reads answer from the database, ``log_verification`` and ``change_user_email`` write records,
hidden tools must be unlocked (agent) or given (customer) before use, every call of a
state-changing hidden tool (and of the task's gold read tools) is recorded in the database.

Departure from upstream: the effects of the 40 state-changing hidden tools on other tables are
not modelled; instead the recorded call keeps its (number-normalised) arguments, so the DB
comparison still tells a right call from one with wrong arguments. ``db_hash`` is what the
official DB reward compares.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .catalog import AGENT_DISCOVERABLE, READS, USER_DISCOVERABLE, params_of
from .corpus import Corpus
from .created_ids import created_ids
from .values import DIGESTS, canonical, check_params, digest, json_args, normalize, table_digest

__all__ = ["CURRENT_TIME", "Call", "World"]

CURRENT_TIME = "2025-11-14 03:40:00 EST"
DEFAULT_K = 5
_TRANSFER_REASONS = ("other",)  # any code is accepted: the documents define them


@dataclass(frozen=True)
class Call:
    """One executed tool call: who made it, the tool, its arguments, and whether it errored."""

    requestor: str
    name: str
    arguments: dict[str, Any]
    error: bool = False


@dataclass
class World:
    """One episode's world: database, corpus, unlocked and given tools, and the call log."""

    db: dict[str, Any]
    corpus: Corpus
    read_log: frozenset[str] = frozenset()
    unlocked: set[str] = field(default_factory=set)
    given: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)
    searches: int = 0

    # -- state (tables are copied on first write, so forks and fresh worlds are cheap) --------
    def __post_init__(self) -> None:
        self._owned: set[str] = set()

    def fork(self) -> World:
        """An independent copy (unwritten tables and the corpus are shared)."""
        twin = World(
            dict(self.db),
            self.corpus,
            self.read_log,
            set(self.unlocked),
            set(self.given),
            list(self.calls),
            list(self.opened),
            self.searches,
        )
        self._owned = set()  # both now share every table: either copies before its next write
        return twin

    def table(self, name: str) -> dict[str, Any]:
        """The records of a table, for reading."""
        return (self.db.get(name) or {}).get("data") or {}

    def writable(self, name: str) -> dict[str, Any]:
        """The records of a table, for writing (this world's own copy)."""
        if name not in self._owned:
            self.db[name] = copy.deepcopy(self.db.get(name) or {})
            self.db[name].setdefault("data", {})
            self._owned.add(name)
        DIGESTS.pop(id(self.db[name]), None)  # about to change
        return self.db[name]["data"]

    def db_hash(self) -> str:
        """SHA-256 over the canonical tables: what the official DB reward compares."""
        h = hashlib.sha256()
        for name in sorted(self.db):
            h.update(f"{name}\0{table_digest(self.db[name])}\0".encode())
        return h.hexdigest()

    def _add(self, table: str, record_id: str, record: dict[str, Any]) -> bool:
        data = self.writable(table)
        if record_id in data:
            return False
        data[record_id] = normalize(record)
        return True

    def _lookup(self, table: str, key: str, value: Any) -> str:
        rows = [r for r in self.table(table).values() if isinstance(r, dict) and r.get(key) == value]
        if not rows:
            return f"No results found in {table} for {key} = {value!r}."
        return json.dumps(rows, indent=1, ensure_ascii=False)

    # -- dispatch -----------------------------------------------------------------------------
    def execute(self, name: str, arguments: Mapping[str, Any] | None, requestor: str = "assistant") -> str:
        """Run one tool call and return its output text (``Error: ...`` for a bad call)."""
        args = dict(arguments) if isinstance(arguments, Mapping) else None
        if args is None:
            out = "Error: the tool call's arguments are not a JSON object"
        else:
            handler = (_AGENT if requestor == "assistant" else _USER).get(name)
            if handler is None:
                out = f"Error: unknown tool '{name}'"
            else:
                try:
                    out = handler(self, **args)
                except TypeError as e:
                    out = f"Error: Invalid arguments: {e}"
        self.calls.append(Call(requestor, name, args or {}, out.startswith("Error")))
        return out

    def replay(self, calls: Iterable[tuple[str, str, Mapping[str, Any]]]) -> None:
        """Execute ``(requestor, name, arguments)`` calls in order."""
        for requestor, name, args in calls:
            self.execute(name, args, requestor)

    # -- search environment -------------------------------------------------------------------
    def search(self, query: str, k: Any = DEFAULT_K) -> str:
        self.searches += 1
        try:
            k = max(1, min(20, int(k)))
        except (TypeError, ValueError):
            return "Error: k must be an integer"
        hits = self.corpus.search(str(query), k)
        if not hits:
            return "No documents match."
        return "\n".join(f"{h.id} | {h.title} | score {h.score:.2f}" for h in hits)

    def open(self, doc_id: str) -> str:
        doc = self.corpus.open(str(doc_id))
        if doc is None:
            return f"Error: no document '{doc_id}'"
        self.opened.append(doc.id)
        return f"# {doc.title}\n(id: {doc.id})\n\n{doc.content}"

    # -- base agent tools ---------------------------------------------------------------------
    def transfer_to_human_agents(self, summary: str, reason: str = "other") -> str:
        return f"Transfer successful (reason: {reason}). A human agent will assist you shortly."

    def get_current_time(self) -> str:
        return f"The current time is {CURRENT_TIME}."

    def read(self, tool: str, **args: Any) -> str:
        table, key, arg = READS[tool]
        extra = set(args) - {arg} - ({"months"} if tool == "get_payment_history_6183" else set())
        if arg not in args or extra:
            return f"Error: Invalid arguments: {tool} takes {arg}"
        return self._lookup(table, key, args[arg])

    def change_user_email(self, user_id: str, new_email: str) -> str:
        if user_id not in self.table("users"):
            return f"Error: User with ID '{user_id}' not found."
        user = self.writable("users")[user_id]
        if user is None:
            return f"Error: User with ID '{user_id}' not found."
        user["email"] = new_email
        return f"Email updated successfully.\n  - User ID: {user_id}\n  - New Email: {new_email}"

    def log_verification(
        self,
        name: str,
        user_id: str,
        address: str,
        email: str,
        phone_number: str,
        date_of_birth: str,
        time_verified: str,
    ) -> str:
        record = {
            "name": name,
            "user_id": user_id,
            "address": address,
            "email": email,
            "phone_number": phone_number,
            "date_of_birth": date_of_birth,
            "time_verified": time_verified,
        }
        if not self._add("verification_history", f"{user_id}_{digest(time_verified)}", record):
            return "Failed to log verification: Record may already exist."
        return f"Verification logged successfully.\n  - User: {name} (ID: {user_id})\n  - At: {time_verified}"

    def give_discoverable_user_tool(self, discoverable_tool_name: str, arguments: Any = "{}") -> str:
        spec = USER_DISCOVERABLE.get(discoverable_tool_name)
        if spec is None:
            return f"Error: Unknown discoverable tool '{discoverable_tool_name}'."
        args = json_args(arguments)
        if isinstance(args, str):
            return args
        bad = check_params(spec[1], args, require=False)
        if bad:
            return bad
        self.given.add(discoverable_tool_name)
        self._add(
            "user_discoverable_tools",
            f"udt_{discoverable_tool_name}",
            {"tool_name": discoverable_tool_name, "status": "GIVEN"},
        )
        return (
            f"Tool given to user: {discoverable_tool_name}\nParameters: {spec[1] or '(none)'}\n"
            f"Arguments: {json.dumps(args) if args else '(no arguments)'}"
        )

    def unlock_discoverable_agent_tool(self, agent_tool_name: str) -> str:
        spec = AGENT_DISCOVERABLE.get(agent_tool_name)
        if spec is None:
            return f"Error: Unknown agent tool '{agent_tool_name}'. This tool is not available."
        self.unlocked.add(agent_tool_name)
        required, optional = params_of(spec[1])
        params = ", ".join(required + [f"{p} (optional)" for p in optional]) or "(none)"
        return (
            f"Tool unlocked: {agent_tool_name} ({spec[0].lower()})\nParameters: {params}\n"
            f"Call it with call_discoverable_agent_tool(agent_tool_name='{agent_tool_name}', arguments=JSON)."
        )

    def call_discoverable_agent_tool(self, agent_tool_name: str, arguments: Any = "{}") -> str:
        spec = AGENT_DISCOVERABLE.get(agent_tool_name)
        if spec is None:
            return f"Error: Unknown agent tool '{agent_tool_name}'. This tool is not available."
        if agent_tool_name not in self.unlocked:
            return f"Error: Tool '{agent_tool_name}' has not been unlocked. Unlock it first."
        args = json_args(arguments)
        if isinstance(args, str):
            return args
        bad = check_params(spec[1], args)
        if bad:
            return bad
        kind = spec[0]
        if kind == "WRITE" or agent_tool_name in self.read_log:
            record = {"tool_name": agent_tool_name, "arguments": args, "status": "CALLED"}
            self._add("agent_discoverable_tools", f"adt_{digest(agent_tool_name, args)}", record)
        if agent_tool_name in READS:
            return self.read(agent_tool_name, **args)
        done = f"{agent_tool_name}: done. Recorded with arguments {canonical(args)}."
        return done + created_ids(agent_tool_name, args)

    def list_discoverable_agent_tools(self) -> str:
        names = sorted({r["tool_name"] for r in self.table("agent_discoverable_tools").values()})
        return "Called agent tools: " + ", ".join(names) if names else "No agent tools have been called yet."

    # -- customer tools -----------------------------------------------------------------------
    def _user_record(self, table: str, tool: str, args: dict[str, Any]) -> str:
        self._add(table, f"{tool}_{digest(tool, args)}", {"tool": tool, **args})
        return f"{tool}: submitted."

    def apply_for_credit_card(
        self, card_type: str, customer_name: str, annual_income: float, rho_bank_subscription: bool = False
    ) -> str:
        args = {
            "card_type": card_type,
            "customer_name": customer_name,
            "annual_income": annual_income,
            "rho_bank_subscription": rho_bank_subscription,
        }
        return self._user_record("credit_card_applications", "apply_for_credit_card", args)

    def submit_referral(self, user_id: str, account_type: str) -> str:
        args = {"user_id": user_id, "account_type": account_type}
        return self._user_record("referrals", "submit_referral", args)

    def request_human_agent_transfer(self) -> str:
        return self._user_record("human_transfer_requests", "request_human_agent_transfer", {})

    def submit_transaction(
        self, user_id: str, credit_card_type: str, merchant_name: str, amount: float, category: str
    ) -> str:
        args = {
            "user_id": user_id,
            "credit_card_type": credit_card_type,
            "merchant_name": merchant_name,
            "amount": amount,
            "category": category,
        }
        return self._user_record("credit_card_transaction_history", "submit_transaction", args)

    def call_discoverable_user_tool(self, discoverable_tool_name: str, arguments: Any = "{}") -> str:
        spec = USER_DISCOVERABLE.get(discoverable_tool_name)
        if spec is None or discoverable_tool_name not in self.given:
            return f"Error: the agent has not given you the tool '{discoverable_tool_name}'."
        args = json_args(arguments)
        if isinstance(args, str):
            return args
        bad = check_params(spec[1], args)
        if bad:
            return bad
        self._user_record("user_discoverable_tool_calls", discoverable_tool_name, args)
        if discoverable_tool_name in READS:
            return self.read(discoverable_tool_name, **args)
        return f"{discoverable_tool_name}: done."

    def list_discoverable_user_tools(self) -> str:
        return "Tools you were given: " + (", ".join(sorted(self.given)) or "(none)")


def _reader(tool: str) -> Any:
    return lambda world, **args: world.read(tool, **args)


_BASE = (
    "search",
    "open",
    "transfer_to_human_agents",
    "get_current_time",
    "change_user_email",
    "log_verification",
    "give_discoverable_user_tool",
    "unlock_discoverable_agent_tool",
    "call_discoverable_agent_tool",
    "list_discoverable_agent_tools",
)
_AGENT: dict[str, Any] = {n: getattr(World, n) for n in _BASE}
_AGENT.update({n: _reader(n) for n in READS if n.startswith("get_") and not n[-1].isdigit()})
_AGENT.pop("get_card_last_4_digits", None)
_USER: dict[str, Any] = {
    n: getattr(World, n)
    for n in (
        "apply_for_credit_card",
        "submit_referral",
        "request_human_agent_transfer",
        "submit_transaction",
        "call_discoverable_user_tool",
        "list_discoverable_user_tools",
    )
}
