"""pivotrl's terminal domain: Terminus turns, their verifier cascade and Terminal-Bench style tasks."""

from __future__ import annotations

from .bench import terminal_bench
from .episode import EpisodeResult, OracleAgent, PolicyAgent, run_episode
from .extract import extract_terminal
from .loading import load_task, load_tasks
from .task import Task, bundled_tasks_dir
from .terminus import command_similarity, keystroke_script, parse_turn, schema_errors
from .verifier import TerminalVerifier

__all__ = [
    "EpisodeResult",
    "OracleAgent",
    "PolicyAgent",
    "Task",
    "TerminalVerifier",
    "bundled_tasks_dir",
    "command_similarity",
    "extract_terminal",
    "keystroke_script",
    "load_task",
    "load_tasks",
    "parse_turn",
    "run_episode",
    "schema_errors",
    "terminal_bench",
]
__version__ = "0.1.0"
