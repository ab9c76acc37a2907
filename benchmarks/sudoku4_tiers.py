"""Check behind a README claim: every 4x4 puzzle with one solution falls to naked singles.

Enumerates every subset of clues of every one of the 288 valid 4x4 grids (18.9 million
puzzles, about 12 minutes on one core) and counts them by tier.

    python benchmarks/sudoku4_tiers.py
    -> 288 grids {'several solutions': 5294688, 'easy': 13579680}
"""

from __future__ import annotations

import random
import time
from collections import Counter

import numpy as np

from puzzles.sudoku.solver import propagate_only, random_solution, solve


def main() -> None:
    rng = random.Random(1)
    grids: dict[bytes, np.ndarray] = {}
    while len(grids) < 288:  # there are exactly 288 valid 4x4 grids
        g = random_solution(4, rng)
        grids[g.tobytes()] = g
    counts: Counter[str] = Counter()
    start = time.time()
    for g in grids.values():
        for mask in range(1 << 16):
            p = np.where([(mask >> i) & 1 for i in range(16)], g, 0).astype(np.int8)
            naked = propagate_only(p, hidden_singles=False)
            if naked is not None and bool(np.all(naked > 0)):
                counts["easy"] += 1
                continue
            r = solve(p)
            counts[r.rating.tier if r.rating else "several solutions"] += 1
    print(len(grids), "grids", dict(counts), f"{time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
