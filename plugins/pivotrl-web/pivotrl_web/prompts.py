"""Prompt-size caps for the web domain, so a small model's prompts fit about 1k tokens.

A banking episode's prefix grows fast: the customer's brief (median 840 tokens), every search
listing and every opened document (2-4k tokens after a few turns; the 16 tool signatures alone
are about 480). :func:`cap_messages` keeps the system prompt and the customer's opening brief (cut
to ``max_brief_chars``), then only the last ``max_turns`` agent turns (an assistant message with
the tool outputs or customer reply that answer it), and cuts every tool output and later customer
reply to ``max_observation_chars`` characters. The caps apply wherever this domain builds a prompt: the
extractor's candidates (profile, train, held-out eval, warm-up) and the benchmark's episodes.
The ``web_search`` verifier does not read the prefix (it replays the recorded events by message
index), so capping changes what the model sees, never what a verdict means.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pivotrl_core import Candidate, ExtractOptions, Message, Trajectory, default_extractor

__all__ = ["DEFAULT_CAPS", "NO_CAPS", "TRUNCATED", "PromptCaps", "cap_messages", "extract_web"]

TRUNCATED = "\n[... truncated]"


@dataclass(frozen=True)
class PromptCaps:
    """How much a prompt keeps: the last ``max_turns`` agent turns (0: none, negative: all), at
    most ``max_observation_chars`` characters of each tool output (and later customer reply) and
    ``max_brief_chars`` of the customer's opening message (negative: no cut)."""

    max_turns: int = 2
    max_observation_chars: int = 300
    max_brief_chars: int = 800


NO_CAPS = PromptCaps(-1, -1, -1)


DEFAULT_CAPS = PromptCaps()


def _cut(message: Message, limit: int) -> Message:
    text = message.content or ""
    if limit < 0 or len(text) <= limit:
        return message
    return dataclasses.replace(message, content=text[:limit].rstrip() + TRUNCATED)


def _turn_starts(messages: Sequence[Message], start: int) -> list[int]:
    return [i for i in range(start, len(messages)) if messages[i].role == "assistant"]


def cap_messages(messages: Sequence[Message], caps: PromptCaps = DEFAULT_CAPS) -> tuple[Message, ...]:
    """``messages`` with the history and tool outputs capped (see the module docstring).

    The head (a system message, then the first user message) is always kept.
    """
    head = 1 if messages and messages[0].role == "system" else 0
    brief = head if head < len(messages) and messages[head].role == "user" else None
    head += brief is not None
    kept = list(messages)
    if caps.max_turns >= 0:
        starts = _turn_starts(messages, head)
        if len(starts) > caps.max_turns:
            cut = starts[len(starts) - caps.max_turns] if caps.max_turns else len(messages)
            kept = [*messages[:head], *messages[cut:]]
    return tuple(
        _cut(m, caps.max_brief_chars)
        if i == brief
        else _cut(m, caps.max_observation_chars)
        if m.role in ("tool", "user")
        else m
        for i, m in enumerate(kept)
    )


def extract_web(trajectory: Trajectory, options: ExtractOptions) -> Iterator[Candidate]:
    """The domain's extractor: the default one (every assistant turn), prefixes capped."""
    for cand in default_extractor(trajectory, options):
        yield dataclasses.replace(cand, messages=cap_messages(cand.messages))
