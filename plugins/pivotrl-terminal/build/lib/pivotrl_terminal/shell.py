"""A terminal session over a sandbox: each turn's script runs where the previous one left off.

A sandbox ``run`` is a fresh ``bash -c``. To behave like one interactive shell across turns,
:func:`session_script` wraps a turn's script so that it starts in the directory and with the
exported variables the previous turn ended with (kept in ``/tmp/.pivotrl-shell``, which persists
between runs of one sandbox), merges stderr into stdout like a terminal does, and saves them again
on exit. Background processes do not survive a turn on the ``bwrap`` backend (they do on
``docker`` until the sandbox closes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["STATE_DIR", "TerminalSession", "session_script"]

STATE_DIR = "/tmp/.pivotrl-shell"
_SAVE = (
    f"__pivotrl_save() {{ pwd > {STATE_DIR}/cwd; "
    f"export -p | grep -v -E '^declare -x (PWD|OLDPWD|SHLVL|_)=' > {STATE_DIR}/env; }} 2>/dev/null"
)


def session_script(script: str) -> str:
    """``script`` wrapped to restore and save the shell's directory and exported variables."""
    restore = (
        f"mkdir -p {STATE_DIR}; [ -f {STATE_DIR}/env ] && . {STATE_DIR}/env; "
        f'[ -f {STATE_DIR}/cwd ] && cd "$(cat {STATE_DIR}/cwd)" 2>/dev/null; '
        f"{_SAVE}; trap __pivotrl_save EXIT; exec 2>&1 < /dev/null"
    )
    return f"{restore}\n{script}"


@dataclass
class TurnOutput:
    """What a turn printed and how it ended."""

    output: str
    exit_code: int
    timed_out: bool
    truncated: bool


class TerminalSession:
    """Runs successive turns' scripts in one sandbox, like typing into one shell."""

    def __init__(self, sandbox: Any, max_output_chars: int = 1 << 20) -> None:
        self.sandbox = sandbox
        self.max_output_chars = max_output_chars

    def run(self, script: str, timeout_s: float) -> TurnOutput:
        if not script.strip():
            return TurnOutput("", 0, False, False)
        res = self.sandbox.run(session_script(script), timeout_s=timeout_s)
        out = res.stdout + res.stderr
        if len(out) > self.max_output_chars:
            out = "[... output truncated ...]\n" + out[-self.max_output_chars :]
        if res.timed_out:
            out += f"\n[command timed out after {timeout_s:g} s and was killed]"
        return TurnOutput(out, res.exit_code, res.timed_out, res.truncated)
