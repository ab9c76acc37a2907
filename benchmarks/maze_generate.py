"""Benchmark: hard 30x30 mazes generated per second, per style, and the 60 s target.

1. One process, each style at 30x30 with the default --min-path (110 moves): mazes/s
   over a fixed sample (generate_indexed), with the spread of the path lengths made.
2. The real build path (`trm data maze`), 30x30, each style: the time to build N mazes
   with W workers. The target: 1,000 hard 30x30 mazes in 60 s with 2 workers.

    python benchmarks/maze_generate.py            # 200 per style; 1,000 with 2 workers
    python benchmarks/maze_generate.py --quick    # 50 per style; 100 with 1 worker
    python benchmarks/maze_generate.py --n 500 --workers 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from puzzles.maze.data import build_generated
from puzzles.maze.generate import STYLES, default_min_path, generate_indexed

SIZE = 30


def per_style(n: int) -> None:
    min_path = default_min_path(SIZE)
    print(f"{SIZE}x{SIZE}, min path {min_path} moves, one process:")
    print(f"  {'style':<10}{'mazes':>7}{'mazes/s':>10}   path moves: min / median / max")
    for style in STYLES:
        start = time.perf_counter()
        lengths = [
            generate_indexed(SIZE, style, min_path, 0, "bench", i).path_length for i in range(n)
        ]
        rate = n / (time.perf_counter() - start)
        print(
            f"  {style:<10}{n:>7}{rate:>10.1f}   {min(lengths)} / "
            f"{int(np.median(lengths))} / {max(lengths)}"
        )


def build_seconds(n: int, workers: int, style: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        build_generated(
            Path(tmp) / "d",
            size=SIZE,
            style=style,
            train=n,
            test=0,
            seed=1,
            workers=workers,
            progress=False,
        )
        return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="50 per style, build 100 with 1 worker")
    p.add_argument("--n", type=int, help="mazes in the build (default 1000; 100 with --quick)")
    p.add_argument("--workers", type=int, help="build workers (default 2; 1 with --quick)")
    args = p.parse_args()
    per_style(50 if args.quick else 200)
    n = args.n or (100 if args.quick else 1000)
    workers = args.workers or (1 if args.quick else 2)
    print(f"build path ({SIZE}x{SIZE}, default min path), {n} mazes, {workers} worker(s):")
    for style in STYLES:
        seconds = build_seconds(n, workers, style)
        print(f"  {style:<10}{seconds:>7.1f} s  ({n / seconds:.1f} mazes/s)")
    print(
        "target: 1000 hard 30x30 mazes in 60 s with 2 workers"
        + ("" if (n, workers) == (1000, 2) else f" (this run: {n} with {workers})")
    )


if __name__ == "__main__":
    main()
