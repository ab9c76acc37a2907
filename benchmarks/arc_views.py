"""Benchmark: ARC evaluation with voted views, in views per second on this machine.

Times :func:`puzzles.arc.views.predict_views` (all supervision steps on K views of each test
input, batched across tasks, then mapped back) for a run folder on an ARC dataset, on the
first N test inputs, and projects the time for all test inputs of the dataset at K = 8, 32,
100 and 1000 views (the time is linear in the number of views).

    python benchmarks/arc_views.py --run RUN --data DIR [--inputs 16] [--views 8]
        [--batch-size 64] [--precision auto]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from puzzles.arc.views import predict_views, score
from puzzles.dataset import load_dataset
from puzzles.evaluation import load_model
from trm.device import cpu_has_fast_bf16, resolve_device, resolve_precision


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--inputs", type=int, default=16, help="test inputs to time")
    p.add_argument("--views", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--precision", default="auto")
    args = p.parse_args()
    device = resolve_device("cpu")
    precision = resolve_precision(args.precision, device)
    model, _ = load_model(args.run, device)
    ds = load_dataset(args.data, splits=["test"])
    c = model.config
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {precision} "
        f"(AVX512-BF16: {cpu_has_fast_bf16()}); model: {c.mixer}, hidden {c.hidden_size}, "
        f"layers {c.num_layers}, n {c.n}, T {c.T}, {c.n_sup} supervision steps, "
        f"{c.total_len} positions"
    )
    start = time.perf_counter()
    predicted = predict_views(
        model,
        ds,
        "test",
        args.views,
        batch_size=args.batch_size,
        device=device,
        precision=precision,
        limit=args.inputs,
        progress=False,
    )
    seconds = time.perf_counter() - start
    n_views = len(predicted.views)
    rate = n_views / seconds
    result = score(
        predicted.split,
        predicted.views,
        predicted.predictions,
        predicted.confidences,
        predicted.table,
        predicted.task_ids,
    )
    inputs = len(ds.splits["test"])
    tasks = len(set(ds.splits["test"].extras["task"].tolist()))
    print(
        f"{n_views} views ({args.inputs} test inputs x {args.views}) in {seconds:.1f} s: "
        f"{rate:.2f} views/s; {seconds / max(1, result.tasks):.2f} s per task"
    )
    print(f"projected for all {inputs} test inputs of {tasks} tasks at this rate:")
    for k in (8, 32, 100, 1000):
        hours = inputs * k / rate / 3600
        print(f"  K = {k:>4}: {inputs * k:>7} views, {hours:8.2f} h")


if __name__ == "__main__":
    main()
