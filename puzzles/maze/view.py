"""How a maze example of a dataset is shown: JSON for scripts, coloured grids for people."""

from __future__ import annotations

import numpy as np
from rich.columns import Columns
from rich.console import RenderableType
from rich.panel import Panel

from puzzles.maze.data import decode
from puzzles.maze.grid import PATH, to_rows
from puzzles.maze.render import render_grid


def example_json(meta: dict, inputs: np.ndarray, labels: np.ndarray, puzzle_id: int = 0) -> dict:
    """``{"input": [rows], "label": [rows]}``, each row a string of the maze's characters."""
    return {"input": to_rows(decode(inputs)), "label": to_rows(decode(labels))}


def render_example(
    meta: dict, inputs: np.ndarray, labels: np.ndarray, puzzle_id: int = 0
) -> RenderableType:
    label = decode(labels)
    moves = int(np.count_nonzero(label == PATH)) + 1
    return Columns(
        [
            Panel.fit(render_grid(decode(inputs)), title="input"),
            Panel.fit(render_grid(label), title=f"label: {moves} moves"),
        ]
    )
