"""The Sudoku task: its examples shown, trained (the digits and cells shuffled by the
puzzle's symmetries), seen through K symmetries at test time and checked by the rules."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from puzzles.sudoku import data, view
from puzzles.sudoku.augment import augment_tokens, identity, random_augmentation
from puzzles.sudoku.grid import geometry, size_of_length
from puzzles.tasks import Task, Views
from trm.errors import TRMError


def views(k: int, seq_len: int, vocab: int, rng: np.random.Generator) -> Views:
    """The identity, then K-1 random symmetries (band, stack, row, column moves, a
    transpose where the boxes are square, a relabelling of the digits)."""
    size = size_of_length(seq_len)
    if size is None:
        raise TRMError(f"a Sudoku model reads 16, 36 or 81 cells, not {seq_len}")
    source = random.Random(int(rng.integers(2**63)))
    augs = [identity(size)] + [random_augmentation(size, source) for _ in range(k - 1)]
    tables = np.tile(np.arange(vocab, dtype=np.int64), (k, 1))
    for i, aug in enumerate(augs):
        tables[i, : size + 2] = aug.token_table()
    return Views(np.asarray([a.cells for a in augs], np.int64), tables)


def check(questions: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """Full, no digit twice in a row, column or box, every clue kept (vectorised)."""
    size = size_of_length(questions.shape[1])
    units = np.asarray(geometry(size).units)  # (3 * size, size) cells
    values = answers.astype(np.int64) - 1  # 0: blank, -1: PAD
    clues = questions.astype(np.int64) - 1
    keeps = np.all((clues <= 0) | (values == clues), axis=1)
    each_once = np.all(np.sort(values[:, units], axis=2) == np.arange(1, size + 1), axis=(1, 2))
    return keeps & each_once


def check_meta(meta: dict) -> str | None:
    """A size that fits the sequence, boxes that tile the grid, one token per digit."""
    info = meta.get("task_info", {})
    size = info.get("size")
    if type(size) is not int or size < 2 or size * size != meta["seq_len"]:
        return (
            f"task_info size {size!r} does not fit seq_len {meta['seq_len']} "
            "(a sudoku of side n is n x n tokens)"
        )
    rows, cols = info.get("box_rows"), info.get("box_cols")
    if type(rows) is not int or type(cols) is not int or rows < 1 or rows * cols != size:
        return f"task_info boxes {rows!r} x {cols!r} do not make a {size}x{size} Sudoku"
    if len(meta["vocab"]) != size + 2:
        return f"a {size}x{size} Sudoku has {size + 2} tokens, the vocab {len(meta['vocab'])}"
    return None


def official_meta() -> dict:
    """What the official Sudoku-Extreme weights stand for: 9x9 Sudoku."""
    from puzzles.sudoku.data import dataset_meta

    return dataset_meta(9, {})


# the model `trm solve sudoku` uses when none is named (benchmarks/ scripts make it)
DEFAULT_MODEL = Path(__file__).resolve().parent / "default_model"

TASK = Task(
    "sudoku",
    view.example_json,
    view.render_example,
    build=data.build_generated,
    preset="sudoku",
    cpu_preset="sudoku-small",
    augmenter=augment_tokens,
    views=views,
    check=check,
    check_meta=check_meta,
    watcher="puzzles.sudoku.watch",
    default_model=DEFAULT_MODEL,
    official_shape=(11, 81),
    official_meta=official_meta,
)
