"""Optimizer and learning-rate schedule.

AdamW-style with the atan2 update (``adam-atan2-pytorch``: no epsilon to tune; the step is
``lr * a * atan2(m, sqrt(v))``, ``a`` = ``atan2_scale``: 1.27 by that package's default, 1 in the
official code's ``adam-atan2``) or plain AdamW.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from trm.config import TrainConfig


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer of the model's parameters (a puzzle-embedding table is a buffer with
    its own sparse update: :mod:`trm.embedding`)."""
    groups = [
        {
            "params": list(model.parameters()),
            "lr": cfg.lr,
            "weight_decay": cfg.weight_decay,
            "base_lr": cfg.lr,
        }
    ]
    betas = (cfg.beta1, cfg.beta2)
    if cfg.optimizer == "adam-atan2":
        from adam_atan2_pytorch import AdamAtan2

        return AdamAtan2(groups, lr=cfg.lr, betas=betas, a=cfg.atan2_scale)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=betas)


def lr_factor(step: float, cfg: TrainConfig) -> float:
    """Linear warmup from 0, then cosine down to ``min_lr_ratio`` (or constant). ``step``:
    the position in the schedule (a fraction of a step with an ``images`` budget)."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    if cfg.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
