"""The scripted tool-use expert as a rollout policy (``tool-use-expert``)."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from typing import Any

from pivotrl_core import Completion, Prompt, SamplingParams, render_action

from .expert import decide

__all__ = ["ExpertPolicy"]


class ExpertPolicy:
    """The scripted expert as a :class:`pivotrl_core.Policy` (``n`` samples vary the wording)."""

    name = "tool-use-expert"

    def __init__(self, model: str = "tool-use-expert", seed: int = 0, **_: Any) -> None:
        self.model = model
        self.seed = seed

    @property
    def model_id(self) -> str:
        return "tool-use-expert"

    def _rng(self, prompt: Prompt, sampling: SamplingParams, k: int) -> random.Random:
        blob = json.dumps([m.to_dict() for m in prompt.messages], sort_keys=True)
        digest = hashlib.sha256(f"{self.seed}/{sampling.seed}/{k}/{blob}".encode()).hexdigest()
        return random.Random(digest)

    def sample(self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams) -> list[list[Completion]]:
        out = []
        for prompt in prompts:
            group = []
            for k in range(n):
                message, note = decide(prompt.messages, self._rng(prompt, sampling, k))
                group.append(
                    Completion(
                        text=render_action(message),
                        message=message,
                        meta={"annotation": note} if note else {},
                    )
                )
            out.append(group)
        return out

    def close(self) -> None:
        return None
