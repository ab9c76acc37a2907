"""Test-time adaptation: puzzle ids for puzzles a model never saw, learned from their
demonstrations.

A TRM knows a puzzle (an ARC task, under one of its augmentations) by a learned row of its
puzzle-embedding table. For puzzles outside its training there is no row; adaptation
gives it some:

1. the table grows: new rows are appended after the old ones (:func:`grow_table`; the old
   ids keep their rows and their numbers), each starting at the mean of the old rows, an
   "average puzzle", or at zero;
2. the new puzzles' demonstration pairs train them with the usual loop (deep supervision,
   halting, the sparse sign-SGD rows of :mod:`trm.embedding`, checkpoints, resume, a time
   budget), either the rows alone with the network frozen (``trainable="embeddings"``:
   old ids then give exactly what they gave before) or the network too, with its own
   learning rate (``trainable="all"``);
3. progress is scored without any test output: one demonstration of each puzzle is held
   out of training and predicted (leave-one-out), and :class:`Patience` stops the run
   when that score has not improved for a number of evaluations.

This module is task-agnostic (token data in, a run folder out); ARC's glue (which tasks
are new, their views and vote) is :mod:`puzzles.arc.adapt`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from trm.config import ADAPT_INITS, ADAPT_LR_DIVISOR, ADAPT_STEPS, TrainConfig, TRMConfig
from trm.errors import SettingError

TABLE = "puzzle_emb.weight"  # the table's name in a state dict


def grow_table(
    config: TRMConfig, weights: dict[str, torch.Tensor], new_ids: int, init: str = "mean"
) -> tuple[TRMConfig, dict[str, torch.Tensor]]:
    """``config`` and ``weights`` with ``new_ids`` rows appended to the puzzle table (ids
    ``config.num_puzzle_ids`` onwards); every other tensor is shared, not copied."""
    if init not in ADAPT_INITS:
        raise SettingError("init", f"must be one of {', '.join(ADAPT_INITS)}, got {init!r}")
    if not config.puzzle_emb_len or TABLE not in weights:
        raise SettingError(
            "this model has no puzzle embeddings: there is nothing to adapt (its answers do "
            "not depend on a puzzle id)"
        )
    if new_ids < 1:
        raise SettingError("adapt", "no new puzzle ids to learn")
    old = weights[TABLE]
    if old.shape[0] != config.num_puzzle_ids:
        raise SettingError(
            f"the puzzle table holds {old.shape[0]} rows, the config says {config.num_puzzle_ids}"
        )
    if init == "mean":
        rows = old.float().mean(0, keepdim=True).to(old.dtype).expand(new_ids, -1)
    else:
        rows = old.new_zeros(new_ids, old.shape[1])
    grown = {**weights, TABLE: torch.cat([old, rows])}
    return replace(config, num_puzzle_ids=config.num_puzzle_ids + new_ids), grown


def adaptation_config(
    base: TrainConfig,
    *,
    trainable: str = "embeddings",
    steps: int = ADAPT_STEPS,
    lr: float | None = None,
    emb_lr: float | None = None,
    batch_size: int | None = None,
    eval_every: int = 100,
    seed: int = 0,
) -> TrainConfig:
    """The training config of an adaptation run, from the base run's: its losses, halting
    and optimizer kind, with the adaptation's own length, rates and bookkeeping. The network
    (``trainable="all"``) learns at ``lr`` (default: a tenth of the base run's peak), the new
    rows at ``emb_lr`` (default: the base run's); a short warm-up (a twentieth), cosine to
    zero, no depth curriculum, and an EMA only when the network learns."""
    network = trainable == "all"
    return replace(
        base,
        trainable=trainable,
        steps=steps,
        images=0,
        lr=base.lr / ADAPT_LR_DIVISOR if lr is None else lr,
        puzzle_emb_lr=base.puzzle_emb_lr if emb_lr is None else emb_lr,
        batch_size=base.batch_size if batch_size is None else batch_size,
        warmup=steps // 20,
        warmup_share=0.05,
        min_lr_ratio=0.0,  # sign-SGD rows wander at any fixed rate: let them settle
        depth_curriculum=0.0,
        ema=base.ema if network else 0.0,
        eval_every=eval_every,
        eval_max=0,
        checkpoint_every=max(eval_every, 100),
        log_every=min(base.log_every, eval_every),
        seed=seed,
    ).validate()


@dataclass
class Patience:
    """Early stopping on a score that should rise (``metric`` of each evaluation): stop
    when the last ``evaluations`` evaluations have not beaten the best one, or as soon as
    the score reaches ``perfect`` (``evaluations`` 0: never stop)."""

    evaluations: int
    metric: str = "exact_accuracy"
    perfect: float = 1.0
    best: float = float("-inf")
    since_best: int = 0

    def __call__(self, result: dict) -> bool:
        score = result.get(self.metric)
        if score is None or not self.evaluations:
            return False
        if score > self.best:
            self.best, self.since_best = float(score), 0
        else:
            self.since_best += 1
        if score >= self.perfect:
            return True
        return self.since_best >= self.evaluations

    def replay(self, metrics: Path) -> Patience:
        """Catch up on the evaluations a resumed run already logged in ``metrics``."""
        if metrics.is_file():
            for line in metrics.read_text().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and isinstance(record.get("eval"), dict):
                    self(record["eval"])
        return self
