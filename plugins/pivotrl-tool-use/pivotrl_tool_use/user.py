"""The scripted customer: opens with a request and answers the agent by simple, documented rules.

Rules, checked in this order on every agent message (case-insensitive):

1. after a transfer to a human, or once the task's change is in the database, or after the
   customer declined a change: say goodbye and stop;
2. the message asks to confirm (``?`` plus "confirm"/"proceed"/...): answer yes or no as the task
   says if it names the right action and order, else object and restate the request;
3. it mentions ``email`` or ``zip``: identify (a mistyped e-mail first for ``typo="email"``);
4. it asks for the order id/number: give it (a mistyped id first for ``typo="order"``);
5. the task needs no change and the message states every fact of ``task.must_say``: thank and
   stop;
6. otherwise restate the request; the third time, give up and stop.

Wording is drawn from several paraphrases with a per-task random stream.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from .tasks import Task, gold_actions, typo_email
from .text import asks_confirmation, asks_order_id, missing_facts

__all__ = ["ScriptedUser"]

_REASON_TEXT = {
    "no longer needed": ("I don't need it anymore", "I no longer need it", "it's no longer needed"),
    "ordered by mistake": ("I ordered it by mistake", "I placed it by mistake", "it was ordered by mistake"),
}
_GREETING = ("", "Hi! ", "Hello, ", "Hey. ", "Good morning. ")


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class ScriptedUser:
    """A deterministic customer for one task and one database."""

    def __init__(self, task: Task, db: dict[str, Any]) -> None:
        self.task = task
        self.rng = random.Random(f"user/{task.id}/{task.style}")
        user = db["users"][task.user_id]
        self.first, self.last = user["name"]["first"], user["name"]["last"]
        self.email, self.zip = user["email"], user["zip"]
        self.order = copy.deepcopy(db["orders"][task.order_id])
        self.order_ids = set(db["orders"])
        self.wants_change = bool(gold_actions(task))
        self.products = db["products"]
        self.typos_left = {task.typo} if task.typo else set()
        self.taken_emails = {u["email"] for u in db["users"].values()}
        self.declined = False
        self.order_given = task.order_ref == "upfront"
        self.unproductive = 0
        self.done = False

    # -- wording ------------------------------------------------------------------------
    def _pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def _order_ref(self) -> str:
        if self.task.order_ref == "latest":
            return self._pick("my most recent order", "my last order", "my latest order")
        if self.task.order_ref == "asked" and not self.order_given:
            return self._pick("an order", "one of my orders")
        return self._pick(f"order {self.task.order_id}", f"my order {self.task.order_id}")

    def _items(self) -> list[dict[str, Any]]:
        by_id = {it["item_id"]: it for it in self.order["items"]}
        return [by_id[i] for i in self.task.item_ids]

    def _wanted_option(self) -> str:
        item = self._items()[0]
        ((opt, value),) = self.products[item["product_id"]]["variants"][self.task.new_item_id][
            "option"
        ].items()
        if opt == "size":
            return self._pick(f"size {value}", f"a size {value}")
        return self._pick(f"the {value} one", f"a {value} one")

    def request(self) -> str:
        """The customer's request, without greeting or identity."""
        t, ref = self.task, self._order_ref()
        if t.kind == "status":
            return self._pick(
                f"Can you tell me the status of {ref}?", f"Where is {ref}?", f"I'd like to check on {ref}."
            )
        if t.kind in ("cancel", "cancel_refused"):
            why = self._pick(*_REASON_TEXT[t.reason or "no longer needed"])
            return self._pick(f"I want to cancel {ref} because {why}.", f"Please cancel {ref}, {why}.")
        if t.kind == "return":
            names = _join([it["name"] for it in self._items()])
            to = self._pick(" to my gift card", " on my gift card") if t.refund_to else ""
            return self._pick(
                f"I'd like to return the {names} from {ref} and get a refund{to}.",
                f"I want to return the {names} from {ref}, refund{to} please.",
            )
        if t.kind == "exchange":
            name = self._items()[0]["name"]
            return self._pick(
                f"I want to exchange the {name} from {ref} for {self._wanted_option()}.",
                f"Can I exchange the {name} in {ref} for {self._wanted_option()}?",
            )
        return t.topic or "I have a question."

    def _identity(self, how: str) -> str:
        if how == "email":
            email = self.email
            if "email" in self.typos_left:
                self.typos_left.discard("email")
                email = typo_email(self.task, self.email, self.taken_emails)
            return self._pick(f"My email is {email}.", f"Sure, it's {email}.", f"It's {email}.")
        return self._pick(
            f"I'm {self.first} {self.last}, zip code {self.zip}.",
            f"My name is {self.first} {self.last} and my zip code is {self.zip}.",
            f"It's {self.first} {self.last}, {self.zip}.",
        )

    def opening(self) -> str:
        """The first customer message."""
        intro = self._identity(self.task.auth) + " " if self.task.intro else ""
        return self._pick(*_GREETING) + intro + self.request()

    # -- replies ------------------------------------------------------------------------
    def _confirm(self, text: str) -> str:
        word = {"cancel": "cancel", "return": "return", "exchange": "exchang"}.get(self.task.kind)
        digits = self.task.order_id[2:]
        if word is None or word not in text.lower() or digits not in text:
            self.unproductive += 1
            return "No, that's not what I asked. " + self.request()
        if self.task.confirm:
            return self._pick("Yes, please go ahead.", "Yes.", "Yes, please.", "Sure, go ahead.")
        self.declined = True
        return self._pick("No, actually I changed my mind.", "No, please don't.", "No, leave it as it is.")

    def _order_id(self) -> str:
        oid = self.task.order_id
        if "order" in self.typos_left:
            self.typos_left.discard("order")
            digits = int(oid[2:])
            while f"#W{digits}" in self.order_ids:
                digits = digits + 1 if digits < 99999 else 10000
            oid = f"#W{digits}"
        self.order_given = True
        return self._pick(f"It's {oid}.", f"The order id is {oid}.", f"{oid}")

    def _stop(self, text: str) -> tuple[str, bool]:
        self.done = True
        return text, True

    def reply(self, agent_text: str, db: dict[str, Any]) -> tuple[str, bool]:
        """Answer one agent message; returns ``(text, stop)``."""
        low = agent_text.lower()
        target = db["orders"][self.task.order_id]
        if db["handoffs"] > 0:
            return self._stop(self._pick("Okay, I'll wait. Thanks.", "Thanks, I'll hold."))
        if self.declined or target.get("status") != self.order["status"]:
            return self._stop(self._pick("Thanks, that's all.", "Great, thank you!", "Okay, bye."))
        if asks_confirmation(agent_text):
            return self._confirm(agent_text), False
        if "email" in low or "zip" in low:
            both = "email" in low and "zip" in low
            how = self.task.auth if both else ("email" if "email" in low else "name_zip")
            return self._identity(how), False
        if asks_order_id(agent_text):
            return self._order_id(), False
        if not self.wants_change and not missing_facts(self.task.must_say, agent_text):
            return self._stop(
                self._pick("Great, thanks! That's all I needed.", "Okay, thank you.", "Got it, thanks.")
            )
        self.unproductive += 1
        if self.unproductive >= 3:
            return self._stop("Never mind, I'll try again later.")
        return self._pick(
            "I just want help with this: ", "Sorry, let me repeat: ", ""
        ) + self.request(), False
