"""Test-time scaling with the checker: accuracy and time against K, views vs noise vs both.

For each Sudoku set (files of one puzzle per line: ../shared/data/sudoku/top95.txt,
hardest.txt, 17clue-2000.txt) and each setting, runs :func:`puzzles.scaling.run` with the
shipped model (or --run) on all puzzles at once (batched across puzzles) and prints exact
accuracy (against the exact solver's solution), the share verified, mean supervision steps
per candidate, and seconds per puzzle, with the one pass (K=1, all steps) measured in the
same run as the baseline for the time ratio.

    python benchmarks/test_time_scaling.py --sets top95,17clue-2000 --limit 200 \\
        --ks 1,4,16,64 --kinds views,noise,both --noise 1.0 --halting verified,full

Mazes (or any dataset folder of a task with a checker): ``--run RUN --data DIR`` scores
the folder's test split against its labels instead of the Sudoku sets.

Writes every row as JSON to --out (default: none) as well.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch

from puzzles.dataset import load_dataset
from puzzles.evaluation import load_model
from puzzles.scaling import Sampling, run
from puzzles.sudoku.data import encode
from puzzles.sudoku.grid import parse_text
from puzzles.sudoku.solver import solve
from puzzles.tasks import get_task
from trm.device import resolve_precision

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "sudoku"
DEFAULT_RUN = Path(__file__).resolve().parents[1] / "puzzles" / "sudoku" / "default_model"


def load_set(name: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
    path = Path(name) if Path(name).exists() else SHARED / f"{name}.txt"
    puzzles = [p.puzzle.reshape(-1) for p in parse_text(path.read_text(), str(path))][
        : limit or None
    ]
    q = np.stack([encode(p) for p in puzzles])
    sol = np.stack([encode(solve(p).solution) for p in puzzles])
    return q, sol


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, default=DEFAULT_RUN)
    p.add_argument("--sets", default="top95,hardest,17clue-2000")
    p.add_argument("--data", type=Path, help="a dataset folder: its test split instead of --sets")
    p.add_argument("--limit", type=int, default=0, help="first N puzzles of each set (0: all)")
    p.add_argument("--ks", default="1,4,16,64")
    p.add_argument("--kinds", default="views", help="views, noise, both (comma-separated)")
    p.add_argument("--noise", type=float, default=0.3)
    p.add_argument("--halting", default="verified", help="verified, full (comma-separated)")
    p.add_argument("--precision", default="auto")
    p.add_argument("--batch-rows", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    torch.manual_seed(0)
    device = torch.device("cpu")
    precision = resolve_precision(args.precision, device)
    model, _ = load_model(args.run, device)
    flags = Path("/proc/cpuinfo").read_text()
    cpu = "AVX512-BF16" if "avx512_bf16" in flags else "AVX2" if "avx2" in flags else "other"
    print(f"model {args.run} · {precision} · CPU {cpu} · {torch.get_num_threads()} threads")
    rows = []
    if args.data:
        ds = load_dataset(args.data, splits=["test"])
        task = get_task(ds.task).for_scaling()
        n = args.limit or len(ds.splits["test"])
        sets = [(args.data.name, ds.splits["test"].inputs[:n], ds.splits["test"].labels[:n])]
    else:
        task = get_task("sudoku")
        sets = [(name, *load_set(name, args.limit)) for name in args.sets.split(",")]
    for name, q, sol in sets:
        base = None
        settings = [(1, "views", "full")] + [
            (k, kind, halting)
            for k, kind, halting in itertools.product(
                map(int, args.ks.split(",")), args.kinds.split(","), args.halting.split(",")
            )
            if k > 1
        ]
        for k, kind, halting in settings:
            start = time.perf_counter()
            r = run(
                model,
                q,
                task,
                Sampling(
                    samples=k,
                    views=kind in ("views", "both"),
                    noise=args.noise if kind in ("noise", "both") else 0.0,
                    halting=halting,
                    seed=args.seed,
                ),
                batch_rows=args.batch_rows,
                precision=precision,
            )
            seconds = time.perf_counter() - start
            per = seconds / len(q)
            base = base or per
            row = {
                "set": name,
                "n": len(q),
                "k": k,
                "kind": kind if k > 1 else "one pass",
                "halting": halting,
                "noise": args.noise if kind in ("noise", "both") else 0.0,
                "exact": float(np.all(r.answers == sol, 1).mean()),
                "verified": float(r.verified.mean()),
                "mean_steps": r.mean_steps,
                "s_per_puzzle": per,
                "time_vs_one_pass": per / base,
                "precision": precision,
                "cpu": cpu,
            }
            rows.append(row)
            print(
                f"{name:<12} n={len(q):<4} K={k:<3} {row['kind']:<8} {halting:<8} "
                f"exact {row['exact']:.3f} verified {row['verified']:.3f} "
                f"steps {r.mean_steps:.2f} {per:.3f} s/puzzle ({per / base:.1f}x one pass)",
                flush=True,
            )
            if args.out:
                args.out.write_text("\n".join(json.dumps(x) for x in rows) + "\n")


if __name__ == "__main__":
    main()
