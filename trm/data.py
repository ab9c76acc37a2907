"""What the training loop needs from a task: token arrays, and an optional augmenter.

``trm`` knows nothing about Sudoku or mazes: a task hands it question and answer token
sequences (PAD = 0 in labels is ignored), puzzle ids, and perhaps a function that augments
a batch on the fly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

# (inputs, labels, puzzle_ids, rng) -> (inputs, labels, puzzle_ids): a random
# validity-preserving transform per row; a task whose puzzle ids name (puzzle, augmentation)
# pairs (ARC) returns the ids of the augmentations it drew, others pass them through.
Augmenter = Callable[
    [np.ndarray, np.ndarray, np.ndarray, np.random.Generator],
    tuple[np.ndarray, np.ndarray, np.ndarray],
]


@dataclass
class TokenData:
    inputs: np.ndarray  # (N, L) uint8
    labels: np.ndarray  # (N, L) uint8
    puzzle_ids: np.ndarray  # (N,) int32

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def head(self, n: int) -> TokenData:
        return (
            self
            if n <= 0 or n >= len(self)
            else TokenData(self.inputs[:n], self.labels[:n], self.puzzle_ids[:n])
        )


class Sampler:
    """An endless stream of example indices: shuffled epochs from a seeded generator."""

    def __init__(self, n: int, seed: int):
        self.n = n
        self.generator = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(n, generator=self.generator)
        self.pos = 0

    def take(self, k: int) -> torch.Tensor:
        out = []
        while k > 0:
            if self.pos == self.n:
                self.perm = torch.randperm(self.n, generator=self.generator)
                self.pos = 0
            m = min(k, self.n - self.pos)
            out.append(self.perm[self.pos : self.pos + m])
            self.pos += m
            k -= m
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)
