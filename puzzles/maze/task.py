"""The maze task: its examples shown, trained (the grid turned and mirrored by the square's
eight symmetries), seen through those symmetries at test time and checked: a wall-free,
connected S-G path of the shortest length."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from puzzles.maze import data, view
from puzzles.maze.augment import augment_tokens, cell_tables
from puzzles.tasks import Task, Views


def views(k: int, seq_len: int, vocab: int, rng: np.random.Generator) -> Views:
    """The identity, then the other seven symmetries in a random order (beyond eight, views
    repeat: noise tells them apart)."""
    size = math.isqrt(seq_len)
    order = np.concatenate([[0], rng.permutation(np.arange(1, 8))])
    picks = np.resize(order, k)
    return Views(
        cell_tables(size)[picks].astype(np.int64), np.tile(np.arange(vocab, dtype=np.int64), (k, 1))
    )


def check(questions: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """A wall-free, connected S-G path of the shortest length (puzzles.maze.solver)."""
    from puzzles.maze.data import decode
    from puzzles.maze.solver import check_path

    out = np.zeros(len(answers), bool)
    for i, (q, a) in enumerate(zip(questions, answers)):
        grid = decode(a)
        out[i] = grid.min() >= 0 and check_path(decode(q), grid).ok
    return out


def check_meta(meta: dict) -> str | None:
    """A side that fits the sequence."""
    size = meta.get("task_info", {}).get("size")
    if type(size) is not int or size < 2 or size * size != meta["seq_len"]:
        return (
            f"task_info size {size!r} does not fit seq_len {meta['seq_len']} "
            "(a maze of side n is n x n tokens)"
        )
    return None


# the model `trm solve maze` uses when none is named (benchmarks/ scripts make it)
DEFAULT_MODEL = Path(__file__).resolve().parent / "default_model"

TASK = Task(
    "maze",
    view.example_json,
    view.render_example,
    build=data.build_generated,
    preset="maze",
    cpu_preset="maze-cpu",
    augmenter=augment_tokens,
    views=views,
    check=check,
    check_meta=check_meta,
    watcher="puzzles.maze.watch",
    default_model=DEFAULT_MODEL,
)
