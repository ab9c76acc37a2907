"""Coloured mazes for the terminal (rich): two characters per cell, so cells look square.

Walls are solid blocks, open cells blank, S and G white letters on green and red, path
cells yellow dots. Cells can be flagged (e.g. a wrong prediction: red). Without colour
the characters alone still tell the cells apart.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
from rich.text import Text

from puzzles.maze.grid import GOAL, OPEN, PATH, START, WALL, as_grid

CELLS = {
    WALL: ("██", "mark.wall"),
    OPEN: ("  ", ""),
    START: ("S ", "bold white on green"),
    GOAL: ("G ", "bold white on red"),
    PATH: ("••", "bold yellow"),
}
UNKNOWN = ("??", "bold magenta")  # a code that is no cell (e.g. PAD in a model's output)
FLAGGED = "mark.off-path"  # (marks: puzzles.marks)
MOVED = "mark.moved"


def render_grid(
    grid: np.ndarray,
    flagged: Collection[int] = (),
    highlight: Collection[int] = (),
    unsure: Collection[int] = (),
) -> Text:
    """A maze or label as styled text; ``flagged`` (wrong), ``highlight`` (e.g. changed
    since the last step) and ``unsure`` (underlined) hold flat cell indices to mark."""
    grid = as_grid(grid)
    size = grid.shape[0]
    flagged, highlight, unsure = set(flagged), set(highlight), set(unsure)
    text = Text()
    for r in range(size):
        for c in range(size):
            chars, style = CELLS.get(int(grid[r, c]), UNKNOWN)
            i = r * size + c
            if i in flagged:
                chars, style = ("××" if chars == "  " else chars), FLAGGED
            text.append(chars, style=style)
            if i in highlight and i not in flagged and " on " not in style:
                text.stylize(MOVED, len(text) - len(chars))  # (S and G keep their ground)
            if i in unsure:
                text.stylize("underline", len(text) - len(chars))
        if r < size - 1:
            text.append("\n")
    return text
