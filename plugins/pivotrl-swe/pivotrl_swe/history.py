"""The history window: how much of an episode a policy sees when it picks the next turn.

A small model on a CPU cannot afford the whole episode in every prompt (a file view alone is 300-700
tokens), so this plugin's episodes show the policy a *window*: the system and task messages, then
the last ``turns`` assistant turns with their tool observations, each observation clipped to
``observation_chars`` characters (head and tail kept). An episode records the window it ran with in
``metadata["swe"]["window"]``; the ``swe`` extractor cuts every candidate's prefix the same way, so
profiling, training, held-out evaluation and the benchmark's policy all see one prompt shape.
Trajectories without a recorded window (third-party SWE-agent, OpenHands, mini-swe-agent files)
keep their whole history.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pivotrl_core import ConfigError, Message

__all__ = ["DEFAULT_WINDOW", "HistoryWindow", "apply_window"]


@dataclass(frozen=True)
class HistoryWindow:
    """Keep the last ``turns`` assistant turns (0 = none; ``None`` = all) and clip each tool
    observation to ``observation_chars`` characters (``None`` = no clipping)."""

    turns: int | None = 1
    observation_chars: int | None = 2000

    def __post_init__(self) -> None:
        if self.turns is not None and self.turns < 0:
            raise ConfigError(f"history window: turns must be >= 0 or None, got {self.turns}")
        if self.observation_chars is not None and self.observation_chars < 40:
            raise ConfigError(
                f"history window: observation_chars must be >= 40 or None, got {self.observation_chars}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> HistoryWindow | None:
        """The window an episode recorded (``None`` when it recorded none)."""
        if not isinstance(data, Mapping):
            return None
        return cls(turns=data.get("turns"), observation_chars=data.get("observation_chars"))


DEFAULT_WINDOW = HistoryWindow()


def _clip(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit} characters cut ...]\n{text[-tail:]}"


def _clip_observation(m: Message, limit: int | None) -> Message:
    if m.role == "assistant" or m.role == "system" or not isinstance(m.content, str):
        return m
    clipped = _clip(m.content, limit)
    return m if clipped == m.content else dataclasses.replace(m, content=clipped)


def apply_window(messages: Sequence[Message], window: HistoryWindow | None) -> tuple[Message, ...]:
    """``messages`` as a policy sees them under ``window`` (unchanged when ``window`` is None).

    The leading system/user messages (the task) are kept whole; of the rest, only the messages
    from the ``turns``-th last assistant turn on are kept, their tool observations clipped."""
    msgs = tuple(messages)
    if window is None:
        return msgs
    start = next((i for i, m in enumerate(msgs) if m.role not in ("system", "user")), len(msgs))
    head, rest = msgs[:start], msgs[start:]
    if window.turns is not None:
        starts = [i for i, m in enumerate(rest) if m.role == "assistant"]
        keep_from = (
            len(rest) if window.turns == 0 else (starts[-window.turns] if len(starts) >= window.turns else 0)
        )
        rest = rest[keep_from:]
    return head + tuple(_clip_observation(m, window.observation_chars) for m in rest)
