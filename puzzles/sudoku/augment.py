"""Augmentations that keep a valid Sudoku valid, each with an exact inverse.

Every augmentation is one map ``out = digits[grid[cells]]``: a permutation of the
cells followed by a relabelling of the digits (blank stays blank). The named
constructors build the Sudoku symmetries: digit relabelling, band and stack
permutations, row-within-band and column-within-stack permutations, and transpose
(square boxes only: transposing a 6x6 grid would turn its 2x3 boxes into 3x2 ones).
They compose with :meth:`Augmentation.then`, and :meth:`Augmentation.inverse` undoes one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from puzzles.sudoku.grid import Geometry, geometry
from trm.errors import TRMError


def _check_permutation(values: Sequence[int], n: int, what: str) -> tuple[int, ...]:
    values = tuple(int(v) for v in values)
    if sorted(values) != list(range(n)):
        raise TRMError(f"{what} must be a permutation of 0..{n - 1}, got {list(values)}")
    return values


@dataclass(frozen=True)
class Augmentation:
    """``out[i] = digits[grid[cells[i]]]`` on flat grids (also on batches ``(..., cells)``)."""

    size: int
    cells: tuple[int, ...]  # output cell i is copied from input cell cells[i]
    digits: tuple[int, ...]  # new value of digit v; digits[0] == 0 keeps blanks blank

    def apply(self, grid: np.ndarray) -> np.ndarray:
        grid = np.asarray(grid)
        table = np.asarray(self.digits, dtype=grid.dtype)
        return table[grid[..., list(self.cells)]]

    def inverse(self) -> Augmentation:
        return Augmentation(
            self.size,
            tuple(np.argsort(self.cells).tolist()),
            tuple(np.argsort(self.digits).tolist()),
        )

    def token_table(self) -> np.ndarray:
        """The relabelling on token ids (token = value + 1; PAD 0 and blank 1 stay):
        ``(size + 2,)``, index a token to get its new token."""
        return np.concatenate([[0], np.asarray(self.digits) + 1])

    def then(self, other: Augmentation) -> Augmentation:
        """This augmentation followed by ``other``."""
        cells = tuple(self.cells[j] for j in other.cells)
        digits = tuple(other.digits[d] for d in self.digits)
        return Augmentation(self.size, cells, digits)


def identity(size: int = 9) -> Augmentation:
    geo = geometry(size)
    return Augmentation(size, tuple(range(geo.cells)), tuple(range(size + 1)))


def relabel(size: int, mapping: Sequence[int]) -> Augmentation:
    """Digit ``d`` becomes ``mapping[d - 1]`` (a permutation of 1..size)."""
    perm = _check_permutation([m - 1 for m in mapping], size, "digit mapping (minus one)")
    return Augmentation(size, identity(size).cells, (0, *(p + 1 for p in perm)))


def _band_respecting(order: tuple[int, ...], block: int, what: str) -> None:
    for start in range(0, len(order), block):
        groups = {r // block for r in order[start : start + block]}
        if len(groups) != 1:
            raise TRMError(f"{what} {list(order)} mixes lines of different boxes")


def permute_rows(size: int, order: Sequence[int]) -> Augmentation:
    """Output row ``r`` is input row ``order[r]``; rows must move with their band."""
    geo = geometry(size)
    order = _check_permutation(order, size, "row order")
    _band_respecting(order, geo.box_rows, "row order")
    cells = tuple(order[r] * size + c for r in range(size) for c in range(size))
    return Augmentation(size, cells, identity(size).digits)


def permute_cols(size: int, order: Sequence[int]) -> Augmentation:
    """Output column ``c`` is input column ``order[c]``; columns move with their stack."""
    geo = geometry(size)
    order = _check_permutation(order, size, "column order")
    _band_respecting(order, geo.box_cols, "column order")
    cells = tuple(r * size + order[c] for r in range(size) for c in range(size))
    return Augmentation(size, cells, identity(size).digits)


def transpose(size: int = 9) -> Augmentation:
    geo = geometry(size)
    if geo.box_rows != geo.box_cols:
        raise TRMError(f"a {size}x{size} grid cannot be transposed: its boxes are not square")
    cells = tuple(c * size + r for r in range(size) for c in range(size))
    return Augmentation(size, cells, identity(size).digits)


def _line_order(
    block_order: Sequence[int], inner: Sequence[Sequence[int]], block: int
) -> list[int]:
    """Line order from a block order and, per output block, the order of lines inside it."""
    return [b * block + i for b, lines in zip(block_order, inner) for i in lines]


def permute_bands(size: int, band_order: Sequence[int]) -> Augmentation:
    geo = geometry(size)
    band_order = _check_permutation(band_order, geo.n_bands, "band order")
    keep = [range(geo.box_rows)] * geo.n_bands
    return permute_rows(size, _line_order(band_order, keep, geo.box_rows))


def permute_stacks(size: int, stack_order: Sequence[int]) -> Augmentation:
    geo = geometry(size)
    stack_order = _check_permutation(stack_order, geo.n_stacks, "stack order")
    keep = [range(geo.box_cols)] * geo.n_stacks
    return permute_cols(size, _line_order(stack_order, keep, geo.box_cols))


def _shuffled(n: int, rng: random.Random) -> list[int]:
    out = list(range(n))
    rng.shuffle(out)
    return out


def random_augmentation(size: int, rng: random.Random) -> Augmentation:
    """A random member of the group: relabel, bands/stacks, lines inside them, transpose."""
    geo: Geometry = geometry(size)
    rows = _line_order(
        _shuffled(geo.n_bands, rng),
        [_shuffled(geo.box_rows, rng) for _ in range(geo.n_bands)],
        geo.box_rows,
    )
    cols = _line_order(
        _shuffled(geo.n_stacks, rng),
        [_shuffled(geo.box_cols, rng) for _ in range(geo.n_stacks)],
        geo.box_cols,
    )
    aug = permute_rows(size, rows).then(permute_cols(size, cols))
    if geo.box_rows == geo.box_cols and rng.random() < 0.5:
        aug = transpose(size).then(aug)
    return aug.then(relabel(size, [d + 1 for d in _shuffled(size, rng)]))


def augment_tokens(
    inputs: np.ndarray, labels: np.ndarray, puzzle_ids: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """On-the-fly augmentation of a batch of token rows (token = value + 1, 0 = PAD).

    Each row gets its own random augmentation, applied alike to question and answer;
    puzzle ids pass through (a Sudoku has no per-puzzle embedding).
    """
    n, cells = inputs.shape
    size = int(round(cells**0.5))
    source = random.Random(int(rng.integers(2**63)))
    perms = np.empty((n, cells), dtype=np.int64)
    tables = np.zeros((n, size + 2), dtype=inputs.dtype)  # token -> token, PAD stays PAD
    for i in range(n):
        aug = random_augmentation(size, source)
        perms[i] = aug.cells
        tables[i] = aug.token_table()
    rows = np.arange(n)[:, None]
    return (tables[rows, inputs[rows, perms]], tables[rows, labels[rows, perms]], puzzle_ids)
