"""Losses of deep supervision: answer cross-entropy (softmax or stable-max) and halting BCE.

Label positions holding PAD (token 0) are ignored. Per example, the answer loss is the
mean over its labelled positions, so long and short answers weigh the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from trm.config import PAD

HALT_WEIGHT = 0.5


def log_stablemax(logits: torch.Tensor) -> torch.Tensor:
    """log of stable-max: s(x) = x + 1 for x >= 0, 1 / (1 - x) below; normalised over the vocab.

    It grows linearly rather than exponentially, which keeps training stable on small data
    (Prieto et al., "Grokking at the edge of numerical stability"). Computed in float64, as
    the official code does: the result is returned in float64.
    """
    x = logits.double()
    s = torch.where(x >= 0, x + 1, 1 / (1 - x.clamp(max=0)))
    return torch.log(s) - torch.log(s.sum(-1, keepdim=True))


@dataclass
class LossOutput:
    loss: torch.Tensor  # scalar to backpropagate
    answer_loss: torch.Tensor  # scalar
    halt_loss: torch.Tensor  # scalar
    correct: torch.Tensor  # (B,) bool: the answer is right (every labelled position)
    # a puzzle's positions (None where an answer has no parts, e.g. an image's class)
    cell_correct: torch.Tensor | None = None  # (B,) labelled positions right
    cells: torch.Tensor | None = None  # (B,) labelled positions


def supervision_loss(
    logits: torch.Tensor, labels: torch.Tensor, halt_logit: torch.Tensor, kind: str = "softmax"
) -> LossOutput:
    """Loss of one supervision step. logits (B, L, V), labels (B, L), halt_logit (B,)."""
    logits = logits.float()
    mask = labels != PAD  # (B, L)
    target = labels.long()
    if kind == "stablemax":
        logp = log_stablemax(logits)
    else:
        logp = F.log_softmax(logits, dim=-1)
    token_loss = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1) * mask  # (B, L)
    cells = mask.sum(-1)
    answer_loss = (token_loss.sum(-1) / cells.clamp(min=1)).mean()
    with torch.no_grad():
        right = (logits.argmax(-1) == target) & mask
        cell_correct = right.sum(-1)
        correct = cell_correct == cells
    # the halting head learns to say whether the current answer is exactly right
    halt_loss = F.binary_cross_entropy_with_logits(halt_logit, correct.float())
    return LossOutput(
        answer_loss + HALT_WEIGHT * halt_loss, answer_loss, halt_loss, correct, cell_correct, cells
    )
