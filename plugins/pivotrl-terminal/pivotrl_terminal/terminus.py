"""The Terminus turn format: parsing, schemas, keystroke similarity and keystrokes -> shell script.

A Terminus agent answers each turn with one JSON object. Two harness versions exist:

* ``terminus_1``: ``state_analysis``, ``explanation``, ``commands`` (each ``keystrokes``,
  ``is_blocking``, ``timeout_sec``, all required) and ``is_task_complete``, all four required;
* ``terminus_2``: ``analysis``, ``plan``, ``commands`` (each ``keystrokes`` and an optional
  ``duration``) required, ``task_complete`` optional.

No other keys are allowed at either level. These rules and :func:`command_similarity` follow
NVIDIA NeMo Gym's ``terminus_judge`` resources server, so schema and similarity decisions match
NVIDIA's on the same rows (a test checks every row of the shipped rollouts).
"""

from __future__ import annotations

import json
import re
from difflib import SequenceMatcher
from typing import Any

import jsonschema

__all__ = [
    "HARNESSES",
    "SCHEMAS",
    "command_similarity",
    "detect_harness",
    "final_text",
    "keystrokes",
    "keystroke_script",
    "parse_turn",
    "schema_errors",
    "task_complete",
]

_T1_COMMAND = {
    "type": "object",
    "additionalProperties": False,
    "required": ["keystrokes", "is_blocking", "timeout_sec"],
    "properties": {
        "keystrokes": {"type": "string"},
        "is_blocking": {"type": "boolean"},
        "timeout_sec": {"type": "number"},
    },
}
_T2_COMMAND = {
    "type": "object",
    "additionalProperties": False,
    "required": ["keystrokes"],
    "properties": {"keystrokes": {"type": "string"}, "duration": {"type": "number"}},
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "terminus_1": {
        "type": "object",
        "additionalProperties": False,
        "required": ["state_analysis", "explanation", "commands", "is_task_complete"],
        "properties": {
            "state_analysis": {"type": "string"},
            "explanation": {"type": "string"},
            "commands": {"type": "array", "items": _T1_COMMAND},
            "is_task_complete": {"type": "boolean"},
        },
    },
    "terminus_2": {
        "type": "object",
        "additionalProperties": False,
        "required": ["analysis", "plan", "commands"],
        "properties": {
            "analysis": {"type": "string"},
            "plan": {"type": "string"},
            "commands": {"type": "array", "items": _T2_COMMAND},
            "task_complete": {"type": "boolean"},
        },
    },
}
HARNESSES = tuple(SCHEMAS)
_VALIDATORS = {h: jsonschema.Draft202012Validator(s) for h, s in SCHEMAS.items()}

# tmux key names a Terminus agent may send as a whole keystroke string
_ENTER = {"Enter", "C-m", "KPEnter"}
_SPECIAL = re.compile(
    r"^(?:[CMS]-\S|Escape|Tab|BTab|BSpace|Space|Up|Down|Left|Right|Home|End|PPage|NPage|"
    r"PageUp|PageDown|IC|DC|F\d{1,2})$"
)


def final_text(text: str | None) -> str:
    """The answer part of a model turn: what follows the last ``</think>``, stripped."""
    text = (text or "").strip()
    if "</think>" in text:
        text = text.split("</think>")[-1].strip()
    return text


def parse_turn(text: str | None) -> Any:
    """The JSON value of a turn (after :func:`final_text`); raises ``json.JSONDecodeError``."""
    return json.loads(final_text(text))


def detect_harness(turn: Any) -> str:
    """``terminus_1`` when the turn uses its keys, else ``terminus_2``."""
    if isinstance(turn, dict) and ({"state_analysis", "explanation", "is_task_complete"} & set(turn)):
        return "terminus_1"
    return "terminus_2"


def schema_errors(turn: Any, harness: str) -> list[str]:
    """Schema violations of ``turn`` for ``harness`` (empty when valid)."""
    if harness not in _VALIDATORS:
        raise ValueError(f"unknown Terminus harness {harness!r}; use one of {', '.join(HARNESSES)}")
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in _VALIDATORS[harness].iter_errors(turn)
    ]


def task_complete(turn: dict[str, Any]) -> bool:
    """The turn's completion flag (``task_complete`` or ``is_task_complete``; absent means False)."""
    return bool(turn.get("task_complete") or turn.get("is_task_complete") or False)


def keystrokes(turn: dict[str, Any]) -> list[str]:
    """The ``keystrokes`` of every command that has them, in order."""
    return [
        c.get("keystrokes", "") for c in turn.get("commands", []) if isinstance(c, dict) and "keystrokes" in c
    ]


def command_similarity(expected: dict[str, Any], predicted: dict[str, Any], separator: str = "") -> float:
    """``difflib`` ratio of the two turns' keystrokes, each joined with ``separator``.

    Both without keystrokes: 1.0; only one without: 0.0. ``separator=""`` reproduces the scores
    of NVIDIA's shipped ``terminus_judge`` rollouts (their current server default is ``" "``).
    """
    a, b = keystrokes(expected), keystrokes(predicted)
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    return SequenceMatcher(None, separator.join(a), separator.join(b)).ratio()


def keystroke_script(turn: dict[str, Any]) -> str:
    """The shell script that typing the turn's keystrokes into a shell prompt executes.

    Keystrokes are typed one after the other; what is followed by a newline (or an ``Enter``
    key) runs, a trailing partial line stays unexecuted. Other tmux keys (``C-c``, ``Escape``,
    arrows) have no effect on a non-interactive shell and are dropped. Empty strings (waits) too.
    """
    typed = []
    for k in keystrokes(turn):
        if k in _ENTER:
            typed.append("\n")
        elif not _SPECIAL.match(k):
            typed.append(k)
    stream = "".join(typed)
    return stream[: stream.rfind("\n") + 1] if "\n" in stream else ""
