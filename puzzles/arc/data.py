"""ARC datasets in the on-disk format: the TRM paper's split, augmentation on the fly.

Split (as in the TRM paper):

- ``train``: every pair of every training task, plus the demonstration (train) pairs of
  every evaluation task (the model may study an evaluation task's demos, never its tests);
- ``test``: the test pairs of the evaluation tasks whose outputs are known;
- ``predict``: only when some test outputs are unknown (a Kaggle challenges file without
  solutions): those test inputs, with all-PAD labels. They are kept out of ``test``
  because an all-PAD label has nothing to score and would count as solved.

In every split the rows of one task are contiguous and form one group, and the extras
``task`` (int32: index into ``meta["task_info"]["task_ids"]``), ``pair`` (int16: index in
the task's train or test list) and ``test_pair`` (uint8: 1 if it is a test pair) say where
each row comes from, so predictions can be voted per task.

Augmentation: the folder holds only the original pairs (at the canvas's top-left corner),
and ``augmentations.npz`` (``dihedral`` (P,) uint8, ``colours`` (P, 10) uint8) lists, for
each of the ``P = meta["num_puzzle_ids"]`` puzzle ids, the augmentation it stands for;
ids ``puzzle_id_start[t]:puzzle_id_start[t + 1]`` (in ``task_info``) belong to task ``t``,
identity first. Stored rows carry their task's identity id. The training loader draws one
of the task's augmentations per row (:func:`puzzles.arc.augment.augment_tokens`), so K
augmentations cost K x 11 bytes per task instead of K copies of every pair.
"""

from __future__ import annotations

import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from puzzles.arc.augment import DIHEDRAL_NAMES, AugmentationTable, augmenter_for
from puzzles.arc.grid import ArcTask
from puzzles.arc.sources import Source, add_training, load_source
from puzzles.arc.tokens import PAD, SEQ_LEN, SIDE, VOCAB, encode
from puzzles.build import check_counts
from puzzles.dataset import Dataset, Split, check_out_dir, save_npz, staged_dir, write_dataset
from puzzles.defaults import ARC
from trm.errors import SettingError, TRMError
from trm.jsonfile import regular_file

AUG_FILE = "augmentations.npz"


def _rows(tasks: list[ArcTask], start: np.ndarray, pick) -> Split | None:
    """The pairs ``pick(task)`` of every task, one group per task that has some."""
    inputs, labels, ids, task_idx, pair_idx, is_test, group_start = [], [], [], [], [], [], [0]
    for t, task in enumerate(tasks):
        chosen = pick(task)
        for test, k, pair in chosen:
            inputs.append(encode(pair.input))
            labels.append(
                np.full(SEQ_LEN, PAD, np.uint8) if pair.output is None else encode(pair.output)
            )
            ids.append(start[t])
            task_idx.append(t)
            pair_idx.append(k)
            is_test.append(test)
        if chosen:
            group_start.append(len(inputs))
    if not inputs:
        return None
    return Split(
        np.stack(inputs),
        np.stack(labels),
        np.asarray(ids, np.int32),
        np.asarray(group_start, np.int64),
        {
            "task": np.asarray(task_idx, np.int32),
            "pair": np.asarray(pair_idx, np.int16),
            "test_pair": np.asarray(is_test, np.uint8),
        },
    )


def split_pairs(tasks: list[ArcTask], start: np.ndarray) -> dict[str, Split]:
    """The TRM split (see the module docstring): train, test and, if needed, predict."""

    def train_pairs(task):
        demos = [(0, k, p) for k, p in enumerate(task.train)]
        if task.set == "evaluation":
            return demos
        for k, p in enumerate(task.test):
            if p.output is None:
                raise TRMError(f"training task {task.id}: test pair {k + 1} has no output")
        return demos + [(1, k, p) for k, p in enumerate(task.test)]

    splits = {
        "train": _rows(tasks, start, train_pairs),
        "test": _rows(
            tasks,
            start,
            lambda task: (
                []
                if task.set == "training"
                else [(1, k, p) for k, p in enumerate(task.test) if p.output is not None]
            ),
        ),
        "predict": _rows(
            tasks,
            start,
            lambda task: (
                []
                if task.set == "training"
                else [(1, k, p) for k, p in enumerate(task.test) if p.output is None]
            ),
        ),
    }
    return {name: s for name, s in splits.items() if s is not None}


def _meta(
    tasks: list[ArcTask], table: AugmentationTable, source: dict, k: int, seed: int | None
) -> dict:
    n_training = sum(t.set == "training" for t in tasks)
    return {
        "task": "arc",
        "seq_len": SEQ_LEN,
        "vocab": VOCAB,
        "num_puzzle_ids": len(table),
        "task_info": {
            "side": SIDE,
            "encoding": "30x30 canvas row by row; 0 PAD, 1 end of grid (row below and column "
            "right of the grid), colour c is token c + 2",
            "task_ids": [t.id for t in tasks],
            "training_tasks": n_training,
            "evaluation_tasks": len(tasks) - n_training,
            "puzzle_id_start": table.start.tolist(),
            "augment": k,
            "augmentations_file": AUG_FILE,
            "dihedral": list(DIHEDRAL_NAMES),
        },
        "source": {**source, "seed": seed, "augment": k},
    }


def _check_options(out: Path, augment: int, force: bool) -> None:
    if augment < 1:
        raise SettingError("augment", "must be at least 1 (1: no augmentation but translation)")
    check_counts(augment=augment)
    check_out_dir(Path(out), force)  # refuse before the long part, not after


def build_from(
    source: str | Path,
    out: Path,
    *,
    solutions: Path | None = None,
    subsets: list[str] | None = None,
    test_sets: list[str] | None = None,
    extra_train: list[Path] | None = None,
    augment: int = ARC.augment,
    seed: int = 0,
    force: bool = False,
    progress: bool = True,
) -> Dataset:
    """Read a source (see :func:`puzzles.arc.sources.load_source`), add the training tasks
    of the ``extra_train`` folders, and build the dataset."""
    _check_options(out, augment, force)
    loaded = load_source(source, solutions, subsets, test_sets)
    if extra_train:
        loaded = add_training(loaded, extra_train)
    return build_dataset(loaded, out, augment=augment, seed=seed, force=force, progress=progress)


def build_from_official(folder: Path, out: Path, *, force: bool = False) -> Dataset:
    """An official TRM ARC build folder as our dataset, with its puzzle ids and augmentations
    (:mod:`puzzles.arc.official`), so an imported official checkpoint can be evaluated."""
    from puzzles.arc.official import read_build

    check_out_dir(Path(out), force)
    source, table = read_build(folder)
    return _write(
        source.tasks,
        table,
        source,
        out,
        augment=int(np.diff(table.start).max()),
        seed=None,
        force=force,
    )


def build_dataset(
    source: Source,
    out: Path,
    *,
    augment: int = ARC.augment,
    seed: int = 0,
    force: bool = False,
    progress: bool = True,
) -> Dataset:
    """Write ``source``'s tasks as a dataset in ``out`` (same seed, same bytes)."""
    _check_options(out, augment, force)
    tasks = sorted(source.tasks, key=lambda t: (t.set != "training", t.id))
    twice = [i for i, n in Counter(t.id for t in tasks).items() if n > 1]
    if twice:
        raise TRMError(f"task id {twice[0]} appears twice in the source")
    with tqdm(
        total=len(tasks),
        desc=f"arc: {augment} augmentations of each task",
        unit="task",
        disable=not progress,
        dynamic_ncols=True,
        mininterval=0.5,
    ) as bar:
        table = AugmentationTable.build(tasks, augment, seed, progress=lambda: bar.update(1))
    return _write(tasks, table, source, out, augment=augment, seed=seed, force=force)


def _write(
    tasks: list[ArcTask],
    table: AugmentationTable,
    source: Source,
    out: Path,
    *,
    augment: int,
    seed: int | None,
    force: bool,
) -> Dataset:
    """The dataset of ``tasks`` (task ``t`` owns the table's ids ``start[t]:start[t + 1]``)."""
    splits = split_pairs(tasks, table.start)  # every task has demos: "train" is never empty
    meta = _meta(tasks, table, source.info, augment, seed)
    with staged_dir(Path(out), force) as stage:
        save_npz(stage / AUG_FILE, table.arrays())
        meta = write_dataset(stage, meta, splits)
    return Dataset(Path(out), meta, splits)


def load_table(ds: Dataset) -> AugmentationTable:
    """The augmentation table of an ARC dataset folder, checked against its metadata."""
    file = Path(ds.path) / AUG_FILE
    start = ds.meta.get("task_info", {}).get("puzzle_id_start")
    if not isinstance(start, list):
        raise TRMError(f"{ds.path}: metadata lacks task_info.puzzle_id_start")
    if not file.exists():
        raise TRMError(f"{file}: missing (an ARC dataset keeps its augmentations there)")
    regular_file(file, "table of augmentations")
    try:
        with np.load(file, allow_pickle=False) as z:
            table = AugmentationTable(np.asarray(start, np.int64), z["dihedral"], z["colours"])
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as e:
        raise TRMError(f"{file}: corrupt or truncated ({e})") from None
    if len(table) != ds.meta.get("num_puzzle_ids"):
        raise TRMError(
            f"{file}: holds {len(table)} augmentations, the metadata counts "
            f"{ds.meta.get('num_puzzle_ids')} puzzle ids"
        )
    table.check(file)
    return table


def make_augmenter(ds: Dataset):
    """The on-the-fly training augmenter of an ARC dataset (reads its augmentation table)."""
    return augmenter_for(load_table(ds))
