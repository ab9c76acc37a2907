"""Candidate 0 first (`lead`): the checked candidates' time with and without it.

With the checker and early verification, `trm solve` and `trm eval --samples K` run K
candidates per puzzle in lockstep. With ``lead`` the puzzle as it is (candidate 0) runs
alone first, and the other K-1 only for the puzzles it did not solve. This prints, for each
dataset folder (its test split), exact accuracy and seconds per puzzle both ways, measured
in the same run (they take turns: lockstep, then lead with each ``--lead-steps`` value, on
the same puzzles), and each one's ratio to lockstep. ``--lead-steps`` is how many steps
candidate 0 runs alone before the others join it (the library's default: LEAD_STEPS; a
value at the recorded steps or more is the old way, the others only once it has finished):

    python benchmarks/lead_candidate.py --data data/17clue-2000,data/top95 --limit 500 \
        --lead-steps 16,96
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from puzzles.dataset import load_dataset
from puzzles.evaluation import load_model, scored_data
from puzzles.scaling import LEAD_STEPS, Sampling, run
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
    p.add_argument(
        "--lead-steps", default=str(LEAD_STEPS), help="comma-separated (default: the library's)"
    )
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
        schedules = [(False, LEAD_STEPS)] + [(True, int(t)) for t in a.lead_steps.split(",")]
        seen = []
        for lead, lead_steps in schedules:
            sampling = Sampling(a.samples, noise=None, lead=lead, lead_steps=lead_steps)
            sampling = sampling.for_checkpoint(config)  # the noise it records
            start = time.perf_counter()
            s = run(model, data.inputs, task, sampling, max_steps=steps)
            seconds = (time.perf_counter() - start) / len(data)
            exact = float(exact_match(s.answers, data.labels).mean())
            seen.append(seconds)
            name = f"lead, {lead_steps:<3}" if lead else "lockstep "
            print(
                f"{folder} ({len(data)} {ds.task}) {name}: "
                f"exact {100 * exact:5.1f}% · verified {100 * s.verified.mean():5.1f}% · "
                f"{s.mean_steps:.2f} steps per candidate · {seconds:.3f} s/puzzle"
                f" (x{seconds / seen[0]:.2f} lockstep's)",
                flush=True,
            )


if __name__ == "__main__":
    main()
