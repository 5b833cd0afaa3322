"""Domain benchmark adapters: ``Domain.benchmarks[name](policy, **options) -> dict``."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError, UnknownNameError
from ..policies.base import Policy
from ..registry import Registry

__all__ = ["run_benchmark"]


def run_benchmark(
    policy: Policy, registry: Registry, domain: str, name: str, **options: Any
) -> dict[str, Any]:
    """Run ``registry.domain(domain).benchmarks[name](policy, **options)``; the result must be a dict."""
    benches = registry.domain(domain).benchmarks
    if name not in benches:
        raise UnknownNameError("benchmark", name, list(benches))
    result = benches[name](policy, **options)
    if not isinstance(result, dict):
        raise ConfigError(
            f"benchmark '{name}' of domain '{domain}' returned {type(result).__name__}, not a dict"
        )
    return result
