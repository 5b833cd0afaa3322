"""GPU check, one run (< 8 minutes on an H200): on a random-weight model of a real architecture
(Qwen3-0.6B's config, bf16) it measures

1. ``hf`` policy sampling throughput (new tokens/s, K samples per prompt);
2. our trainer's GRPO step time vs TRL's ``GRPOTrainer`` (``engine = "trl"``) on the same GPU,
   same pivots, B, G, lengths and optimiser;
3. peak GPU memory of each part;

and prints the ratios (also written as JSON with ``--out``). Random weights: the verifier scores
are meaningless, the costs are the real ones (no hub access needed; the tokenizer is a small BPE
one, the model keeps Qwen3's 151,936-row vocabulary).

GPU: ``python benchmarks/gpu_check.py --out benchmarks/results/gpu_check.json``
CPU dry run (tiny config, checks the script end to end): ``python benchmarks/gpu_check.py --dry-run``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pivotrl_core.jsonl import write_jsonl  # noqa: E402
from pivotrl_core.plugins import get_registry  # noqa: E402
from pivotrl_core.policies.base import Prompt, SamplingParams  # noqa: E402
from pivotrl_core.policies.tiny import build_tiny_model  # noqa: E402
from pivotrl_core.train.config import TrainConfig  # noqa: E402
from pivotrl_core.types import Candidate, Message, ToolCall  # noqa: E402

QWEN3_0_6B = {  # Qwen/Qwen3-0.6B config.json (architecture only)
    "vocab_size": 151936,
    "hidden_size": 1024,
    "intermediate_size": 3072,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 40960,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}
# dry run: Qwen3's shape at toy size (vocab 4096 > the tokenizer's 512: ids it cannot decode still occur)
TINY = {**QWEN3_0_6B, "vocab_size": 4096, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2}
TINY.update(num_attention_heads=4, num_key_value_heads=2, head_dim=16)
TOOLS = ({"type": "function", "function": {"name": "get_order", "parameters": {"type": "object"}}},)


def build_model(folder: Path, arch: dict[str, Any], dtype: str) -> str:
    """A random-weight Qwen3 model with ``arch`` and a small ChatML BPE tokenizer."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tok_dir = build_tiny_model(folder / "tok")
    tok = AutoTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(0)
    ids = {
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
    }
    model = Qwen3ForCausalLM(Qwen3Config(**arch, **ids)).to(getattr(torch, dtype))
    out = folder / "model"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def pivots(path: Path, n: int) -> Path:
    rows = []
    for i in range(n):
        msgs = (Message("system", "You are a support agent."), Message("user", f"Where is order W{i:03d}?"))
        expected = Message("assistant", tool_calls=(ToolCall("get_order", {"order_id": f"W{i:03d}"}),))
        rows.append(Candidate(f"t{i}:2", "generic", f"t{i}", 2, msgs, expected, tools=TOOLS))
    write_jsonl(path, rows)
    return path


def _peak_reset(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None


def sampling_throughput(model: str, device: str, dtype: str, prompts: int, k: int, tokens: int) -> dict:
    pol = get_registry().policy("hf", model=model, device=device, dtype=dtype, batch_size=prompts * k)
    batch = [Prompt((Message("user", f"Tell me about order W{i}."),)) for i in range(prompts)]
    params = SamplingParams(1.0, max_new_tokens=tokens, seed=0)
    pol.sample(batch[:2], 2, SamplingParams(1.0, max_new_tokens=8, seed=0))  # warm-up
    _peak_reset(device)
    start = time.perf_counter()
    out = pol.sample(batch, k, params)
    elapsed = time.perf_counter() - start
    new = sum(len(c.token_ids or ()) for cs in out for c in cs)
    pol.close()
    return {
        "new_tokens": new,
        "seconds": elapsed,
        "tokens_per_s": new / elapsed,
        "peak_gib": _peak_gib(device),
    }


def _mean_step(rows: list[dict], key: str) -> float:
    times = [r[key] for r in rows if key in r][1:] or [r[key] for r in rows if key in r]  # drop warm-up
    return sum(times) / len(times)


def trainer_step(engine: str, cfg: TrainConfig, data: Path, out: Path) -> dict:
    from pivotrl_core.train.grpo import train
    from pivotrl_core.train.trl_engine import train_trl

    _peak_reset(cfg.device)
    start = time.perf_counter()
    if engine == "trl":
        # same compute as ours: TRL's default activation checkpointing off (it trades time for memory)
        train_trl(cfg, data, out, registry=get_registry(), trl_args={"gradient_checkpointing": False})
    else:
        train(cfg, data, out, registry=get_registry())
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {"step_s": _mean_step(rows, "step_time"), "wall_s": wall, "peak_gib": _peak_gib(cfg.device)}


def main() -> None:
    ap = argparse.ArgumentParser(description="GPU check: sampling throughput, our trainer vs TRL, memory")
    ap.add_argument("--dry-run", action="store_true", help="tiny config on CPU (checks the script)")
    ap.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    args = ap.parse_args()
    device, dtype, arch = ("cpu", "float32", TINY) if args.dry_run else ("cuda", "bfloat16", QWEN3_0_6B)
    prompts, k, tokens, steps = (4, 4, 16, 2) if args.dry_run else (32, 8, 128, 4)
    t0 = time.perf_counter()
    res: dict[str, Any] = {"device": device, "dtype": dtype, "arch": arch, "dry_run": args.dry_run}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = build_model(folder, arch, dtype)
        data = pivots(folder / "pivots.jsonl", 16)
        res["sampling"] = sampling_throughput(model, device, dtype, prompts, k, tokens)
        print(f"[{time.perf_counter() - t0:.0f}s] sampling: {res['sampling']}", flush=True)
        cfg = TrainConfig(
            model=model, device=device, dtype=dtype, max_steps=steps, batch_pivots=4, group_size=8
        )
        cfg.max_new_tokens, cfg.ppo_epochs, cfg.progress, cfg.save_every = tokens // 2, 1, False, 1000
        cfg.tensorboard = False
        for engine in ("pivotrl", "trl"):
            res[engine] = trainer_step(engine, cfg, data, folder / engine)
            print(f"[{time.perf_counter() - t0:.0f}s] {engine} trainer: {res[engine]}", flush=True)
    res["ratios"] = {
        "trl_step_over_pivotrl_step": res["trl"]["step_s"] / res["pivotrl"]["step_s"],
        "pivotrl_peak_over_trl_peak": (
            res["pivotrl"]["peak_gib"] / res["trl"]["peak_gib"] if res["trl"]["peak_gib"] else None
        ),
    }
    res["total_s"] = time.perf_counter() - t0
    print(json.dumps(res["ratios"], indent=2))
    print(f"total {res['total_s']:.0f} s on {device}")
    if args.out:
        args.out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
