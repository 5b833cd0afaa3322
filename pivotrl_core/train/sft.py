"""The SFT baseline: cross-entropy on assistant tokens only, on the same data PivotRL sees.

Input is a trajectories file (any registered format) or a candidates/pivots file. Prompts and
targets are rendered exactly as in profiling and GRPO (``render_prompt`` + ``render_action`` +
the end-of-turn token), so "SFT vs PivotRL on identical data" differs only in the objective. Tool
calls are written in the trained model's own tool-call format (``detect_tool_format``, or the
``tool_format`` override), the one its parser reads back.

Packing (``pack``): ``trajectory`` makes one sequence per trajectory whose every assistant turn is
a target (the prompt is computed once for all turns); ``turn`` makes one sequence per assistant
turn (per candidate). A trajectory longer than ``max_seq_tokens`` falls back to per-turn sequences,
each fitted to the context by dropping its oldest turns. Checkpoints, ``--resume``, metrics and
``final/`` follow the GRPO trainer's conventions.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, InputError
from ..formats import read_trajectories
from ..jsonl import atomic_output, iter_jsonl, read_jsonl
from ..policies.chat import end_of_turn, fit_to_context, render_action, render_prompt
from ..policies.tool_formats import ToolCallFormat, detect_tool_format
from ..types import Candidate, Message, Trajectory
from .checkpoint import check_run_dir, latest_checkpoint, load_checkpoint, save_checkpoint, save_final
from .config import SFTConfig
from .data import PivotSampler
from .metrics import MetricsLogger, open_tracker, progress
from .run_state import RESUMABLE_CHANGES
from .setup import build_model, build_optimizer, set_lr, set_seed, trainable_parameters

__all__ = ["SFTExample", "build_examples", "read_sft_inputs", "train_sft"]


@dataclass(frozen=True)
class SFTExample:
    """One training sequence: token ids and a 0/1 target mask of the same length."""

    ids: tuple[int, ...]
    target: tuple[int, ...]

    @property
    def n_target(self) -> int:
        return sum(self.target)


# -- building examples --------------------------------------------------------------------------


def _encode(tok: Any, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


def _turn_example(
    tok: Any,
    messages: Sequence[Message],
    tools: Sequence[dict],
    action: Message,
    max_len: int,
    fmt: ToolCallFormat,
) -> SFTExample | None:
    target = _encode(tok, render_action(action, fmt) + end_of_turn(tok))
    fitted = fit_to_context(tok, messages, tools, max(1, max_len - len(target)), fmt)
    if fitted is None:
        return None
    prompt = _encode(tok, render_prompt(tok, fitted[0], tools, fmt))
    return SFTExample(tuple(prompt + target), tuple([0] * len(prompt) + [1] * len(target)))


def _trajectory_turns(traj: Trajectory) -> list[int]:
    return [i for i, m in enumerate(traj.messages) if m.role == "assistant" and not m.is_empty]


def _packed_example(tok: Any, traj: Trajectory, max_len: int, fmt: ToolCallFormat) -> SFTExample | None:
    """One sequence with every assistant turn as a target, or None when it cannot be packed."""
    ids: list[int] = []
    mask: list[int] = []
    text = ""
    eot = end_of_turn(tok)
    for i in _trajectory_turns(traj):
        prompt = render_prompt(tok, traj.messages[:i], traj.tools, fmt)
        if not prompt.startswith(text):  # the template re-renders earlier turns differently
            return None
        seg = _encode(tok, prompt[len(text) :])
        target_text = render_action(traj.messages[i], fmt) + eot
        target = _encode(tok, target_text)
        ids += seg + target
        mask += [0] * len(seg) + [1] * len(target)
        text = prompt + target_text
        if len(ids) > max_len:
            return None
    return SFTExample(tuple(ids), tuple(mask)) if ids else None


def build_examples(
    tok: Any,
    items: Sequence[Trajectory | Candidate],
    pack: str,
    max_len: int,
    fmt: ToolCallFormat | None = None,
) -> tuple[list[SFTExample], int]:
    """Tokenised examples and the number of turns dropped because they cannot fit ``max_len``.

    Tool calls are rendered in ``fmt`` (default: the tokenizer's own, :func:`detect_tool_format`).
    """
    fmt = fmt or detect_tool_format(tok)
    out: list[SFTExample] = []
    dropped = 0
    for item in items:
        if isinstance(item, Candidate):
            ex = _turn_example(tok, item.messages, item.tools, item.expected, max_len, fmt)
            out.extend([ex] if ex else [])
            dropped += ex is None
            continue
        packed = _packed_example(tok, item, max_len, fmt) if pack == "trajectory" else None
        if packed is not None:
            out.append(packed)
            continue
        for i in _trajectory_turns(item):
            ex = _turn_example(tok, item.messages[:i], item.tools, item.messages[i], max_len, fmt)
            out.extend([ex] if ex else [])
            dropped += ex is None
    return out, dropped


def read_sft_inputs(paths: Sequence[str | Path]) -> list[Trajectory | Candidate]:
    """Candidates (rows with ``expected``) or trajectories (any registered format), per file."""
    items: list[Trajectory | Candidate] = []
    for path in paths:
        first = next((row for _, row in iter_jsonl(path)), None)
        if first is None:
            raise InputError("the file is empty", path=path)
        if "expected" in first and "turn_index" in first:
            items.extend(read_jsonl(path, Candidate.from_dict))
        else:
            items.extend(read_trajectories(path))
    return items


# -- training -------------------------------------------------------------------------------------


def _collate(batch: Sequence[SFTExample], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ids, attention mask, target mask: (N, L), right-padded."""
    width = max(len(e.ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(batch), width), dtype=torch.long)
    tgt = torch.zeros((len(batch), width), dtype=torch.float32)
    for i, e in enumerate(batch):
        ids[i, : len(e.ids)] = torch.tensor(e.ids)
        attn[i, : len(e.ids)] = 1
        tgt[i, : len(e.ids)] = torch.tensor(e.target, dtype=torch.float32)
    return ids, attn, tgt


def sft_loss_sum(model: Any, ids: torch.Tensor, attn: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy over target tokens. ids, attn, tgt: (N, L) -> scalar.

    The LM head runs only at positions whose next token is a target (a fraction of a long
    sequence; the head is a fifth of SmolLM2's compute).
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    device = next(model.parameters()).device
    ids, attn = ids.to(device), attn.to(device)
    hidden = base.get_decoder()(input_ids=ids, attention_mask=attn).last_hidden_state  # (N, L, H)
    sel = tgt[:, 1:].to(device) > 0  # (N, L-1): position t predicts target token t+1
    logits = base.get_output_embeddings()(hidden[:, :-1][sel]).float()  # (M, V)
    return torch.nn.functional.cross_entropy(logits, ids[:, 1:][sel], reduction="sum")


def _sft_step(
    model: Any, optimizer: torch.optim.Optimizer, batch: list[SFTExample], cfg: SFTConfig, pad_id: int
) -> dict[str, float]:
    n_target = sum(e.n_target for e in batch)
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    model.train()
    for s in range(0, len(batch), cfg.micro_batch_size):
        ids, attn, tgt = _collate(batch[s : s + cfg.micro_batch_size], pad_id)
        loss = sft_loss_sum(model, ids, attn, tgt) / max(n_target, 1)
        loss.backward()
        total += float(loss.detach())
    model.eval()
    if not math.isfinite(total):
        raise ConfigError(f"the SFT loss became {total}; lower lr")
    params = list(trainable_parameters(model).values())
    norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
    optimizer.step()
    return {
        "loss": total,
        "grad_norm": float(norm),
        "target_tokens": n_target,
        "seq_tokens": sum(len(e.ids) for e in batch),
    }


def _start(cfg: SFTConfig, inputs: Sequence[str | Path], out: Path, resume: bool) -> dict[str, Any]:
    """Validate the run folder, write config.json on a fresh start; return the saved header."""
    header = {"kind": "sft", "sft": cfg.to_dict(), "inputs": [str(p) for p in inputs]}
    if not check_run_dir(out, resume):  # a folder without a checkpoint starts (again) from scratch
        out.mkdir(parents=True, exist_ok=True)
        with atomic_output(out / "config.json") as fh:
            fh.write(json.dumps(header, indent=2))
        return header
    saved = json.loads((out / "config.json").read_text())["sft"]
    changed = sorted(k for k, v in cfg.to_dict().items() if k not in RESUMABLE_CHANGES and saved.get(k) != v)
    if changed:
        raise ConfigError(
            f"--resume with a different config: {', '.join(changed)} changed; resume with the "
            f"saved config ({out / 'config.json'})"
        )
    return header


def _timed_step(
    step: int,
    model: Any,
    optimizer: Any,
    examples: list[SFTExample],
    sampler: PivotSampler,
    cfg: SFTConfig,
    pad: int,
) -> dict[str, Any]:
    """One optimiser step on the sampler's next batch; its metrics row (with timing)."""
    t0 = time.perf_counter()
    batch = [examples[int(i)] for i in sampler.next_batch(min(cfg.batch_size, len(examples)))]
    row = {"step": step, "lr": set_lr(optimizer, cfg, step), **_sft_step(model, optimizer, batch, cfg, pad)}
    dt = time.perf_counter() - t0
    row.update(
        epoch=sampler.epoch,
        examples=len(examples),
        step_time=dt,
        tokens_per_s=row["seq_tokens"] / max(dt, 1e-9),
    )
    return row


def train_sft(
    cfg: SFTConfig,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    resume: bool = False,
    on_step_end: Callable[[int, dict[str, Any]], None] | None = None,
) -> Path:
    """Fine-tune on assistant tokens of ``inputs``; return the ``final/`` model folder."""
    out = Path(out)
    items = read_sft_inputs(inputs)  # bad input fails before the run folder is touched
    cfg.check_names()  # an unknown tool_format, too
    header = _start(cfg, inputs, out, resume)
    resume = latest_checkpoint(out) is not None
    set_seed(cfg.seed)
    model, tok = build_model(cfg)
    fmt = detect_tool_format(tok, cfg.tool_format)
    examples, dropped = build_examples(tok, items, cfg.pack, cfg.max_seq_tokens, fmt)
    if not examples:
        raise InputError(f"no assistant turn fits max_seq_tokens = {cfg.max_seq_tokens}", path=str(inputs[0]))
    optimizer = build_optimizer(model, cfg)
    sampler = PivotSampler([str(i) for i in range(len(examples))], cfg.seed)
    steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * len(examples) / cfg.batch_size))
    start, wall = 0, 0.0
    if resume:
        state = load_checkpoint(latest_checkpoint(out), model, optimizer)
        sampler.load_state_dict(state["sampler"])
        start, wall = int(state["step"]), float(state["wall_time"])
    logger = MetricsLogger(
        out, start, cfg.tensorboard, open_tracker(cfg.tracker, out, cfg.tracker_project, cfg.to_dict())
    )
    pad = tok.pad_token_id or 0
    try:
        with progress("sft", cfg.progress, steps, start, lambda r: f"loss {r['loss']:.3f}") as advance:
            for step in range(start + 1, steps + 1):
                row = _timed_step(step, model, optimizer, examples, sampler, cfg, pad)
                wall += row["step_time"]
                row.update(dropped_turns=dropped, wall_time=wall)
                logger.log(row)
                if step % cfg.save_every == 0 or step == steps:
                    save_checkpoint(
                        out,
                        step,
                        model,
                        optimizer,
                        {"sampler": sampler.state_dict(), "wall_time": wall},
                        header,
                        keep=cfg.keep_checkpoints,
                    )
                advance(row)
                if on_step_end is not None:
                    on_step_end(step, row)
    finally:
        logger.close()
    return save_final(out, model, tok)
