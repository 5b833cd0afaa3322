"""The SWE-agent-like tools of the SWE domain, executed inside a sandbox.

Three tools, as OpenAI function schemas (:data:`TOOLS`): ``bash`` (a command in the repository),
``str_replace_editor`` (view / create / str_replace / insert; run by ``sandbox_editor.py`` inside
the sandbox) and ``submit``. :class:`ToolBox` executes a :class:`~pivotrl_core.ToolCall` in an open
sandbox and says whether the call was an *error* (rejected by the tool, not a failing program):
an unknown tool, arguments that are not an object or miss a required key, an editor call that
printed ``Error:`` (exit 1), or a bash command the shell could not run (exit 126 or 127).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pivotrl_core import Sandbox, SandboxResult, ToolCall

__all__ = ["EDITOR_PATH", "TOOLS", "ToolBox", "ToolOutcome", "tool_script"]

EDITOR_PATH = "/tmp/.pivotrl_swe_editor.py"
_EDITOR_SOURCE = (Path(__file__).with_name("sandbox_editor.py")).read_text()
MAX_OBSERVATION = 8000

TOOLS: tuple[dict[str, Any], ...] = (
    {
        "type": "function",
        "function": {
            "name": "bash",
            "description": "Run a command in the repository; returns exit code and output.",
            "parameters": {
                "type": "object",
                "properties": {"command": {"type": "string"}},
                "required": ["command"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "str_replace_editor",
            "description": "`view` a file with line numbers (or a directory), `create` a file, "
            "`str_replace` the unique `old_str` by `new_str`, `insert` `new_str` after `insert_line`.",
            "parameters": {
                "type": "object",
                "properties": {
                    "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert"]},
                    "path": {"type": "string"},
                    "view_range": {"type": "array", "items": {"type": "integer"}},
                    "file_text": {"type": "string"},
                    "old_str": {"type": "string"},
                    "new_str": {"type": "string"},
                    "insert_line": {"type": "integer"},
                },
                "required": ["command", "path"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "submit",
            "description": "Submit the repository as the fix.",
            "parameters": {"type": "object", "properties": {}},
        },
    },
)

_INSTALL = f"printf %s {base64.b64encode(_EDITOR_SOURCE.encode()).decode()} | base64 -d > {EDITOR_PATH}"


@dataclass(frozen=True)
class ToolOutcome:
    """What a call did: the observation text, whether it was an error, whether it submitted."""

    observation: str
    error: bool = False
    submitted: bool = False
    exit_code: int | None = None
    timed_out: bool = False


def tool_script(call: ToolCall) -> str | None:
    """The bash script that performs ``call`` (None for ``submit`` and for malformed calls)."""
    args = call.arguments
    if not isinstance(args, dict):
        return None
    if call.name == "bash" and isinstance(args.get("command"), str):
        return args["command"]
    if call.name == "str_replace_editor" and isinstance(args.get("command"), str):
        payload = base64.b64encode(json.dumps(args).encode()).decode()
        return f"test -f {EDITOR_PATH} || {_INSTALL}; python3 {EDITOR_PATH} {payload}"
    return None


def _clip(text: str) -> str:
    if len(text) <= MAX_OBSERVATION:
        return text
    half = MAX_OBSERVATION // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"


def render_result(call: ToolCall, res: SandboxResult) -> ToolOutcome:
    """The observation of one executed call (editor output as is; bash output with its exit code)."""
    output = res.stdout + (res.stderr if res.stderr else "")
    if call.name == "str_replace_editor":
        return ToolOutcome(_clip(output.rstrip("\n")), error=res.exit_code != 0, exit_code=res.exit_code)
    note = f"[timed out after the turn limit; exit code {res.exit_code}]" if res.timed_out else ""
    body = _clip(output.rstrip("\n"))
    text = f"exit code {res.exit_code}\n{body}{note}".rstrip()
    return ToolOutcome(
        text, error=res.exit_code in (126, 127), exit_code=res.exit_code, timed_out=res.timed_out
    )


class ToolBox:
    """Runs tool calls in one open sandbox (the sandbox belongs to the caller)."""

    def __init__(self, sandbox: Sandbox, turn_timeout_s: float = 30.0) -> None:
        self.sandbox = sandbox
        self.turn_timeout_s = turn_timeout_s

    def execute(self, call: ToolCall) -> ToolOutcome:
        """Execute one call; a :class:`~pivotrl_core.SandboxError` propagates (infrastructure)."""
        if call.name == "submit":
            return ToolOutcome("Submitted.", submitted=True)
        if call.name not in ("bash", "str_replace_editor"):
            names = ", ".join(t["function"]["name"] for t in TOOLS)
            return ToolOutcome(f"Error: unknown tool {call.name!r}; the tools are {names}.", error=True)
        script = tool_script(call)
        if script is None:
            return ToolOutcome(
                f"Error: invalid arguments for {call.name}: {call.arguments_json[:200]}", error=True
            )
        return render_result(call, self.sandbox.run(script, timeout_s=self.turn_timeout_s))
