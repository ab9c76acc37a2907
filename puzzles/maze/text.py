"""Reading mazes from text, with clear errors (the text form: :mod:`puzzles.maze.grid`).

Anything but well-formed mazes raises :class:`TRMError` naming the source, the line and
the problem: ragged rows, an unknown character, a maze that is not square or has a size
out of range, a missing or repeated S or G, or a goal that cannot be reached from the
start (checked by :func:`puzzles.maze.solver.check_maze`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from puzzles.maze.grid import CHARS, CODE_OF, MAX_SIZE, MIN_SIZE, PATH, strip_path
from puzzles.maze.solver import check_maze
from trm.errors import TRMError


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
                    + (", 'o' path" if allow_path else "")
                )
    return np.array([[CODE_OF[ch] for ch in row] for row in rows], dtype=np.int8)


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
            # a line of spaces between mazes is blank, unless it is a maze's first row
            # of open cells: lines of its length follow, and one of them holds more
            if not line.strip() and not _opens_a_maze(lines, i):
                continue
            start = line_no
            if not MIN_SIZE <= len(line) <= MAX_SIZE:
                raise TRMError(
                    f"{where}: a maze row of {len(line)} characters: the size is out "
                    f"of range (a maze is N x N with N from {MIN_SIZE} to {MAX_SIZE})"
                )
            rows.append(line)
            continue
        width = len(rows[0])
        if len(rows) == width:  # the maze is complete: only blank lines may follow it
            if line.strip():
                raise TRMError(
                    f"{where}: the maze starting at line {start} has more than "
                    f"{width} rows of {width} characters: a maze is square, and "
                    "mazes are separated by an empty line"
                )
            out.append(_finish(rows, start, source, allow_path))
            rows = []
            continue
        if line == "":
            raise TRMError(
                f"{where}: the maze starting at line {start} ends after {len(rows)} "
                f"rows of {width} characters: a maze is square ({width} rows); "
                "a row of open cells must keep its spaces"
            )
        if len(line) != width:
            raise TRMError(
                f"{where}: ragged row of {len(line)} characters, expected {width} "
                f"like the first row (line {start})"
                + ("; were trailing spaces stripped?" if len(line) < width else "")
            )
        rows.append(line)
    if rows:
        width = len(rows[0])
        if len(rows) < width:
            raise TRMError(
                f"{source}:{len(lines)}: the text ends inside the maze starting at "
                f"line {start}: {len(rows)} rows of {width} characters, a maze is "
                f"square ({width} rows)"
            )
        out.append(_finish(rows, start, source, allow_path))
    return out


def parse_maze(text: str, where: str = "maze", allow_path: bool = True) -> ParsedMaze:
    """Exactly one maze from ``text``."""
    mazes = parse_text(text, source=where, allow_path=allow_path)
    if len(mazes) != 1:
        raise TRMError(f"{where}: expected one maze, found {len(mazes)}")
    return mazes[0]
