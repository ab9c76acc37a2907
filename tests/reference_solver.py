"""An independent Sudoku reference for the tests: deliberately small and obviously correct.

Nothing here imports :mod:`puzzles.sudoku.solver` (or any other project module), so the
tests can check the project's solver and generator against it:

* :func:`count_solutions`: plain depth-first backtracking (minimum remaining values,
  plus "where can this digit go in this unit" splits), counting solutions up to
  ``limit`` and returning the first one found.
* :func:`naked_singles_fill` / :func:`singles_fill`: the two propagation rules the
  difficulty tiers are defined on, applied to a fixed point, written from their
  textbook definitions.
* :func:`is_valid_solution`: a full grid with every row, column and box a permutation of
  1..size that keeps every clue.
"""

from __future__ import annotations

import numpy as np

BOX_SHAPES = {4: (2, 2), 6: (2, 3), 9: (3, 3)}


def units(size: int) -> list[list[int]]:
    """Rows, then columns, then boxes, as lists of flat cell indices."""
    box_rows, box_cols = BOX_SHAPES[size]
    rows = [[r * size + c for c in range(size)] for r in range(size)]
    cols = [[r * size + c for r in range(size)] for c in range(size)]
    boxes = []
    for br in range(0, size, box_rows):
        for bc in range(0, size, box_cols):
            boxes.append(
                [r * size + c for r in range(br, br + box_rows) for c in range(bc, bc + box_cols)]
            )
    return rows + cols + boxes


def peers(size: int) -> list[set[int]]:
    """For each cell, the other cells sharing a row, column or box with it."""
    out: list[set[int]] = [set() for _ in range(size * size)]
    for unit in units(size):
        for cell in unit:
            out[cell].update(unit)
    for cell, p in enumerate(out):
        p.discard(cell)
    return out


def _size_of(puzzle) -> int:
    n = len(puzzle)
    for size in BOX_SHAPES:
        if size * size == n:
            return size
    raise ValueError(f"not a Sudoku: {n} cells")


def _legal(grid: list[int], cell: int, size: int, peer_sets: list[set[int]]) -> list[int]:
    used = {grid[p] for p in peer_sets[cell]}
    return [d for d in range(1, size + 1) if d not in used]


def count_solutions(
    puzzle, size: int | None = None, limit: int = 2
) -> tuple[int, np.ndarray | None]:
    """``(count, first_solution)``: solutions counted up to ``limit``, the first one as int8.

    Plain backtracking: place one digit, recurse, undo. Each step branches on the
    smallest exhaustive case split it can see:

    * a blank cell's legal digits (minimum remaining values), or
    * a digit missing from a row, column or box: the blank cells of that unit where it
      is legal (it has to go in one of them).

    Either split puts every solution in exactly one branch, so counts are exact; the
    second kind only makes the search tree smaller (plain MRV needs ~0.5M nodes on some
    top95 puzzles). There is no propagation: a forced move is just a one-branch step.
    Clues that already break a rule give ``(0, None)``.
    """
    grid = [int(v) for v in np.asarray(puzzle).reshape(-1)]
    size = size or _size_of(grid)
    assert len(grid) == size * size
    all_units = units(size)
    units_of = [
        [u for u, unit in enumerate(all_units) if cell in unit] for cell in range(len(grid))
    ]
    used = [0] * len(all_units)  # per unit: bit d set when digit d is placed in it
    for cell, v in enumerate(grid):
        if v:
            for u in units_of[cell]:
                if used[u] >> v & 1:
                    return 0, None
                used[u] |= 1 << v
    digits = range(1, size + 1)
    full = sum(1 << d for d in digits)
    digits_in = [[d for d in digits if mask >> d & 1] for mask in range(full + 1)]
    found: list[list[int]] = []

    def search() -> None:
        legal: dict[int, list[int]] = {}
        best: list[tuple[int, int]] | None = None  # the (cell, digit) branches to try
        for cell, v in enumerate(grid):
            if v == 0:
                a, b, c = units_of[cell]
                legal[cell] = digits_in[full & ~(used[a] | used[b] | used[c])]
                if best is None or len(legal[cell]) < len(best):
                    best = [(cell, d) for d in legal[cell]]
                    if len(best) <= 1:
                        break
        if best is None:  # no blank left: every placement was legal, so this is a solution
            found.append(grid.copy())
            return
        if len(best) > 1:  # (legal then covers every blank: the loop above did not stop early)
            for u, unit in enumerate(all_units):
                places: dict[int, list[int]] = {}
                for cell in unit:
                    for d in legal.get(cell, ()):
                        places.setdefault(d, []).append(cell)
                for d in digits:
                    if not used[u] >> d & 1 and len(places.get(d, ())) < len(best):
                        best = [(cell, d) for cell in places.get(d, ())]
                if len(best) <= 1:
                    break
        for cell, d in best:  # an empty list is a dead end
            grid[cell] = d
            for u in units_of[cell]:
                used[u] |= 1 << d
            search()
            grid[cell] = 0
            for u in units_of[cell]:
                used[u] &= ~(1 << d)
            if len(found) >= limit:
                return

    search()
    first = np.array(found[0], dtype=np.int8) if found else None
    return len(found), first


def naked_singles_fill(puzzle, size: int | None = None) -> np.ndarray:
    """Fill every blank that has exactly one legal digit, repeatedly, until none has.

    Blanks stay 0 where the rule stalls (or where a cell has no legal digit left).
    """
    grid = [int(v) for v in np.asarray(puzzle).reshape(-1)]
    size = size or _size_of(grid)
    peer_sets = peers(size)
    while _naked_pass(grid, size, peer_sets):
        pass
    return np.array(grid, dtype=np.int8)


def _naked_pass(grid: list[int], size: int, peer_sets: list[set[int]]) -> bool:
    """One sweep of the naked-single rule over every blank; True if it placed a digit."""
    changed = False
    for cell in range(len(grid)):
        if grid[cell] == 0:
            digits = _legal(grid, cell, size, peer_sets)
            if len(digits) == 1:
                grid[cell] = digits[0]
                changed = True
    return changed


def singles_fill(puzzle, size: int | None = None) -> np.ndarray:
    """Naked singles plus hidden singles (a digit with one legal cell left in a unit goes
    there), repeatedly, until neither rule places anything."""
    grid = [int(v) for v in np.asarray(puzzle).reshape(-1)]
    size = size or _size_of(grid)
    peer_sets = peers(size)
    all_units = units(size)
    changed = True
    while changed:
        changed = _naked_pass(grid, size, peer_sets)
        for unit in all_units:
            for d in range(1, size + 1):
                if any(grid[c] == d for c in unit):
                    continue
                spots = [c for c in unit if grid[c] == 0 and d in _legal(grid, c, size, peer_sets)]
                if len(spots) == 1:
                    grid[spots[0]] = d
                    changed = True
    return np.array(grid, dtype=np.int8)


def is_valid_solution(grid, puzzle=None) -> bool:
    """Full, every unit holds 1..size exactly once, and every clue of ``puzzle`` is kept."""
    flat = [int(v) for v in np.asarray(grid).reshape(-1)]
    size = _size_of(flat)
    want = set(range(1, size + 1))
    if any(sorted(flat[c] for c in unit) != sorted(want) for unit in units(size)):
        return False
    if puzzle is not None:
        clues = [int(v) for v in np.asarray(puzzle).reshape(-1)]
        return all(v == 0 or v == flat[i] for i, v in enumerate(clues))
    return True
