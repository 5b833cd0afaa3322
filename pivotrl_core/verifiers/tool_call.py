"""``tool_call``: NeMo Gym-compatible comparison of an action with the demonstrated one.

Rules (NVIDIA NeMo Gym ``single_step_tool_use_with_argument_comparison``, reproduced on its
recorded rollouts by ``tests/test_parity_nemo_gym.py``):

1. Decision: tool calls take precedence over text. A call where a message was expected, or a
   message where a call was expected, scores 0. No calls and no text at all scores 0.
2. A message where a message was expected passes (``message_policy="any"``, NVIDIA's rule; the
   stricter ``"overlap"`` and ``"fuzzy"`` policies compare the text with the demonstration).
3. Calls: same tool name; arguments that decode; then a recursive comparison: the value's type
   must be an instance of the expected value's type; dicts have the same keys; lists the same
   length, element-wise; floats within ``float_tolerance``; strings where either side has fewer
   than 2 words must be equal; longer strings pass when the lower-cased word multisets overlap
   ``|A & B| / (|A| + |B|) >= threshold`` (at most 0.5 for identical strings); other values ``==``.
4. Several calls are matched as a multiset (maximum bipartite matching, order-free). With
   ``parallel_rewarding`` off (NVIDIA's default) surplus calls are free; on, ``allow_subset`` /
   ``allow_superset`` gate the call count and ``parallel_mode`` scores it (``binary_strict``,
   ``fractional``, ``f1``).

Deliberate differences, all documented in ``docs/verifiers.md``: an empty or whitespace-only text
counts as no action (NVIDIA rewards an empty message when a message is expected), and an
unparseable demonstration gives an errored verdict instead of a server error.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from rapidfuzz import fuzz

from ..formats.responses_api import expected_action_to_message, responses_output_to_message
from ..types import Candidate, Message, ToolCall, Verdict
from ._arguments import INVALID as _INVALID
from ._arguments import (
    CompiledAction,
    CompiledCall,
    compare_arguments,
    compare_str,
    compile_arguments,
    compile_call,
    maximum_matching,
)
from ._options import choice, resolve_options, unit_interval
from .base import Verifier

__all__ = [
    "CATEGORIES",
    "ToolCallVerifier",
    "compare_arguments",
    "compile_arguments",
    "expected_action_to_message",
    "maximum_matching",
    "responses_output_to_message",
]

# category code -> NeMo Gym's category text (what its verifier reports; ours add the last two)
CATEGORIES: dict[str, str] = {
    "no_action": "No tool call or chat message was found in the response",
    "no_tool_call": "No tool call was found when one was expected",
    "message_found": "A chat message was found as expected",
    "call_instead_of_message": "A tool call was executed when a chat message was expected",
    "wrong_tool": "The tool in a tool call is not the expected tool",
    "arguments_decode_error": (
        "An error occurred when decoding the arguments string in a tool call as a JSON object"
    ),
    "type_different": "The type of an argument value in a tool call is different than the expected type",
    "keys_different": (
        "The keys in an object in an argument value in a tool call are different than the keys in the "
        "expected object"
    ),
    "list_length_different": (
        "A list in an argument value in a tool call has a different length than the expected list"
    ),
    "value_different": "An argument value in a tool call is different than the expected value",
    "tool_call_match": "A tool call that matches the expected tool call was found",
    "batch_length_different": "The number of tool calls in a batch is different than expected",
    "batch_match": "A tool-call batch that matches the expected tool calls was found",
    "message_rejected": "A chat message was found but it is not close enough to the expected message",
}

MESSAGE_POLICIES = ("any", "overlap", "fuzzy")
PARALLEL_MODES = ("binary_strict", "fractional", "f1")
_ALIASES = {  # NeMo Gym's config names -> ours
    "word_count_similarity_threshold": "threshold",
    "floating_point_comparison_threshold": "float_tolerance",
    "parallel_tool_call_rewarding": "parallel_rewarding",
    "parallel_tool_call_reward_mode": "parallel_mode",
}


class _ReadOnlyDict(dict):
    """Details of an interned verdict: shared between calls, so it refuses changes."""

    def _read_only(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("the details of a tool_call verdict are read-only; copy them first")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]


class ToolCallVerifier(Verifier):
    """Tool name + recursive argument comparison, NeMo Gym compatible (see the module docstring)."""

    name: ClassVar[str] = "tool_call"
    deterministic: ClassVar[bool] = True
    thread_safe: ClassVar[bool] = True
    cost: ClassVar = "cheap"
    cascade_role: ClassVar[str] = "decide"
    _CACHE_SIZE = 4096

    DEFAULTS: ClassVar[dict[str, Any]] = {
        "threshold": 0.1,
        "float_tolerance": 1e-6,
        "strict_types": True,
        "message_policy": "any",
        "message_threshold": None,
        "parallel_rewarding": False,
        "allow_subset": False,
        "allow_superset": False,
        "parallel_mode": "binary_strict",
        "pass_threshold": 1.0,
    }

    def __init__(self, **options: Any) -> None:
        """Options (defaults in :attr:`DEFAULTS`; NeMo Gym's names are accepted as aliases)."""
        o = resolve_options(self.name, options, self.DEFAULTS, _ALIASES)
        self.threshold = unit_interval(self.name, "threshold", o["threshold"])
        self.float_tolerance = float(o["float_tolerance"])
        self.strict_types = bool(o["strict_types"])
        self.message_policy = choice(self.name, "message_policy", o["message_policy"], MESSAGE_POLICIES)
        mt = o["message_threshold"]
        default_mt = {"any": 0.0, "overlap": 0.1, "fuzzy": 0.6}[self.message_policy]
        self.message_threshold = (
            default_mt if mt is None else unit_interval(self.name, "message_threshold", mt)
        )
        self.parallel_rewarding = bool(o["parallel_rewarding"])
        self.allow_subset = bool(o["allow_subset"])
        self.allow_superset = bool(o["allow_superset"])
        self.parallel_mode = choice(self.name, "parallel_mode", o["parallel_mode"], PARALLEL_MODES)
        self.pass_threshold = unit_interval(self.name, "pass_threshold", o["pass_threshold"])
        self._cache: dict[int, tuple[Message, CompiledAction]] = {}
        self._interned: dict[tuple[Any, ...], Verdict] = {}
        self._lock = threading.Lock()
        passing = ("tool_call_match", "batch_match", "message_found")
        self._fixed = {c: self._make(1.0 if c in passing else 0.0, c) for c in CATEGORIES}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "threshold": self.threshold, "message_policy": self.message_policy}

    # -- the expected side, compiled once per demonstration ---------------------------------
    def _compile(self, message: Message) -> CompiledAction:
        compiled = CompiledAction(tuple(compile_call(c) for c in message.tool_calls), message.content or "")
        with self._lock:
            if len(self._cache) >= self._CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))  # oldest first (dicts keep insertion order)
            self._cache[id(message)] = (message, compiled)
        return compiled

    # -- verification -----------------------------------------------------------------------
    def verify(self, candidate: Candidate, action: Message) -> Verdict:
        message = candidate.expected
        hit = self._cache.get(id(message))  # a dict read is atomic; the identity check guards reuse of ids
        expected = hit[1] if hit is not None and hit[0] is message else self._compile(message)
        act_calls = action.tool_calls
        if act_calls:
            exp_calls = expected.calls
            if not exp_calls:
                return self._fixed["call_instead_of_message"]
            if len(exp_calls) == 1 and len(act_calls) == 1:  # the common case, without the matching
                return self._fixed[self._compare_call(exp_calls[0], act_calls[0]) or "tool_call_match"]
            return self._compare_calls(exp_calls, act_calls)
        text = action.content
        if text is None or not text.strip():
            return self._fixed["no_action"]
        if expected.calls:
            return self._fixed["no_tool_call"]
        return self._compare_message(expected.text, text)

    def _make(self, score: float, category: str, **details: Any) -> Verdict:
        info = _ReadOnlyDict({"category": category, **details})
        return Verdict(score, score >= self.pass_threshold, CATEGORIES[category], info)

    def _counted(self, score: float, category: str, matched: int | None, n_exp: int, n_act: int) -> Verdict:
        """A batch verdict with its call counts; verdicts are immutable, so each is made once."""
        key = (score, category, matched, n_exp, n_act)
        hit = self._interned.get(key)
        if hit is None:
            counts = {"expected_calls": n_exp, "actual_calls": n_act}
            if matched is not None:
                counts["matched_calls"] = matched
            hit = self._make(score, category, **counts)
            with self._lock:
                if len(self._interned) > 4096:
                    self._interned.clear()
                self._interned[key] = hit
        return hit

    def _compare_message(self, expected: str, actual: str) -> Verdict:
        if self.message_policy == "any":
            return self._fixed["message_found"]
        if self.message_policy == "overlap":
            node = compile_arguments(expected)
            ok = compare_str(node, actual, self.message_threshold) is None
            return self._fixed["message_found" if ok else "message_rejected"]
        similarity = fuzz.token_set_ratio(expected.lower(), actual.lower()) / 100.0
        ok = similarity >= self.message_threshold
        return self._make(
            1.0 if ok else 0.0, "message_found" if ok else "message_rejected", similarity=round(similarity, 4)
        )

    def _compare_call(self, expected: CompiledCall, actual: ToolCall) -> str | None:
        if actual.name != expected.name:
            return "wrong_tool"
        if expected.node is _INVALID:
            raise ValueError(f"the demonstrated arguments of tool '{expected.name}' are not valid JSON")
        value = actual.arguments
        if value is None:
            try:
                value = json.loads(actual.raw_arguments or "")
            except (json.JSONDecodeError, ValueError):
                return "arguments_decode_error"
        # Fast path: without numbers/booleans (where == ignores int/float/bool types) equal values
        # match, unless an identical long string is held to a threshold above 0.5.
        if (
            expected.plain
            and (self.threshold <= 0.5 or not expected.long_strings)
            and value == expected.value
        ):
            return None
        return compare_arguments(
            expected.node, value, self.threshold, self.float_tolerance, self.strict_types
        )

    def _compare_calls(self, expected: Sequence[CompiledCall], actual: Sequence[ToolCall]) -> Verdict:
        n_exp, n_act = len(expected), len(actual)
        if not self._admissible(n_exp, n_act):
            return self._counted(0.0, "batch_length_different", None, n_exp, n_act)
        compare = self._compare_call
        if n_exp == n_act:  # emitted in the demonstrated order: no matching needed
            for e, a in zip(expected, actual, strict=True):
                if compare(e, a) is not None:
                    break
            else:
                return self._counted(1.0, "batch_match", n_exp, n_exp, n_act)
        by_name: dict[str, list[int]] = {}
        for j, act in enumerate(actual):
            by_name.setdefault(act.name, []).append(j)
        if not any(e.name in by_name for e in expected):  # nothing can match
            return self._counted(0.0, "wrong_tool", 0, n_exp, n_act)
        options: list[list[int]] = []
        why: list[str] = []
        for exp in expected:
            ok: list[int] = []
            first = "wrong_tool"  # calls to other tools only ever say "wrong_tool"
            for j in by_name.get(exp.name, ()):
                bad = compare(exp, actual[j])
                if bad is None:
                    ok.append(j)
                elif first == "wrong_tool":
                    first = bad  # the closest near miss: past the tool name
            options.append(ok)
            why.append(first)
        matched = maximum_matching(options)
        score = self._score(len(matched), n_exp, n_act)
        if score == 1.0:
            return self._counted(
                score, "tool_call_match" if n_exp == 1 else "batch_match", len(matched), n_exp, n_act
            )
        used = set(matched.values())
        missing = [e for e in range(n_exp) if e not in used]
        category = "batch_length_different" if not missing or len(matched) == n_act else why[missing[0]]
        return self._counted(score, category, len(matched), n_exp, n_act)

    def _admissible(self, n_exp: int, n_act: int) -> bool:
        if n_exp == n_act or not self.parallel_rewarding:
            return True
        return self.allow_subset if n_act < n_exp else self.allow_superset

    def _score(self, matched: int, n_exp: int, n_act: int) -> float:
        if not self.parallel_rewarding:
            return 1.0 if matched == n_exp else 0.0
        if self.parallel_mode == "f1":
            return 2 * matched / (n_exp + n_act) if n_exp + n_act else 0.0
        required = min(n_exp, n_act) if self.allow_subset else n_exp
        if self.parallel_mode == "fractional":
            return matched / required if required else 0.0
        return 1.0 if matched == required else 0.0
