"""ARC tasks and grids: what a task holds, and the checks every grid must pass.

A grid is a rectangle of 1 to 30 rows and 1 to 30 columns of colours 0-9, held as a
``uint8`` array. A task is a list of demonstration (``train``) pairs and a list of
``test`` pairs; a test pair's output may be unknown (a challenge without its solution).
Grids are checked where they are read, so a bad one is reported with the file, task and
pair it came from, never later as a strange shape deep inside the encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from trm.errors import TRMError

MAX_SIDE = 30
N_COLOURS = 10

TaskSet = Literal["training", "evaluation"]


@dataclass(frozen=True)
class Pair:
    input: np.ndarray  # (h, w) uint8
    output: np.ndarray | None  # (h', w') uint8, None when unknown


@dataclass(frozen=True)
class ArcTask:
    id: str
    train: tuple[Pair, ...]
    test: tuple[Pair, ...]
    set: TaskSet = "evaluation"  # training tasks: every pair trains; evaluation: demos only

    def grids(self, test_outputs: bool = True) -> list[np.ndarray]:
        """Every known grid of the task, pair by pair (input, then output), train then test;
        without ``test_outputs``, the test pairs' inputs only."""
        out = []
        for pair in self.train:
            out += [pair.input, pair.output]
        for pair in self.test:
            out.append(pair.input)
            if test_outputs and pair.output is not None:
                out.append(pair.output)
        return out


def check_grid(value: object, where: str) -> np.ndarray:
    """A JSON value (list of rows) or an array as a checked ``uint8`` grid.

    ``where`` names the grid in messages, e.g. ``"a.json: task 007bbfb7, train pair 2 input"``.
    """
    if isinstance(value, np.ndarray):
        if value.ndim != 2:
            raise TRMError(f"{where}: a grid has 2 dimensions, this one {value.ndim}")
        rows = value
    else:
        if not isinstance(value, list) or not value:
            raise TRMError(f"{where}: a grid is a non-empty list of rows, got {_kind(value)}")
        for r, row in enumerate(value):
            if not isinstance(row, list):
                raise TRMError(f"{where}: row {r + 1} is {_kind(row)}, not a list of colours")
            if len(row) != len(value[0]):
                raise TRMError(
                    f"{where}: ragged grid (row {r + 1} has {len(row)} cells, row 1 "
                    f"has {len(value[0])})"
                )
        for r, row in enumerate(value):
            for c, v in enumerate(row):
                if type(v) is not int:  # bool is not a colour, nor is 1.0
                    raise TRMError(
                        f"{where}: row {r + 1}, column {c + 1} is {_short(v)}, not a colour 0-9"
                    )
                if not 0 <= v < N_COLOURS:
                    raise TRMError(
                        f"{where}: colour {_short(v)} at row {r + 1}, column {c + 1} "
                        "(colours are 0-9)"
                    )
        rows = np.array(value, dtype=np.int64)
    h, w = rows.shape
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise TRMError(f"{where}: grid is {h}x{w}; each side must be 1 to {MAX_SIDE}")
    if rows.dtype.kind not in "iu":
        raise TRMError(f"{where}: grid of {rows.dtype} values, not colours 0-9")
    bad = np.argwhere((rows < 0) | (rows >= N_COLOURS))
    if len(bad):
        r, c = bad[0]
        raise TRMError(
            f"{where}: colour {int(rows[r, c])} at row {r + 1}, column {c + 1} (colours are 0-9)"
        )
    return rows.astype(np.uint8)


def _short(value: object) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**12 else "a huge number"
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value: object) -> str:
    return "nothing" if value is None or value == [] else type(value).__name__


def parse_pairs(value: object, where: str, *, need_output: bool) -> tuple[Pair, ...]:
    """A JSON list of ``{"input": grid, "output": grid}`` as checked pairs.

    ``where`` is e.g. ``"a.json: task 007bbfb7, train"``; pairs are numbered from 1.
    """
    if not isinstance(value, list):
        raise TRMError(f"{where}: expected a list of pairs, got {_kind(value)}")
    pairs = []
    for k, item in enumerate(value, 1):
        here = f"{where} pair {k}"
        if not isinstance(item, dict) or "input" not in item:
            raise TRMError(f'{here}: expected an object with an "input" grid')
        if need_output and "output" not in item:
            raise TRMError(f'{here}: has no "output" grid')
        output = item.get("output")
        pairs.append(
            Pair(
                check_grid(item["input"], f"{here} input"),
                None if output is None else check_grid(output, f"{here} output"),
            )
        )
    return tuple(pairs)


def parse_task(value: object, task_id: str, where: str, set: TaskSet = "evaluation") -> ArcTask:
    """One task object ``{"train": [...], "test": [...]}``; ``where`` names its file."""
    here = f"{where}: task {task_id}"
    if not isinstance(value, dict):
        raise TRMError(f'{here}: expected an object with "train" and "test", got {_kind(value)}')
    for key in ("train", "test"):
        if key not in value:
            raise TRMError(f'{here}: no "{key}" list')
    train = parse_pairs(value["train"], f"{here}, train", need_output=True)
    if not train:
        raise TRMError(f"{here}: no train (demonstration) pairs")
    test = parse_pairs(value["test"], f"{here}, test", need_output=False)
    return ArcTask(task_id, train, test, set)
