"""ARC augmentations: the 8 symmetries of the square x permutations of colours 1-9.

An :class:`Augmentation` is ``(dihedral, colours)``: move the cells by one of the 8
dihedral transforms, then recolour cell value ``v`` to ``colours[v]`` (``colours[0] == 0``:
black, the usual background, stays black). The same augmentation is applied to every grid
of a task, inputs and outputs alike, so the task keeps its meaning. Its exact inverse is
the inverse transform with the inverse colour map (the two commute).

Every dihedral transform is defined once, by where output cell ``(i, j)`` of the
transformed grid reads from in the source grid of ``h`` rows and ``w`` columns::

    d  name            shape  source cell          swap  reverse rows  reverse cols
    0  identity        h x w  (i,         j)        .        .             .
    1  rot90 (ccw)     w x h  (j,         w-1-i)    x        .             x
    2  rot180          h x w  (h-1-i,     w-1-j)    .        x             x
    3  rot270 (cw)     w x h  (h-1-j,     i)        x        x             .
    4  transpose       w x h  (j,         i)        x        .             .
    5  flip left-right h x w  (i,         w-1-j)    .        .             x
    6  flip up-down    h x w  (h-1-i,     j)        .        x             .
    7  anti-transpose  w x h  (h-1-j,     w-1-i)    x        x             x

(1, 3 and 7 match ``np.rot90(g)``, ``np.rot90(g, 3)`` and ``np.rot90(g, 2).T``.) The same
table drives both :meth:`Augmentation.apply` on a grid and :func:`augment_tokens`, which
applies a different augmentation and translation to every row of a batch of canvases at
once with one gather.

Each task gets a fixed, seeded list of up to K distinct augmentations, identity first
(:func:`draw_augmentations`); two augmentations that give the very same task (all its
grids equal, e.g. a colour swap of colours the task does not use) count once. Each
(task, augmentation) pair has its own puzzle id, so it can have its own learned embedding;
the list of all of them is an :class:`AugmentationTable`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from puzzles.arc.grid import N_COLOURS, ArcTask, Pair
from puzzles.arc.tokens import COLOUR0, EOS, PAD, SEQ_LEN, SIDE
from trm.errors import TRMError

DIHEDRAL_NAMES = (
    "identity",
    "rot90",
    "rot180",
    "rot270",
    "transpose",
    "flip left-right",
    "flip up-down",
    "anti-transpose",
)
_SWAP = np.array([0, 1, 0, 1, 1, 0, 0, 1], bool)  # source row comes from output column j
_REV_ROWS = np.array([0, 0, 1, 1, 0, 0, 1, 1], bool)
_REV_COLS = np.array([0, 1, 1, 0, 0, 1, 0, 1], bool)
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)  # rot90 and rot270 undo each other
RETRIES = 5  # up to RETRIES * K random draws to find K distinct augmentations of a task
_BATCH = 256  # draws made at a time (fixed, so a seed gives the same list whatever K)


def transformed_shape(d, h, w):
    """Shape of a ``h x w`` grid after dihedral ``d`` (works on arrays elementwise)."""
    swap = _SWAP[d]
    return np.where(swap, w, h), np.where(swap, h, w)


def source_cell(d, i, j, h, w):
    """Where output cell ``(i, j)`` of dihedral ``d`` of a ``h x w`` grid reads from."""
    swap = _SWAP[d]
    a, b = np.where(swap, j, i), np.where(swap, i, j)
    return np.where(_REV_ROWS[d], h - 1 - a, a), np.where(_REV_COLS[d], w - 1 - b, b)


@dataclass(frozen=True)
class Augmentation:
    dihedral: int  # 0-7, see the table above
    colours: tuple[int, ...] = tuple(range(N_COLOURS))  # new colour of each colour; [0] == 0

    def __post_init__(self):
        if not 0 <= self.dihedral < 8:
            raise ValueError(f"dihedral must be 0-7, got {self.dihedral}")
        if sorted(self.colours) != list(range(N_COLOURS)) or self.colours[0] != 0:
            raise ValueError(f"colours must permute 0-9 keeping 0, got {list(self.colours)}")

    def apply(self, grid: np.ndarray) -> np.ndarray:
        grid = np.asarray(grid)
        h, w = grid.shape
        i, j = np.indices(transformed_shape(self.dihedral, h, w))
        si, sj = source_cell(self.dihedral, i, j, h, w)
        return np.asarray(self.colours, dtype=grid.dtype)[grid[si, sj]]

    def inverse(self) -> Augmentation:
        return Augmentation(
            DIHEDRAL_INVERSE[self.dihedral], tuple(np.argsort(self.colours).tolist())
        )

    def apply_task(self, task: ArcTask) -> ArcTask:
        def pairs(ps):
            return tuple(
                Pair(self.apply(p.input), None if p.output is None else self.apply(p.output))
                for p in ps
            )

        return ArcTask(task.id, pairs(task.train), pairs(task.test), task.set)

    def __str__(self) -> str:
        return f"{DIHEDRAL_NAMES[self.dihedral]}, colours {''.join(map(str, self.colours))}"


IDENTITY = Augmentation(0)


def task_seed(seed: int, task_id: str) -> int:
    """The seed of one task's augmentation list: independent of the other tasks present."""
    return int.from_bytes(
        hashlib.sha256(f"arc-augment/{seed}/{task_id}".encode()).digest()[:8], "big"
    )


def draw_augmentations(task: ArcTask, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``k`` distinct augmentations of ``task``, identity first: ``(dihedral, colours)``.

    Random (dihedral, colour permutation) pairs are drawn from the task's own seed; one
    that gives a task identical to an earlier one is dropped. Duplicates are found by
    hashing the augmented task's content: for each dihedral, the grids' shapes and cells
    are laid out once; a colour map then only relabels that byte string. A task with few
    colours or symmetric grids has fewer than ``k`` distinct augmentations: the list
    stops after ``RETRIES * k`` draws. The list for ``k`` is the start of the list for
    any larger ``k``. An evaluation task's test outputs are not read (whatever they are,
    known, unknown or wrong, its list is the same).
    """
    identity = np.arange(N_COLOURS, dtype=np.uint8)
    if k <= 1:
        return np.zeros(1, np.uint8), identity[None]
    grids = task.grids(test_outputs=task.set != "evaluation")
    layouts = []  # per dihedral: (shapes as bytes, all cells in one flat array)
    for d in range(8):
        moved = [Augmentation(d).apply(g) for g in grids]
        layouts.append(
            (
                np.array([g.shape for g in moved], np.uint8).tobytes(),
                np.concatenate([g.reshape(-1) for g in moved]),
            )
        )

    def content(d: int, colours: np.ndarray) -> bytes:
        shapes, cells = layouts[d]
        return shapes + colours[cells].tobytes()

    dihedral, colours = [0], [identity]
    seen = {content(0, identity)}
    rng = np.random.default_rng(task_seed(seed, task.id))
    draws = 0
    while len(dihedral) < k and draws < RETRIES * k:
        ds = rng.integers(8, size=_BATCH)
        perms = rng.permuted(np.tile(np.arange(1, N_COLOURS, dtype=np.uint8), (_BATCH, 1)), axis=1)
        for d, perm in zip(ds, perms):
            if len(dihedral) == k or draws == RETRIES * k:
                break
            draws += 1
            cmap = np.concatenate([[0], perm]).astype(np.uint8)
            key = content(int(d), cmap)
            if key not in seen:
                seen.add(key)
                dihedral.append(int(d))
                colours.append(cmap)
    return np.array(dihedral, np.uint8), np.stack(colours)


@dataclass
class AugmentationTable:
    """The augmentation behind every puzzle id: ids ``start[t]:start[t + 1]`` are task ``t``'s.

    ``start[t]`` (the first id of a task) is always its identity, the id its stored,
    untransformed examples carry. Ids below ``start[0]`` belong to no task: our builds
    start at 0, an official build (:mod:`puzzles.arc.official`) keeps id 0 for its
    ``<blank>`` puzzle and starts at 1; those rows hold the identity.
    """

    start: np.ndarray  # (T + 1,) int64
    dihedral: np.ndarray  # (P,) uint8, P = number of puzzle ids
    colours: np.ndarray  # (P, 10) uint8

    def __len__(self) -> int:
        return int(self.dihedral.shape[0])

    def task_of(self, puzzle_ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.start, puzzle_ids, side="right") - 1

    def augmentation(self, puzzle_id: int) -> Augmentation:
        return Augmentation(int(self.dihedral[puzzle_id]), tuple(self.colours[puzzle_id].tolist()))

    @classmethod
    def build(
        cls, tasks: list[ArcTask], k: int, seed: int, progress: Callable[[], None] | None = None
    ) -> AugmentationTable:
        dihedral, colours, start = [], [], [0]
        for task in tasks:
            d, c = draw_augmentations(task, k, seed)
            dihedral.append(d)
            colours.append(c)
            start.append(start[-1] + len(d))
            if progress:
                progress()
        return cls(np.asarray(start, np.int64), np.concatenate(dihedral), np.concatenate(colours))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"dihedral": self.dihedral, "colours": self.colours}

    def check(self, where: Path | str) -> None:
        """Refuse a table that is not what :meth:`build` makes (TRMError naming ``where``)."""
        p, start = len(self), self.start
        if (
            self.dihedral.dtype != np.uint8
            or self.colours.dtype != np.uint8
            or self.colours.shape != (p, N_COLOURS)
        ):
            raise TRMError(
                f"{where}: dihedral must be uint8 (P,) and colours uint8 (P, {N_COLOURS})"
            )
        if len(start) < 2 or start[0] < 0 or start[-1] != p or np.any(np.diff(start) <= 0):
            raise TRMError(
                f"{where}: holds {p} augmentations; the metadata's puzzle id starts "
                f"do not rise to that"
            )
        perms_ok = np.array_equal(
            np.sort(self.colours, axis=1), np.broadcast_to(np.arange(N_COLOURS), self.colours.shape)
        )
        if np.any(self.dihedral >= 8) or not perms_ok or np.any(self.colours[:, 0] != 0):
            raise TRMError(
                f"{where}: holds a dihedral over 7 or a colour map that is not a "
                "permutation keeping 0"
            )
        first = np.concatenate([np.arange(start[0]), start[:-1]])  # blank ids too
        if np.any(self.dihedral[first] != 0) or np.any(self.colours[first] != np.arange(N_COLOURS)):
            raise TRMError(f"{where}: a task's first augmentation is not the identity")


def augment_tokens(
    inputs: np.ndarray,
    labels: np.ndarray,
    puzzle_ids: np.ndarray,
    rng: np.random.Generator,
    table: AugmentationTable,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """On-the-fly augmentation of a batch of encoded pairs (the trm.data.Augmenter contract).

    Row ``n`` holds one original (identity) pair of task ``t`` (found from its puzzle id).
    It draws one of the task's augmentations, uniformly, and a random translation that
    keeps both grids on the canvas; input and label get the same ones, and the row's
    puzzle id becomes that (task, augmentation)'s. All rows are done together: for every
    output cell we compute which source cell it reads (or PAD, or the end marker), gather
    once, then recolour with a per-row token table.
    """
    n = len(inputs)
    task = table.task_of(puzzle_ids)
    if np.any(table.start[task] != puzzle_ids):
        raise TRMError(
            "ARC on-the-fly augmentation needs each task's original examples (the "
            "identity puzzle id); this data holds already augmented ones"
        )
    count = table.start[task + 1] - table.start[task]
    new_ids = (table.start[task] + rng.integers(0, count)).astype(puzzle_ids.dtype)
    d = table.dihedral[new_ids].astype(np.int64)
    tokens = np.zeros((n, COLOUR0 + N_COLOURS), dtype=inputs.dtype)  # old token -> new token
    tokens[:, EOS] = EOS
    tokens[:, COLOUR0:] = table.colours[new_ids] + COLOUR0

    boxes = [_boxes(inputs), _boxes(labels)]  # (r0, c0, h, w) of each row's grid
    shapes = [transformed_shape(d, b[2], b[3]) for b in boxes]
    free_r = SIDE - np.maximum(shapes[0][0], shapes[1][0])
    free_c = SIDE - np.maximum(shapes[0][1], shapes[1][1])
    shift_r, shift_c = rng.integers(0, free_r + 1), rng.integers(0, free_c + 1)

    out = []
    for x, (r0, c0, h, w), (h2, w2) in zip((inputs, labels), boxes, shapes):
        idx = _gather_index(d, r0, c0, h, w, h2, w2, shift_r, shift_c)  # (n, 900)
        ext = np.concatenate([x, np.full((n, 1), PAD, x.dtype), np.full((n, 1), EOS, x.dtype)], 1)
        moved = np.take_along_axis(ext, idx, axis=1)
        out.append(np.take_along_axis(tokens, moved.astype(np.int64), axis=1))
    return out[0], out[1], new_ids


def _boxes(x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per row: top-left corner and shape of the grid's colour cells (0 x 0 if none)."""
    colour = x.reshape(-1, SIDE, SIDE) >= COLOUR0
    rows, cols = colour.any(2), colour.any(1)
    return rows.argmax(1), cols.argmax(1), rows.sum(1), cols.sum(1)


def _gather_index(d, r0, c0, h, w, h2, w2, shift_r, shift_c) -> np.ndarray:
    """Per row and output cell: the source cell (0-899), PAD (900) or end marker (901).

    The transformed grid (``h2 x w2``) lands at ``(shift_r, shift_c)``; its cell ``(i, j)``
    reads source cell ``source_cell(d, i, j, h, w)`` of the grid found at ``(r0, c0)``.
    """
    col = lambda a: np.asarray(a, np.int32)[:, None, None]
    rr, cc = np.indices((SIDE, SIDE), dtype=np.int32)  # int32 throughout: half the memory traffic
    i, j = rr[None] - col(shift_r), cc[None] - col(shift_c)  # (n, 30, 30) local coordinates
    in_rows, in_cols = (i >= 0) & (i < col(h2)), (j >= 0) & (j < col(w2))
    inside = in_rows & in_cols
    end = (in_cols & (i == col(h2))) | (in_rows & (j == col(w2)))
    si, sj = source_cell(col(d), i, j, col(h), col(w))
    src = (col(r0) + si) * SIDE + col(c0) + sj
    idx = np.where(inside, src, np.where(end, SEQ_LEN + 1, SEQ_LEN))
    return idx.reshape(len(d), SEQ_LEN)


def augmenter_for(table: AugmentationTable):
    """A trm.data.Augmenter: :func:`augment_tokens` bound to a dataset's table."""

    def augment(inputs, labels, puzzle_ids, rng):
        return augment_tokens(inputs, labels, puzzle_ids, rng, table)

    return augment
