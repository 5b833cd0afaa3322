"""Concurrent endpoints: the ``openai`` policy and the ``llm_judge`` against a loopback server that
answers every chat-completions request after a fixed delay (in its own process).

With N requests in flight the ideal throughput is N / delay; the check is throughput >= 0.8 x that
for N up to 64, side by side with the serial client (N = 1), in one run.

Run: ``.venv/bin/python benchmarks/concurrency.py`` (writes benchmarks/results/concurrency.txt).
``python benchmarks/concurrency.py serve --delay 4`` runs the server alone (prints its URL).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pivotrl_core.policies.base import Prompt, SamplingParams  # noqa: E402
from pivotrl_core.policies.openai_policy import OpenAIPolicy  # noqa: E402
from pivotrl_core.types import Candidate, Message  # noqa: E402
from pivotrl_core.verifiers.llm_judge import LLMJudgeVerifier  # noqa: E402

LEVELS = (1, 4, 16, 64)
TARGET = 0.8


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 64 clients connect at once: the default backlog (5) drops SYNs


def _handler(delay: float) -> type[BaseHTTPRequestHandler]:
    state = {"in_flight": 0, "max_in_flight": 0, "requests": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - GET /stats: requests and the most in flight at once
            with lock:
                self._send(dict(state))
                state["max_in_flight"] = 0

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            with lock:
                state["requests"] += 1
                state["in_flight"] += 1
                state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
            time.sleep(delay)
            with lock:
                state["in_flight"] -= 1
            n = int(body.get("n", 1))
            choice = {"message": {"role": "assistant", "content": "YES"}, "finish_reason": "stop"}
            doc = {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "m"),
                "choices": [{**choice, "index": i} for i in range(n)],
            }
            self._send(doc)

        def _send(self, doc: dict) -> None:
            data = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def serve(delay: float, port: int = 0) -> None:
    """Serve forever on 127.0.0.1 (prints ``URL http://...`` first, for the parent process)."""
    server = _Server(("127.0.0.1", port), _handler(delay))
    print(f"URL http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    server.serve_forever()


class DelayServer:
    """The delay server in a child process (``with DelayServer(0.5) as url: ...``)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> str:
        cmd = [sys.executable, __file__, "serve", "--delay", str(self.delay)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("URL "):
            self.proc.kill()
            raise RuntimeError(f"delay server did not start: {line!r}")
        return line.split()[1]

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


def server_stats(url: str) -> dict:
    """The server's counters (``max_in_flight`` since the last call, then reset)."""
    import urllib.request

    with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/stats", timeout=10) as resp:
        return json.loads(resp.read())


def policy_throughput(url: str, n_flight: int, rounds: int = 3) -> tuple[float, float]:
    """Requests per second of the ``openai`` policy with ``n_flight`` in flight, client CPU ms each."""
    pol = OpenAIPolicy("bench", base_url=url, max_concurrency=n_flight, max_retries=0, timeout=60)
    prompts = [Prompt((Message("user", f"hi {i}"),)) for i in range(n_flight * rounds)]
    try:
        pol.sample(prompts[:n_flight], 1, SamplingParams(max_new_tokens=4))  # connect (not timed)
        server_stats(url)
        start, cpu = time.perf_counter(), time.process_time()
        out = pol.sample(prompts, 1, SamplingParams(max_new_tokens=4))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        pol.close()
    assert all(c[0].finish_reason == "stop" for c in out), "the policy got errors from the server"
    return len(prompts) / elapsed, cpu * 1000 / len(prompts)


def judge_throughput(url: str, n_flight: int, rounds: int = 3) -> tuple[float, float]:
    """Verdicts per second of ``llm_judge.verify_batch`` with ``n_flight`` calls in flight, CPU ms each."""
    judge = LLMJudgeVerifier(
        model="bench", base_url=url, cache=False, max_concurrency=n_flight, max_retries=0
    )
    expected = Message("assistant", "yes")
    pairs = [
        (
            Candidate(f"c{i}", "generic", "t", 1, (Message("user", "q"),), expected),
            Message("assistant", f"a{i}"),
        )
        for i in range(n_flight * (rounds + 1))
    ]
    try:
        judge.verify_batch(pairs[:n_flight])  # connect (not timed)
        server_stats(url)
        start, cpu = time.perf_counter(), time.process_time()
        verdicts = judge.verify_batch(pairs[n_flight:])
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        judge.close()
    assert all(v.passed for v in verdicts), "the judge got errors from the server"
    return len(verdicts) / elapsed, cpu * 1000 / len(verdicts)


def run(delay: float, levels: tuple[int, ...] = LEVELS, rounds: int = 2) -> list[str]:
    lines = [
        f"concurrency benchmark: loopback server (own process) answering after {delay:.2f} s;",
        f"ideal throughput with N in flight = N / delay; target ratio >= {TARGET} (N = 1: serial client)",
        f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; client CPU per request"
        " (ms) and the most requests the server saw in flight at once are shown",
        f"{'client':<12} {'N':>4} {'req/s':>9} {'ideal':>9} {'ratio':>7} {'vs serial':>10} {'cpu ms':>7}"
        f" {'seen':>5}  ok",
    ]
    with DelayServer(delay) as url:
        for name, fn in (("openai", policy_throughput), ("llm_judge", judge_throughput)):
            serial = None
            for n in levels:
                rps, cpu_ms = fn(url, n, rounds)
                seen = server_stats(url)["max_in_flight"]
                serial = serial or rps
                ratio = rps / (n / delay)
                ok = "yes" if ratio >= TARGET else "NO"
                cells = f"{rps:>9.1f} {n / delay:>9.1f} {ratio:>7.2f} {rps / serial:>9.1f}x"
                lines.append(f"{name:<12} {n:>4} {cells} {cpu_ms:>7.1f} {seen:>5}  {ok}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", nargs="?", default="bench", choices=["bench", "serve"])
    ap.add_argument("--delay", type=float, default=4.0)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "concurrency.txt")
    args = ap.parse_args()
    if args.mode == "serve":
        serve(args.delay, args.port)
        return
    lines = run(args.delay)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
