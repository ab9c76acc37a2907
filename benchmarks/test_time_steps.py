"""More supervision steps at test time than in training: accuracy and time against the count.

A TRM's recursion can run past the ``n_sup`` steps it was trained with (``--max-steps`` on
`trm eval` and `trm solve`), and keeps refining. For each dataset folder (its test split)
and each step count, prints the model alone (one pass: all steps, and adaptive halting)
and with K checked candidates (`trm solve`'s default: views, verified halting), each with
its mean steps and seconds per puzzle, and the time as a ratio to the row at the model's
``n_sup`` measured in the same run. Choose the count on held-out sets, then report it on
the others:

    trm data sudoku --out data/sel-extreme --train 0 --test 300 --difficulty extreme --seed 50
    python benchmarks/test_time_steps.py --data data/sel-extreme --steps 8,16,32,48 --samples 16
    python benchmarks/test_time_steps.py --run puzzles/maze/default_model \\
        --data data/sel-maze --steps 8,16,32 --samples 8

Ignores the checkpoint's recorded ``max_steps``: every row asks for its count.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from puzzles.dataset import load_dataset
from puzzles.evaluation import load_model, scored_data
from puzzles.scaling import Sampling, run
from puzzles.tasks import get_task
from trm.device import resolve_precision
from trm.evaluate import evaluate, exact_match

DEFAULT_RUN = Path(__file__).resolve().parents[1] / "puzzles" / "sudoku" / "default_model"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, default=DEFAULT_RUN)
    p.add_argument("--data", required=True, help="dataset folders, comma-separated")
    p.add_argument("--steps", default="8,16,32", help="step counts, comma-separated")
    p.add_argument("--samples", type=int, default=16, help="K candidates (0: one pass only)")
    p.add_argument("--limit", type=int, default=0, help="first N puzzles of each set (0: all)")
    p.add_argument("--precision", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", type=Path, help="also write every row as JSON lines here")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device("cpu")
    precision = resolve_precision(a.precision, device)
    model, _ = load_model(a.run, device)
    n_sup = model.config.n_sup
    counts = [int(s) for s in a.steps.split(",")]
    print(f"{a.run}: trained with {n_sup} steps · {precision} · {torch.get_num_threads()} threads")
    rows = []
    for folder in a.data.split(","):
        ds = load_dataset(Path(folder), splits=["test"])
        data = scored_data(ds, "test").head(a.limit)
        task = get_task(ds.task).for_scaling()
        base: dict[str, float] = {}
        for steps in sorted(set(counts) | {n_sup}):
            row = {"data": folder, "n": len(data), "max_steps": steps}
            for halting in ("full", "adaptive"):
                r = evaluate(model, data, precision=precision, halting=halting, max_steps=steps)
                row[halting] = {
                    "exact": r.exact_accuracy,
                    "mean_steps": r.mean_steps,
                    "s_per_puzzle": 1 / r.examples_per_s,
                }
            if a.samples > 1:
                start = time.perf_counter()
                s = run(model, data.inputs, task, Sampling(samples=a.samples), max_steps=steps)
                row["checked"] = {
                    "samples": a.samples,
                    "exact": float(exact_match(s.answers, data.labels).mean()),
                    "mean_steps": s.mean_steps,
                    "s_per_puzzle": (time.perf_counter() - start) / len(data),
                }
            if steps == n_sup:
                base = {
                    k: row[k]["s_per_puzzle"] for k in ("full", "adaptive", "checked") if k in row
                }
            rows.append(row)
        for row in (r for r in rows if r["data"] == folder):
            if row["max_steps"] not in counts:
                continue
            parts = [f"{folder} ({row['n']}) steps {row['max_steps']:>3}"]
            for k in ("full", "adaptive", "checked"):
                if k in row:
                    v = row[k]
                    ratio = v["s_per_puzzle"] / base[k] if base.get(k) else float("nan")
                    parts.append(
                        f"{k} {100 * v['exact']:5.1f}% ({v['mean_steps']:.2f} steps, "
                        f"{v['s_per_puzzle']:.3f} s, x{ratio:.2f})"
                    )
            print(" · ".join(parts), flush=True)
    if a.out:
        a.out.write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
