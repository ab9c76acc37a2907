"""Coloured Sudoku grids for the terminal (rich), with box borders.

Given clues are bold, filled cells cyan; cells can be highlighted (e.g. changed since
the last step), flagged (breaking a rule, or wrong) or marked unsure (underlined: the
model gave its choice little probability). The styles are marks of :mod:`puzzles.marks`
(the console's theme draws them, in colour or not).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
from rich.text import Text

from puzzles.sudoku.grid import geometry, size_of_length

GIVEN = "mark.clue"
FILLED = "mark.filled"
HIGHLIGHT = "mark.changed"
FLAGGED = "mark.broken"
BLANK = "mark.blank"
UNSURE = "mark.unsure"


def render_grid(
    grid: np.ndarray,
    givens: np.ndarray | None = None,
    highlight: Collection[int] = (),
    flagged: Collection[int] = (),
    unsure: Collection[int] = (),
) -> Text:
    """A grid as styled text; ``givens`` (the puzzle) tells clues from filled cells."""
    flat = np.asarray(grid).reshape(-1)
    geo = geometry(size_of_length(flat.size) or 0)
    given = np.zeros(flat.size, bool) if givens is None else np.asarray(givens).reshape(-1) > 0
    highlight, flagged, unsure = set(highlight), set(flagged), set(unsure)
    text = Text()
    for r in range(geo.size):
        if r and r % geo.box_rows == 0:
            text.append(
                "+".join("-" * (2 * geo.box_cols + 1) for _ in range(geo.n_stacks)) + "\n",
                style="dim",
            )
        for c in range(geo.size):
            if c and c % geo.box_cols == 0:
                text.append(" |", style="dim")
            i = r * geo.size + c
            v = int(flat[i])
            style = BLANK if v == 0 else (GIVEN if given[i] else FILLED)
            if i in flagged:
                style = FLAGGED
            elif i in highlight:
                style = HIGHLIGHT
            elif i in unsure:
                style = UNSURE
            text.append(" ")
            text.append("." if v == 0 else str(v), style=style)
            if i in unsure and style != UNSURE:
                text.stylize("underline", len(text) - 1)
        text.append("\n")
    text.rstrip()
    return text
