"""The noise of the checked candidates' starting state: accuracy and time against its level.

`trm solve` and `trm eval --samples K` start candidates 1..K-1 from the model's starting
state plus Gaussian noise (a checkpoint records its level: config.json ``noise``). For each
dataset folder (its test split), each noise level and each seed of the views and the draws,
prints the exact accuracy of K checked candidates (views, verified halting, the puzzle as
given first: the solve default) and the seconds per puzzle, at the checkpoint's recorded
test-time steps. Choose the level on held-out sets (never on the test sets), then record it
with benchmarks/record_max_steps.py:

    python benchmarks/sudoku_deep_set.py --out data/sel-deep
    python benchmarks/test_time_noise.py --data data/sel-deep,data/sel-extreme \\
        --noise 0.5,1,1.5,2,2.5,3 --seeds 0,1
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
from trm.evaluate import default_max_steps, exact_match

DEFAULT_RUN = Path(__file__).resolve().parents[1] / "puzzles" / "sudoku" / "default_model"


def numbers(text: str, kind=float) -> list:
    return [kind(s) for s in text.split(",") if s]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, default=DEFAULT_RUN)
    p.add_argument("--data", required=True, help="dataset folders, comma-separated")
    p.add_argument("--noise", default="0,0.5,1,2", help="noise levels, comma-separated")
    p.add_argument("--seeds", default="0", help="seeds of the views and draws, comma-separated")
    p.add_argument("--samples", type=int, default=16, help="K checked candidates")
    p.add_argument("--max-steps", type=int, help="supervision steps (default: the recorded)")
    p.add_argument("--limit", type=int, default=0, help="first N puzzles of each set (0: all)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", type=Path, help="also write every row as JSON lines here")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    model, config = load_model(a.run, torch.device("cpu"))
    steps = default_max_steps(config, model.config.n_sup, a.max_steps)
    print(
        f"{a.run}: {a.samples} checked candidates, {steps} steps, fp32, "
        f"{torch.get_num_threads()} threads"
    )
    rows = []
    for folder in a.data.split(","):
        ds = load_dataset(Path(folder), splits=["test"])
        data = scored_data(ds, "test").head(a.limit)
        task = get_task(ds.task).for_scaling()
        for noise in numbers(a.noise):
            accuracy, seconds = [], []
            for seed in numbers(a.seeds, int):
                sampling = Sampling(samples=a.samples, noise=noise, seed=seed)
                start = time.perf_counter()
                s = run(model, data.inputs, task, sampling, max_steps=steps)
                seconds.append((time.perf_counter() - start) / len(data))
                accuracy.append(float(exact_match(s.answers, data.labels).mean()))
                rows.append(
                    {
                        "data": folder,
                        "n": len(data),
                        "noise": noise,
                        "seed": seed,
                        "exact": accuracy[-1],
                        "s_per_puzzle": seconds[-1],
                    }
                )
            each = ", ".join(f"{100 * x:.2f}%" for x in accuracy)
            print(
                f"{folder} ({len(data)}) noise {noise:<4} mean {100 * sum(accuracy) / len(accuracy):6.2f}%"
                f" (seeds: {each}) · {sum(seconds) / len(seconds):.3f} s a puzzle",
                flush=True,
            )
    if a.out:
        a.out.write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
