"""Cost of the SWE verifiers and of a repository episode, side by side in one run.

* ``swe_pivot``: NVIDIA's semantics on expert candidates against their own demonstration and a
  wrong call (pure Python): verdicts per second;
* ``swe_exec`` on ``docker`` and on ``bwrap``: the sampled call and the demonstration each run in
  a fresh sandbox holding the repository at the turn (the demonstration's effect cached after the
  first sample, as in profiling): seconds per verdict;
* ``episode``: one expert episode (5 tool calls + hidden tests) in one sandbox, per backend.

Writes ``benchmarks/results/swe_verifier.txt``. Needs the shared HumanEvalFix pack, a Docker engine
with the image (``pivotrl sandbox build``) and bubblewrap; a missing backend is reported and skipped.

    .venv/bin/python benchmarks/swe_verifier.py [--n 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

from pivotrl_swe.agents import ExpertAgent
from pivotrl_swe.episode import run_episode
from pivotrl_swe.extract import extract_swe
from pivotrl_swe.generate import generate_expert
from pivotrl_swe.tasks import load_tasks

from pivotrl_core import ExtractOptions, Message, ToolCall, get_registry, run_verifier

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "swe_verifier.txt"


def _median_ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10, help="sampled verdicts per backend")
    args = parser.parse_args()
    lines = [f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"]
    trajectories = list(generate_expert(2, seed=1, split="train", backend="docker"))
    cands = [c for t in trajectories for c in extract_swe(t, ExtractOptions(domain="swe"))]
    wrong = Message("assistant", tool_calls=(ToolCall("bash", {"command": "ls -la"}, id="w"),))
    pivot = get_registry().verifier("swe_pivot")
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < 2.0:
        for c in cands:
            run_verifier(pivot, c, c.expected)
            run_verifier(pivot, c, wrong)
            n += 2
    lines.append(f"swe_pivot: {n / (time.perf_counter() - start):,.0f} verdicts/s ({len(cands)} candidates)")
    target = next(c for c in cands if c.metadata["swe"]["final_edit"])
    for backend in ("docker", "bwrap"):
        ok, reason = get_registry().get("sandbox", backend).available()
        if not ok:
            lines.append(f"{backend}: skipped ({reason})")
            continue
        check = get_registry().verifier("swe_exec", backend=backend)
        times = []
        for _ in range(args.n):
            t = time.perf_counter()
            assert run_verifier(check, target, target.expected).passed
            times.append(time.perf_counter() - t)
        lines.append(
            f"swe_exec {backend} (final edit + hidden tests): first {times[0]:.2f} s, "
            f"then {_median_ms(times[1:])}"
        )
        (task,) = load_tasks(ids=["Python/0"])
        t = time.perf_counter()
        assert run_episode(task, ExpertAgent(task), backend=backend).resolved
        lines.append(f"episode {backend} (5 calls + hidden tests): {time.perf_counter() - t:.2f} s")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
