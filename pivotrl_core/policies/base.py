"""The rollout-policy contract shared by the ``hf``, ``openai`` and ``vllm`` backends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..types import Candidate, Message

__all__ = ["Completion", "Policy", "Prompt", "SamplingParams"]


@dataclass(frozen=True)
class Prompt:
    """What a policy is asked to continue: a chat prefix and the tools available at that state."""

    messages: tuple[Message, ...]
    tools: tuple[dict[str, Any], ...] = ()

    @classmethod
    def for_candidate(cls, candidate: Candidate, system_prompt: str | None = None) -> Prompt:
        """The rollout prompt of a candidate (profile, train and eval alike): its prefix and tools,
        with ``system_prompt`` (the domain's) prepended when the prefix has no system message."""
        msgs = candidate.messages
        if system_prompt and not (msgs and msgs[0].role == "system"):
            msgs = (Message(role="system", content=system_prompt), *msgs)
        return cls(messages=msgs, tools=candidate.tools)


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings. ``seed`` makes sampling reproducible where the backend allows it."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


@dataclass(frozen=True)
class Completion:
    """One sampled assistant turn.

    ``message`` is the parsed action (tool calls extracted; unparseable output kept as text).
    ``token_ids``/``logprobs`` are the completion's tokens and their sampling-time
    log-probabilities when the backend provides them (the trainer needs them).
    """

    text: str
    message: Message
    token_ids: tuple[int, ...] | None = None
    logprobs: tuple[float, ...] | None = None
    finish_reason: str = "stop"
    meta: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Policy(Protocol):
    """A rollout backend. ``sample`` returns, for each prompt, ``n`` completions."""

    name: str

    @property
    def model_id(self) -> str: ...

    def sample(
        self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams
    ) -> list[list[Completion]]: ...

    def close(self) -> None: ...
