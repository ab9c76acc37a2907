"""The 8 symmetries of the square (the dihedral group), each with its exact inverse.

A symmetry turns the grid by ``rot`` quarter turns (counter-clockwise, as ``np.rot90``)
after mirroring it left-right when ``flip`` is set. Moving cells around keeps a maze a
maze: walls, S and G move together, every path maps to a path of the same length, so a
label stays a shortest path (and the unique one, when it was unique). A *tie-broken*
label (``random`` mazes, see :mod:`puzzles.maze.solver`) stays *a* shortest path, though
not always the one the rule would pick in the turned maze.

Inverses: a rotation by ``rot`` is undone by ``4 - rot`` quarter turns; a mirrored
symmetry is its own inverse (``rot90(fliplr(x), k)`` applied twice is ``x``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np


@dataclass(frozen=True)
class Symmetry:
    rot: int = 0  # quarter turns counter-clockwise, 0..3
    flip: bool = False  # mirror left-right first

    @property
    def index(self) -> int:
        """0..7: the position of this symmetry in :data:`SYMMETRIES`."""
        return 4 * int(self.flip) + self.rot

    def apply(self, grid: np.ndarray) -> np.ndarray:
        """The symmetry applied to a square grid, or to a batch ``(..., size, size)``."""
        grid = np.asarray(grid)
        if self.flip:
            grid = grid[..., ::-1]
        return np.ascontiguousarray(np.rot90(grid, self.rot, axes=(-2, -1)))

    def inverse(self) -> Symmetry:
        return self if self.flip else Symmetry((4 - self.rot) % 4, False)

    def then(self, other: Symmetry) -> Symmetry:
        """This symmetry followed by ``other`` (found by where the corners go)."""
        probe = np.arange(9).reshape(3, 3)
        target = other.apply(self.apply(probe))
        return next(s for s in SYMMETRIES if np.array_equal(s.apply(probe), target))

    def cells(self, size: int) -> np.ndarray:
        """The flat form: ``out_flat = in_flat[cells]`` for ``size x size`` grids."""
        return cell_tables(size)[self.index]


SYMMETRIES: tuple[Symmetry, ...] = tuple(
    Symmetry(rot, flip) for flip in (False, True) for rot in range(4)
)
IDENTITY = SYMMETRIES[0]


@cache
def cell_tables(size: int) -> np.ndarray:
    """``(8, size * size)``: row ``k`` moves flat cells as symmetry ``k`` moves the grid."""
    grid = np.arange(size * size).reshape(size, size)
    table = np.stack([s.apply(grid).reshape(-1) for s in SYMMETRIES])
    table.flags.writeable = False
    return table


def augment_tokens(
    inputs: np.ndarray, labels: np.ndarray, puzzle_ids: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """On-the-fly augmentation of a batch of maze token rows ``(n, size * size)``.

    Each row gets one of the 8 symmetries at random, applied alike to question and answer
    (tokens only move, so PAD and the vocabulary are untouched); puzzle ids pass through.
    """
    inputs, labels = np.asarray(inputs), np.asarray(labels)
    n, cells = inputs.shape
    size = int(round(cells**0.5))
    perms = cell_tables(size)[rng.integers(len(SYMMETRIES), size=n)]
    return (
        np.take_along_axis(inputs, perms, axis=1),
        np.take_along_axis(labels, perms, axis=1),
        puzzle_ids,
    )
