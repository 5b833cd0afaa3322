"""End-to-end RL: multi-turn GRPO on a domain's episode environment (the paper's E2E baseline).

Each step plays ``tasks_per_step`` tasks ``group_size`` times each with the current policy, every
episode to its end; the reward of an episode is its outcome (``outcome()["success"]``); each
episode's advantage is its reward normalised within its task's group, and every assistant turn
of the episode gets that advantage (a REINFORCE/GRPO update on the turns' tokens, one on-policy
epoch, so the PPO ratio is 1 and clipping never acts). **Rollout turns** -- model calls, one per
assistant turn of one episode -- are counted, the unit of the paper's compute comparison.

A domain takes part through the :class:`EpisodeAdapter` contract: ``make(split, seed, n,
max_turns)`` returns ``n`` fresh :class:`EpisodeLike` objects (``done``, ``prompt()``,
``act(message)``, ``outcome()``). The tool-use world's episodes are the built-in adapter;
another domain registers its own with :func:`register_episode_adapter`.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import ConfigError
from ..policies.base import Completion, Prompt, SamplingParams
from ..policies.models import load_model, load_tokenizer
from ..policies.tool_formats import get_tool_format
from ..types import Message

if TYPE_CHECKING:
    import torch

__all__ = [
    "E2EConfig",
    "EpisodeAdapter",
    "EpisodeLike",
    "EpisodeRollout",
    "episode_adapter",
    "play_episodes",
    "register_episode_adapter",
    "train_e2e",
]


@runtime_checkable
class EpisodeLike(Protocol):
    """One episode of a domain's environment, advanced one assistant turn at a time."""

    @property
    def done(self) -> bool: ...

    def prompt(self) -> Prompt: ...

    def act(self, message: Message) -> None: ...

    def outcome(self) -> dict[str, Any]: ...


class EpisodeAdapter(Protocol):
    """A domain's episode environment: ``n`` fresh episodes of split ``split`` and task seed ``seed``."""

    def __call__(self, split: str, seed: int, n: int, max_turns: int) -> Sequence[EpisodeLike]: ...


def _tool_use_adapter(split: str, seed: int, n: int, max_turns: int) -> Sequence[EpisodeLike]:
    """The tool-use world (plugin ``pivotrl-tool-use``): its tasks against the scripted customer."""
    tasks = importlib.import_module("pivotrl_tool_use.tasks")
    episode = importlib.import_module("pivotrl_tool_use.episode")
    return [episode.Episode(t, max_turns=max_turns) for t in tasks.make_tasks(split, seed, n)]


_ADAPTERS: dict[str, EpisodeAdapter] = {"tool-use": _tool_use_adapter}


def register_episode_adapter(domain: str, adapter: EpisodeAdapter) -> None:
    """Make ``domain``'s episode environment available to :func:`train_e2e` and the experiment runner."""
    _ADAPTERS[domain] = adapter


def episode_adapter(domain: str) -> EpisodeAdapter:
    """The registered adapter of ``domain`` (a :class:`ConfigError` naming the known ones if none)."""
    if domain not in _ADAPTERS:
        raise ConfigError(
            f"no episode environment for domain {domain!r} (known: {', '.join(sorted(_ADAPTERS))})"
        )
    return _ADAPTERS[domain]


@dataclass(frozen=True)
class E2EConfig:
    """Settings of :func:`train_e2e` (``[e2e]`` in an experiment config)."""

    domain: str = "tool-use"
    model: str = "smollm2-135m"
    seed: int = 0
    max_steps: int = 4
    tasks_per_step: int = 2
    group_size: int = 4
    max_turns: int = 8
    split: str = "train"
    task_seed: int = 1
    max_new_tokens: int = 80
    temperature: float = 0.7
    lr: float = 5e-5
    train_top_n_layers: int = 6
    max_prompt_tokens: int = 1536
    grad_clip: float = 1.0
    device: str = "cpu"
    tool_format: str | None = None  # the model's tool-call format (default: detected from its template)

    def __post_init__(self) -> None:
        if self.group_size < 2:
            raise ConfigError(f"[e2e] group_size = {self.group_size}: must be >= 2 (GRPO compares a group)")
        if self.max_steps < 1 or self.tasks_per_step < 1 or self.max_turns < 1:
            raise ConfigError("[e2e] max_steps, tasks_per_step and max_turns must be >= 1")
        if not self.temperature > 0:
            raise ConfigError(f"[e2e] temperature = {self.temperature}: must be > 0 for on-policy sampling")

    def check_names(self) -> None:
        """An unknown ``tool_format`` is an UnknownNameError (checked when training starts: plugins
        register formats when they load)."""
        if self.tool_format:
            get_tool_format(self.tool_format)


@dataclass
class EpisodeRollout:
    """One finished episode: its reward, outcome and the sampled turns (prompt ids, tokens, old logp)."""

    group: int
    reward: float
    outcome: dict[str, Any]
    turns: list[tuple[tuple[int, ...], tuple[int, ...]]]
    model_calls: int


def _seeded(sampling: SamplingParams, step: int, copy: int) -> SamplingParams:
    if sampling.seed is None:
        return sampling
    return dataclasses.replace(sampling, seed=sampling.seed + 7919 * copy + step)


def play_episodes(
    policy: Any,
    episodes: Sequence[EpisodeLike],
    groups: Sequence[int],
    sampling: SamplingParams,
    copies: Sequence[int] | None = None,
) -> list[EpisodeRollout]:
    """Play every episode to its end in lock-step: per turn, one batched ``policy.sample`` per copy.

    ``copies[i]`` numbers episode i within its group: copies are sampled with different seeds
    (a seeded backend gives one prompt the same sample, so the G copies of a task would
    otherwise be identical). Every sampled turn is one model call; a prompt the backend skips
    (too long) is an empty reply.
    """
    copies = list(copies) if copies is not None else [0] * len(episodes)
    turns: list[list[tuple[tuple[int, ...], tuple[int, ...]]]] = [[] for _ in episodes]
    calls = [0] * len(episodes)
    step = 0
    while live := [i for i, e in enumerate(episodes) if not e.done]:
        for copy in sorted({copies[i] for i in live}):
            batch = [i for i in live if copies[i] == copy]
            outs: list[list[Completion]] = policy.sample(
                [episodes[i].prompt() for i in batch], 1, _seeded(sampling, step, copy)
            )
            for i, group in zip(batch, outs, strict=True):
                calls[i] += 1
                if not group:
                    episodes[i].act(Message(role="assistant", content=""))
                    continue
                c = group[0]
                if c.token_ids:
                    turns[i].append((tuple(c.meta.get("prompt_ids", ())), tuple(c.token_ids)))
                episodes[i].act(c.message)
        step += 1
    rollouts = []
    for i, ep in enumerate(episodes):
        out = ep.outcome()
        reward = 1.0 if out.get("success") else 0.0
        rollouts.append(EpisodeRollout(groups[i], reward, out, turns[i], calls[i]))
    return rollouts


def group_advantages(rollouts: Sequence[EpisodeRollout], eps: float = 1e-4) -> list[float]:
    """GRPO advantages: each reward minus its group's mean, over the group's std (+ eps)."""
    by_group: dict[int, list[float]] = {}
    for r in rollouts:
        by_group.setdefault(r.group, []).append(r.reward)
    stats = {g: (statistics.fmean(v), statistics.pstdev(v)) for g, v in by_group.items()}
    return [(r.reward - stats[r.group][0]) / (stats[r.group][1] + eps) for r in rollouts]


def _freeze_below(model: Any, top_n: int) -> list[Any]:
    """Train only the top ``top_n`` decoder layers and the final norm (0 = every parameter)."""
    if top_n <= 0:
        return [p for p in model.parameters() if p.requires_grad]
    for p in model.parameters():
        p.requires_grad_(False)
    inner = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    trained = list(inner.layers[-top_n:]) + ([inner.norm] if hasattr(inner, "norm") else [])
    params = [p for m in trained for p in m.parameters()]
    for p in params:
        p.requires_grad_(True)
    return params


def _turn_loss(model: Any, prompt: Sequence[int], tokens: Sequence[int], temperature: float) -> torch.Tensor:
    """Mean log-probability of one sampled turn under the current (temperature-scaled) policy."""
    import torch

    ids = torch.tensor([list(prompt) + list(tokens)], device=model.device)
    logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float() / temperature
    logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[0, len(prompt) :, None]).squeeze(-1)
    return logp.mean()


def _update(model: Any, opt: Any, params: list[Any], rollouts: list[EpisodeRollout], cfg: E2EConfig) -> int:
    """One policy-gradient step over every turn of every episode with a non-zero advantage."""
    import torch

    advs = group_advantages(rollouts)
    work = [(a, t) for a, r in zip(advs, rollouts, strict=True) if abs(a) > 1e-8 for t in r.turns if t[0]]
    opt.zero_grad(set_to_none=True)
    model.train()
    for adv, (prompt, tokens) in work:
        loss = -adv * _turn_loss(model, prompt, tokens, cfg.temperature) / len(work)
        loss.backward()
    if work:
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
    return len(work)


def _step_metrics(
    step: int, rollouts: list[EpisodeRollout], updated: int, total_calls: int
) -> dict[str, Any]:
    by_group: dict[int, set[float]] = {}
    for r in rollouts:
        by_group.setdefault(r.group, set()).add(r.reward)
    return {
        "step": step,
        "reward_mean": statistics.fmean(r.reward for r in rollouts),
        "zero_var_frac": sum(len(v) == 1 for v in by_group.values()) / len(by_group),
        "rollout_turns": sum(r.model_calls for r in rollouts),
        "cumulative_rollout_turns": total_calls,
        "updated_turns": updated,
    }


def train_e2e(
    cfg: E2EConfig,
    out_dir: str | Path,
    *,
    adapter: EpisodeAdapter | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Multi-turn GRPO from ``cfg.model``; writes ``metrics.jsonl``, ``summary.json`` and ``final/``.

    Returns the summary: steps, total rollout turns (model calls), episodes, mean reward, seconds.
    """
    import torch

    from .rollout import make_policy, step_seed  # torch: loaded only when training

    out = Path(out_dir)
    cfg.check_names()  # an unknown tool_format fails before the folder is made
    out.mkdir(parents=True, exist_ok=True)
    adapter = adapter or episode_adapter(cfg.domain)
    torch.manual_seed(cfg.seed)
    model, tok = load_model(cfg.model, device=cfg.device), load_tokenizer(cfg.model)
    params = _freeze_below(model, cfg.train_top_n_layers)
    opt = torch.optim.AdamW(params, lr=cfg.lr)
    policy = make_policy(model, tok, cfg.max_prompt_tokens, cfg.device, tool_format=cfg.tool_format)
    total_calls, start, rows = 0, time.perf_counter(), []
    with open(out / "metrics.jsonl", "w", encoding="utf-8") as fh:
        for step in range(cfg.max_steps):
            task_seed = cfg.task_seed * 100_003 + step
            episodes, groups, copies = [], [], []
            for copy in range(cfg.group_size):  # G copies of the same tasks: one group per task
                episodes += adapter(cfg.split, task_seed, cfg.tasks_per_step, cfg.max_turns)
                groups += list(range(cfg.tasks_per_step))
                copies += [copy] * cfg.tasks_per_step
            sampling = SamplingParams(
                temperature=cfg.temperature,
                max_new_tokens=cfg.max_new_tokens,
                seed=step_seed(cfg.seed, step, "e2e") % (1 << 31),
            )
            rollouts = play_episodes(policy, episodes, groups, sampling, copies)
            total_calls += sum(r.model_calls for r in rollouts)
            updated = _update(model, opt, params, rollouts, cfg)
            row = {**_step_metrics(step + 1, rollouts, updated, total_calls)}
            row["seconds"] = round(time.perf_counter() - start, 2)
            rows.append(row)
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            if on_step is not None:
                on_step(row)
    model.eval()
    model.save_pretrained(out / "final")
    tok.save_pretrained(out / "final")
    summary = _summary(cfg, rows, total_calls, time.perf_counter() - start)
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _summary(cfg: E2EConfig, rows: list[dict[str, Any]], total_calls: int, seconds: float) -> dict[str, Any]:
    return {
        "steps": cfg.max_steps,
        "rollout_turns": total_calls,
        "episodes": cfg.max_steps * cfg.tasks_per_step * cfg.group_size,
        "reward_mean": statistics.fmean(r["reward_mean"] for r in rows),
        "seconds": round(seconds, 2),
        "config": dataclasses.asdict(cfg),
    }
