"""Per-command latency of the sandbox backends, side by side in one run.

Each method runs the same command (``echo hi``) with the same limits (no network, 256 MB, 64
processes, read-only root, 64 MB writable work dir, no capabilities, non-root):

* ``docker run (CLI, cold)``: ``docker run --rm ...`` per command, the usual way to sandbox;
* ``warm pool``: acquire a reset container from pivotrl's pool, run, release (the reset happens
  in the background): the latency a caller sees per command;
* ``warm pool, reset waited for``: the same plus waiting for the reset: the full work per use;
* ``warm pool, exec only``: a command in an already open pooled sandbox;
* ``bwrap``: open a bubblewrap sandbox, run, close (cgroups and tmpfs quotas when root);
* ``bwrap, exec only``: a command in an already open bwrap sandbox.

Prints median and p95 per method and the ratio cold / warm pool (goal: >= 4x). Writes
``benchmarks/results/sandbox.txt``. Needs a Docker engine with the image (``pivotrl sandbox
build``) and bubblewrap; a missing backend is reported and skipped.

    .venv/bin/python benchmarks/sandbox.py [--n 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from pivotrl_core.sandbox import SandboxSpec

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sandbox.txt"
SPEC = SandboxSpec(memory_mb=256, pids=64, disk_mb=64, timeout_s=10)
COMMAND = "echo hi"


def _cold_argv() -> list[str]:
    s = SPEC
    return [
        "docker", "run", "--rm", "--network", "none", "--memory", f"{s.memory_mb}m", "--memory-swap",
        f"{s.memory_mb}m", "--pids-limit", str(s.pids), "--cpus", str(s.cpus), "--read-only",
        "--tmpfs", f"{s.workdir}:rw,exec,size={s.disk_mb}m,uid=1000,gid=1000", "--tmpfs", "/tmp:rw,size=32m",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--user", "1000:1000",
        "--label", "pivotrl.sandbox=bench", "-w", s.workdir, s.image, "bash", "-c", COMMAND,
    ]  # fmt: skip


def _time(fn: Callable[[], None], n: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _cold() -> None:
    res = subprocess.run(_cold_argv(), capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout == "hi\n", res.stderr


def _pooled(pool_size: int) -> Callable[[], None]:
    from pivotrl_sandboxes import DockerSandbox

    def run() -> None:
        with DockerSandbox(SPEC, pool_size=pool_size) as box:
            assert box.run(COMMAND).stdout == "hi\n"

    return run


def _pooled_settled(pool_size: int) -> Callable[[], None]:
    from pivotrl_sandboxes import DockerSandbox

    def run() -> None:
        with DockerSandbox(SPEC, pool_size=pool_size) as box:
            assert box.run(COMMAND).stdout == "hi\n"
        box.pool.settle()  # wait for the reset too: the full cost of one use

    return run


def _exec_only(box: object) -> Callable[[], None]:
    def run() -> None:
        assert box.run(COMMAND).stdout == "hi\n"  # type: ignore[attr-defined]

    return run


def _bwrap() -> None:
    from pivotrl_sandboxes import BwrapSandbox

    with BwrapSandbox(SPEC) as box:
        assert box.run(COMMAND).stdout == "hi\n"


def _stats(name: str, xs: list[float]) -> dict[str, float | str | int]:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
    return {"method": name, "n": len(xs), "median_ms": statistics.median(xs) * 1000, "p95_ms": p95 * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="commands per method")
    parser.add_argument("--pool-size", type=int, default=4)
    args = parser.parse_args()
    from pivotrl_sandboxes import BwrapSandbox, DockerSandbox, close_pools, get_pool

    rows, notes = [], []
    ok, why = DockerSandbox.available()
    if ok:
        rows.append(_stats("docker run (CLI, cold)", _time(_cold, args.n)))
        get_pool(SPEC, args.pool_size).warm()
        rows.append(_stats("warm pool (acquire+run+release)", _time(_pooled(args.pool_size), args.n)))
        rows.append(_stats("warm pool, reset waited for", _time(_pooled_settled(args.pool_size), args.n)))
        with DockerSandbox(SPEC, pool_size=args.pool_size) as box:
            rows.append(_stats("warm pool, exec only", _time(_exec_only(box), args.n)))
        close_pools()
    else:
        notes.append(f"docker skipped: {why}")
    ok, why = BwrapSandbox.available()
    if ok:
        rows.append(_stats("bwrap (open+run+close)", _time(_bwrap, args.n)))
        with BwrapSandbox(SPEC) as box:
            rows.append(_stats("bwrap, exec only", _time(_exec_only(box), args.n)))
    else:
        notes.append(f"bwrap skipped: {why}")
    _report(rows, notes, args)


def _report(rows: list[dict], notes: list[str], args: argparse.Namespace) -> None:
    lines = [
        f"# sandbox latency per command ({COMMAND!r}), {args.n} runs each, {platform.node()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}; load average {os.getloadavg()[0]:.1f}",
        f"{'method':<34} {'median ms':>10} {'p95 ms':>10}",
    ]
    lines += [f"{r['method']:<34} {r['median_ms']:>10.1f} {r['p95_ms']:>10.1f}" for r in rows]
    by = {r["method"]: r for r in rows}
    cold, warm = by.get("docker run (CLI, cold)"), by.get("warm pool (acquire+run+release)")
    if cold and warm:
        ratio = cold["median_ms"] / warm["median_ms"]
        lines.append(
            f"cold docker run / warm pool (median): {ratio:.1f}x  "
            f"(goal >= 4x: {'met' if ratio >= 4 else 'NOT met'})"
        )
        lines.append(f"cold docker run / warm pool (p95):    {cold['p95_ms'] / warm['p95_ms']:.1f}x")
    bw = by.get("bwrap (open+run+close)")
    if cold and bw:
        lines.append(f"cold docker run / bwrap (median):     {cold['median_ms'] / bw['median_ms']:.1f}x")
    settled = by.get("warm pool, reset waited for")
    if cold and settled:
        lines.append(
            "cold docker run / warm pool incl. reset (median): "
            f"{cold['median_ms'] / settled['median_ms']:.1f}x"
        )
    lines += notes
    text = "\n".join(lines) + "\n"
    print(text, end="")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
