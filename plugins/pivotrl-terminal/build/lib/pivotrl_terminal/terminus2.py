"""The Terminus-2 agent's messages, rendered as the official harness renders them.

The first prompt is the official ``terminus-json-plain.txt`` template of the ``harbor`` wheel
(Apache-2.0, shipped unchanged in ``prompts/terminus_2_json_plain.txt``), filled with
``str.format(instruction=..., terminal_state=...)`` as ``Terminus2.run`` does. Terminal output
sent back to the agent is limited to 10,000 bytes, first and last halves kept
(``Terminus2._limit_output_length``); an answer that does not parse gets the harness's
parse-error prompt, a first ``task_complete`` its confirmation request (the second ends the
run). ``tests/test_terminal_terminus2.py`` checks these against the wheel.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

__all__ = [
    "completion_confirmation",
    "initial_prompt",
    "limit_output_length",
    "parse_error_prompt",
    "terminus_2_template",
]

TEMPLATE = "terminus_2_json_plain.txt"


@cache
def terminus_2_template() -> str:
    """The official Terminus-2 JSON prompt template, unchanged."""
    return (files("pivotrl_terminal") / "prompts" / TEMPLATE).read_text(encoding="utf-8")


def limit_output_length(output: str, max_bytes: int = 10000) -> str:
    """``output`` cut to ``max_bytes`` UTF-8 bytes, first and last halves kept (as Terminus-2)."""
    data = output.encode("utf-8")
    if len(data) <= max_bytes:
        return output
    half = max_bytes // 2
    first = data[:half].decode("utf-8", errors="ignore")
    last = data[-half:].decode("utf-8", errors="ignore")
    omitted = len(data) - len(first.encode("utf-8")) - len(last.encode("utf-8"))
    return f"{first}\n[... output limited to {max_bytes} bytes; {omitted} interior bytes omitted ...]\n{last}"


def initial_prompt(instruction: str, terminal_state: str = "") -> str:
    """The agent's first message: the task instruction and the current screen."""
    return terminus_2_template().format(
        instruction=instruction, terminal_state=limit_output_length(terminal_state)
    )


def parse_error_prompt(error: str) -> str:
    """The message Terminus-2 sends back after an answer that does not parse."""
    return (
        f"Previous response had parsing errors:\nERROR: {error}\n\n"
        "Please fix these issues and provide a proper JSON response."
    )


def completion_confirmation(terminal_output: str) -> str:
    """Terminus-2's answer to a first ``task_complete``: the screen and a request to confirm."""
    return (
        f"Current terminal state:\n{terminal_output}\n\n"
        "Are you sure you want to mark the task as complete? "
        "This will trigger your solution to be graded and you won't be able to "
        'make any further corrections. If so, include "task_complete": true '
        "in your JSON response again."
    )
