"""Benchmark: building the ARC-AGI-1 dataset with K augmentations per task (default 1000).

1. Time of each stage of the real build (`trm data arc --source arc-agi-1 --augment K`):
   reading and checking the tasks, drawing the augmentation lists, writing the folder.
2. Size of the folder on disk, file by file.
3. What K materialised copies of the training split would weigh instead: the row count
   is exact (each training row times its task's number of augmentations); the bytes are
   the raw arrays, and an estimate of the compressed .npz from a sample of materialised
   rows (made with the same on-the-fly augmenter, translation included), scaled up.
   Nothing of that size is written.
4. Speed of the on-the-fly augmenter on training batches of 768 rows.

    python benchmarks/arc_build.py [--augment K]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from puzzles.arc.augment import AugmentationTable, augment_tokens
from puzzles.arc.data import build_from, load_table
from puzzles.arc.sources import load_source
from puzzles.dataset import Split, load_dataset, save_npz

SAMPLE_ROWS = 4096
BATCH = 768


def mib(n: float) -> str:
    return f"{n / 2**10:,.0f} KiB" if n < 2**20 else f"{n / 2**20:,.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--augment", type=int, default=1000)
    k = parser.parse_args().augment

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "arc1"
        start = time.perf_counter()
        build_from("arc-agi-1", out, augment=k, seed=0, progress=False)  # the real build
        t_total = time.perf_counter() - start
        sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
        ds = load_dataset(out)
        table = load_table(ds)
    # the stages again, one by one, to see where the time goes
    start = time.perf_counter()
    source = load_source("arc-agi-1")
    t_read = time.perf_counter() - start
    tasks = sorted(source.tasks, key=lambda t: (t.set != "training", t.id))
    start = time.perf_counter()
    AugmentationTable.build(tasks, k, seed=0)
    t_draw = time.perf_counter() - start

    counts = np.diff(table.start)
    print(f"ARC-AGI-1, {len(tasks)} tasks, K = {k} (seed 0), one process")
    print(f"  build (trm data arc)   {t_total:7.2f} s in all, of which")
    print(f"    read and check tasks {t_read:7.2f} s")
    print(
        f"    draw augmentations   {t_draw:7.2f} s   ({len(table):,} puzzle ids; per task "
        f"min {counts.min()}, median {int(np.median(counts))}, max {counts.max()}; "
        f"{int((counts < k).sum())} tasks have fewer than K distinct)"
    )
    print(f"    encode, split, write {t_total - t_read - t_draw:7.2f} s")
    print("on disk:")
    for name, size in sizes.items():
        print(f"  {name:<20} {mib(size):>12}")
    on_disk = sum(sizes.values())
    print(f"  {'total':<20} {mib(on_disk):>12}")

    train = ds.splits["train"]
    per_row = counts[train.extras["task"]]  # augmentations of each training row's task
    rows = int(per_row.sum())
    row_bytes = (
        2 * train.inputs.shape[1] + 4 + 4 + 2 + 1
    )  # inputs, labels, id, task, pair, test_pair
    rng = np.random.default_rng(0)
    pick = rng.integers(0, len(train), SAMPLE_ROWS)
    x, y, ids = augment_tokens(
        train.inputs[pick], train.labels[pick], train.puzzle_ids[pick], rng, table
    )
    sample = Split(
        x,
        y,
        ids,
        np.arange(SAMPLE_ROWS + 1, dtype=np.int64),
        {k_: v[pick] for k_, v in train.extras.items()},
    )
    with tempfile.TemporaryDirectory() as tmp:
        save_npz(Path(tmp) / "s.npz", sample.arrays())
        per_row_npz = (Path(tmp) / "s.npz").stat().st_size / SAMPLE_ROWS
    print(
        f"materialised instead (K copies of the {len(train):,} training rows): {rows:,} rows, "
        f"{mib(rows * row_bytes)} raw, about {mib(rows * per_row_npz)} as .npz "
        f"({per_row_npz:.0f} bytes per row, from {SAMPLE_ROWS} sampled rows): "
        f"{rows * per_row_npz / on_disk:,.0f}x the on-the-fly folder"
    )

    batch = rng.integers(0, len(train), BATCH)
    args = (train.inputs[batch], train.labels[batch], train.puzzle_ids[batch])
    augment_tokens(*args, rng, table)
    start = time.perf_counter()
    repeats = 20
    for _ in range(repeats):
        augment_tokens(*args, rng, table)
    per_batch = (time.perf_counter() - start) / repeats
    print(
        f"on-the-fly augmenter: {per_batch * 1000:.1f} ms per batch of {BATCH} rows "
        f"({BATCH / per_batch:,.0f} rows/s, one core)"
    )


if __name__ == "__main__":
    main()
