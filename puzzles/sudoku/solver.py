"""Exact Sudoku solver: constraint propagation plus depth-first search, and a difficulty rating.

Candidates are bit masks (bit ``d - 1`` set when digit ``d`` is still possible).
Propagation applies the two *singles* rules until nothing changes:

* naked single: a cell with one candidate left takes it, and its peers lose it;
* hidden single: a digit with one possible cell left in a row, column or box goes there.

When propagation stalls, the search guesses a value for the cell with the fewest
candidates (lowest index on ties) and propagates again.

The rating comes from the *exhaustive* search that proves uniqueness (it explores the
whole tree, so it does not depend on the order in which digits are tried):
``guesses`` counts the branch points, ``backtracks`` the branches that ended in a
contradiction. Tiers are defined on it, see :data:`TIERS`.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

import numpy as np

from puzzles.sudoku.grid import Geometry, geometry, size_of_length
from trm.errors import TRMError


class _Stats:
    __slots__ = ("backtracks", "guesses", "hidden")

    def __init__(self) -> None:
        self.guesses = 0
        self.backtracks = 0
        self.hidden = 0  # placements made by the hidden-single rule


def _propagate(
    cand: list[int],
    geo: Geometry,
    queue: list[int],
    stats: _Stats | None,
    hidden_singles: bool = True,
) -> bool:
    """Apply the singles rules to a fixed point, in place. False on a contradiction.

    ``queue`` holds cells that were just fixed and whose digit must leave their peers.
    """
    peers, units = geo.peers, geo.units
    full = (1 << geo.size) - 1
    while True:
        while queue:
            cell = queue.pop()
            mask = cand[cell]
            for p in peers[cell]:
                pm = cand[p]
                if pm & mask:
                    pm &= ~mask
                    if not pm:
                        return False
                    cand[p] = pm
                    if not pm & (pm - 1):  # one candidate left: a naked single
                        queue.append(p)
        if not hidden_singles:
            return True
        for unit in units:
            once = twice = 0
            for c in unit:
                m = cand[c]
                twice |= once & m
                once |= m
            if once != full:  # some digit has no place left in this unit
                return False
            hidden = once & ~twice
            if not hidden:
                continue
            for c in unit:
                m = cand[c]
                h = m & hidden
                if h and m != h:
                    if h & (h - 1):  # two digits both need this very cell
                        return False
                    cand[c] = h
                    queue.append(c)
                    if stats is not None:
                        stats.hidden += 1
        if not queue:
            return True


def _initial(puzzle: np.ndarray, geo: Geometry) -> tuple[list[int], list[int]]:
    full = (1 << geo.size) - 1
    cand = [full] * geo.cells
    queue = []
    for i, v in enumerate(puzzle.tolist()):
        if v:
            cand[i] = 1 << (v - 1)
            queue.append(i)
    return cand, queue


def _pick_cell(cand: list[int]) -> int:
    """The undecided cell with the fewest candidates (lowest index on ties), or -1."""
    best, best_n = -1, 99
    for i, m in enumerate(cand):
        if m & (m - 1):
            n = m.bit_count()
            if n < best_n:
                best, best_n = i, n
                if n == 2:
                    break
    return best


def _search(
    cand: list[int],
    geo: Geometry,
    stats: _Stats,
    limit: int,
    found: list[list[int]],
    rng: random.Random | None = None,
) -> None:
    """Depth-first search below a propagated state; appends solutions to ``found``."""
    cell = _pick_cell(cand)
    if cell < 0:
        found.append(cand)
        return
    stats.guesses += 1
    mask = cand[cell]
    bits = [1 << d for d in range(geo.size) if mask >> d & 1]
    if rng is not None:
        rng.shuffle(bits)
    for bit in bits:
        child = cand.copy()
        child[cell] = bit
        if _propagate(child, geo, [cell], stats):
            _search(child, geo, stats, limit, found, rng)
            if len(found) >= limit:
                return
        else:
            stats.backtracks += 1


def _to_grid(cand: list[int]) -> np.ndarray:
    return np.array([m.bit_length() for m in cand], dtype=np.int8)


def _geometry_of(puzzle: np.ndarray) -> Geometry:
    size = size_of_length(puzzle.size)
    if size is None:
        raise TRMError(f"a Sudoku has 16, 36 or 81 cells, not {puzzle.size}")
    return geometry(size)


# --------------------------------------------------------------------------- rating

TIERS = ("easy", "medium", "hard", "extreme")
EXTREME_MIN_BACKTRACKS = {4: 1, 6: 2, 9: 6}
"""Hard and extreme both defeat propagation; extreme also needs this many dead ends
(per size: small grids have small search trees)."""
TIERS_BY_SIZE = {4: ("easy",), 6: TIERS, 9: TIERS}
"""Tiers that exist per size: every 4x4 puzzle with one solution falls to naked singles
(checked by enumerating all clue subsets of all 288 grids), so 4x4 has only ``easy``."""


@dataclass(frozen=True)
class Rating:
    """How much work the exact solver needed; the tier is a function of it."""

    size: int
    clues: int
    naked_singles_only: bool  # naked singles alone fill the grid
    propagation_only: bool  # naked + hidden singles fill the grid, no guess needed
    guesses: int  # branch points in the exhaustive search
    backtracks: int  # branches of that search that hit a contradiction

    @property
    def tier(self) -> str:
        return tier_of(self)

    def to_dict(self) -> dict:
        return {**asdict(self), "tier": self.tier}


def tier_of(r: Rating) -> str:
    """The named tier of a rating (the definitions are documented in the README).

    * easy: naked singles alone solve it;
    * medium: propagation solves it, but only with hidden singles;
    * hard: propagation alone stalls, so the solver must guess, with fewer than
      ``EXTREME_MIN_BACKTRACKS[size]`` dead ends (6 for 9x9) in the whole search tree;
    * extreme: propagation alone stalls and the search hits at least that many dead ends.
    """
    if r.naked_singles_only:
        return "easy"
    if r.propagation_only:
        return "medium"
    if r.backtracks < EXTREME_MIN_BACKTRACKS[r.size]:
        return "hard"
    return "extreme"


# --------------------------------------------------------------------------- solving


@dataclass(frozen=True)
class SolveResult:
    solution: np.ndarray | None  # the first solution found, None when there is none
    count: int  # solutions found: 0 .. limit, where ``limit`` means "at least that many"
    rating: Rating | None  # None unless proven unique (a cut-short search rates nothing)
    limit: int = 2

    @property
    def unique(self) -> bool:
        """Proven to have exactly one solution (needs a search allowed to find two)."""
        return self.count == 1 < self.limit


def propagate_only(puzzle: np.ndarray, hidden_singles: bool = True) -> np.ndarray | None:
    """The grid after propagation alone (blanks where it stalled); None on a contradiction."""
    puzzle = np.asarray(puzzle, dtype=np.int8).reshape(-1)
    geo = _geometry_of(puzzle)
    cand, queue = _initial(puzzle, geo)
    if not _propagate(cand, geo, queue, None, hidden_singles):
        return None
    return np.array([m.bit_length() if not m & (m - 1) else 0 for m in cand], dtype=np.int8)


def solve(puzzle: np.ndarray, limit: int = 2) -> SolveResult:
    """Solve exactly, counting solutions up to ``limit`` (2 tells unique from multiple)."""
    puzzle = np.asarray(puzzle, dtype=np.int8).reshape(-1)
    geo = _geometry_of(puzzle)
    stats = _Stats()
    cand, queue = _initial(puzzle, geo)
    found: list[list[int]] = []
    if _propagate(cand, geo, queue, stats):
        _search(cand, geo, stats, limit, found)
    if not found:
        return SolveResult(None, 0, None, limit)
    if len(found) > 1 or limit < 2:
        return SolveResult(_to_grid(found[0]), len(found), None, limit)
    naked = propagate_only(puzzle, hidden_singles=False)
    rating = Rating(
        size=geo.size,
        clues=int(np.count_nonzero(puzzle)),
        naked_singles_only=naked is not None and bool(np.all(naked > 0)),
        propagation_only=stats.guesses == 0,
        guesses=stats.guesses,
        backtracks=stats.backtracks,
    )
    return SolveResult(_to_grid(found[0]), len(found), rating, limit)


def rate(puzzle: np.ndarray) -> Rating:
    """The rating of a puzzle with exactly one solution (raises otherwise)."""
    result = solve(puzzle)
    if result.count != 1:
        raise TRMError(
            "only a puzzle with exactly one solution can be rated "
            f"({'none' if result.count == 0 else 'several'} found)"
        )
    assert result.rating is not None
    return result.rating


def random_solution(size: int, rng: random.Random) -> np.ndarray:
    """A random full grid: the search on an empty grid, trying digits in random order."""
    geo = geometry(size)
    cand = [(1 << size) - 1] * geo.cells
    found: list[list[int]] = []
    _search(cand, geo, _Stats(), 1, found, rng)
    return _to_grid(found[0])


def has_other_solution(puzzle: np.ndarray, cell: int, value: int) -> bool:
    """Whether ``puzzle`` has a solution with ``cell`` != ``value``.

    The generator's uniqueness test: if the puzzle with ``cell`` given had one solution
    (in which ``cell`` holds ``value``), blanking ``cell`` keeps it unique exactly
    when no solution puts another digit there. One search, stopping at the first hit.
    """
    geo = _geometry_of(puzzle)
    cand, queue = _initial(puzzle, geo)
    cand[cell] &= ~(1 << (value - 1))
    if not _propagate(cand, geo, queue, None):
        return False
    found: list[list[int]] = []
    _search(cand, geo, _Stats(), 1, found)
    return bool(found)
