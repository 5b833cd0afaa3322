"""``pivotrl serve``: an OpenAI-compatible chat-completions server backed by :class:`HFPolicy`.

Endpoints: ``POST /v1/chat/completions`` (``messages``, ``tools``, ``n``, ``temperature``,
``top_p``, ``max_tokens``/``max_completion_tokens``, ``seed``, ``stop``) and ``GET /v1/models``.
Requests are handled on threads but reach the model one at a time (a lock). When the request
has ``tools``, ``<tool_call>`` blocks in the output are returned as ``tool_calls`` with
``finish_reason="tool_calls"``. Streaming is not supported (``stream: true`` gets a 400).
A prompt longer than the model context under the policy's context rule gets a 400 with code
``context_length_exceeded``. Binds to 127.0.0.1 by default.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .errors import InputError
from .policies.base import Completion, Prompt, SamplingParams
from .types import Message, ToolCall

__all__ = ["ChatServer", "create_server", "parse_chat_request", "serve_in_thread"]


class _RequestError(Exception):
    def __init__(self, status: int, message: str, code: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _content_text(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    raise _RequestError(400, "message content must be a string or a list of parts")


def _message(d: Any, i: int) -> Message:
    if not isinstance(d, Mapping) or not isinstance(d.get("role"), str):
        raise _RequestError(400, f"messages[{i}] must be an object with a 'role'")
    calls = []
    for j, c in enumerate(d.get("tool_calls") or []):
        fn = c.get("function") if isinstance(c, Mapping) else None
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise _RequestError(400, f"messages[{i}].tool_calls[{j}] needs function.name")
        calls.append(ToolCall.from_raw(fn["name"], fn.get("arguments"), id=c.get("id")))
    role = d["role"] if d["role"] != "developer" else "system"
    try:
        return Message(
            role=role,
            content=_content_text(d.get("content")),
            tool_calls=tuple(calls),
            tool_call_id=d.get("tool_call_id"),
            name=d.get("name") if role != "tool" else None,
        )
    except InputError as e:
        raise _RequestError(400, f"messages[{i}]: {e}") from None


def _float(body: Mapping[str, Any], key: str, default: float) -> float:
    return default if body.get(key) is None else float(body[key])


def parse_chat_request(body: Mapping[str, Any]) -> tuple[Prompt, int, SamplingParams]:
    """Turn a chat-completions request body into (prompt, n, sampling); raise on bad input."""
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise _RequestError(400, "'messages' must be a non-empty list")
    if body.get("stream"):
        raise _RequestError(400, "streaming is not supported by pivotrl serve; send stream=false")
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise _RequestError(400, "'tools' must be a list")
    stop = body.get("stop") or ()
    stop = (stop,) if isinstance(stop, str) else tuple(stop)
    try:
        n = 1 if body.get("n") is None else int(body["n"])
        sampling = SamplingParams(
            temperature=_float(body, "temperature", 1.0),
            top_p=_float(body, "top_p", 1.0),
            max_new_tokens=int(body.get("max_completion_tokens") or body.get("max_tokens") or 256),
            seed=None if body.get("seed") is None else int(body["seed"]),
            stop=stop,
        )
    except (TypeError, ValueError) as e:
        raise _RequestError(400, f"bad sampling parameter: {e}") from None
    if not 1 <= n <= 128:
        raise _RequestError(400, "'n' must be between 1 and 128")
    prompt = Prompt(messages=tuple(_message(m, i) for i, m in enumerate(msgs)), tools=tuple(tools))
    return prompt, n, sampling


def _choice(i: int, c: Completion, with_tools: bool) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": c.text}
    reason = c.finish_reason if c.finish_reason in ("stop", "length") else "stop"
    if with_tools and c.message.tool_calls:
        msg["content"] = c.message.content
        msg["tool_calls"] = [
            {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {"name": tc.name, "arguments": tc.arguments_json},
            }
            for tc in c.message.tool_calls
        ]
        reason = "tool_calls" if reason == "stop" else reason
    return {"index": i, "message": msg, "finish_reason": reason, "logprobs": None}


class ChatServer:
    """The request logic, independent of HTTP: one policy, one lock."""

    def __init__(self, policy: Any, model_name: str | None = None) -> None:
        self.policy = policy
        self.model_name = model_name or policy.model_id
        self.lock = threading.Lock()
        self.requests = 0

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": self.model_name, "object": "model", "owned_by": "pivotrl"}]}

    def chat(self, body: Mapping[str, Any]) -> dict[str, Any]:
        prompt, n, sampling = parse_chat_request(body)
        with self.lock:
            self.requests += 1
            completions = self.policy.sample([prompt], n, sampling)[0]
        if not completions:
            info = (
                self.policy.prepare(prompt, sampling.max_new_tokens).skip_reason
                if hasattr(self.policy, "prepare")
                else ""
            )
            raise _RequestError(
                400,
                f"the prompt exceeds the model's maximum context length ({info})",
                "context_length_exceeded",
            )
        info = completions[0].meta.get("context") or {}
        prompt_tokens = int(info.get("used_tokens") or 0)
        new_tokens = sum(len(c.token_ids or ()) for c in completions)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": [_choice(i, c, bool(prompt.tools)) for i, c in enumerate(completions)],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": new_tokens,
                "total_tokens": prompt_tokens + new_tokens,
            },
        }


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, code: str = "invalid_request_error") -> None:
        self._send(status, {"error": {"message": message, "type": code, "code": code, "param": None}})

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, self.server.app.models())
        else:
            self._error(404, f"no route {self.path}", "not_found")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no route {self.path}", "not_found")
            return
        try:
            body = json.loads(raw or b"null")
            if not isinstance(body, dict):
                raise _RequestError(400, "request body must be a JSON object")
            self._send(200, self.server.app.chat(body))
        except json.JSONDecodeError as e:
            self._error(400, f"invalid JSON body: {e.msg}")
        except _RequestError as e:
            self._error(e.status, e.message, e.code)
        except Exception as e:  # noqa: BLE001 - a failing request must not kill the server
            self._error(500, f"{type(e).__name__}: {e}", "server_error")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr: tuple[str, int], app: ChatServer, verbose: bool) -> None:
        super().__init__(addr, _Handler)
        self.app = app
        self.verbose = verbose


def create_server(
    policy: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    verbose: bool = False,
    model_name: str | None = None,
) -> _HTTPServer:
    """An HTTP server for ``policy`` (not started: call ``serve_forever()``). Port 0 picks one."""
    return _HTTPServer((host, port), ChatServer(policy, model_name), verbose)


def serve_in_thread(policy: Any, host: str = "127.0.0.1", port: int = 0) -> tuple[_HTTPServer, str]:
    """Start a server on a daemon thread; return it and its base URL (``.../v1``)."""
    server = create_server(policy, host, port)
    threading.Thread(target=server.serve_forever, daemon=True, name="pivotrl-serve").start()
    h, p = server.server_address[:2]
    return server, f"http://{h}:{p}/v1"
