"""BrowseComp: the published encryption, and grading by the llm_judge verifier on a loopback server."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pivotrl_web.browsecomp import browsecomp_benchmark, decrypt, encrypt, read_problems

from pivotrl_core import Completion, ConfigError, InputError, Message, Prompt, SamplingParams, ToolCall

CANARY = "BROWSECOMP-TEST-CANARY guid 0f1e2d3c"
ROWS = [  # (question, answer); the third one makes the judge server fail
    ("Which planet of the fixture corpus is red", "Mars"),
    ("Which planet of the fixture corpus has rings", "Saturn"),
    ("Which planet of the fixture corpus is [judge-fault] blue?", "Neptune"),
    ("Which planet is hot", "Mercury"),  # the corpus says Venus: a wrong answer, graded INCORRECT
]
DOCS = [
    {"id": "d1", "title": "Mars", "content": "Mars\nThe planet of the fixture corpus that is red and dusty"},
    {"id": "d2", "title": "Saturn", "content": "Saturn\nThe planet of the fixture corpus with rings."},
    {"id": "d3", "title": "Neptune", "content": "Neptune\nThe blue planet, far out."},
    {"id": "d4", "title": "Venus", "content": "Venus\nA hot planet."},
]


def _block(prompt: str, name: str) -> str:
    m = re.search(rf"<<<{name} (\w*)>>>\n(.*?)\n<<<END {name} \1>>>", prompt, re.DOTALL)
    return json.loads(m.group(2)) if m else ""


class _Judge(BaseHTTPRequestHandler):
    """OpenAI chat-completions: CORRECT when the response contains the correct answer; 500 on a fault."""

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        if "[judge-fault]" in prompt:
            self.send_response(500)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            return
        answer, response = _block(prompt, "ACTION_A"), _block(prompt, "ACTION_B")
        verdict = "CORRECT" if answer and answer.lower() in response.lower() else "INCORRECT"
        out = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": verdict},
                        "finish_reason": "stop",
                    }
                ],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


@pytest.fixture()
def judge_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()
        server.server_close()


class Reader:
    """Searches with the question, opens the top hit, answers with its first line."""

    name = model_id = "reader"

    def sample(self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams) -> list[list[Completion]]:
        out = []
        for p in prompts:
            last = p.messages[-1]
            if last.role == "user":
                msg = Message(
                    "assistant",
                    tool_calls=(ToolCall("search", {"query": last.content.split("\n")[0], "k": 3}),),
                )
            elif last.content.startswith("# "):
                first = last.content.split("\n\n", 1)[1].split("\n")[0]
                msg = Message("assistant", content=f"Explanation: from the corpus.\nExact Answer: {first}")
            elif last.content.startswith("d"):
                msg = Message(
                    "assistant", tool_calls=(ToolCall("open", {"doc_id": last.content.split(" | ")[0]}),)
                )
            else:
                msg = Message("assistant", content="Exact Answer: unknown")
            out.append([Completion(text="", message=msg)])
        return out

    def close(self) -> None:
        return None


def _fixture(tmp_path):
    path = tmp_path / "browse_comp_test_set.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["problem", "answer", "canary"])
        for q, a in ROWS:
            w.writerow([encrypt(q, CANARY), encrypt(a, CANARY), CANARY])
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    return path, corpus


def test_published_scheme_round_trips_and_hides_the_text():
    secret = encrypt("What is the answer? Ünïcode too.", CANARY)
    assert "answer" not in secret and decrypt(secret, CANARY) == "What is the answer? Ünïcode too."
    with pytest.raises(UnicodeDecodeError):  # the wrong canary gives bytes, not the text
        decrypt(secret, "another canary")
    # the key stream is the canary's SHA-256 digest, repeated: byte i is XORed with digest[i % 32]
    digest = hashlib.sha256(CANARY.encode()).digest()
    text = "x" * 70
    raw = base64.b64decode(encrypt(text, CANARY))
    assert [b ^ ord("x") for b in raw] == [digest[i % 32] for i in range(70)]


def test_decrypt_grade_and_count_judge_faults_as_errored(tmp_path, judge_url):
    csv_path, corpus = _fixture(tmp_path)
    assert [p.answer for p in read_problems(csv_path)] == ["Mars", "Saturn", "Neptune", "Mercury"]
    result = browsecomp_benchmark(
        Reader(),
        csv_path=str(csv_path),
        corpus=str(corpus),
        judge={"model": "judge", "base_url": judge_url, "api_key": "x", "max_retries": 0, "cache": False},
    )
    correct = [p["correct"] for p in result["problems"]]
    assert correct == [True, True, None, False]
    assert result["n_errored"] == 1 and result["n_correct"] == 2 and result["accuracy"] == 2 / 3
    assert "500" in result["problems"][2]["error"]


def test_bad_csv_names_file_line_and_field(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(f"problem,answer,canary\n{encrypt('q', CANARY)},not-base64!!,{CANARY}\n")
    with pytest.raises(InputError) as err:
        read_problems(path)
    assert err.value.line == 2 and err.value.field == "answer"
    with pytest.raises(ConfigError):
        browsecomp_benchmark(Reader(), csv_path=str(path))
