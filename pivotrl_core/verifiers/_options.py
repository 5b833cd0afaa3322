"""Option handling shared by the built-in verifiers: defaults, aliases, clear errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError

__all__ = ["choice", "resolve_options", "unit_interval"]


def resolve_options(
    verifier: str,
    given: Mapping[str, Any],
    defaults: Mapping[str, Any],
    aliases: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``defaults`` updated with ``given``; an unknown option is a :class:`ConfigError`."""
    aliases = aliases or {}
    out = dict(defaults)
    for key, value in given.items():
        name = aliases.get(key, key)
        if name not in defaults:
            known = ", ".join(sorted({*defaults, *aliases}))
            raise ConfigError(
                f"verifier '{verifier}' has no option '{key}'; its options are: {known} "
                "(see `pivotrl help verifiers`)"
            )
        out[name] = value
    return out


def unit_interval(verifier: str, option: str, value: Any) -> float:
    """``value`` as a float in [0, 1], or a :class:`ConfigError` saying so."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"verifier '{verifier}': option '{option}' must be a number in [0, 1], got {value!r}"
        ) from None
    if not 0.0 <= x <= 1.0:
        raise ConfigError(f"verifier '{verifier}': option '{option}' must be in [0, 1], got {x}")
    return x


def choice(verifier: str, option: str, value: Any, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed``, else a :class:`ConfigError` listing them."""
    if value not in allowed:
        raise ConfigError(
            f"verifier '{verifier}': option '{option}' is {value!r}; use one of {', '.join(allowed)}"
        )
    return value
