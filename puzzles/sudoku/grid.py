"""Sudoku grids: geometry for 4x4, 6x6 and 9x9, text parsing and formatting, rule checks.

A grid is a flat numpy ``int8`` array of ``size * size`` cells in row-major order,
0 for a blank and 1..size for a digit. Three text forms are accepted:

* one puzzle per line, ``size * size`` characters, ``.`` or ``0`` for a blank
  (81 for 9x9, 36 for 6x6, 16 for 4x4: the length tells the size);
* ``puzzle,solution`` CSV lines (a header line such as ``quizzes,solutions`` is skipped);
* a grid text: ``size`` rows of ``size`` cells, spaces and ``|`` allowed between cells,
  separator lines made of ``-``, ``+``, ``=`` and ``|`` ignored, grids split by blank lines.

Anything else raises :class:`TRMError` naming the line and the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from trm.errors import TRMError

BLANKS = ".0"
_SEPARATOR_LINE = re.compile(r"^[\s\-+=|]+$")
_CSV_HEADER = re.compile(r"^\s*[A-Za-z_][\w ]*,\s*[A-Za-z_][\w ]*\s*$")


@dataclass(frozen=True)
class Geometry:
    """Where the rows, columns and boxes of a ``size x size`` Sudoku are.

    Boxes are ``box_rows x box_cols``: 2x2 for 4x4, 2x3 for 6x6, 3x3 for 9x9.
    A *band* is a horizontal strip of boxes (``box_rows`` rows), a *stack* a
    vertical one (``box_cols`` columns).
    """

    size: int
    box_rows: int
    box_cols: int
    units: tuple[tuple[int, ...], ...] = field(repr=False, compare=False)  # rows, cols, boxes
    peers: tuple[tuple[int, ...], ...] = field(repr=False, compare=False)  # per cell

    @property
    def cells(self) -> int:
        return self.size * self.size

    @property
    def n_bands(self) -> int:
        return self.size // self.box_rows

    @property
    def n_stacks(self) -> int:
        return self.size // self.box_cols

    def box_of(self, row: int, col: int) -> int:
        return (row // self.box_rows) * self.n_stacks + col // self.box_cols

    def unit_name(self, unit_index: int) -> str:
        kind, index = divmod(unit_index, self.size)
        return f"{('row', 'column', 'box')[kind]} {index + 1}"


BOX_SHAPES = {4: (2, 2), 6: (2, 3), 9: (3, 3)}
SIZES = tuple(BOX_SHAPES)


@cache
def geometry(size: int = 9) -> Geometry:
    """The geometry of a ``size x size`` Sudoku (4, 6 or 9)."""
    if size not in BOX_SHAPES:
        raise TRMError(f"unsupported Sudoku size {size}: choose 4, 6 or 9")
    box_rows, box_cols = BOX_SHAPES[size]
    rows = [tuple(r * size + c for c in range(size)) for r in range(size)]
    cols = [tuple(r * size + c for r in range(size)) for c in range(size)]
    boxes: list[list[int]] = [[] for _ in range(size)]
    n_stacks = size // box_cols
    for r in range(size):
        for c in range(size):
            boxes[(r // box_rows) * n_stacks + c // box_cols].append(r * size + c)
    units = tuple(rows + cols + [tuple(b) for b in boxes])
    peers = []
    for cell in range(size * size):
        p = set()
        for unit in units:
            if cell in unit:
                p.update(unit)
        p.discard(cell)
        peers.append(tuple(sorted(p)))
    return Geometry(size, box_rows, box_cols, units, tuple(peers))


def size_of_length(n_cells: int) -> int | None:
    """The Sudoku size whose grid has ``n_cells`` cells, or None."""
    for size in SIZES:
        if size * size == n_cells:
            return size
    return None


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Conflict:
    """A digit that appears more than once in one row, column or box."""

    unit: str  # e.g. "row 3"
    digit: int
    cells: tuple[int, ...]

    def __str__(self) -> str:
        return f"digit {self.digit} {len(self.cells)} times in {self.unit}"


def find_conflicts(grid: np.ndarray) -> list[Conflict]:
    """Every (unit, digit) pair where a digit repeats; blanks are ignored."""
    grid = np.asarray(grid)
    geo = geometry(size_of_length(grid.size) or 0)
    flat = grid.reshape(-1)
    out = []
    for u, unit in enumerate(geo.units):
        values = flat[list(unit)]
        counts = np.bincount(values, minlength=geo.size + 1)
        for digit in np.nonzero(counts[1:] > 1)[0] + 1:
            cells = tuple(unit[i] for i in np.nonzero(values == digit)[0])
            out.append(Conflict(geo.unit_name(u), int(digit), cells))
    return out


def is_complete(grid: np.ndarray) -> bool:
    return bool(np.all(np.asarray(grid) > 0))


def is_solution(grid: np.ndarray, puzzle: np.ndarray | None = None) -> bool:
    """True when ``grid`` is full, breaks no rule and keeps every clue of ``puzzle``."""
    grid = np.asarray(grid).reshape(-1)
    if not is_complete(grid) or find_conflicts(grid):
        return False
    if puzzle is not None:
        puzzle = np.asarray(puzzle).reshape(-1)
        given = puzzle > 0
        return bool(np.array_equal(grid[given], puzzle[given]))
    return True


# --------------------------------------------------------------------------- text


def to_string(grid: np.ndarray, blank: str = ".") -> str:
    """The one-line form: ``size * size`` characters, ``blank`` for empty cells."""
    return "".join(blank if v == 0 else str(int(v)) for v in np.asarray(grid).reshape(-1))


def to_grid_text(grid: np.ndarray, blank: str = ".") -> str:
    """A human-readable grid with box separators (parsed back by :func:`parse_text`)."""
    flat = np.asarray(grid).reshape(-1)
    geo = geometry(size_of_length(flat.size) or 0)
    lines = []
    for r in range(geo.size):
        if r and r % geo.box_rows == 0:
            lines.append("+".join("-" * (2 * geo.box_cols + 1) for _ in range(geo.n_stacks)))
        cells = [blank if v == 0 else str(int(v)) for v in flat[r * geo.size : (r + 1) * geo.size]]
        chunks = [" ".join(cells[s : s + geo.box_cols]) for s in range(0, geo.size, geo.box_cols)]
        lines.append(" " + " | ".join(chunks))
    return "\n".join(lines)


def _cells_from_chars(chars: str, where: str) -> np.ndarray:
    size = size_of_length(len(chars))
    if size is None:
        raise TRMError(f"{where}: expected 81 cells (or 16/36 for 4x4/6x6), got {len(chars)}")
    out = np.zeros(len(chars), dtype=np.int8)
    for i, ch in enumerate(chars):
        if ch in BLANKS:
            continue
        if not ("1" <= ch <= "9") or int(ch) > size:
            raise TRMError(
                f"{where}: bad character {ch!r} at cell {i + 1} "
                f"(expected digits 1-{size}, '.' or '0')"
            )
        out[i] = int(ch)
    return out


def parse_puzzle(text: str, where: str = "puzzle") -> np.ndarray:
    """One puzzle from a one-line string or a grid text; clues must not break a rule."""
    puzzles = parse_text(text, source=where)
    if len(puzzles) != 1:
        raise TRMError(f"{where}: expected one puzzle, found {len(puzzles)}")
    return puzzles[0].puzzle


@dataclass
class ParsedPuzzle:
    puzzle: np.ndarray
    solution: np.ndarray | None  # given by a CSV line, else None
    line: int  # 1-based line where the puzzle starts


def _check_rules(grid: np.ndarray, where: str, what: str = "clues") -> None:
    conflicts = find_conflicts(grid)
    if conflicts:
        raise TRMError(f"{where}: {what} break the rules: {conflicts[0]}")


def parse_text(text: str, source: str = "input") -> list[ParsedPuzzle]:
    """Every puzzle in ``text`` (any mix of the three forms, see the module doc).

    Raises :class:`TRMError` naming ``source`` and the line for the first problem.
    """
    out: list[ParsedPuzzle] = []
    rows: list[str] = []  # rows of a grid text being read
    start = 0

    def finish_grid(line_no: int) -> None:
        nonlocal rows
        if not rows:
            return
        size = len(rows[0])
        where = f"{source}:{start}"
        if len(rows) != size:
            raise TRMError(f"{where}: grid has {len(rows)} rows, expected {size}")
        grid = _cells_from_chars("".join(rows), where)
        _check_rules(grid, where)
        out.append(ParsedPuzzle(grid, None, start))
        rows = []

    first_content = True
    for line_no, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.strip()
        where = f"{source}:{line_no}"
        if not line or line.startswith("#"):
            finish_grid(line_no)
            continue
        if "," in line:
            finish_grid(line_no)
            if first_content and _CSV_HEADER.match(line):
                first_content = False
                continue
            first_content = False
            fields = [f.strip() for f in line.split(",")]
            if len(fields) != 2:
                raise TRMError(f"{where}: expected 'puzzle,solution', got {len(fields)} fields")
            puzzle = _cells_from_chars(fields[0], where)
            solution = _cells_from_chars(fields[1], where)
            if solution.size != puzzle.size:
                raise TRMError(f"{where}: puzzle and solution have different sizes")
            _check_rules(puzzle, where)
            if not is_solution(solution, puzzle):
                raise TRMError(f"{where}: the solution does not solve the puzzle")
            out.append(ParsedPuzzle(puzzle, solution, line_no))
            continue
        first_content = False
        if _SEPARATOR_LINE.match(line):
            continue
        cells = re.sub(r"[\s|]", "", line)
        if not rows and size_of_length(len(cells)) is not None:
            grid = _cells_from_chars(cells, where)
            _check_rules(grid, where)
            out.append(ParsedPuzzle(grid, None, line_no))
            continue
        if len(cells) in (4, 6, 9) and (not rows or len(cells) == len(rows[0])):
            if not rows:
                start = line_no
            rows.append(cells)
            if len(rows) == len(rows[0]):
                finish_grid(line_no)
            continue
        if rows:
            raise TRMError(f"{where}: grid row has {len(cells)} cells, expected {len(rows[0])}")
        raise TRMError(
            f"{where}: expected a puzzle of 81 characters (or 16/36 for 4x4/6x6), "
            f"a 'puzzle,solution' line or a grid row; got {len(cells)} characters"
        )
    finish_grid(-1)
    return out
