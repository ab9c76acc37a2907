"""How a Sudoku example of a dataset is shown: JSON for scripts, grids for people."""

from __future__ import annotations

import numpy as np
from rich.columns import Columns
from rich.console import RenderableType
from rich.panel import Panel

from puzzles.sudoku.data import decode
from puzzles.sudoku.grid import to_string
from puzzles.sudoku.render import render_grid


def example_json(meta: dict, inputs: np.ndarray, labels: np.ndarray, puzzle_id: int = 0) -> dict:
    return {"input": to_string(decode(inputs)), "label": to_string(decode(labels))}


def render_example(
    meta: dict, inputs: np.ndarray, labels: np.ndarray, puzzle_id: int = 0
) -> RenderableType:
    puzzle, solution = decode(inputs), decode(labels)
    return Columns(
        [
            Panel.fit(render_grid(puzzle, puzzle), title="input"),
            Panel.fit(render_grid(solution, puzzle), title="label"),
        ]
    )
