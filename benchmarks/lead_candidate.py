"""Candidate 0 first (`lead`): the checked candidates' time with and without it.

With the checker and early verification, `trm solve` and `trm eval --samples K` run K
candidates per puzzle in lockstep. With ``lead`` the puzzle as it is (candidate 0) runs
alone first, and the other K-1 only for the puzzles it did not solve. This prints, for each
dataset folder (its test split), exact accuracy and seconds per puzzle both ways, measured
in the same run (the two take turns: lockstep, lead, on the same puzzles), and their ratio:

    python benchmarks/lead_candidate.py --data data/17clue-2000,data/top95 --limit 500
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from puzzles.dataset import load_dataset
from puzzles.evaluation import load_model, scored_data
from puzzles.scaling import Sampling, run
from puzzles.tasks import get_task
from trm.device import resolve_precision
from trm.evaluate import default_max_steps, exact_match

DEFAULT_RUN = Path(__file__).resolve().parents[1] / "puzzles" / "sudoku" / "default_model"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, default=DEFAULT_RUN)
    p.add_argument("--data", required=True, help="dataset folders, comma-separated")
    p.add_argument("--samples", type=int, default=16, help="K candidates")
    p.add_argument("--limit", type=int, default=0, help="first N puzzles of each set (0: all)")
    p.add_argument("--precision", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device("cpu")
    precision = resolve_precision(a.precision, device)
    model, config = load_model(a.run, device)
    steps = default_max_steps(config, model.config.n_sup)
    print(
        f"{a.run}: {steps} steps at most · K={a.samples} · {precision} · "
        f"{torch.get_num_threads()} threads"
    )
    for folder in a.data.split(","):
        ds = load_dataset(Path(folder), splits=["test"])
        data, task = scored_data(ds, "test").head(a.limit), get_task(ds.task).for_scaling()
        seen = {}
        for lead in (False, True):
            start = time.perf_counter()
            s = run(model, data.inputs, task, Sampling(a.samples, lead=lead), max_steps=steps)
            seconds = (time.perf_counter() - start) / len(data)
            exact = float(exact_match(s.answers, data.labels).mean())
            seen[lead] = seconds
            print(
                f"{folder} ({len(data)} {ds.task}) {'lead    ' if lead else 'lockstep'}: "
                f"exact {100 * exact:5.1f}% · verified {100 * s.verified.mean():5.1f}% · "
                f"{s.mean_steps:.2f} steps per candidate · {seconds:.3f} s/puzzle",
                flush=True,
            )
        print(f"{folder}: lead takes x{seen[True] / seen[False]:.2f} the time of lockstep")


if __name__ == "__main__":
    main()
