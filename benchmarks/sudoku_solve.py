"""Benchmark: solve every outside Sudoku in ../shared/data/sudoku/ and check each answer.

Prints per-file and total time, checks every solution against the rules and its clues,
and compares with a baseline measured in the same run: plain backtracking (fewest
candidates first, no propagation) on the top95 + hardest sets.

    python benchmarks/sudoku_solve.py [DATA_DIR]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from puzzles.sudoku.grid import geometry, is_solution, parse_text
from puzzles.sudoku.solver import solve

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "sudoku"


def baseline_solve(puzzle: np.ndarray) -> np.ndarray | None:
    """Plain backtracking: choose the blank with the fewest candidates, try each digit."""
    geo = geometry(9)
    grid = puzzle.astype(int).tolist()
    full = (1 << 9) - 1

    def candidates(cell: int) -> int:
        used = 0
        for p in geo.peers[cell]:
            if grid[p]:
                used |= 1 << (grid[p] - 1)
        return full & ~used

    def search() -> bool:
        best, best_mask, best_n = -1, 0, 10
        for cell in range(81):
            if grid[cell] == 0:
                mask = candidates(cell)
                n = mask.bit_count()
                if n < best_n:
                    best, best_mask, best_n = cell, mask, n
                    if n <= 1:
                        break
        if best < 0:
            return True
        for d in range(9):
            if best_mask >> d & 1:
                grid[best] = d + 1
                if search():
                    return True
        grid[best] = 0
        return False

    return np.array(grid, dtype=np.int8) if search() else None


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    total_n, total_s, wrong = 0, 0.0, 0
    print(f"{'file':<18}{'puzzles':>8}{'seconds':>9}{'ms/puzzle':>11}{'max ms':>8}  tiers")
    for name in ("top95.txt", "hardest.txt", "17clue-2000.txt"):
        parsed = parse_text((folder / name).read_text(), name)
        tiers: dict[str, int] = {}
        slowest = 0.0
        start = time.perf_counter()
        for p in parsed:
            t = time.perf_counter()
            r = solve(p.puzzle)
            slowest = max(slowest, time.perf_counter() - t)
            ok = r.count == 1 and r.solution is not None and is_solution(r.solution, p.puzzle)
            wrong += not ok
            if r.rating:
                tiers[r.rating.tier] = tiers.get(r.rating.tier, 0) + 1
        seconds = time.perf_counter() - start
        total_n, total_s = total_n + len(parsed), total_s + seconds
        print(
            f"{name:<18}{len(parsed):>8}{seconds:>9.2f}{1000 * seconds / len(parsed):>11.2f}"
            f"{1000 * slowest:>8.1f}  {dict(sorted(tiers.items()))}"
        )
    print(
        f"{'all':<18}{total_n:>8}{total_s:>9.2f}{1000 * total_s / total_n:>11.2f}"
        f"   wrong or not unique: {wrong}"
    )

    hard = [
        p.puzzle
        for name in ("top95.txt", "hardest.txt")
        for p in parse_text((folder / name).read_text(), name)
    ]
    start = time.perf_counter()
    for p in hard:
        solve(p)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for p in hard:
        assert is_solution(baseline_solve(p), p)
    base = time.perf_counter() - start
    print(
        f"top95+hardest ({len(hard)}): ours {ours:.2f} s (proves uniqueness too), plain "
        f"backtracking {base:.2f} s (first solution only): {base / ours:.1f}x faster"
    )
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
