"""The verifier contract and the one place where verifier exceptions become errored verdicts."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal

from ..types import Candidate, Message, Verdict

__all__ = [
    "FunctionVerifier",
    "VerifyResult",
    "Verifier",
    "build_verifier",
    "coerce_verdict",
    "run_verifier",
    "verify_many",
]

CostClass = Literal["cheap", "moderate", "expensive"]
VerifyResult = Verdict | float | bool


class Verifier:
    """Base class for functional verifiers.

    Subclasses set ``name`` and implement :meth:`verify`, returning a :class:`Verdict`, a float
    in [0, 1] (passed when >= ``pass_threshold``) or a bool. Raising is allowed: callers go
    through :func:`run_verifier`, which turns any exception into an errored verdict.

    Metadata: ``deterministic`` (same input, same verdict), ``thread_safe`` (may be called from
    several threads at once) and ``cost`` (``cheap`` runs inline; ``moderate``/``expensive`` are
    verified concurrently up to ``max_concurrency``).
    """

    name: ClassVar[str] = ""
    deterministic: ClassVar[bool] = True
    thread_safe: ClassVar[bool] = True
    cost: ClassVar[CostClass] = "cheap"
    max_concurrency: int = 8
    pass_threshold: float = 1.0

    def verify(self, candidate: Candidate, action: Message) -> VerifyResult:
        raise NotImplementedError

    def verify_batch(self, pairs: Sequence[tuple[Candidate, Message]]) -> list[Verdict]:
        """Verify many pairs; override for verifiers with a native batch API."""
        return verify_many(self, pairs)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "deterministic": self.deterministic,
            "thread_safe": self.thread_safe,
            "cost": self.cost,
        }


class FunctionVerifier(Verifier):
    """Wraps a plain function ``(candidate, action[, **options]) -> Verdict | float | bool``."""

    def __init__(
        self,
        fn: Callable[..., VerifyResult],
        name: str | None = None,
        *,
        deterministic: bool = True,
        thread_safe: bool = True,
        cost: CostClass = "cheap",
        pass_threshold: float = 1.0,
        **options: Any,
    ) -> None:
        self.fn = fn
        self._name = name or getattr(fn, "__name__", "function")
        self._deterministic = deterministic
        self._thread_safe = thread_safe
        self._cost = cost
        self.pass_threshold = pass_threshold
        self.options = options

    # per-instance metadata shadows the class-level defaults
    @property  # type: ignore[override]
    def name(self) -> str:
        return self._name

    @property  # type: ignore[override]
    def deterministic(self) -> bool:
        return self._deterministic

    @property  # type: ignore[override]
    def thread_safe(self) -> bool:
        return self._thread_safe

    @property  # type: ignore[override]
    def cost(self) -> CostClass:
        return self._cost

    def verify(self, candidate: Candidate, action: Message) -> VerifyResult:
        return self.fn(candidate, action, **self.options)


def coerce_verdict(result: Any, pass_threshold: float = 1.0) -> Verdict:
    """Turn a verifier's return value into a :class:`Verdict` (or raise ``TypeError``)."""
    if isinstance(result, Verdict):
        return result
    if isinstance(result, bool):
        return Verdict(score=1.0 if result else 0.0, passed=result)
    if isinstance(result, (int, float)):
        score = float(result)
        if not 0.0 <= score <= 1.0:
            raise TypeError(f"verifier returned score {score}, outside [0, 1]")
        return Verdict(score=score, passed=score >= pass_threshold)
    raise TypeError(f"verifier returned {type(result).__name__}; expected Verdict, float or bool")


def run_verifier(verifier: Verifier, candidate: Candidate, action: Message) -> Verdict:
    """Run one verification. Any exception becomes an errored verdict, never a score of 0."""
    start = time.perf_counter()
    try:
        verdict = coerce_verdict(verifier.verify(candidate, action), verifier.pass_threshold)
    except Exception as e:  # noqa: BLE001 - this is the one place we convert failures
        return Verdict.from_error(
            f"{type(e).__name__}: {e}", verifier=verifier.name, seconds=time.perf_counter() - start
        )
    return verdict


def verify_many(
    verifier: Verifier,
    pairs: Sequence[tuple[Candidate, Message]],
    max_workers: int | None = None,
) -> list[Verdict]:
    """Verify pairs in order. Slow thread-safe verifiers run concurrently (bounded)."""
    workers = max_workers if max_workers is not None else verifier.max_concurrency
    if verifier.cost == "cheap" or not verifier.thread_safe or workers <= 1 or len(pairs) <= 1:
        return [run_verifier(verifier, c, a) for c, a in pairs]
    with ThreadPoolExecutor(max_workers=min(workers, len(pairs))) as pool:
        return list(pool.map(lambda p: run_verifier(verifier, p[0], p[1]), pairs))


def build_verifier(
    factory: Any,
    options: Mapping[str, Any] | None = None,
    name: str | None = None,
    meta: Mapping[str, Any] | None = None,
    services: Mapping[str, Any] | None = None,
) -> Verifier:
    """Instantiate what a plugin registered: a Verifier subclass, an instance, or a function.

    ``meta`` is what ``register`` was given (a function's ``deterministic``, ``cost``, ...);
    ``services`` are host callables (``resolve``, ``open_sandbox``) handed to a class whose
    constructor names them, unless ``options`` already gives them.
    """
    options = dict(options or {})
    if isinstance(factory, Verifier):
        if options:
            raise TypeError(f"verifier '{factory.name}' is an instance and takes no options")
        return factory
    if inspect.isclass(factory) and issubclass(factory, Verifier):
        params = inspect.signature(factory).parameters
        wanted = {k: v for k, v in (services or {}).items() if k in params and k not in options}
        return factory(**options, **wanted)
    if callable(factory):
        return FunctionVerifier(factory, name=name, **{**dict(meta or {}), **options})
    raise TypeError(f"cannot build a verifier from {factory!r}")
