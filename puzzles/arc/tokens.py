"""Token encoding of ARC grids: a 30x30 canvas read row by row (900 tokens).

Tokens: ``0`` PAD (empty canvas, ignored in labels), ``1`` end-of-grid marker, ``c + 2``
colour ``c``. A grid of ``h`` rows and ``w`` columns is painted with its top-left corner
at ``offset`` (``(0, 0)`` unless translated), and, as in the TRM paper, the marker fills
the row just below it (``w`` cells) and the column just right of it (``h`` cells) where
those lie on the canvas. So the colour cells are exactly the grid's rectangle and the
markers say where it ends: a prediction's shape can be read back even though every grid
is padded to the same length. For example the 2x3 grid ``[[1,2,3],[4,5,6]]`` at (0, 0)::

    3 4 5 E . .        E = 1 (end of grid), . = 0 (PAD)
    6 7 8 E . .
    E E E . . .
    . . . . . .
"""

from __future__ import annotations

import numpy as np

from puzzles.arc.grid import MAX_SIDE, N_COLOURS
from trm.config import PAD
from trm.errors import TRMError

SIDE = MAX_SIDE
SEQ_LEN = SIDE * SIDE
EOS, COLOUR0 = 1, 2  # after PAD (0)
VOCAB = ["<pad>", "<eos>", *(str(c) for c in range(N_COLOURS))]


def encode(grid: np.ndarray, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A grid as 900 tokens (``uint8``), its top-left corner at ``offset`` on the canvas."""
    grid = np.asarray(grid)
    h, w = grid.shape
    r, c = offset
    if not (0 <= r <= SIDE - h and 0 <= c <= SIDE - w):
        raise ValueError(f"a {h}x{w} grid at offset {offset} does not fit the {SIDE}x{SIDE} canvas")
    canvas = np.full((SIDE, SIDE), PAD, dtype=np.uint8)
    canvas[r : r + h, c : c + w] = grid.astype(np.uint8) + COLOUR0
    if r + h < SIDE:
        canvas[r + h, c : c + w] = EOS
    if c + w < SIDE:
        canvas[r : r + h, c + w] = EOS
    return canvas.reshape(SEQ_LEN)


def grid_box(tokens: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(row, col, h, w)`` of the colour cells' bounding box on a canvas; None if no colour."""
    colour = np.asarray(tokens).reshape(SIDE, SIDE) >= COLOUR0
    rows, cols = np.flatnonzero(colour.any(1)), np.flatnonzero(colour.any(0))
    if not len(rows):
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def decode(tokens: np.ndarray) -> np.ndarray:
    """The grid of a well-formed encoding, wherever it was translated to (exact).

    Refuses (TRMError) tokens that are not exactly what :func:`encode` writes: this is for
    stored data; use :func:`crop_prediction` for a model's guess.
    """
    tokens = np.asarray(tokens)
    if tokens.shape != (SEQ_LEN,) or int(tokens.max(initial=0)) >= COLOUR0 + N_COLOURS:
        raise TRMError(
            f"not an ARC grid encoding: expected {SEQ_LEN} tokens below "
            f"{COLOUR0 + N_COLOURS}, got shape {tokens.shape}"
        )
    box = grid_box(tokens)
    if box is None:
        raise TRMError("not an ARC grid encoding: no colour cell")
    r, c, h, w = box
    grid = tokens.reshape(SIDE, SIDE)[r : r + h, c : c + w].astype(np.int16) - COLOUR0
    if grid.min() < 0 or not np.array_equal(encode(grid, (r, c)), tokens):
        raise TRMError(
            f"not an ARC grid encoding: the colour cells in rows {r + 1}-{r + h}, "
            f"columns {c + 1}-{c + w} are not one rectangle with its end markers"
        )
    return grid.astype(np.uint8)


def is_blank(tokens: np.ndarray) -> bool:
    """True for an all-PAD row: a label that is not known (nothing to score)."""
    return not np.any(np.asarray(tokens) != PAD)


def crop_prediction(tokens: np.ndarray) -> np.ndarray | None:
    """A model's predicted grid, read from the canvas's top-left corner (untranslated).

    The TRM paper's rule: the largest rectangle anchored at (0, 0) with colour tokens
    only, each row no wider than the one above. None when cell (0, 0) is not a colour.
    """
    canvas = np.asarray(tokens).reshape(SIDE, SIDE).astype(np.int16)
    colour = (canvas >= COLOUR0) & (canvas < COLOUR0 + N_COLOURS)
    best, size, width = 0, None, SIDE
    for r in range(SIDE):
        width = min(width, int(np.argmin(colour[r])) if not colour[r].all() else SIDE)
        if width == 0:
            break
        if (r + 1) * width > best:
            best, size = (r + 1) * width, (r + 1, width)
    if size is None:
        return None
    return (canvas[: size[0], : size[1]] - COLOUR0).astype(np.uint8)
