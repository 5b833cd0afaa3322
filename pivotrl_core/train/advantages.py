"""Group-relative advantages: pure functions on ``(B, G)`` tensors.

``rewards[b, g]`` is the verifier score of sample g of pivot b; ``valid[b, g]`` is False where the
verdict errored. Errored samples are excluded from their group's statistics and get advantage 0
(and a zero loss mask), so infrastructure failures never look like a reward of 0.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["AdvantageKind", "compute_advantages", "group_stats", "zero_variance_groups"]

AdvantageKind = Literal["group_norm", "loo", "mean"]


def group_stats(
    rewards: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-group count, mean and population std over valid samples.

    rewards, valid: (B, G) -> n, mean, std: (B,). Groups with no valid sample get mean 0, std 0.
    """
    v = valid.to(rewards.dtype)  # (B, G)
    n = v.sum(-1)  # (B,)
    mean = (rewards * v).sum(-1) / n.clamp(min=1)  # (B,)
    var = (((rewards - mean[:, None]) ** 2) * v).sum(-1) / n.clamp(min=1)  # (B,)
    return n, mean, var.sqrt()


def zero_variance_groups(rewards: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B,) bool: groups whose valid rewards are all equal (or that have < 2 valid samples).

    These groups carry no learning signal under group-relative advantages (Proposition 3.1).
    """
    n, _, std = group_stats(rewards, valid)
    return (n < 2) | (std <= 1e-12)


def compute_advantages(
    rewards: torch.Tensor, valid: torch.Tensor, kind: AdvantageKind = "group_norm", eps: float = 1e-4
) -> torch.Tensor:
    """Advantages (B, G) for rewards (B, G); 0 at errored samples and in flat groups.

    - ``group_norm``: A = (r - mean) / (std + eps)  (the paper's formula, population std)
    - ``loo``:        A = r - mean of the *other* valid samples of the group (NeMo RL default)
    - ``mean``:       A = r - mean  (no std division; Dr. GRPO)
    """
    v = valid.to(rewards.dtype)  # (B, G)
    n, mean, std = group_stats(rewards, valid)  # (B,)
    if kind == "group_norm":
        adv = (rewards - mean[:, None]) / (std[:, None] + eps)
    elif kind == "mean":
        adv = rewards - mean[:, None]
    elif kind == "loo":
        total = (rewards * v).sum(-1, keepdim=True)  # (B, 1)
        others = (n[:, None] - 1).clamp(min=1)  # (B, 1)
        adv = rewards - (total - rewards) / others
    else:
        raise ValueError(f"unknown advantage kind {kind!r}")
    flat = zero_variance_groups(rewards, valid)  # (B,)
    return torch.where(flat[:, None] | ~valid, torch.zeros_like(adv), adv)
