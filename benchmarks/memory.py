"""Peak memory of the loss and the sampler vs prompt length and group size (tiny model, CPU).

For prompts of 512 to 8k tokens and G = 1 and 8 samples per prompt, measures the peak resident
memory above the steady state of: the loss (``train.forward.group_logits``, forward + backward
over G completions of 32 tokens sharing the prompt), the ``hf`` sampler (G samples of 32 tokens
from one prefill, shared-prefix decoding) and, for contrast, the sampler with the prompt's cache
expanded to G rows (``shared_prefix=False``). The shared paths hold the prompt's keys/values once
and attention scores of (own tokens x (prompt + own tokens)) per row: their memory grows with the
prompt once, not G-fold. Peak RSS is reset between measurements (``/proc/self/clear_refs``) and
glibc maps every tensor separately (``MALLOC_MMAP_THRESHOLD_``), so freed memory leaves the RSS
and the next peak is honest: Linux only. Writes ``benchmarks/results/memory.txt``.

    python benchmarks/memory.py [--lengths 512,1024,2048,4096,8192] [--groups 1,8] [--threads 2]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pivotrl_core.policies.base import SamplingParams  # noqa: E402
from pivotrl_core.policies.hf import ContextInfo, HFPolicy  # noqa: E402
from pivotrl_core.policies.models import load_tokenizer  # noqa: E402
from pivotrl_core.policies.tiny import build_tiny_model  # noqa: E402
from pivotrl_core.train.forward import group_logits  # noqa: E402

NEW_TOKENS = 32


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def peak_mb(fn: Callable[[], object]) -> float:
    """Peak RSS during ``fn()`` above the RSS before it, in MB."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    base = _status_kb("VmRSS")
    fn()
    return (_status_kb("VmHWM") - base) / 1024


def build(folder: str, max_len: int) -> tuple[object, object]:
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = load_tokenizer(build_tiny_model(folder))
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=max_len,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    return LlamaForCausalLM(cfg).float().eval(), tok


def measure(model: object, tok: object, P: int, G: int) -> dict[str, float]:
    g = torch.Generator().manual_seed(P)
    prompt = torch.randint(3, len(tok), (P,), generator=g)
    tokens = torch.randint(3, len(tok), (G, NEW_TOKENS), generator=g)

    def loss() -> None:
        model.zero_grad(set_to_none=True)
        group_logits(model, prompt, tokens).logsumexp(-1).mean().backward()

    info = [ContextInfo(tuple(prompt.tolist()), P)]
    sampling = SamplingParams(temperature=1.0, max_new_tokens=NEW_TOKENS, seed=0)
    shared = HFPolicy(model, tokenizer=tok, prefill_chunk=1024)
    expanded = HFPolicy(model, tokenizer=tok, prefill_chunk=1024, shared_prefix=False)
    for p in (shared, expanded):
        p.stop_ids = frozenset()  # every row samples all NEW_TOKENS tokens
    return {
        "loss": peak_mb(loss),
        "sample": peak_mb(lambda: shared.sample_prepared(info, G, sampling)),
        "sample_expanded": peak_mb(lambda: expanded.sample_prepared(info, G, sampling)),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", default="512,1024,2048,4096,8192")
    p.add_argument("--groups", default="1,8")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "memory.txt"))
    args = p.parse_args()
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:  # tensors mmapped and unmapped when freed: RSS is honest
        os.execve(
            sys.executable, [sys.executable, *sys.argv], {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
        )
    torch.set_num_threads(args.threads)
    lengths = [int(x) for x in args.lengths.split(",")]
    groups = [int(x) for x in args.groups.split(",")]
    model, tok = build(tempfile.mkdtemp(prefix="pivotrl-bench-memory-"), max(lengths) + NEW_TOKENS + 1)
    measure(model, tok, 64, max(groups))  # warm-up: allocator pools, lazy imports
    lines = [
        "peak RSS above steady state (MB), tiny Llama (hidden 64, 2 layers, 4 heads), float32, CPU, "
        f"{NEW_TOKENS} new tokens per sample",
        f"{'prompt':>7} {'G':>3} {'loss':>8} {'sample':>8} {'sample, cache expanded':>23}",
    ]
    for P in lengths:
        for G in groups:
            r = measure(model, tok, P, G)
            lines.append(f"{P:7d} {G:3d} {r['loss']:8.1f} {r['sample']:8.1f} {r['sample_expanded']:23.1f}")
            print(lines[-1], flush=True)
    report = "\n".join(lines)
    print(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report + "\n")


if __name__ == "__main__":
    main()
