"""Learned puzzle embeddings, updated sparsely: only the rows in the batch move.

A task can have very many puzzle ids (ARC-AGI-1 with 1,000 augmentations per task: about
730k), each seen once in thousands of steps. A dense table inside the optimizer would decay
every row at every step (and carry moment buffers as large as the table); so, as the
official code does, the table is a buffer, not a parameter:

* in training, the forward pass copies the batch's rows into a small leaf tensor that
  collects their gradient (``PuzzleEmbedding.forward``);
* after the backward pass, :func:`sparse_sign_step` gathers the rows and gradients of every
  process, sums the gradients of rows that appear more than once, and moves each such row
  by ``-lr * sign(gradient)`` after a decoupled decay ``row *= 1 - lr * weight_decay``.
  Rows not in the batch are not touched. There is no optimizer state (sign-SGD: for rows
  this rarely seen, Adam would be about the sign of the gradient anyway).

The table is saved under the same name as an ``nn.Embedding``'s (``puzzle_emb.weight``), so
run folders written when it was a parameter load unchanged. It is not averaged by the EMA
(:mod:`trm.ema` averages parameters only), as in the official code.
"""

from __future__ import annotations

import torch
from torch import nn

from trm.distributed import Dist


class PuzzleEmbedding(nn.Module):
    def __init__(self, num_ids: int, dim: int):
        super().__init__()
        self.register_buffer("weight", torch.zeros(num_ids, dim))
        self.local_ids: torch.Tensor | None = None  # the rows of the last training forward
        self.local_rows: torch.Tensor | None = None  # their copies, collecting the gradient

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.training and torch.is_grad_enabled():
            return self._track(ids)
        return self.weight[ids]

    def _track(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self.weight[ids].detach().requires_grad_()
        self.local_ids, self.local_rows = ids, rows
        return rows


@torch.no_grad()
def sparse_sign_step(
    table: PuzzleEmbedding, lr: float, weight_decay: float, dist: Dist = Dist()
) -> int:
    """Update the rows of the last training forward (all processes' rows alike); returns
    how many distinct rows moved. Does nothing when there was no gradient."""
    rows = table.local_rows
    if rows is None or rows.grad is None:
        return 0
    ids, grad = dist.gather(table.local_ids), dist.gather(rows.grad)
    table.local_ids = table.local_rows = None
    unique, inverse = ids.unique(return_inverse=True)
    total = torch.zeros((len(unique), grad.shape[1]), dtype=grad.dtype, device=grad.device)
    total.index_add_(0, inverse, grad)
    moved = table.weight[unique]
    moved.mul_(1.0 - lr * weight_decay).add_(total.sign().to(moved.dtype), alpha=-lr)
    table.weight[unique] = moved
    return len(unique)


def puzzle_tables(model: nn.Module) -> list[PuzzleEmbedding]:
    return [m for m in model.modules() if isinstance(m, PuzzleEmbedding)]
