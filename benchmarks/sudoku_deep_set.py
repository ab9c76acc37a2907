"""Held-out Sudoku puzzles that need deep search, for choosing test-time settings.

Generated extreme puzzles mostly need little search (median 9 dead ends in the exact
solver's exhaustive tree; top95's median is 42), so a selection set of them saturates
(16 checked views solve 99.7%) and cannot tell settings apart where the hard outside sets
are. This script climbs toward deeper search: puzzle ``i`` starts from the generator's
extreme puzzle ``i`` of stream ``deep`` and repeatedly moves one clue to an empty cell (the
solution's digit there), keeping a move when the puzzle still has one solution and its
dead ends do not fall, until it reaches a target drawn in TARGET (or gives up after MOVES
tries); it is kept when it has at least MIN_DEAD_ENDS. Each puzzle has its own seeded random
source, so the output does not depend on the number of workers. The file is written whole
(one 81-character line a puzzle, '.' for blanks), then imported:

    python benchmarks/sudoku_deep_set.py --out data/sel-deep --n 400 --seed 72
    (runs `trm data sudoku --import DEEP.txt --out data/sel-deep` itself)
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from puzzles.sudoku.generate import generate_indexed
from puzzles.sudoku.grid import to_string
from puzzles.sudoku.solver import solve

TARGET = (25, 80)  # dead ends aimed at, drawn uniformly per puzzle
MOVES = 600  # clue moves tried per puzzle at most
MIN_DEAD_ENDS = 20  # kept only from here (generated extreme puzzles: ~4.5% reach it)


def climb(seed: int, index: int) -> tuple[str, int] | None:
    """Puzzle ``index``: its line and dead ends, or None when it stayed too shallow."""
    start = generate_indexed(9, "extreme", seed, "deep", index)
    rng = random.Random(f"deep/{seed}/{index}")
    puzzle, solution = start.puzzle.ravel().copy(), start.solution.ravel()
    dead_ends, target = start.rating.backtracks, rng.randint(*TARGET)
    for _ in range(MOVES):
        if dead_ends >= target:
            break
        moved = puzzle.copy()
        clue = rng.choice(np.flatnonzero(moved).tolist())
        blank = rng.choice(np.flatnonzero(moved == 0).tolist())
        moved[clue], moved[blank] = 0, solution[blank]
        result = solve(moved)  # one exhaustive search: uniqueness and the rating
        if result.unique and result.rating.backtracks >= dead_ends:
            puzzle, dead_ends = moved, result.rating.backtracks
    if dead_ends < MIN_DEAD_ENDS:
        return None
    return to_string(puzzle), dead_ends


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="dataset folder to import into")
    p.add_argument("--n", type=int, default=400, help="puzzles to keep")
    p.add_argument("--seed", type=int, default=72)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    a = p.parse_args()
    lines: list[str] = []
    depths: list[int] = []
    with ProcessPoolExecutor(a.workers) as pool, tqdm(total=a.n, unit="puzzle") as bar:
        index = 0
        while len(lines) < a.n:  # in rounds, so the kept ones are the first n by index
            batch = range(index, index + max(16, a.n // 2))
            for found in pool.map(climb, [a.seed] * len(batch), batch, chunksize=8):
                if found and len(lines) < a.n:
                    lines.append(found[0])
                    depths.append(found[1])
                    bar.update()
            index += len(batch)
    print(
        f"{a.n} puzzles, dead ends: median {np.median(depths):.0f}, "
        f"mean {np.mean(depths):.1f}, max {max(depths)}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / f"{a.out.name}.txt"
        text.write_text("".join(line + "\n" for line in lines))
        cmd = ["trm", "data", "sudoku", "--import", str(text), "--out", str(a.out), "--quiet"]
        sys.exit(subprocess.run(cmd).returncode)


if __name__ == "__main__":
    main()
