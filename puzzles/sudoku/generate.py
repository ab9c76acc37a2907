"""Generate Sudoku puzzles with a unique solution at a named difficulty tier.

Every puzzle starts from a random full grid; clues are then removed one at a time in a
random order, keeping a removal only while the puzzle stays inside what the tier allows:

* easy: naked singles alone still fill the grid;
* medium: naked + hidden singles still fill the grid (the result must need hidden ones);
* hard / extreme: the puzzle still has one solution; the end result is a *minimal*
  puzzle (no clue can go), rated, and kept only if its rating falls in the tier.

Each puzzle is a pure function of ``(size, tier, seed, index)`` so that a dataset is the
same whatever the number of worker processes, and a build can resume from any index.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from puzzles.sudoku.grid import geometry
from puzzles.sudoku.solver import (
    TIERS,
    TIERS_BY_SIZE,
    Rating,
    has_other_solution,
    propagate_only,
    random_solution,
    solve,
)
from trm.errors import SettingError, TRMError

MAX_TRIES = 2000  # full grids tried for one puzzle before giving up (6x6 extreme: ~1.4% hit)


@dataclass(frozen=True)
class Generated:
    puzzle: np.ndarray
    solution: np.ndarray
    rating: Rating


def _filled_by(puzzle: np.ndarray, hidden_singles: bool) -> bool:
    grid = propagate_only(puzzle, hidden_singles=hidden_singles)
    return grid is not None and bool(np.all(grid > 0))


def _reduce(solution: np.ndarray, tier: str, rng: random.Random) -> np.ndarray:
    puzzle = solution.copy()
    order = list(range(puzzle.size))
    rng.shuffle(order)
    for cell in order:
        value = int(puzzle[cell])
        puzzle[cell] = 0
        if tier == "easy":
            keep = _filled_by(puzzle, hidden_singles=False)
        elif tier == "medium":
            keep = _filled_by(puzzle, hidden_singles=True)
        else:  # unique is enough; propagation filling the grid proves it cheaply
            keep = _filled_by(puzzle, True) or not has_other_solution(puzzle, cell, value)
        if not keep:
            puzzle[cell] = value
    return puzzle


def generate_one(size: int, tier: str, rng: random.Random, max_tries: int = MAX_TRIES) -> Generated:
    """One puzzle of ``tier`` drawn with ``rng`` (raises TRMError after ``max_tries`` grids)."""
    if tier not in TIERS:
        raise TRMError(f"unknown difficulty {tier!r}: choose one of {', '.join(TIERS)}")
    geometry(size)  # validates the size
    if tier not in TIERS_BY_SIZE[size]:
        raise SettingError(
            f"no {size}x{size} puzzle is {tier!r}: every {size}x{size} puzzle with one solution "
            f"falls to naked singles; use `difficulty` {' or '.join(TIERS_BY_SIZE[size])}"
        )
    for _ in range(max_tries):
        solution = random_solution(size, rng)
        puzzle = _reduce(solution, tier, rng)
        result = solve(puzzle)
        assert result.count == 1 and result.rating is not None
        if result.rating.tier == tier:
            return Generated(puzzle, solution, result.rating)
    if size < 9:
        raise SettingError(
            f"no {size}x{size} puzzle of tier {tier!r} found in {max_tries} tries "
            "(small grids rarely need search: try a lower tier or `size` 9)"
        )
    raise TRMError(f"no {size}x{size} puzzle of tier {tier!r} found in {max_tries} tries")


def puzzle_rng(size: int, tier: str, seed: int, stream: str, index: int) -> random.Random:
    """The random source of puzzle ``index`` in ``stream`` (string seeds hash stably)."""
    return random.Random(f"sudoku/{size}/{tier}/{seed}/{stream}/{index}")


def generate_indexed(size: int, tier: str, seed: int, stream: str, index: int) -> Generated:
    """Puzzle number ``index`` of a seeded stream: the unit of work of parallel builds."""
    return generate_one(size, tier, puzzle_rng(size, tier, seed, stream, index))
