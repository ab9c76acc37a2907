"""When the checked candidates start: the compute of each schedule, counted from one trace.

With the checker, `trm solve` and `trm eval --samples K` stop a puzzle at the first step one
of its K candidates passes. Which candidates pass, and at which of their own steps, does not
depend on when each starts; only the compute does. This script runs every candidate of
every puzzle for all its steps once (the trace: the first step each passes, 0 for never),
then counts the candidate steps each schedule would run on those puzzles:

* lockstep: all K start together;
* lead, s: candidate 0 (the puzzle as given) starts alone, and the others join it only if
  it has not passed after s steps (it goes on where it is);
* restart: the schedule before 2026-12: candidate 0 alone to the end, then all K from the
  start (candidate 0 twice).

It also prints the share verified if candidates 1..K-1 stopped after fewer steps (a cap).
Choose on held-out puzzles (never on a test set):

    python benchmarks/candidate_schedule.py --data data/sel-deep --limit 200 \\
        --trace data/sel-deep-trace.npy
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from puzzles.dataset import load_dataset
from puzzles.evaluation import load_model, scored_data
from puzzles.scaling import Sampling, _starting_rows
from puzzles.tasks import get_task
from trm.evaluate import default_max_steps

DEFAULT_RUN = Path(__file__).resolve().parents[1] / "puzzles" / "sudoku" / "default_model"


@torch.no_grad()
def trace(model, questions, task, sampling: Sampling, steps: int, per_chunk: int = 32):
    """(P, K): the first step at which each candidate's answer passes the checker (0: none
    in ``steps``), every candidate running every step."""
    model.eval()
    k, cfg = sampling.samples, model.config
    views = task.views(k, cfg.seq_len, cfg.vocab_size, np.random.default_rng(sampling.seed))
    back = views.inverse()
    first = np.zeros((len(questions), k), np.int64)
    pids = np.zeros(len(questions), np.int64)
    start = time.perf_counter()
    for lo in range(0, len(questions), per_chunk):
        part = np.arange(lo, min(lo + per_chunk, len(questions)))
        rows = np.arange(len(part) * k)
        x, y, z = _starting_rows(model, questions[part], pids[part], views, sampling, part, rows)
        f = first[part].reshape(-1)
        for step in range(1, steps + 1):
            out = model.deep_step(x, y, z)
            y, z = out.y, out.z
            answers = back.apply(out.logits.argmax(-1).cpu().numpy(), rows % k)
            ok = task.check(questions[part][rows // k], answers)
            f[(f == 0) & ok] = step
        first[part] = f.reshape(len(part), k)
        print(f"  traced {part[-1] + 1}/{len(questions)} ({time.perf_counter() - start:.0f} s)")
    return first


def lead_cost(first: np.ndarray, lead_steps: int, steps: int) -> np.ndarray:
    """Candidate steps per puzzle when the others join candidate 0 at its step
    ``lead_steps`` (0: lockstep)."""
    k = first.shape[1]
    cost = np.zeros(len(first), np.int64)
    for p, f in enumerate(first):
        if 0 < f[0] <= lead_steps:
            cost[p] = f[0]
            continue
        when = [f[0]] if f[0] else []  # the clock is candidate 0's
        when += [lead_steps + t for t in f[1:] if t]
        if when:
            g = min(when)
            cost[p] = min(g, steps) + (k - 1) * min(g - lead_steps, steps)
        else:
            cost[p] = steps + (k - 1) * steps
    return cost


def restart_cost(first: np.ndarray, steps: int) -> np.ndarray:
    f0 = first[:, 0]
    lockstep = lead_cost(first, 0, steps)
    return np.where(f0 > 0, f0, steps + lockstep)


def verified_with_cap(first: np.ndarray, cap: int) -> float:
    """The share of puzzles verified if candidates 1..K-1 ran ``cap`` steps at most."""
    ok = (first[:, 0] > 0) | ((first[:, 1:] > 0) & (first[:, 1:] <= cap)).any(axis=1)
    return float(ok.mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, default=DEFAULT_RUN)
    p.add_argument("--data", required=True, help="a dataset folder (its test split)")
    p.add_argument("--samples", type=int, default=16, help="K checked candidates")
    p.add_argument("--limit", type=int, default=0, help="first N puzzles (0: all)")
    p.add_argument("--lead-steps", default="0,2,4,8,12,16,24,32,48,64")
    p.add_argument("--caps", default="8,16,24,32,48,64")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--trace", type=Path, help="keep the trace here (.npy); reused if it exists")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    model, config = load_model(a.run, torch.device("cpu"))
    steps = default_max_steps(config, model.config.n_sup)
    if a.trace and a.trace.exists():
        first = np.load(a.trace)
        print(f"{a.trace}: trace of {first.shape[0]} puzzles x {first.shape[1]} candidates")
    else:
        ds = load_dataset(Path(a.data), splits=["test"])
        data = scored_data(ds, "test").head(a.limit)
        task = get_task(ds.task).for_scaling()
        sampling = Sampling(samples=a.samples, noise=None).for_checkpoint(config)
        print(
            f"tracing {len(data)} puzzles of {a.data}: K={a.samples}, noise "
            f"{sampling.noise}, {steps} steps, fp32, {torch.get_num_threads()} threads"
        )
        first = trace(model, data.inputs, task, sampling, steps)
        if a.trace:
            np.save(a.trace, first)
    n = len(first)
    verified = (first > 0).any(axis=1).mean()
    print(f"verified with all {steps} steps: {100 * verified:.2f}% of {n}")
    base = restart_cost(first, steps).sum()
    print(f"{'schedule':<16} {'cand. steps/puzzle':>19} {'vs restart':>11}")
    print(f"{'restart':<16} {base / n:19.1f} {1.0:10.2f}x")
    for s in [int(t) for t in a.lead_steps.split(",") if t]:
        total = lead_cost(first, s, steps).sum()
        name = "lockstep" if s == 0 else f"lead, {s}"
        print(f"{name:<16} {total / n:19.1f} {total / base:10.2f}x")
    print("candidates 1..K-1 stopped early (accuracy, not compute): verified share")
    for cap in [int(t) for t in a.caps.split(",") if t]:
        print(f"  cap {cap:>3}: {100 * verified_with_cap(first, cap):.2f}%")


if __name__ == "__main__":
    main()
