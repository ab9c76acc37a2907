"""Benchmark: Sudoku puzzles generated per second, per size and tier, and the 60 s target.

1. One process, each (size, tier): puzzles/s over a fixed sample (generate_indexed).
2. The real build path (`trm data sudoku`), 9x9 hard, with 1 worker and then with all
   cores, in the same run: the target is 1,000 hard puzzles in 60 s using both cores.

    python benchmarks/sudoku_generate.py [--quick]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from puzzles.sudoku.data import build_generated
from puzzles.sudoku.generate import generate_indexed
from puzzles.sudoku.solver import TIERS_BY_SIZE

SAMPLE = {4: 200, 6: 60, 9: 30}


def per_tier(scale: float) -> None:
    print(f"{'size':>4} {'tier':<8}{'puzzles':>8}{'puzzles/s':>11}  (one process)")
    for size in (9, 6, 4):
        for tier in TIERS_BY_SIZE[size]:
            n = max(3, int(SAMPLE[size] * scale))
            start = time.perf_counter()
            for i in range(n):
                generate_indexed(size, tier, 0, "bench", i)
            rate = n / (time.perf_counter() - start)
            print(f"{size:>4} {tier:<8}{n:>8}{rate:>11.1f}")


def build_rate(n: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        build_generated(
            Path(tmp) / "d",
            size=9,
            difficulty="hard",
            train=n,
            test=0,
            seed=1,
            workers=workers,
            progress=False,
        )
        return time.perf_counter() - start


def main() -> None:
    quick = "--quick" in sys.argv
    per_tier(0.3 if quick else 1.0)
    cores = os.cpu_count() or 1
    n = 60 if quick else 300  # the same seed: both runs make the very same puzzles
    one, many = build_rate(n, 1), build_rate(n, cores)
    print(
        f"9x9 hard via the build, {n} puzzles: 1 worker {n / one:.1f}/s, {cores} workers "
        f"{n / many:.1f}/s: {one / many:.2f}x"
    )
    n = 100 if quick else 1000
    seconds = build_rate(n, cores)
    print(f"9x9 hard, {cores} workers: {n} puzzles in {seconds:.1f} s (target: 1000 in 60 s)")


if __name__ == "__main__":
    main()
