"""NVIDIA's ``swe_pivot`` verification semantics (NeMo Gym ``resources_servers/swe_pivot/app.py``).

Layered, cheap first: level 0 tool category (names and their CamelCase forms mapped to
``edit``/``bash``/``search``/``read``/``finish``/``think``/``planning``), level 1 target (editor
sub-command, file path by its last components, command verb, paths in a command, ``view_range``
coverage >= 80%, a 0.3 similarity floor for bash), level 2 argument similarity (``difflib``
ratio on the first 2,000 characters; for ``str_replace`` edits the minimum of the ``old_str`` and
``new_str`` ratios), level 4 diff-size shaping (continuous mode only). Binary ("paper") mode gives
1 when similarity >= ``similarity_full_credit``; continuous mode gives partial credit from
``similarity_threshold`` up. Extra argument keys (``security_risk``...) are ignored.
Reimplemented from the published semantics; departures are listed in ``docs/domains/swe.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

__all__ = [
    "PivotConfig",
    "PivotScore",
    "argument_similarity",
    "command_paths",
    "diff_size_penalty",
    "score_calls",
    "target_match",
    "tool_category",
]

_CATEGORY_NAMES: dict[str, tuple[str, ...]] = {
    "edit": (
        "str_replace_editor",
        "text_editor",
        "file_editor",
        "code_editor",
        "edit_file",
        "modify_file",
        "update_file",
        "file_edit",
        "edit",
        "modify",
        "apply_patch",
        "patch_file",
        "apply_diff",
        "apply_changes",
        "write",
        "write_file",
        "save_file",
        "create_file",
    ),
    "bash": (
        "execute_bash",
        "run_bash",
        "bash_exec",
        "shell_run",
        "shell",
        "bash",
        "terminal",
        "shell_command",
        "shell_cmd",
        "run_shell_cmd",
        "exec_command",
        "exec_cmd",
    ),
    "search": (
        "grep",
        "search_text",
        "find_pattern",
        "text_search",
        "glob",
        "find_files",
        "file_glob",
        "match_files",
        "grep_files",
        "search_files",
        "find_in_files",
        "code_search",
        "list_dir",
        "ls",
        "show_dir",
        "ls_dir",
        "list_directory",
    ),
    "read": (
        "read",
        "read_file",
        "view_file",
        "cat_file",
        "view",
        "file_view",
        "inspect",
        "show_file",
        "read_file_content",
    ),
    "finish": ("finish", "submit"),
    "think": ("think",),
    "planning": (
        "task_tracker",
        "todo_tracker",
        "plan_tracker",
        "todo_read",
        "todo_write",
        "update_plan",
        "list_tasks",
        "update_tasks",
        "read_todos",
        "write_todos",
        "edit_plan",
        "modify_plan",
    ),
}


def _category_map() -> dict[str, str]:
    table: dict[str, str] = {}
    for category, names in _CATEGORY_NAMES.items():
        for name in names:
            table[name.lower()] = category
            table["".join(w.capitalize() for w in name.split("_")).lower()] = category
    return table


_CATEGORIES = _category_map()
MAX_SIMILARITY_CHARS = 2000
BASH_TARGET_FLOOR = 0.3
DIFF_MAX_SIZE = 500
_PATH_RE = re.compile(
    r"""(?:^|[\s='"(])((?:/[\w._-]+)+|\.\.?/[\w._/-]+|[\w._-]+/[\w._/-]+)"""
)  # absolute, ./relative, dir/file


def tool_category(name: str) -> str:
    """The category of a tool name (case-insensitive, CamelCase too), ``unknown`` otherwise."""
    return _CATEGORIES.get(name.lower(), "unknown")


def parse_arguments(raw: Any) -> dict[str, Any]:
    """Arguments as an object: a mapping as is, a JSON object string parsed, anything else ``{}``."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except (json.JSONDecodeError, TypeError):
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _first(args: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        if key in args:
            return str(args[key]).strip()
    return ""


def file_path(args: Mapping[str, Any]) -> str:
    return _first(args, ("path", "file", "file_path", "filename", "file_name"))


def shell_command(args: Mapping[str, Any]) -> str:
    return _first(args, ("command", "cmd"))


def command_verb(cmd: str) -> str:
    """The first word of a command without its directory (``/usr/bin/python3 x`` -> ``python3``)."""
    words = cmd.strip().split()
    return words[0].rsplit("/", 1)[-1] if words else ""


def command_paths(cmd: str) -> list[str]:
    """File and directory paths mentioned in a shell command."""
    return [p for p in _PATH_RE.findall(cmd or "") if not p.startswith("--") and len(p) > 2]


def path_suffix(path: str, n: int = 3) -> str:
    return "/".join(path.strip("/").split("/")[-n:])


def edit_content(args: Mapping[str, Any]) -> str:
    """The text an edit writes (old + new string, a patch, a diff or the file content)."""
    if "new_str" in args:
        return f"{args.get('old_str', '')}\n{args['new_str']}"
    for key in ("patch", "diff"):
        if key in args:
            return str(args[key])
    if "content" in args or "file_text" in args:
        return str(args.get("content", args.get("file_text", "")))
    return ""


def view_range(raw: Any) -> tuple[int, int] | None:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return None
    if isinstance(raw, list) and len(raw) == 2:
        try:
            return int(raw[0]), int(raw[1])
        except (TypeError, ValueError):
            return None
    return None


def similarity(a: str, b: str) -> float:
    """``difflib`` ratio of the first :data:`MAX_SIMILARITY_CHARS` characters of each string."""
    return SequenceMatcher(None, a[:MAX_SIMILARITY_CHARS], b[:MAX_SIMILARITY_CHARS]).ratio()


def _edit_target(got: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    g_cmd, w_cmd = str(got.get("command", "")), str(want.get("command", ""))
    if g_cmd and w_cmd and g_cmd != w_cmd:
        return False
    g_file, w_file = file_path(got), file_path(want)
    if g_file and w_file and path_suffix(g_file, 2) != path_suffix(w_file, 2):
        return False
    if g_cmd == "view" and w_cmd == "view":
        g_range, w_range = view_range(got.get("view_range")), view_range(want.get("view_range"))
        if g_range and w_range:
            overlap = max(0, min(g_range[1], w_range[1]) - max(g_range[0], w_range[0]))
            if overlap / max(1, w_range[1] - w_range[0]) < 0.8:
                return False
    return True


def _bash_target(got: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    g_cmd, w_cmd = shell_command(got), shell_command(want)
    g_verb, w_verb = command_verb(g_cmd), command_verb(w_cmd)
    if g_verb and w_verb and g_verb != w_verb:
        return False
    g_paths = {path_suffix(p.rstrip("/")) for p in command_paths(g_cmd)} - {""}
    w_paths = {path_suffix(p.rstrip("/")) for p in command_paths(w_cmd)} - {""}
    if g_paths and w_paths and not g_paths & w_paths:
        return False
    return not (g_cmd and w_cmd and similarity(g_cmd, w_cmd) < BASH_TARGET_FLOOR)


def target_match(got_cat: str, got: Mapping[str, Any], want_cat: str, want: Mapping[str, Any]) -> bool:
    """Level 1: does the sampled call act on the demonstrated target?"""
    if got_cat == "edit" and want_cat == "edit":
        return _edit_target(got, want)
    if got_cat == "bash" and want_cat == "bash":
        return _bash_target(got, want)
    if got_cat in ("search", "read") and want_cat in ("search", "read"):
        g_file, w_file = file_path(got), file_path(want)
        return not (g_file and w_file) or path_suffix(g_file) == path_suffix(w_file)
    return True


def _pair_similarity(a: str, b: str) -> float:
    return similarity(a, b) if a and b else (1.0 if a == b else 0.0)


def argument_similarity(
    got_cat: str, got: Mapping[str, Any], want_cat: str, want: Mapping[str, Any]
) -> float:
    """Level 2: similarity of the arguments in [0, 1] (1 where it does not apply)."""
    if got_cat == "edit" and want_cat == "edit":
        g_old, w_old = str(got.get("old_str", "")), str(want.get("old_str", ""))
        g_new, w_new = str(got.get("new_str", "")), str(want.get("new_str", ""))
        if (g_old or g_new) and (w_old or w_new):
            return min(_pair_similarity(g_old, w_old), _pair_similarity(g_new, w_new))
        g_text, w_text = edit_content(got), edit_content(want)
        if g_text and w_text:
            return similarity(g_text, w_text)
        return 0.0 if bool(g_text) != bool(w_text) else 1.0
    if got_cat == "bash" and want_cat == "bash":
        g_cmd, w_cmd = shell_command(got), shell_command(want)
        return similarity(g_cmd, w_cmd) if g_cmd and w_cmd else 1.0
    return 1.0


def diff_size_penalty(category: str, args: Mapping[str, Any], alpha: float) -> float:
    """Level 4: ``alpha * min(len(edit text) / 500, 1)`` for edits, 0 otherwise."""
    if category != "edit":
        return 0.0
    text = edit_content(args)
    return alpha * min(len(text) / DIFF_MAX_SIZE, 1.0) if text else 0.0


@dataclass(frozen=True)
class PivotConfig:
    """NVIDIA's server settings (``SwePivotResourcesServerConfig``), same names and defaults."""

    reward_mode: str = "binary"
    enable_target_match: bool = True
    enable_argument_similarity: bool = True
    similarity_threshold: float = 0.4
    similarity_full_credit: float = 0.8
    enable_diff_size_shaping: bool = True
    diff_size_alpha: float = 0.1


@dataclass(frozen=True)
class PivotScore:
    """One verdict with NVIDIA's response fields."""

    reward: float
    failure_reason: str
    tool_name_match: bool = False
    target_match: bool | None = None
    similarity_score: float | None = None
    diff_size_penalty: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _similarity_reward(sim: float, config: PivotConfig) -> float:
    full, low = config.similarity_full_credit, config.similarity_threshold
    if sim >= full:
        return 1.0
    if config.reward_mode != "binary" and sim >= low:
        return 0.5 + 0.5 * (sim - low) / (full - low)
    return 0.0


def score_calls(
    got: tuple[str, Any] | None, want: tuple[str, Any] | None, config: PivotConfig | None = None
) -> PivotScore:
    """Score a sampled call ``(name, arguments)`` against the demonstrated one, as NVIDIA's server.

    ``want`` None is ``expected_action_invalid``; ``got`` None (no function call in the response)
    is ``model_output_invalid``; both score 0.
    """
    config = config or PivotConfig()
    if want is None:
        return PivotScore(0.0, "expected_action_invalid")
    if got is None:
        return PivotScore(0.0, "model_output_invalid")
    g_name, w_name = got[0], want[0]
    g_cat, w_cat = tool_category(g_name), tool_category(w_name)
    g_args, w_args = parse_arguments(got[1]), parse_arguments(want[1])
    if g_name.lower() != w_name.lower() and (g_cat != w_cat or g_cat == "unknown"):
        return PivotScore(0.0, "tool_name_mismatch")
    target = None
    if config.enable_target_match:
        target = target_match(g_cat, g_args, w_cat, w_args)
        if not target:
            return PivotScore(0.0, "target_mismatch", True, False)
    reward, sim = 1.0, None
    if config.enable_argument_similarity:
        sim = argument_similarity(g_cat, g_args, w_cat, w_args)
        reward = _similarity_reward(sim, config)
        if reward == 0.0:
            return PivotScore(0.0, "similarity_below_threshold", True, target, sim)
    penalty = None
    if config.enable_diff_size_shaping and config.reward_mode == "continuous":
        penalty = diff_size_penalty(g_cat, g_args, config.diff_size_alpha)
        reward *= 1.0 - penalty
    return PivotScore(reward, "none", True, target, sim, penalty)
