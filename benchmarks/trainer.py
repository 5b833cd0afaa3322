"""TRL's GRPOTrainer vs pivotrl's GRPO trainer: time per step and peak memory, side by side.

Both train the same model (same trainable layers) on the same pivots with the same G, B, completion
length, number of steps, learning rate, one optimisation pass per batch, token-level loss and no
KL, both in float32 without gradient checkpointing (TRL's GRPOConfig defaults to bf16 autocast and
gradient checkpointing; on AVX2 CPUs the first is emulated and the second re-runs the stack, so
they are turned off to compare the loops themselves). Each side runs in its own subprocess (so peak
RSS is its own); the first step of each is a warm-up and is not timed. Each side's step is split
into sampling with rewards and loss with update. Writes ``benchmarks/results/trainer.txt``.

    python benchmarks/trainer.py [--model smollm2-135m] [--steps 4] [--pivots 4] [--group 8]
                                 [--max-new-tokens 32] [--top-n 4] [--threads 2]
                                 [--modes top-n,full,lora]

One report block per row of ``--modes``: the top N layers trained (the rest frozen), full
fine-tuning, and LoRA adapters (the config's default LoRA settings), each against TRL on the same work.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def make_pivots(path: Path, n: int) -> None:
    """Tool-use candidates (the quickstart's domain) when the plugin is installed, else generic ones."""
    from pivotrl_core.jsonl import write_jsonl

    try:
        from pivotrl_tool_use.generate import generate_trajectories

        from pivotrl_core.domains import ExtractOptions
        from pivotrl_core.extract import extract_candidates
        from pivotrl_core.plugins import get_registry

        trajs = list(generate_trajectories(8, 4242, split="bench"))
        dom = get_registry().domain("tool-use")
        cands = list(extract_candidates(trajs, ExtractOptions(domain="tool-use"), dom.extractor))
        step = max(1, len(cands) // n)
        write_jsonl(path, cands[::step][:n])
    except ImportError:
        from pivotrl_core import Candidate, Message

        rows = [
            Candidate(
                id=f"g{i}:1",
                domain="generic",
                trajectory_id=f"g{i}",
                turn_index=1,
                messages=(Message("system", "You are helpful. " * 40), Message("user", f"Question {i}?")),
                expected=Message("assistant", "An answer."),
            )
            for i in range(n)
        ]
        write_jsonl(path, rows)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


MODES = ("top-n", "full", "lora")


def _mode_overrides(args: argparse.Namespace) -> dict:
    """What is trained: the top N layers, everything, or LoRA adapters (the same on both sides)."""
    return {"train_top_n_layers": args.top_n if args.mode == "top-n" else 0, "lora": args.mode == "lora"}


def run_ours(args: argparse.Namespace, pivots: Path, work: Path) -> dict:
    from pivotrl_core.plugins import get_registry
    from pivotrl_core.train.config import TrainConfig, load_config
    from pivotrl_core.train.grpo import train
    from pivotrl_core.train.metrics import read_metrics

    cfg = load_config(
        TrainConfig,
        overrides={
            "model": args.model,
            "max_steps": args.steps,
            "batch_pivots": args.pivots,
            "group_size": args.group,
            "max_new_tokens": args.max_new_tokens,
            **_mode_overrides(args),
            "lr": 1e-5,
            "ppo_epochs": 1,
            "progress": False,
            "tensorboard": False,
            "save_every": 10_000,
            "skip_zero_advantage": False,
        },
    )
    train(cfg, pivots, work / f"ours-{args.mode}", registry=get_registry())
    rows = read_metrics(work / f"ours-{args.mode}" / "metrics.jsonl")
    timed = rows[1:]
    return {
        "step_s": sum(r["step_time"] for r in timed) / len(timed),
        "tokens_per_step": sum(r["tokens_sampled"] for r in timed) / len(timed),
        "peak_mb": peak_mb(),
        "sample_s": sum(r["time_sample"] + r["time_verify"] for r in timed) / len(timed),
        "train_s": sum(r["time_train"] for r in timed) / len(timed),
    }


def run_trl(args: argparse.Namespace, pivots: Path, work: Path) -> dict:
    import trl
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from pivotrl_core.jsonl import read_jsonl
    from pivotrl_core.plugins import get_registry
    from pivotrl_core.policies.chat import end_of_turn, parse_completion, render_prompt
    from pivotrl_core.rollouts import VerifierResolver
    from pivotrl_core.train.config import TrainConfig, load_config
    from pivotrl_core.train.setup import build_model
    from pivotrl_core.types import Candidate
    from pivotrl_core.verifiers.base import verify_many

    cands = list(read_jsonl(pivots, Candidate.from_dict))
    model, tok = build_model(
        load_config(TrainConfig, overrides={"model": args.model, **_mode_overrides(args), "lr": 1e-5})
    )
    verifiers, eot = VerifierResolver(get_registry()), end_of_turn(tok)
    prompts = [render_prompt(tok, verifiers.prompt(c).messages, c.tools) for c in cands]
    by_prompt = dict(zip(prompts, cands, strict=True))
    tokens: list[int] = []

    def reward(
        prompts: list[str], completions: list[str], completion_ids: list[list[int]], **_: object
    ) -> list[float]:
        tokens.append(sum(len(c) for c in completion_ids))
        scores = []
        for p, text in zip(prompts, completions, strict=True):
            cand = by_prompt[p]
            (verdict,) = verify_many(verifiers.for_candidate(cand), [(cand, parse_completion(text, eot))])
            scores.append(verdict.score)
        return scores

    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k):  # noqa: ANN002, ANN003
            self.t = time.perf_counter()

        def on_step_end(self, *a, **k):  # noqa: ANN002, ANN003
            times.append(time.perf_counter() - self.t)

    tok.padding_side = "left"
    config = GRPOConfig(
        output_dir=str(work / f"trl-{args.mode}"),
        use_cpu=True,
        report_to="none",
        max_steps=args.steps,
        learning_rate=1e-5,
        per_device_train_batch_size=args.pivots * args.group,
        num_generations=args.group,
        max_completion_length=args.max_new_tokens,
        temperature=1.0,
        beta=0.0,
        num_iterations=1,
        loss_type="dapo",
        scale_rewards="group",
        logging_steps=1000,
        save_strategy="no",
        gradient_accumulation_steps=1,
        seed=0,
        disable_dropout=True,
        shuffle_dataset=False,
        # TRL turns gradient checkpointing on by default. With the bottom layers frozen that makes the
        # backward pass re-run (and back-propagate into) the whole stack; ours keeps activations, so
        # turn it off here too: the comparison is of the two loops, not of a memory-saving option.
        gradient_checkpointing=False,
        # TRL also defaults to bf16 autocast, which these AVX2 CPUs emulate slowly; both sides run float32.
        bf16=False,
    )
    trainer = GRPOTrainer(
        model=model,
        processing_class=tok,
        reward_funcs=reward,
        args=config,
        train_dataset=Dataset.from_dict({"prompt": prompts * (args.steps + 1)}),
        callbacks=[Timer()],
    )
    sample_times: list[float] = []
    generate_and_score = trainer._generate_and_score_completions

    def timed_generate_and_score(*a, **k):  # noqa: ANN002, ANN003, ANN202
        t = time.perf_counter()
        out = generate_and_score(*a, **k)
        sample_times.append(time.perf_counter() - t)
        return out

    trainer._generate_and_score_completions = (
        timed_generate_and_score  # sampling + rewards, as ours counts it
    )
    trainer.train()
    timed, sampled = times[1:], sample_times[1:]
    step_s, sample_s = sum(timed) / len(timed), sum(sampled) / len(sampled)
    return {
        "step_s": step_s,
        "tokens_per_step": sum(tokens[1:]) / max(1, len(tokens) - 1),
        "peak_mb": peak_mb(),
        "sample_s": sample_s,
        "train_s": step_s - sample_s,
        "version": trl.__version__,
    }


def side(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    pivots = work / "pivots.jsonl"
    result = run_ours(args, pivots, work) if args.side == "ours" else run_trl(args, pivots, work)
    print("RESULT " + json.dumps(result))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--pivots", type=int, default=4)
    p.add_argument("--group", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--top-n", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated rows: top-n, full, lora")
    p.add_argument("--mode", choices=MODES, default="top-n")
    p.add_argument("--side", choices=["ours", "trl"])
    p.add_argument("--work")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "trainer.txt"))
    args = p.parse_args()
    if args.side:
        return side(args)
    work = Path(tempfile.mkdtemp(prefix="pivotrl-bench-trainer-"))
    make_pivots(work / "pivots.jsonl", args.pivots)
    flags = [
        f"--model={args.model}",
        f"--steps={args.steps}",
        f"--pivots={args.pivots}",
        f"--group={args.group}",
        f"--max-new-tokens={args.max_new_tokens}",
        f"--top-n={args.top_n}",
        f"--threads={args.threads}",
        f"--work={work}",
    ]
    prompt_tokens = _prompt_tokens(args.model, work / "pivots.jsonl")
    reports = []
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    for mode in args.modes.split(","):
        reports.append(_run_mode(args, mode, flags, prompt_tokens))
        print(reports[-1], flush=True)
        Path(args.out).write_text("\n\n".join(reports) + "\n")  # after each row: a long run keeps its rows


def _run_mode(args: argparse.Namespace, mode: str, flags: list[str], prompt_tokens: float) -> str:
    results = {}
    for name in ("trl", "ours"):
        proc = subprocess.run(
            [sys.executable, __file__, f"--side={name}", f"--mode={mode}", *flags],
            capture_output=True,
            text=True,
        )
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            return f"{mode}: {name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        results[name] = json.loads(line[len("RESULT ") :])
    return _report(args, mode, results, prompt_tokens)


def _prompt_tokens(model: str, pivots: Path) -> float:
    from pivotrl_core.jsonl import read_jsonl
    from pivotrl_core.plugins import get_registry
    from pivotrl_core.policies.chat import render_prompt
    from pivotrl_core.policies.models import load_tokenizer
    from pivotrl_core.rollouts import VerifierResolver
    from pivotrl_core.types import Candidate

    tok = load_tokenizer(model)
    resolver = VerifierResolver(get_registry())
    lens = [
        len(tok(render_prompt(tok, resolver.prompt(c).messages, c.tools), add_special_tokens=False).input_ids)
        for c in read_jsonl(pivots, Candidate.from_dict)
    ]
    return sum(lens) / len(lens)


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    return next((x.split(":", 1)[1].strip() for x in text.splitlines() if x.startswith("model name")), "")


def _report(args: argparse.Namespace, mode: str, r: dict, prompt_tokens: float) -> str:
    ours, trl = r["ours"], r["trl"]
    trained = f"top {args.top_n} layers" if mode == "top-n" else mode
    lines = [
        f"pivotrl GRPO trainer vs TRL GRPOTrainer (trl {trl['version']}), same run, CPU, float32, "
        "no gradient checkpointing",
        f"model={args.model} pivots/step={args.pivots} G={args.group} max_new_tokens={args.max_new_tokens} "
        f"trained={trained} steps={args.steps} (first step untimed) threads={args.threads} "
        f"mean prompt tokens={prompt_tokens:.0f}",
        f"machine={platform.machine()} {_cpu_model()} cpus={os.cpu_count()} "
        f"load average (1/5/15 min) at the end={os.getloadavg()}",
        f"{'':8} {'s/step':>8} {'gen tok/step':>13} {'s per 1k gen tok':>17} {'peak RSS MB':>12}",
    ]
    for name, x in (("trl", trl), ("pivotrl", ours)):
        per_k = 1000 * x["step_s"] / max(1.0, x["tokens_per_step"])
        lines.append(
            f"{name:8} {x['step_s']:8.2f} {x['tokens_per_step']:13.0f} {per_k:17.2f} {x['peak_mb']:12.0f}"
        )
    ratio = ours["step_s"] / trl["step_s"]
    norm = (ours["step_s"] / max(1, ours["tokens_per_step"])) / (
        trl["step_s"] / max(1, trl["tokens_per_step"])
    )
    lines.append(
        f"time per step ratio pivotrl/trl = {ratio:.2f} (goal <= 0.50); per generated token = {norm:.2f}"
    )
    lines.append(f"peak memory ratio pivotrl/trl = {ours['peak_mb'] / trl['peak_mb']:.2f}")
    for name, x in (("trl", trl), ("pivotrl", ours)):
        lines.append(
            f"{name} step breakdown: sampling and rewards {x['sample_s']:.2f} s, "
            f"loss and update {x['train_s']:.2f} s"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
