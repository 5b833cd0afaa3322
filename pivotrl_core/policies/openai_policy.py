"""The ``openai`` rollout backend: any OpenAI-compatible chat-completions server.

vLLM, SGLang, a hosted API or ``pivotrl serve``. Tools are passed natively (``tools=``); tool
calls are read from the response's ``tool_calls`` or, when the server returns plain text,
parsed with :func:`~pivotrl_core.policies.chat.parse_completion` in the ``tool_format`` option's
syntax (default: Hermes ``<tool_call>{json}</tool_call>`` blocks, with bare/fenced JSON).
Requests run on an ``AsyncOpenAI`` client in the policy's own event loop (a background thread), at
most ``max_concurrency`` in flight (an ``asyncio`` semaphore), so one process keeps many requests
going to a remote vLLM/SGLang server;
``sample()`` stays synchronous and ``asample()`` serves async callers. The client retries
timeouts, 429 and 5xx answers ``max_retries`` times with backoff. A prompt that still fails
gets ``n`` completions with ``finish_reason="error"`` (profiling records them as errored, never
as a score of 0); a prompt the server rejects as too long for its context gets ``[]`` (skipped,
like the ``hf`` context rule).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from ..types import Message, ToolCall
from .base import Completion, Prompt, SamplingParams
from .chat import parse_completion, render_action
from .tool_formats import ToolCallFormat, get_tool_format

__all__ = ["EventLoopThread", "OpenAIPolicy", "to_openai_messages", "to_openai_tools"]

T = TypeVar("T")
_CONTEXT_MARKERS = ("context_length", "context length", "maximum context", "too long")


def to_openai_tools(tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tools in chat-completions form (``{"type": "function", "function": {...}}``)."""
    out = []
    for t in tools:
        if "function" in t:
            out.append({"type": "function", "function": t["function"]})
        else:
            fn = {k: t[k] for k in ("name", "description", "parameters", "strict") if k in t}
            out.append({"type": "function", "function": fn})
    return out


def to_openai_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Messages in chat-completions form; tool calls without ids get ``call_<i>_<j>`` ids."""
    out: list[dict[str, Any]] = []
    pending: list[str] = []  # ids of calls not answered yet, for tool messages without an id
    for i, m in enumerate(messages):
        d: dict[str, Any] = {"role": m.role, "content": m.content or ""}
        if m.tool_calls:
            calls = []
            for j, tc in enumerate(m.tool_calls):
                cid = tc.id or f"call_{i}_{j}"
                pending.append(cid)
                calls.append(
                    {
                        "id": cid,
                        "type": "function",
                        "function": {"name": tc.name, "arguments": tc.arguments_json},
                    }
                )
            d["tool_calls"] = calls
        if m.role == "tool":
            d["tool_call_id"] = m.tool_call_id or (pending.pop(0) if pending else f"call_{i}")
            if m.tool_call_id in pending:
                pending.remove(m.tool_call_id)
        if m.name and m.role != "tool":
            d["name"] = m.name
        out.append(d)
    return out


def _message_of(choice_message: Any, fmt: ToolCallFormat | None = None) -> Message:
    calls = getattr(choice_message, "tool_calls", None) or []
    content = getattr(choice_message, "content", None)
    if not calls:
        return parse_completion(content or "", fmt=fmt)
    parsed = tuple(
        ToolCall.from_raw(c.function.name, c.function.arguments, id=getattr(c, "id", None)) for c in calls
    )
    text = (content or "").strip() or None
    return Message(role="assistant", content=text, tool_calls=parsed)


def _text_of(choice_message: Any, message: Message, fmt: ToolCallFormat | None = None) -> str:
    """The raw text of a choice (native tool calls rendered in ``fmt``; Hermes when not given)."""
    if getattr(choice_message, "tool_calls", None):
        return render_action(message, fmt)
    return getattr(choice_message, "content", None) or ""


class EventLoopThread:
    """An asyncio event loop in a daemon thread: sync callers submit coroutines to it, so async
    clients (bound to one loop) are reused across calls. Shared by the policy and the LLM judge."""

    def __init__(self, name: str = "pivotrl-async") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result (from any thread but the loop's own)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
        if not self.loop.is_running():
            self.loop.close()


class OpenAIPolicy:
    """Sample assistant turns from an OpenAI-compatible server.

    ``base_url`` defaults to ``$OPENAI_BASE_URL``; ``api_key`` to ``$OPENAI_API_KEY`` (or
    ``"EMPTY"`` for local servers). ``max_concurrency`` bounds the requests in flight (default
    64). ``native_tools=False`` leaves ``tools`` out of the request (for servers without tool
    support; describe them in the system prompt yourself). ``client``: an ``AsyncOpenAI``-like
    client to use instead of building one. ``tool_format`` names the tool-call format of plain-text
    answers (:mod:`~pivotrl_core.policies.tool_formats`; default Hermes).
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        max_concurrency: int = 64,
        max_retries: int = 3,
        timeout: float = 120.0,
        native_tools: bool = True,
        client: Any = None,
        tool_format: str | None = None,
    ) -> None:
        self._model = model
        self.tool_format = get_tool_format(tool_format) if tool_format else None
        self.max_concurrency = max(1, int(max_concurrency))
        self.native_tools = native_tools
        self._runner = EventLoopThread("pivotrl-openai")
        if client is None:
            import openai

            client = openai.AsyncOpenAI(  # its pool (1000 connections) is wider than any semaphore here
                base_url=base_url or os.environ.get("OPENAI_BASE_URL"),
                api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
                max_retries=int(max_retries),
                timeout=float(timeout),
            )
        self.client = client
        self.stats = {"requests": 0, "errors": 0, "skipped": 0, "max_in_flight": 0}
        self._in_flight = 0

    @property
    def model_id(self) -> str:
        return self._model

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close is not None and self._runner.loop.is_running():
            result = close()
            if asyncio.iscoroutine(result):
                self._runner.run(result)
        self._runner.close()

    def sample(self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams) -> list[list[Completion]]:
        """``n`` completions per prompt, up to ``max_concurrency`` requests in flight."""
        return self._runner.run(self.asample(prompts, n, sampling))

    async def asample(
        self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams
    ) -> list[list[Completion]]:
        """:meth:`sample` for callers in an event loop (must be the policy's loop when the client
        was built by the policy: use :meth:`sample` from other loops)."""
        gate = asyncio.Semaphore(self.max_concurrency)
        return list(await asyncio.gather(*(self._one(p, n, sampling, gate) for p in prompts)))

    def _request(self, prompt: Prompt, n: int, sampling: SamplingParams) -> dict[str, Any]:
        req: dict[str, Any] = {
            "model": self._model,
            "messages": to_openai_messages(prompt.messages),
            "n": n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_new_tokens,
        }
        if sampling.seed is not None:
            req["seed"] = sampling.seed
        if sampling.stop:
            req["stop"] = list(sampling.stop)
        if prompt.tools and self.native_tools:
            req["tools"] = to_openai_tools(prompt.tools)
        return req

    async def _create(self, req: dict[str, Any], gate: asyncio.Semaphore) -> Any:
        async with gate:
            self.stats["requests"] += 1
            self._in_flight += 1
            self.stats["max_in_flight"] = max(self.stats["max_in_flight"], self._in_flight)
            try:
                return await self.client.chat.completions.create(**req)
            finally:
                self._in_flight -= 1

    async def _one(
        self, prompt: Prompt, n: int, sampling: SamplingParams, gate: asyncio.Semaphore
    ) -> list[Completion]:
        import openai

        out: list[Completion] = []
        while len(out) < n:  # some servers ignore n: ask again for the rest
            try:
                resp = await self._create(self._request(prompt, n - len(out), sampling), gate)
            except openai.BadRequestError as e:
                if getattr(e, "code", None) == "context_length_exceeded" or any(
                    mk in str(e).lower() for mk in _CONTEXT_MARKERS
                ):
                    self.stats["skipped"] += 1
                    return []
                return out + self._errors(n - len(out), e)
            except openai.OpenAIError as e:
                return out + self._errors(n - len(out), e)
            if not resp.choices:
                return out + self._errors(n - len(out), RuntimeError("server returned no choices"))
            for ch in resp.choices[: n - len(out)]:
                msg = _message_of(ch.message, self.tool_format)
                reason = "length" if ch.finish_reason == "length" else "stop"
                text = _text_of(ch.message, msg, self.tool_format)
                out.append(Completion(text=text, message=msg, finish_reason=reason))
        return out

    def _errors(self, k: int, exc: BaseException) -> list[Completion]:
        self.stats["errors"] += 1
        err = f"{type(exc).__name__}: {exc}"
        empty = Message(role="assistant", content=None)
        return [
            Completion(text="", message=empty, finish_reason="error", meta={"error": err}) for _ in range(k)
        ]
