"""Value helpers of the banking world: number normalisation, canonical JSON, digests, arguments."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .catalog import params_of

__all__ = ["DIGESTS", "canonical", "check_params", "digest", "json_args", "normalize", "table_digest"]


def normalize(value: Any) -> Any:
    """Numbers as floats (JSON does not tell 3 from 3.0), recursively; JSON-object strings parsed."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    return str(value)


def canonical(value: Any) -> str:
    """Canonical JSON of a normalised value (sorted keys, no spaces)."""
    return json.dumps(normalize(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


DIGESTS: dict[int, tuple[Any, str]] = {}


def table_digest(table: Any) -> str:
    """Digest of one table; memoised by identity (a written table is a new object, see World)."""
    hit = DIGESTS.get(id(table))
    if hit is not None and hit[0] is table:
        return hit[1]
    value = hashlib.sha256(canonical(table).encode()).hexdigest()
    if len(DIGESTS) > 4096:
        DIGESTS.clear()
    DIGESTS[id(table)] = (table, value)
    return value


def digest(*parts: Any) -> str:
    return hashlib.sha256(canonical(parts).encode()).hexdigest()[:16]


def json_args(text: Any) -> dict[str, Any] | str:
    """Parse a hidden tool's ``arguments`` string: a dict, or an ``Error: ...`` text."""
    if isinstance(text, Mapping):
        return dict(text)
    if text is None or text == "":
        return {}
    if not isinstance(text, str):
        return "Error: arguments must be a JSON object string"
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as e:
        return f"Error: Invalid JSON in arguments: {e.msg}"
    return parsed if isinstance(parsed, dict) else "Error: arguments must be a JSON object"


def check_params(spec: str, args: Mapping[str, Any], require: bool = True) -> str | None:
    required, optional = params_of(spec)
    unknown = sorted(set(args) - set(required) - set(optional))
    if unknown:
        return f"Error: Invalid arguments: unexpected parameter(s) {', '.join(unknown)}"
    missing = [p for p in required if p not in args]
    if require and missing:
        return f"Error: Invalid arguments: missing required parameter(s) {', '.join(missing)}"
    return None
