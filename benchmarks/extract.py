"""Benchmark ``pivotrl extract`` on a generated ~1 GB OpenAI-chat JSONL file.

Measures trajectories/s, candidates/s and peak RSS of ``pivotrl extract`` (a subprocess, peak
RSS from ``wait4``), and runs two peers side by side on the same slice of the input:

* ``naive``: ``json.loads`` of every line into a list first, then parse and write each
  candidate with ``json.dumps(candidate.to_dict())`` (what a first script does);
* ``stream+to_dict``: streaming like pivotrl, but serialising each candidate from scratch
  (no shared-prefix encoding), to show what :class:`CandidateEncoder` buys.

All three must write byte-identical output on the slice. The generated input is deleted
afterwards. Results go to ``benchmarks/results/extract.txt``.

    .venv/bin/python benchmarks/extract.py [--size-mb 1024] [--peer-mb 128]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIVOTRL = str(Path(sys.executable).with_name("pivotrl"))
RESULTS = ROOT / "benchmarks" / "results" / "extract.txt"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name.replace('_', ' ')} tool",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
        },
    }
    for name in ("find_order", "get_user", "cancel_order", "refund", "transfer_to_human")
]
WORDS = [
    "order",
    "refund",
    "account",
    "shipping",
    "address",
    "payment",
    "card",
    "delivery",
    "late",
    "broken",
    "item",
    "size",
    "color",
    "return",
    "policy",
    "customer",
    "please",
    "thanks",
    "status",
    "tracking",
    "number",
    "email",
    "confirm",
]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _trajectory(rng: random.Random, i: int) -> dict:
    """System + user + 2-10 (call, output) rounds (the second a 2-call batch) + a final answer."""
    msgs = [
        {"role": "system", "content": "You are a support agent. " + _text(rng, 250)},
        {"role": "user", "content": _text(rng, 40)},
    ]
    for r in range(rng.randint(2, 10)):
        n_calls = 2 if r == 1 else 1
        calls = [
            {
                "id": f"c{r}{k}",
                "type": "function",
                "function": {
                    "name": rng.choice(TOOLS)["function"]["name"],
                    "arguments": json.dumps({"id": f"O{rng.randint(1000, 9999)}", "note": _text(rng, 5)}),
                },
            }
            for k in range(n_calls)
        ]
        msgs.append(
            {"role": "assistant", "content": None, "reasoning_content": _text(rng, 30), "tool_calls": calls}
        )
        msgs += [{"role": "tool", "tool_call_id": c["id"], "content": _text(rng, 60)} for c in calls]
    msgs.append({"role": "assistant", "content": _text(rng, 50)})
    return {"id": f"traj-{i}", "messages": msgs, "tools": TOOLS}


def generate(path: Path, size_mb: int) -> tuple[int, int]:
    """Write about ``size_mb`` MB of trajectories (1,000 distinct templates, fresh ids)."""
    rng = random.Random(0)
    templates = [json.dumps(_trajectory(rng, 0)) for _ in range(1000)]
    target, written, n = size_mb * 1024 * 1024, 0, 0
    with open(path, "w") as fh:
        while written < target:
            line = templates[n % len(templates)].replace('"traj-0"', f'"traj-{n}"', 1) + "\n"
            fh.write(line)
            written += len(line)
            n += 1
    return n, written


def head(src: Path, dst: Path, size_mb: int) -> None:
    """The first ``size_mb`` MB of ``src`` (whole lines)."""
    target, written = size_mb * 1024 * 1024, 0
    with open(src) as fin, open(dst, "w") as fout:
        for line in fin:
            if written >= target:
                break
            fout.write(line)
            written += len(line)


NAIVE = """
import json, sys
from pivotrl_core.formats.openai_chat import OpenAIChatFormat
from pivotrl_core.domains import candidate_at
rows = [json.loads(line) for line in open(sys.argv[1])]          # everything in memory first
fmt = OpenAIChatFormat()
with open(sys.argv[2], "w") as out:
    for i, row in enumerate(rows):
        (t,) = fmt.parse(row, i)
        for k, m in enumerate(t.messages):
            if m.role == "assistant" and not m.is_empty:
                out.write(json.dumps(candidate_at(t, k, "generic").to_dict(), ensure_ascii=False,
                                     separators=(",", ":")) + "\\n")
"""

STREAM = """
import json, sys
from pivotrl_core.formats import read_trajectories
from pivotrl_core.extract import ExtractOptions, default_extractor
with open(sys.argv[2], "w") as out:
    for t in read_trajectories(sys.argv[1], format="openai"):
        for c in default_extractor(t, ExtractOptions()):
            out.write(json.dumps(c.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\\n")
"""


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """Run a command; return (wall seconds, CPU seconds, peak RSS in MB).

    CPU time (user + system, from ``wait4``) is what throughputs are computed from: it is far
    less sensitive than wall time to other jobs sharing the machine's cores.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[:3]} failed: {proc.stderr.read().decode()[-2000:]}")
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def run(size_mb: int, peer_mb: int) -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory(prefix="pivotrl-bench-") as tmp:
        tmpd = Path(tmp)
        big, small = tmpd / "big.jsonl", tmpd / "small.jsonl"
        n_traj, n_bytes = generate(big, size_mb)
        head(big, small, peer_mb)
        n_small = count_lines(small)
        lines.append(
            f"input: {n_bytes / 2**20:.0f} MB, {n_traj} OpenAI-chat trajectories "
            f"(3-11 assistant turns each); peer slice: {peer_mb} MB, {n_small} trajectories"
        )
        results = {}
        for name, cmd in [
            (
                "pivotrl extract",
                [PIVOTRL, "extract", str(small), "-o", str(tmpd / "a.jsonl"), "--format", "openai"],
            ),
            ("stream+to_dict", [sys.executable, "-c", STREAM, str(small), str(tmpd / "b.jsonl")]),
            ("naive", [sys.executable, "-c", NAIVE, str(small), str(tmpd / "c.jsonl")]),
        ]:
            results[name] = timed(cmd)
        outs = [tmpd / f"{x}.jsonl" for x in "abc"]
        same = len({digest(p) for p in outs}) == 1
        n_cand = count_lines(outs[0])
        out_mb = outs[0].stat().st_size / 2**20
        lines.append(
            f"\nslice ({peer_mb} MB in, {out_mb:.0f} MB of candidates out; outputs identical: {same})"
        )
        lines.append("(throughput per CPU second; 'time x' = CPU time relative to pivotrl extract)")
        lines.append(
            f"{'peer':<18}{'wall s':>8}{'CPU s':>8}{'traj/s':>9}{'cand/s':>9}{'peak RSS MB':>13}"
            f"{'time x':>8}{'RSS x':>7}"
        )
        _, base_cpu, base_rss = results["pivotrl extract"]
        for name, (wall, cpu, rss) in results.items():
            lines.append(
                f"{name:<18}{wall:>8.1f}{cpu:>8.1f}{n_small / cpu:>9.0f}{n_cand / cpu:>9.0f}{rss:>13.0f}"
                f"{cpu / base_cpu:>8.2f}{rss / base_rss:>7.1f}"
            )
        for p in outs:
            p.unlink()
        wall, cpu, rss = timed(
            [PIVOTRL, "extract", str(big), "-o", str(tmpd / "all.jsonl"), "--format", "openai"]
        )
        n_all = count_lines(tmpd / "all.jsonl")
        size_out = (tmpd / "all.jsonl").stat().st_size / 2**30
        lines.append(
            f"\nfull input ({n_bytes / 2**20:.0f} MB) with pivotrl extract: "
            f"{wall:.1f} s wall, {cpu:.1f} s CPU; "
            f"per CPU second: {n_traj / cpu:.0f} trajectories, {n_all / cpu:.0f} candidates, "
            f"{n_bytes / 2**20 / cpu:.1f} MB in; {n_all} candidates, {size_out:.2f} GB out; "
            f"peak RSS {rss:.0f} MB"
        )
        lines.append(f"bounded memory (< 300 MB): {'yes' if rss < 300 else 'NO'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--peer-mb", type=int, default=128)
    args = parser.parse_args()
    header = [
        f"# benchmarks/extract.py  ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]})"
    ]
    lines = header + run(args.size_mb, args.peer_mb)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
