"""Maze grids: cell codes, the text form and formatting (parsing: :mod:`puzzles.maze.text`).

A maze is a square ``size x size`` numpy ``int8`` array of cell codes::

    code  char  meaning
    0     '#'   wall
    1     ' '   open cell
    2     'S'   start (exactly one)
    3     'G'   goal (exactly one)
    4     'o'   an open cell on the marked path (labels only)

The question is the maze without ``o``; the label is the same grid with the open cells of
the shortest S-to-G path marked ``o`` (S and G keep their letters).

The text form is one line per row, ``size`` characters each, and mazes in one text are
separated by an empty line. A space is an open cell, so a row of open cells is a line of
spaces: it must keep its spaces (an editor that strips trailing blanks breaks the maze,
which the parser then refuses, saying so). Between mazes, a line of spaces counts as
blank, unless lines of its length follow it and one of them holds a wall, S or G: then
it is a maze's first row. Sizes from 4 to 64 are accepted.
"""

from __future__ import annotations

import numpy as np

from trm.errors import SettingError, TRMError

WALL, OPEN, START, GOAL, PATH = 0, 1, 2, 3, 4
CHARS = "# SGo"  # CHARS[code] is the character of a cell code
NAMES = ("wall", "open", "start", "goal", "path")
MIN_SIZE, MAX_SIZE = 4, 64
CODE_OF = {ch: code for code, ch in enumerate(CHARS)}


def check_size(size: int, where: str = "maze") -> None:
    """``size`` in range, or an error starting with ``where`` (a file, or a setting in
    backticks: then a SettingError)."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise (SettingError if "`" in where else TRMError)(
            f"{where}: maze size {size} out of range "
            f"(a maze is N x N with N from {MIN_SIZE} to {MAX_SIZE})"
        )


def size_of_cells(n_cells: int) -> int:
    """The side of a flat maze of ``n_cells`` cells (it must be a square in range)."""
    size = int(round(n_cells**0.5))
    if size * size != n_cells:
        raise TRMError(f"{n_cells} cells do not make a square maze")
    check_size(size)
    return size


def as_grid(grid: np.ndarray) -> np.ndarray:
    """A flat or square array of codes as a square ``(size, size)`` array."""
    grid = np.asarray(grid)
    if grid.ndim == 2 and grid.shape[0] == grid.shape[1]:
        return grid
    size = size_of_cells(grid.size)
    return grid.reshape(size, size)


# --------------------------------------------------------------------------- text


def to_rows(grid: np.ndarray) -> list[str]:
    """The rows of a maze (or label) as strings of ``size`` characters."""
    grid = as_grid(grid).astype(np.int16)
    table = np.array(list(CHARS + "?"))  # '?': a code that is no cell (bad model output)
    codes = np.where((grid >= 0) & (grid < len(CHARS)), grid, len(CHARS))
    return ["".join(table[row]) for row in codes]


def to_text(grid: np.ndarray) -> str:
    """The text form: one line per row (parsed back by :func:`parse_maze`)."""
    return "\n".join(to_rows(grid))


def format_mazes(grids) -> str:
    """Several mazes in one text, separated by empty lines, with a final newline."""
    return "\n\n".join(to_text(g) for g in grids) + "\n"


def strip_path(grid: np.ndarray) -> np.ndarray:
    """The question of a label: path marks back to open cells."""
    grid = np.array(grid, dtype=np.int8)
    grid[grid == PATH] = OPEN
    return grid
