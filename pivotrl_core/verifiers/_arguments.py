"""The argument comparison behind ``tool_call``: compiled demonstrations, NeMo Gym's value rules
and the maximum matching of parallel calls. Pure functions; see :mod:`.tool_call` for the rules.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..types import ToolCall

__all__ = [
    "INVALID",
    "CompiledAction",
    "CompiledCall",
    "compare_arguments",
    "compare_str",
    "compile_arguments",
    "compile_call",
    "maximum_matching",
]

# compiled expected values: (tag, python type, payload...)
_DICT, _LIST, _FLOAT, _STR, _EQ = range(5)
_NUMBERS = (int, float)
INVALID = object()  # the demonstration's arguments do not parse


def compile_arguments(value: Any) -> tuple:
    """Precompute the expected side once (word counts of strings, key sets of dicts)."""
    if isinstance(value, dict):
        return (_DICT, dict, frozenset(value), tuple((k, compile_arguments(v)) for k, v in value.items()))
    if isinstance(value, list):
        return (_LIST, list, len(value), tuple(compile_arguments(v) for v in value))
    if isinstance(value, float):
        return (_FLOAT, float, value)
    if isinstance(value, str):
        words = value.lower().split()
        return (_STR, str, value, Counter(words), len(words))
    return (_EQ, type(value), value)


def compare_str(node: tuple, actual: str, threshold: float) -> str | None:
    expected, counts, total = node[2], node[3], node[4]
    if actual == expected:  # identical multi-word strings overlap exactly 0.5
        return None if total < 2 or threshold <= 0.5 else "value_different"
    if total < 2:
        return "value_different"
    words = actual.lower().split()
    n = len(words)
    if n < 2:
        return "value_different"
    if threshold <= 0.0:
        return None
    common = 0
    for word, c in Counter(words).items():
        e = counts.get(word)
        if e:
            common += c if c < e else e
    return None if common / (total + n) >= threshold else "value_different"


def compare_arguments(
    node: tuple, actual: Any, threshold: float, tol: float, strict_types: bool = True
) -> str | None:
    """Compare ``actual`` with a compiled expected value; ``None`` = match, else a category code."""
    tag, typ = node[0], node[1]
    if not isinstance(actual, typ):
        if not strict_types and typ in _NUMBERS and type(actual) in _NUMBERS:
            return None if abs(actual - node[2]) < tol else "value_different"
        return "type_different"
    if tag == _STR:
        return compare_str(node, actual, threshold)
    if tag == _DICT:
        if actual.keys() != node[2]:
            return "keys_different"
        for key, sub in node[3]:
            value = actual[key]
            # scalar leaves inline (the common flat-arguments case); same rules as the general path
            if sub[0] == _STR and value.__class__ is str:
                if value == sub[2]:
                    if sub[4] < 2 or threshold <= 0.5:
                        continue
                    return "value_different"
                bad = compare_str(sub, value, threshold)
            elif sub[0] == _EQ and value.__class__ is sub[1]:
                if value == sub[2]:
                    continue
                return "value_different"
            else:
                bad = compare_arguments(sub, value, threshold, tol, strict_types)
            if bad:
                return bad
        return None
    if tag == _LIST:
        if len(actual) != node[2]:
            return "list_length_different"
        for sub, item in zip(node[3], actual, strict=True):
            bad = compare_arguments(sub, item, threshold, tol, strict_types)
            if bad:
                return bad
        return None
    if tag == _FLOAT:
        return None if abs(actual - node[2]) < tol else "value_different"
    return None if actual == node[2] else "value_different"


def maximum_matching(options: Sequence[Sequence[int]]) -> dict[int, int]:
    """Maximum bipartite matching (augmenting paths); ``options[e]`` = actual indices ``e`` accepts.

    Returns ``{actual_index: expected_index}``. Greedy pairing is not enough: the fuzzy string rule
    is not transitive, so one actual call can satisfy several expected ones.
    """
    owner: dict[int, int] = {}
    single = [o[0] for o in options if o]
    if len(single) == sum(map(len, options)) and len(set(single)) == len(single):
        return {a: e for e, o in enumerate(options) for a in o}  # no choices to make

    def augment(e: int, seen: set[int]) -> bool:
        for a in options[e]:
            if a not in seen:
                seen.add(a)
                if a not in owner or augment(owner[a], seen):
                    owner[a] = e
                    return True
        return False

    sizes = [len(o) for o in options]
    for e in sorted(range(len(options)), key=sizes.__getitem__):  # most constrained first (stable)
        augment(e, set())
    return owner


@dataclass(frozen=True, slots=True)
class CompiledCall:
    """One demonstrated call, compiled: ``node`` is ``INVALID`` when its arguments do not parse."""

    name: str
    node: Any
    value: Any = None
    plain: bool = (
        False  # no numbers or booleans anywhere: ``==`` implies a match (see ToolCallVerifier._compare_call)
    )
    long_strings: bool = False  # some string has two or more words


@dataclass(frozen=True, slots=True)
class CompiledAction:
    """A demonstrated action, compiled once: its calls and its text."""

    calls: tuple[CompiledCall, ...]
    text: str


def _leaves(value: Any) -> tuple[bool, bool]:
    """(has a number or boolean, has a string of two or more words) anywhere in ``value``."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        flags = [_leaves(v) for v in value]
        return any(f[0] for f in flags), any(f[1] for f in flags)
    if isinstance(value, str):
        return False, len(value.split()) >= 2
    return isinstance(value, (int, float)), False


def compile_call(call: ToolCall) -> CompiledCall:
    value = call.arguments
    if value is None:
        try:
            value = json.loads(call.raw_arguments or "")
        except (json.JSONDecodeError, ValueError):
            return CompiledCall(call.name, INVALID)
    numbers, long_strings = _leaves(value)
    return CompiledCall(call.name, compile_arguments(value), value, not numbers, long_strings)
