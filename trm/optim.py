"""Optimizer and learning-rate schedule.

AdamW-style with the atan2 update (``adam-atan2-pytorch``: no epsilon to tune; the step is
``lr * a * atan2(m, sqrt(v))``, ``a`` = ``atan2_scale``: 1.27 by that package's default, 1 in the
official code's ``adam-atan2``) or plain AdamW; or ``muon``: torch's Muon (momentum
orthogonalised by Newton-Schulz, its step scaled to AdamW's size so the same learning rate
serves) for the weight matrices of the network ``f``, adam-atan2 for the rest (embeddings,
the answer and halting heads, vectors), as "Speed is Confidence" (arXiv 2601.19085) trains
TRM-like models fast.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from trm.config import TrainConfig
from trm.errors import SettingError


def matrix_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The weight matrices of the recursed network ``f`` (``model.net``): what Muon updates."""
    net = getattr(model, "net", None)
    if not isinstance(net, nn.Module):
        return []
    return [p for p in net.parameters() if p.ndim == 2 and p.requires_grad]


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer | Combined:
    """The optimizer of the model's parameters (a puzzle-embedding table is a buffer with
    its own sparse update: :mod:`trm.embedding`)."""
    params = [p for p in model.parameters() if p.requires_grad]  # (none: a frozen network)
    if cfg.optimizer != "muon" or not params:
        return _adam(params, cfg, cfg.optimizer)
    matrices = matrix_parameters(model)
    if not matrices:
        raise SettingError(
            "optimizer", "muon needs weight matrices in the network; this model has none"
        )
    chosen = {id(p) for p in matrices}
    rest = [p for p in params if id(p) not in chosen]
    muon = torch.optim.Muon(
        [_group(matrices, cfg)],
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        adjust_lr_fn="match_rms_adamw",
    )
    return Combined([muon, _adam(rest, cfg, "adam-atan2")])


def _group(params: list, cfg: TrainConfig) -> dict:
    return {"params": params, "lr": cfg.lr, "weight_decay": cfg.weight_decay, "base_lr": cfg.lr}


def _adam(params: list, cfg: TrainConfig, kind: str) -> torch.optim.Optimizer:
    groups = [_group(params, cfg)]
    betas = (cfg.beta1, cfg.beta2)
    if kind == "adam-atan2":
        from adam_atan2_pytorch import AdamAtan2

        return AdamAtan2(groups, lr=cfg.lr, betas=betas, a=cfg.atan2_scale)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=betas)


class Combined:
    """Several optimizers over disjoint parameters, seen as one: their groups in order, and
    one ``state_dict`` in torch's layout (parameter indices numbered across all of them), so
    checkpoints store it as they store any optimizer's."""

    def __init__(self, parts: list[torch.optim.Optimizer]):
        self.parts = parts

    @property
    def param_groups(self) -> list[dict]:
        return [g for part in self.parts for g in part.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for part in self.parts:
            part.step()

    def state_dict(self) -> dict:
        state, groups, offset = {}, [], 0
        for part in self.parts:
            d = part.state_dict()
            state.update({offset + i: v for i, v in d["state"].items()})
            for g in d["param_groups"]:
                groups.append({**g, "params": [offset + i for i in g["params"]]})
            offset += sum(len(g["params"]) for g in part.param_groups)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, d: dict) -> None:
        groups = d["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"the saved optimizer has {len(groups)} parameter groups, this one "
                f"{len(self.param_groups)}"
            )
        offset, at = 0, 0
        for part in self.parts:
            mine = groups[at : at + len(part.param_groups)]
            at += len(mine)
            size = sum(len(g["params"]) for g in part.param_groups)
            part.load_state_dict(
                {
                    "state": {
                        int(i) - offset: v
                        for i, v in d["state"].items()
                        if offset <= int(i) < offset + size
                    },
                    "param_groups": [
                        {**g, "params": [i - offset for i in g["params"]]} for g in mine
                    ],
                }
            )
            offset += size


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
