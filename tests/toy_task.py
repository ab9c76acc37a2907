"""A toy task written as a new task is added: this one module, and one line in
``puzzles.tasks.TASKS`` (``"reverse": "tests.toy_task"``; the test adds it for its run).

The task: reverse a sequence of 8 symbols a-d (tokens 1-4; 0 is PAD). Reversal commutes with
renaming the symbols, so a renaming is both its training augmentation and its test-time view.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.text import Text

from puzzles.dataset import Split, write_dataset
from puzzles.tasks import Task, Views

NAME, LENGTH, VOCAB = "reverse", 8, ["PAD", "a", "b", "c", "d"]


def build(folder: Path, train: int, test: int, seed: int) -> dict:
    """Write a dataset of ``train`` and ``test`` random sequences; returns its meta."""
    rng = np.random.default_rng(seed)

    def split(n: int) -> Split:
        x = rng.integers(1, len(VOCAB), (n, LENGTH))
        return Split.of_examples(x, x[:, ::-1])

    meta = {"task": NAME, "seq_len": LENGTH, "vocab": VOCAB, "task_info": {"length": LENGTH}}
    Path(folder).mkdir(parents=True)
    return write_dataset(Path(folder), meta, {"train": split(train), "test": split(test)})


def _letters(tokens: np.ndarray) -> str:
    return "".join(VOCAB[t] if t else "." for t in tokens)


def example_json(meta: dict, inputs: np.ndarray, labels: np.ndarray, puzzle_id: int = 0) -> dict:
    return {"input": _letters(inputs), "output": _letters(labels)}


def render_example(meta: dict, inputs: np.ndarray, labels: np.ndarray, puzzle_id: int = 0):
    return Text(f"{_letters(inputs)} -> {_letters(labels)}")


def _renamings(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, vocab) token tables: PAD stays, the symbols are shuffled."""
    symbols = np.argsort(rng.random((n, len(VOCAB) - 1)), axis=1) + 1
    return np.concatenate([np.zeros((n, 1), np.int64), symbols], axis=1)


def augment(inputs, labels, puzzle_ids, rng):
    tables = _renamings(len(inputs), rng)

    def rename(x: np.ndarray) -> np.ndarray:
        return np.take_along_axis(tables, x.astype(np.int64), 1).astype(np.uint8)

    return rename(inputs), rename(labels), puzzle_ids


def views(k: int, seq_len: int, vocab: int, rng: np.random.Generator) -> Views:
    tables = _renamings(k, rng)
    tables[0] = np.arange(vocab)  # view 0 is the identity
    return Views(Views.identity(k, seq_len, vocab).perms, tables)


def check(questions: np.ndarray, answers: np.ndarray) -> np.ndarray:
    return (answers == questions[:, ::-1]).all(axis=1)


def check_meta(meta: dict) -> str | None:
    length = meta.get("task_info", {}).get("length")
    return None if length == meta["seq_len"] else f"task_info length {length!r} is not seq_len"


TASK = Task(
    NAME,
    example_json,
    render_example,
    build=build,
    augmenter=augment,
    views=views,
    check=check,
    check_meta=check_meta,
)
