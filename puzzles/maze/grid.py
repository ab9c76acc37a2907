"""Maze grids: cell codes, the text form, parsing with clear errors, formatting.

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

Anything else raises :class:`TRMError` naming the source, the line and the problem:
ragged rows, an unknown character, a maze that is not square or has a size out of range,
a missing or repeated S or G, or a goal that cannot be reached from the start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trm.errors import TRMError

WALL, OPEN, START, GOAL, PATH = 0, 1, 2, 3, 4
CHARS = "# SGo"  # CHARS[code] is the character of a cell code
NAMES = ("wall", "open", "start", "goal", "path")
MIN_SIZE, MAX_SIZE = 4, 64
_CODE_OF = {ch: code for code, ch in enumerate(CHARS)}


def check_size(size: int, where: str = "maze") -> None:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise TRMError(f"{where}: maze size {size} out of range "
                       f"(a maze is N x N with N from {MIN_SIZE} to {MAX_SIZE})")


def size_of_cells(n_cells: int) -> int:
    """The side of a flat maze of ``n_cells`` cells (it must be a square in range)."""
    size = int(round(n_cells ** 0.5))
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


@dataclass
class ParsedMaze:
    maze: np.ndarray  # (size, size) int8, without path marks
    path: np.ndarray | None  # the grid as written, when it marked a path with 'o'
    line: int  # 1-based line of the first row


def _rows_to_grid(rows: list[str], first_line: int, source: str, allow_path: bool) -> np.ndarray:
    """Codes of a square block of rows, refusing unknown characters by line and column."""
    allowed = CHARS if allow_path else CHARS[:4]
    for k, row in enumerate(rows):
        for col, ch in enumerate(row):
            if ch not in allowed:
                shown = "'o' (path; not allowed here)" if ch == "o" else repr(ch)
                raise TRMError(
                    f"{source}:{first_line + k}: bad character {shown} in column {col + 1}: "
                    "a maze uses '#' wall, ' ' open, 'S' start, 'G' goal"
                    + (", 'o' path" if allow_path else ""))
    return np.array([[_CODE_OF[ch] for ch in row] for row in rows], dtype=np.int8)


def check_maze(grid: np.ndarray, where: str = "maze") -> None:
    """One S, one G, and a way from S to G (walls block; anything else is passable)."""
    grid = as_grid(grid)
    check_size(grid.shape[0], where)
    for code, letter, name in ((START, "S", "start"), (GOAL, "G", "goal")):
        found = np.argwhere(grid == code)
        if len(found) == 0:
            raise TRMError(f"{where}: the maze has no {name} {letter!r}")
        if len(found) > 1:
            places = ", ".join(f"row {r + 1} column {c + 1}" for r, c in found[:3])
            raise TRMError(f"{where}: the maze has {len(found)} {name}s {letter!r} ({places}): "
                           "exactly one is needed")
    from puzzles.maze.solver import shortest_length

    if shortest_length(grid) is None:
        raise TRMError(f"{where}: the goal 'G' cannot be reached from the start 'S'")


def _finish(rows: list[str], start: int, source: str, allow_path: bool) -> ParsedMaze:
    grid = _rows_to_grid(rows, start, source, allow_path)
    has_path = bool(np.any(grid == PATH))
    maze = strip_path(grid) if has_path else grid
    check_maze(maze, f"{source}:{start}")
    return ParsedMaze(maze, grid if has_path else None, start)


def _opens_a_maze(lines: list[str], i: int) -> bool:
    """Is the all-space line ``i`` the first row of a maze (not a blank separator)?"""
    width = len(lines[i])
    j = i + 1
    while j < len(lines) and len(lines[j]) == width:
        if lines[j].strip():
            return True
        j += 1
    return False


def parse_text(text: str, source: str = "input", allow_path: bool = True) -> list[ParsedMaze]:
    """Every maze in ``text`` (rows as lines, mazes separated by empty lines).

    With ``allow_path`` a maze may carry a marked path (``o``); it is returned as
    ``path`` (unchecked: see :func:`puzzles.maze.solver.check_path`) and the maze
    without it. Raises :class:`TRMError` naming ``source`` and the line of the problem.
    """
    lines = text.lstrip("\ufeff").split("\n")
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    out: list[ParsedMaze] = []
    rows: list[str] = []
    start = 0
    for i, line in enumerate(lines):
        line_no = i + 1
        where = f"{source}:{line_no}"
        if not rows:
            if line == "":
                continue
            if not line.strip():
                # a line of spaces between mazes is blank, unless it is a maze's first row
                # of open cells: lines of its length follow, and one of them holds more
                if not _opens_a_maze(lines, i):
                    continue
            start = line_no
            if not MIN_SIZE <= len(line) <= MAX_SIZE:
                raise TRMError(f"{where}: a maze row of {len(line)} characters: the size is out "
                               f"of range (a maze is N x N with N from {MIN_SIZE} to {MAX_SIZE})")
            rows.append(line)
            continue
        width = len(rows[0])
        if len(rows) == width:  # the maze is complete: only blank lines may follow it
            if line.strip():
                raise TRMError(f"{where}: the maze starting at line {start} has more than "
                               f"{width} rows of {width} characters: a maze is square, and "
                               "mazes are separated by an empty line")
            out.append(_finish(rows, start, source, allow_path))
            rows = []
            continue
        if line == "":
            raise TRMError(f"{where}: the maze starting at line {start} ends after {len(rows)} "
                           f"rows of {width} characters: a maze is square ({width} rows); "
                           "a row of open cells must keep its spaces")
        if len(line) != width:
            raise TRMError(f"{where}: ragged row of {len(line)} characters, expected {width} "
                           f"like the first row (line {start})"
                           + ("; were trailing spaces stripped?" if len(line) < width else ""))
        rows.append(line)
    if rows:
        width = len(rows[0])
        if len(rows) < width:
            raise TRMError(f"{source}:{len(lines)}: the text ends inside the maze starting at "
                           f"line {start}: {len(rows)} rows of {width} characters, a maze is "
                           f"square ({width} rows)")
        out.append(_finish(rows, start, source, allow_path))
    return out


def parse_maze(text: str, where: str = "maze", allow_path: bool = True) -> ParsedMaze:
    """Exactly one maze from ``text``."""
    mazes = parse_text(text, source=where, allow_path=allow_path)
    if len(mazes) != 1:
        raise TRMError(f"{where}: expected one maze, found {len(mazes)}")
    return mazes[0]
