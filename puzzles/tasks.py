"""What `trm data show` and later commands need from each task, looked up by task name.

Adding a task means one module with these functions and one line in :data:`TASKS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rich.console import RenderableType

if TYPE_CHECKING:
    from puzzles.dataset import Dataset


@dataclass(frozen=True)
class TaskView:
    # (meta, inputs, labels, puzzle_id) of one example -> JSON / a renderable
    example_json: Callable[[dict, np.ndarray, np.ndarray, int], dict]
    render_example: Callable[[dict, np.ndarray, np.ndarray, int], RenderableType]
    # on-the-fly training augmentation of token batches, if any (see trm.data.Augmenter)
    augmenter: Callable[[np.ndarray, np.ndarray, np.ndarray, np.random.Generator], tuple] | None = (
        None
    )
    preset: str = "tiny"  # the training preset made for this task (the official, on a GPU)
    cpu_preset: str | None = None  # the task's CPU recipe (None: ``preset`` on a CPU too)
    # for an augmenter that needs its dataset (ARC: the per-task augmentation lists):
    # dataset -> augmenter, used instead of ``augmenter``
    make_augmenter: Callable[[Dataset], Callable] | None = None

    def preset_for(self, device_type: str) -> str:
        """The preset a run takes when none is named: the CPU recipe on a CPU."""
        return self.cpu_preset if device_type == "cpu" and self.cpu_preset else self.preset

    def augmenter_for(self, ds: Dataset) -> Callable | None:
        """The on-the-fly augmenter for training on ``ds``, if the task has one."""
        return self.make_augmenter(ds) if self.make_augmenter else self.augmenter


def _sudoku() -> TaskView:
    from puzzles.sudoku import view
    from puzzles.sudoku.augment import augment_tokens

    return TaskView(
        view.example_json, view.render_example, augment_tokens, "sudoku", cpu_preset="sudoku-small"
    )


def _maze() -> TaskView:
    from puzzles.maze import view
    from puzzles.maze.augment import augment_tokens

    return TaskView(
        view.example_json, view.render_example, augment_tokens, preset="maze", cpu_preset="maze-cpu"
    )


def _arc() -> TaskView:
    from puzzles.arc import view
    from puzzles.arc.data import make_augmenter

    return TaskView(
        view.example_json, view.render_example, preset="arc", make_augmenter=make_augmenter
    )


TASKS: dict[str, Callable[[], TaskView]] = {"sudoku": _sudoku, "maze": _maze, "arc": _arc}


def task_view(task: str) -> TaskView:
    from trm.errors import TRMError

    if task not in TASKS:
        raise TRMError(f"unknown task {task!r} (this trm knows {', '.join(TASKS)})")
    return TASKS[task]()
