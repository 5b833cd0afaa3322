"""Re-score NeMo Gym ``swe_pivot`` rollouts (``example_rollouts.jsonl`` rows) with our semantics."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .nvidia import PivotConfig, PivotScore, score_calls

__all__ = ["expected_call", "rescore_rollout", "rollout_call"]


def _function_call(obj: Any) -> tuple[str, Any] | None:
    if isinstance(obj, Mapping) and obj.get("type") == "function_call" and "name" in obj:
        return str(obj["name"]), obj.get("arguments", "")
    return None


def expected_call(row: Mapping[str, Any]) -> tuple[str, Any] | None:
    """The demonstrated call, looked up where NVIDIA's server looks: ``expected_action``, then
    ``expected_answer`` (a JSON string), then ``metadata.expected_action``."""
    found = _function_call(row.get("expected_action"))
    if found is None and isinstance(row.get("expected_answer"), str) and row["expected_answer"]:
        try:
            found = _function_call(json.loads(row["expected_answer"]))
        except json.JSONDecodeError:
            found = None
    meta = row.get("metadata")
    if found is None and isinstance(meta, Mapping):
        found = _function_call(meta.get("expected_action"))
    return found


def rollout_call(row: Mapping[str, Any]) -> tuple[str, Any] | None:
    """The first ``function_call`` item of the rollout's ``response.output``."""
    response = row.get("response")
    output = response.get("output") if isinstance(response, Mapping) else None
    for item in output or []:
        found = _function_call(item)
        if found is not None:
            return found
    return None


def rescore_rollout(
    row: Mapping[str, Any], config: PivotConfig | None = None, task: Mapping[str, Any] | None = None
) -> PivotScore:
    """Score one rollout row as NVIDIA's server would. Rollout rows do not keep the request's
    ``expected_action``: pass the task row it was verified against (same ``uuid``) as ``task``."""
    return score_calls(rollout_call(row), expected_call({**(task or {}), **row} if task else row), config)
