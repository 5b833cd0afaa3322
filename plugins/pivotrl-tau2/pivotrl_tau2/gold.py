"""Scripted reference policies for the solo benchmark: tau2's gold actions, or talk only.

``tau2-gold`` plays the episode's task's gold actions in order (one call per turn) and then
calls ``done``. ``tau2-talk``
only ever answers with text. They bound the benchmark from above and below.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pivotrl_core import Completion, Message, Prompt, SamplingParams, ToolCall

from .spec import domain_spec

__all__ = ["GoldPolicy", "TalkPolicy"]


class GoldPolicy:
    """Plays a task's gold actions in order (one call per turn), then calls ``done`` (solo) or
    says the task's required information (``communicate_info``) to the user.

    The benchmark hands each episode's task to :meth:`bind_task` (solo tickets are shared by
    many tasks, so the prompt alone does not name the task). Unbound, it only talks.
    """

    name = "tau2-gold"

    def __init__(
        self, domain: str = "tau2-telecom", model: str | None = None, task: Any = None, **_: Any
    ) -> None:
        self.domain = domain
        self.task = task

    def bind_task(self, task: Any) -> GoldPolicy:
        """The same policy, playing ``task``."""
        return GoldPolicy(self.domain, task=task)

    @property
    def model_id(self) -> str:
        return f"tau2-gold:{self.domain}"

    def _next(self, prompt: Prompt) -> Message:
        crit = getattr(self.task, "evaluation_criteria", None)
        if crit is None:
            return Message("assistant", content="I do not know this task.")
        done = sum(len(m.tool_calls) for m in prompt.messages if m.role == "assistant")
        actions = crit.actions or []
        if done >= len(actions) and domain_spec(self.domain).solo:
            return Message("assistant", tool_calls=(ToolCall("done", {}),))
        if done >= len(actions):  # with a user: say what the task requires to be said
            return Message("assistant", content=" ".join(["Done.", *(crit.communicate_info or [])]))
        a = actions[done]
        return Message("assistant", tool_calls=(ToolCall(a.name, dict(a.arguments)),))

    def sample(self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams) -> list[list[Completion]]:
        out = []
        for p in prompts:
            msg = self._next(p)
            out.append([Completion(text=msg.content or "", message=msg) for _ in range(n)])
        return out

    def close(self) -> None:
        return None


class TalkPolicy:
    """Always answers with the same sentence and never calls a tool."""

    name = "tau2-talk"

    def __init__(
        self, text: str = "I have looked into your request and everything is fine now.", **_: Any
    ) -> None:
        self.text = text

    @property
    def model_id(self) -> str:
        return "tau2-talk"

    def sample(self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams) -> list[list[Completion]]:
        msg = Message("assistant", content=self.text)
        return [[Completion(text=self.text, message=msg) for _ in range(n)] for _ in prompts]

    def close(self) -> None:
        return None
