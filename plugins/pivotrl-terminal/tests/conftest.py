"""Fixtures for the terminal plugin tests: NVIDIA's rows, sandbox backends, a loopback judge."""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TERMINUS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "nemo-gym" / "terminus_judge"


@pytest.fixture(scope="session")
def terminus_dir() -> Path:
    """NVIDIA's terminus_judge rows (../shared/data/nemo-gym/terminus_judge); skipped when absent."""
    if not TERMINUS.is_dir():
        pytest.skip(f"NeMo Gym terminus_judge data not found at {TERMINUS}")
    return TERMINUS


@pytest.fixture(
    params=[pytest.param("docker", marks=pytest.mark.docker), pytest.param("bwrap", marks=pytest.mark.bwrap)]
)
def backend(request: pytest.FixtureRequest) -> str:
    """Runs the test on each sandbox backend; one that is unavailable is skipped with its reason."""
    from pivotrl_sandboxes.testing import unavailable

    reason = unavailable(request.param)
    if reason:
        pytest.skip(f"{request.param} backend unavailable: {reason}")
    return request.param


class JudgeServer:
    """A real OpenAI-compatible HTTP server on loopback whose answers the test queues."""

    def __init__(self) -> None:
        self.answers: deque[str] = deque()
        self.prompts: list[str] = []
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.prompts.append(body["messages"][-1]["content"])
                server.requests.append(body)
                text = server.answers.popleft() if server.answers else "no answer queued"
                payload = {
                    "id": "cmpl-1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text},
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def options(self) -> dict[str, Any]:
        """``llm_judge`` options pointing at this server."""
        return {
            "model": "judge-test",
            "base_url": self.url,
            "api_key": "x",
            "max_retries": 0,
            "timeout": 10,
            "cache": False,
        }

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def judge_server() -> Iterator[JudgeServer]:
    server = JudgeServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def any_backend() -> str:
    """The backend ``auto`` picks here; skipped (with the reason) when there is none."""
    from pivotrl_core import ConfigError, resolve_backend

    try:
        return resolve_backend("auto")
    except ConfigError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def docker_ready() -> None:
    """Skip (with the reason) when no Docker engine or sandbox image is here."""
    from pivotrl_sandboxes.testing import unavailable

    reason = unavailable("docker")
    if reason:
        pytest.skip(f"docker backend unavailable: {reason}")
