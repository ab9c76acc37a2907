"""Exponential moving average of the weights; evaluation and checkpoints use the average.

Parameters are averaged; buffers are taken as they are (constants, and the puzzle-embedding
table with its own sparse update, which the official code keeps out of the EMA too): the
shadow holds the live buffer itself, so a large table costs no second copy.

With ``warmup`` (ours) the decay is min(decay, (1 + t) / (10 + t)) after t updates, so a
short run's average is not dominated by the random initial weights; without it (the
official code) the decay is constant from the first update.
"""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float, warmup: bool = True):
        self.decay = decay
        self.warmup = warmup
        self.updates = 0
        params = {name for name, _ in model.named_parameters()}
        self.averaged = [k for k in model.state_dict() if k in params]
        self.shadow = {
            k: v.detach().clone() if k in params else v
            for k, v in model.state_dict(keep_vars=True).items()
        }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = (
            min(self.decay, (1 + self.updates) / (10 + self.updates)) if self.warmup else self.decay
        )
        self.updates += 1
        state = model.state_dict()
        for k in self.averaged:
            self.shadow[k].lerp_(state[k], 1.0 - decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Every tensor of the model's state: averaged parameters, live buffers."""
        return {k: v.detach() for k, v in self.shadow.items()}

    def averages(self) -> dict[str, torch.Tensor]:
        """The averaged parameters only (what a checkpoint needs besides the model's state)."""
        return {k: self.shadow[k] for k in self.averaged}

    def load_state_dict(self, state: dict[str, torch.Tensor], updates: int) -> None:
        """Averages saved by :meth:`averages` (or, from older checkpoints, every tensor:
        buffers are the model's own and are left to it)."""
        self.updates = updates
        for k in self.averaged:
            self.shadow[k].copy_(state[k])
