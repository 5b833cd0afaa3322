"""The banking world's tool catalogue: base tools (OpenAI function specs), hidden tools, reads.

Names, parameters and READ/WRITE kinds follow the tool tables of the tau2-banking data README;
descriptions are this plugin's own. Hidden ("discoverable") tools are not in the tool list: the
agent finds their names in the documents, unlocks them and calls them through
``call_discoverable_agent_tool``. Read-only hidden tools answer from the table named in
:data:`READS`; the effects of state-changing ones are recorded (see :mod:`pivotrl_web.world`).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AGENT_DISCOVERABLE",
    "READS",
    "SEARCH_TOOLS",
    "TOOLS",
    "USER_DISCOVERABLE",
    "USER_TOOLS",
    "WRITE_TOOLS",
    "params_of",
]

# name -> (kind, space-separated parameters; "?" marks an optional one)
AGENT_DISCOVERABLE: dict[str, tuple[str, str]] = {
    "example_agent_tool_0000": ("WRITE", ""),
    "update_transaction_rewards_3847": ("WRITE", "transaction_id new_rewards_earned"),
    "initial_transfer_to_human_agent_0218": ("GENERIC", ""),
    "initial_transfer_to_human_agent_1822": ("GENERIC", ""),
    "emergency_credit_bureau_incident_transfer_1114": ("GENERIC", ""),
    "file_credit_card_transaction_dispute_4829": (
        "WRITE",
        "transaction_id card_action card_last_4_digits full_name user_id phone email "
        "address contacted_merchant purchase_date issue_noticed_date dispute_reason "
        "resolution_requested eligible_for_provisional_credit partial_refund_amount?",
    ),
    "file_debit_card_transaction_dispute_6281": (
        "WRITE",
        "transaction_id account_id card_id user_id dispute_category transaction_date "
        "discovery_date disputed_amount transaction_type card_in_possession "
        "pin_compromised contacted_merchant police_report_filed "
        "written_statement_provided provisional_credit_eligible "
        "customer_max_liability_amount card_action",
    ),
    "set_debit_card_recurring_block_7382": ("WRITE", "card_id block_recurring"),
    "get_debit_dispute_status_7483": ("READ", "user_id"),
    "get_atm_deposit_images_8473": ("READ", "transaction_id"),
    "order_replacement_credit_card_7291": (
        "WRITE",
        "credit_card_account_id user_id shipping_address reason expedited_shipping?",
    ),
    "get_user_dispute_history_7291": ("READ", "user_id"),
    "get_pending_replacement_orders_5765": ("READ", "credit_card_account_id"),
    "log_credit_card_closure_reason_4521": ("WRITE", "credit_card_account_id user_id closure_reason"),
    "get_closure_reason_history_8293": ("READ", "credit_card_account_id"),
    "apply_statement_credit_8472": ("WRITE", "user_id credit_card_account_id amount reason"),
    "apply_credit_card_account_flag_6147": (
        "WRITE",
        "credit_card_account_id user_id flag_type expiration_date reason",
    ),
    "close_credit_card_account_7834": ("WRITE", "credit_card_account_id user_id"),
    "pay_credit_card_from_checking_9182": (
        "WRITE",
        "user_id checking_account_id credit_card_account_id amount",
    ),
    "submit_credit_limit_increase_request_7392": (
        "WRITE",
        "credit_card_account_id user_id requested_increase_amount",
    ),
    "get_credit_limit_increase_history_4829": ("READ", "credit_card_account_id"),
    "get_payment_history_6183": ("READ", "credit_card_account_id months"),
    "approve_credit_limit_increase_5847": ("WRITE", "credit_card_account_id user_id new_credit_limit"),
    "deny_credit_limit_increase_5848": ("WRITE", "credit_card_account_id user_id denial_reason"),
    "open_bank_account_4821": ("WRITE", "user_id account_type account_class"),
    "close_bank_account_7392": ("WRITE", "account_id reason? waive_early_closure_fee?"),
    "get_all_user_accounts_by_user_id_3847": ("READ", "user_id"),
    "transfer_funds_between_bank_accounts_7291": ("WRITE", "source_account_id destination_account_id amount"),
    "apply_checking_account_credit_5829": ("WRITE", "account_id amount credit_type"),
    "apply_savings_account_credit_6831": ("WRITE", "account_id amount credit_type"),
    "submit_interest_discrepancy_report_7294": (
        "WRITE",
        "account_id user_id expected_apy actual_apy amount_difference",
    ),
    "get_bank_account_transactions_9173": ("READ", "account_id"),
    "order_debit_card_5739": (
        "WRITE",
        "account_id user_id delivery_option delivery_fee card_design design_fee "
        "shipping_address excess_replacement_fee?",
    ),
    "activate_debit_card_8291": ("WRITE", "card_id last_4_digits expiration_date cvv pin"),
    "activate_debit_card_8292": ("WRITE", "card_id last_4_digits expiration_date cvv pin"),
    "activate_debit_card_8293": ("WRITE", "card_id last_4_digits expiration_date cvv pin"),
    "close_debit_card_4721": ("WRITE", "card_id reason"),
    "freeze_debit_card_3892": ("WRITE", "card_id"),
    "unfreeze_debit_card_3893": ("WRITE", "card_id"),
    "clear_debit_card_fraud_alert_4892": ("WRITE", "card_id reason"),
    "reset_debit_card_pin_6284": ("WRITE", "card_id last_4_digits new_pin"),
    "change_debit_card_pin_6285": ("WRITE", "card_id current_pin new_pin"),
    "get_debit_cards_by_account_id_7823": ("READ", "account_id"),
    "request_temporary_debit_card_limit_increase_8374": ("WRITE", "card_id limit_type new_limit"),
}

USER_DISCOVERABLE: dict[str, tuple[str, str]] = {
    "submit_cash_back_dispute_0589": ("WRITE", "user_id transaction_id"),
    "get_referral_link": ("WRITE", "user_id card_name"),
    "get_card_last_4_digits": ("READ", "credit_card_account_id"),
    "deposit_check_3847": ("WRITE", "account_id check_amount"),
}

# read tool -> (table, record field, argument): the answer is every record whose field equals it
READS: dict[str, tuple[str, str, str]] = {
    "get_user_information_by_id": ("users", "user_id", "user_id"),
    "get_user_information_by_name": ("users", "name", "customer_name"),
    "get_user_information_by_email": ("users", "email", "email"),
    "get_referrals_by_user": ("referrals", "referrer_id", "user_id"),
    "get_credit_card_transactions_by_user": ("credit_card_transaction_history", "user_id", "user_id"),
    "get_credit_card_accounts_by_user": ("credit_card_accounts", "user_id", "user_id"),
    "get_debit_dispute_status_7483": ("debit_card_disputes", "user_id", "user_id"),
    "get_atm_deposit_images_8473": ("bank_account_transaction_history", "transaction_id", "transaction_id"),
    "get_user_dispute_history_7291": ("transaction_disputes", "user_id", "user_id"),
    "get_pending_replacement_orders_5765": (
        "credit_card_orders",
        "credit_card_account_id",
        "credit_card_account_id",
    ),
    "get_closure_reason_history_8293": (
        "credit_card_closure_reasons",
        "credit_card_account_id",
        "credit_card_account_id",
    ),
    "get_credit_limit_increase_history_4829": (
        "credit_limit_increase_requests",
        "credit_card_account_id",
        "credit_card_account_id",
    ),
    "get_payment_history_6183": ("payment_history", "credit_card_account_id", "credit_card_account_id"),
    "get_all_user_accounts_by_user_id_3847": ("accounts", "user_id", "user_id"),
    "get_bank_account_transactions_9173": ("bank_account_transaction_history", "account_id", "account_id"),
    "get_debit_cards_by_account_id_7823": ("debit_cards", "account_id", "account_id"),
    "get_card_last_4_digits": ("credit_card_accounts", "account_id", "credit_card_account_id"),
}

WRITE_TOOLS = frozenset(
    {
        "change_user_email",
        "log_verification",
        "give_discoverable_user_tool",
        "unlock_discoverable_agent_tool",
        "call_discoverable_agent_tool",
        "transfer_to_human_agents",
    }
)
"""Base agent tools that change the world's state (the rest only read)."""

USER_TOOLS = (
    "apply_for_credit_card",
    "submit_referral",
    "call_discoverable_user_tool",
    "request_human_agent_transfer",
    "submit_transaction",
)
"""Tools of the (scripted) customer."""


def params_of(spec: str) -> tuple[list[str], list[str]]:
    """``(required, optional)`` parameter names of a catalogue entry's parameter string."""
    names = spec.split()
    return [n for n in names if not n.endswith("?")], [n[:-1] for n in names if n.endswith("?")]


def _fn(tool: str, description: str, **params: str) -> dict[str, Any]:
    props = {p.rstrip("?"): {"type": "string", "description": d} for p, d in params.items()}
    for p in props:
        if p == "k":
            props[p]["type"] = "integer"
    required = [p for p in params if not p.endswith("?")]
    return {
        "type": "function",
        "function": {
            "name": tool,
            "description": description,
            "parameters": {"type": "object", "properties": props, "required": required},
        },
    }


SEARCH_TOOLS: tuple[dict[str, Any], ...] = (
    _fn(
        "search",
        "Search the knowledge base (BM25); returns the id, title and score of the top k documents.",
        query="Search terms",
        **{"k?": "How many documents (default 5)"},
    ),
    _fn("open", "Read one knowledge-base document in full.", doc_id="The document id from a search"),
)

_USER_ID = "The user's id"
TOOLS: tuple[dict[str, Any], ...] = (
    *SEARCH_TOOLS,
    _fn(
        "transfer_to_human_agents",
        "Transfer the customer to a human agent; the documents give the reason codes.",
        summary="What the customer needs and what was tried",
        **{"reason?": "Reason code from the knowledge base"},
    ),
    _fn("get_current_time", "The current date and time (for verification records)."),
    _fn("get_user_information_by_id", "A customer's record by user id.", user_id=_USER_ID),
    _fn(
        "get_user_information_by_name",
        "Customer records by full name (case sensitive).",
        customer_name="Full name",
    ),
    _fn("get_user_information_by_email", "A customer's record by email.", email="Email address"),
    _fn("change_user_email", "Change a customer's email.", user_id=_USER_ID, new_email="New email"),
    _fn("get_referrals_by_user", "Referrals a customer made.", user_id=_USER_ID),
    _fn("get_credit_card_transactions_by_user", "A customer's credit-card transactions.", user_id=_USER_ID),
    _fn("get_credit_card_accounts_by_user", "A customer's credit-card accounts.", user_id=_USER_ID),
    _fn(
        "log_verification",
        "Record that a customer's identity was verified (2 of: date of birth, email, phone, address).",
        name="Full name",
        user_id=_USER_ID,
        address="Address",
        email="Email",
        phone_number="Phone number",
        date_of_birth="MM/DD/YYYY",
        time_verified="Timestamp from get_current_time",
    ),
    _fn(
        "give_discoverable_user_tool",
        "Give the customer a tool named in the knowledge base so they can run it themselves.",
        discoverable_tool_name="Tool name",
        **{"arguments?": "JSON object of arguments, as a string"},
    ),
    _fn(
        "unlock_discoverable_agent_tool",
        "Unlock an internal tool named in the knowledge base; returns its parameters.",
        agent_tool_name="Tool name",
    ),
    _fn(
        "call_discoverable_agent_tool",
        "Call an unlocked internal tool.",
        agent_tool_name="Tool name",
        **{"arguments?": "JSON object of arguments, as a string"},
    ),
    _fn("list_discoverable_agent_tools", "The internal tools called so far."),
)
"""The agent's tools in an episode: search and open, then the 14 base tools of the banking world."""
