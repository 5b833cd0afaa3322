"""Samples/s of ``pivotrl profile`` (hf backend) against two peers, same model, same prompts, same run.

* naive: a loop that calls ``model.generate`` once per sample (one prompt, one sample at a time);
* ceiling: ONE batched ``model.generate`` over all prompts with ``num_return_sequences=K``;
* ours: ``profile_candidates`` with the ``hf`` policy (sampling + verification + durable rows),
  and the bare ``HFPolicy.sample`` call for reference.

All use temperature 1, top-p 1 (no top-k), stop at the end of the assistant turn and the same
``max_new_tokens``. Rounds are interleaved and the best round of each is kept (the machine is
shared). Goal (issue 4): ours >= 3x naive and >= 85% of the ceiling. Writes
``benchmarks/results/profiling.txt``.

    .venv/bin/python benchmarks/profiling.py [--model smollm2-135m] [--prompts 4] [--k 8]
        [--max-new-tokens 32] [--rounds 2] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from pivotrl_core.jsonl import write_jsonl  # noqa: E402
from pivotrl_core.plugins import get_registry  # noqa: E402
from pivotrl_core.policies.base import Prompt, SamplingParams  # noqa: E402
from pivotrl_core.policies.chat import render_prompt  # noqa: E402
from pivotrl_core.policies.hf import HFPolicy  # noqa: E402
from pivotrl_core.profile import ProfileConfig, profile_candidates  # noqa: E402
from pivotrl_core.types import Candidate, Message, ToolCall  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "profiling.txt"
TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "description": "Look up an order by id.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "cancel_order",
            "description": "Cancel an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
)


def make_candidates(n: int) -> list[Candidate]:
    out = []
    for i in range(n):
        msgs = (
            Message("system", "You are a customer service agent. Authenticate the user before any change."),
            Message("user", f"Hi, I am user {i}. My order W{i}42 has not arrived, can you check it?"),
        )
        expected = Message("assistant", tool_calls=(ToolCall("get_order", {"order_id": f"W{i}42"}),))
        out.append(Candidate(f"bench{i}:2", "generic", f"bench{i}", 2, msgs, expected, TOOLS))
    return out


def naive(pol: HFPolicy, prompts: list[Prompt], k: int, new: int) -> int:
    """One ``generate`` call per sample."""
    n = 0
    for p in prompts:
        enc = pol.tokenizer(
            render_prompt(pol.tokenizer, p.messages, p.tools), return_tensors="pt", add_special_tokens=False
        )
        for _ in range(k):
            pol.model.generate(
                **enc,
                do_sample=True,
                temperature=1.0,
                top_p=1.0,
                top_k=0,
                max_new_tokens=new,
                eos_token_id=sorted(pol.stop_ids),
                pad_token_id=pol.tokenizer.pad_token_id,
            )
            n += 1
    return n


def ceiling(pol: HFPolicy, prompts: list[Prompt], k: int, new: int) -> int:
    """One batched ``generate`` over every prompt, ``num_return_sequences=k``."""
    texts = [render_prompt(pol.tokenizer, p.messages, p.tools) for p in prompts]
    enc = pol.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    out = pol.model.generate(
        **enc,
        do_sample=True,
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        max_new_tokens=new,
        num_return_sequences=k,
        eos_token_id=sorted(pol.stop_ids),
        pad_token_id=pol.tokenizer.pad_token_id,
    )
    return int(out.shape[0])


def ours_sample(pol: HFPolicy, prompts: list[Prompt], k: int, new: int, seed: int) -> int:
    out = pol.sample(prompts, k, SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=new, seed=seed))
    return sum(len(o) for o in out)


def ours_profile(pol: HFPolicy, cands_file: Path, k: int, new: int, seed: int, n: int) -> int:
    with tempfile.TemporaryDirectory() as d:
        cfg = ProfileConfig(
            k=k, batch_size=n, sampling=SamplingParams(temperature=1.0, max_new_tokens=new, seed=seed)
        )
        stats = profile_candidates(
            cands_file, Path(d) / "p.jsonl", pol, cfg, registry=get_registry(), progress=False
        )
    return stats.samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pol = HFPolicy(args.model, batch_size=args.prompts * args.k, max_batch_tokens=1 << 30)
    cands = make_candidates(args.prompts)
    prompts = [Prompt.for_candidate(c) for c in cands]
    lengths = [len(pol.prepare(p).ids or ()) for p in prompts]
    with tempfile.TemporaryDirectory() as d:
        cfile = Path(d) / "c.jsonl"
        write_jsonl(cfile, cands)
        ours_sample(pol, prompts[:1], 2, 4, 0)  # warm-up
        runs = {
            "naive (generate per sample)": lambda r: naive(pol, prompts, args.k, args.max_new_tokens),
            "ceiling (one batched generate)": lambda r: ceiling(pol, prompts, args.k, args.max_new_tokens),
            "ours: HFPolicy.sample": lambda r: ours_sample(pol, prompts, args.k, args.max_new_tokens, r),
            "ours: pivotrl profile (hf)": lambda r: ours_profile(
                pol, cfile, args.k, args.max_new_tokens, r, args.prompts
            ),
        }
        best: dict[str, float] = {}
        for r in range(args.rounds):
            for name, fn in runs.items():
                torch.manual_seed(r)
                t = time.perf_counter()
                with torch.inference_mode():
                    n = fn(r)
                rate = n / (time.perf_counter() - t)
                best[name] = max(best.get(name, 0.0), rate)
                print(f"round {r}: {name:<34} {rate:8.3f} samples/s", flush=True)
    report(args, lengths, best)


def report(args: argparse.Namespace, lengths: list[int], best: dict[str, float]) -> None:
    prof, nv, ceil = (
        best["ours: pivotrl profile (hf)"],
        best["naive (generate per sample)"],
        best["ceiling (one batched generate)"],
    )
    lines = [
        "# benchmarks/profiling.py: samples/s of the profiling path vs peers (same model, prompts, run)",
        f"model={args.model} prompts={args.prompts} (tokens {lengths}) k={args.k} "
        f"max_new_tokens={args.max_new_tokens} rounds={args.rounds} (best round kept) "
        f"threads={torch.get_num_threads()} machine={platform.machine()} cpus={os.cpu_count()} "
        f"load average (1/5/15 min) at the end={tuple(round(x, 1) for x in os.getloadavg())}",
        "",
        *(f"{name:<34} {rate:8.3f} samples/s" for name, rate in best.items()),
        "",
        f"ours (profile) / naive   = {prof / nv:6.2f}x   "
        f"(goal >= 3x: {'met' if prof / nv >= 3 else 'NOT met'})",
        f"ours (profile) / ceiling = {prof / ceil:6.2%}   "
        f"(goal >= 85%: {'met' if prof / ceil >= 0.85 else 'NOT met'})",
        f"ours (sample)  / ceiling = {best['ours: HFPolicy.sample'] / ceil:6.2%}",
    ]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
