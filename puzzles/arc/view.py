"""How an ARC example of a dataset is shown: JSON for scripts, coloured grids for people."""

from __future__ import annotations

from bisect import bisect_right

import numpy as np
from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from puzzles.arc.render import render_grid
from puzzles.arc.tokens import decode, is_blank


def task_of(meta: dict, puzzle_id: int) -> tuple[str, int]:
    """The task id a puzzle id belongs to, and which of its augmentations it is (0: none)."""
    info = meta["task_info"]
    t = bisect_right(info["puzzle_id_start"], puzzle_id) - 1
    return info["task_ids"][t], puzzle_id - info["puzzle_id_start"][t]


def _grid(tokens: np.ndarray) -> np.ndarray | None:
    return None if is_blank(tokens) else decode(tokens)  # all PAD: output unknown


def example_json(meta: dict, inputs: np.ndarray, labels: np.ndarray, puzzle_id: int = 0) -> dict:
    label = _grid(labels)
    return {
        "task": task_of(meta, puzzle_id)[0],
        "input": decode(inputs).tolist(),
        "label": None if label is None else label.tolist(),
    }


def render_example(
    meta: dict, inputs: np.ndarray, labels: np.ndarray, puzzle_id: int = 0
) -> RenderableType:
    task, aug = task_of(meta, puzzle_id)
    grid, label = decode(inputs), _grid(labels)
    panels = [Panel.fit(render_grid(grid), title=f"input {grid.shape[0]}x{grid.shape[1]}")]
    if label is None:
        panels.append(Panel.fit(Text("unknown", style="dim"), title="label"))
    else:
        panels.append(
            Panel.fit(render_grid(label), title=f"label {label.shape[0]}x{label.shape[1]}")
        )
    caption = f"task {task}" + (f", augmentation {aug}" if aug else "")
    return Group(Text(caption, style="bold"), Columns(panels))
