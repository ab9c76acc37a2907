"""Everything trm knows of one puzzle task, in one place: a :class:`Task`, looked up by name.

Each puzzle package defines its task in one module (``puzzles/sudoku/task.py``, ...) as
``TASK = Task(...)``, and :data:`TASKS` names that module once. Adding a task means that one
module and one line here; `trm data show`, `trm train`, `trm eval --samples`, `trm solve` and
the dataset reader find it through :func:`get_task`. A task module is imported only when its
task is asked for (nothing here imports torch).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from rich.console import RenderableType

from trm.errors import SettingError, TRMError

# task name -> the module that defines its ``TASK``
TASKS: dict[str, str] = {
    "sudoku": "puzzles.sudoku.task",
    "maze": "puzzles.maze.task",
    "arc": "puzzles.arc.task",
}


@dataclass(frozen=True)
class Views:
    """K views of a token sequence: view ``k`` of ``x`` is ``tables[k][x[perms[k]]]`` (a move
    of the cells and a relabelling of the tokens), so one gather maps a whole batch there and,
    through :meth:`inverse`, back."""

    perms: np.ndarray  # (K, L) int64: view cell i reads cell perms[k, i]
    tables: np.ndarray  # (K, V) int64: token t becomes tables[k, t] (a permutation)

    @classmethod
    def identity(cls, k: int, seq_len: int, vocab: int) -> Views:
        """K copies of the puzzle as it is."""
        return cls(
            np.tile(np.arange(seq_len, dtype=np.int64), (k, 1)),
            np.tile(np.arange(vocab, dtype=np.int64), (k, 1)),
        )

    def inverse(self) -> Views:
        return Views(np.argsort(self.perms, axis=1), np.argsort(self.tables, axis=1))

    def apply(self, x: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Row ``r`` of ``x`` (R, L) seen through view ``k[r]``."""
        moved = np.take_along_axis(x.astype(np.int64), self.perms[k], axis=1)
        return np.take_along_axis(self.tables[k], moved, axis=1)


# (meta, inputs, labels, puzzle_id) of one example -> JSON / a renderable
ExampleJSON = Callable[[dict, np.ndarray, np.ndarray, int], dict]
RenderExample = Callable[[dict, np.ndarray, np.ndarray, int], RenderableType]
# (inputs, labels, puzzle_ids, rng) of a token batch -> the same, augmented (trm.data.Augmenter)
Augmenter = Callable[[np.ndarray, np.ndarray, np.ndarray, np.random.Generator], tuple]


@dataclass(frozen=True)
class Task:
    """One puzzle task: how its examples are shown, trained, checked and seen differently.

    Only ``name``, ``example_json`` and ``render_example`` are required; a task without
    ``views`` cannot run checked candidates (`--samples`), one without ``check`` can only
    vote them."""

    name: str
    example_json: ExampleJSON
    render_example: RenderExample
    # the dataset builder of `trm data TASK` (its keywords are the task's own)
    build: Callable[..., Any] | None = None
    # training: the preset a run takes when none is named (the official one, on a GPU) and
    # the CPU recipe (None: ``preset`` on a CPU too)
    preset: str = "tiny"
    cpu_preset: str | None = None
    # on-the-fly training augmentation of token batches, if any; ``make_augmenter`` builds
    # one from its dataset (ARC: the per-task augmentation lists) and is used instead
    augmenter: Augmenter | None = None
    make_augmenter: Callable[[Any], Augmenter] | None = None  # a puzzles.dataset.Dataset
    # test-time scaling: (K, seq_len, vocab, rng) -> K views, view 0 the identity
    views: Callable[[int, int, int, np.random.Generator], Views] | None = None
    # (questions (R, L), answers (R, L)) tokens -> (R,) bool: the answer is right
    check: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    # a dataset's meta.json -> what is wrong with its ``task_info`` (None: nothing)
    check_meta: Callable[[dict], str | None] | None = None
    # the (vocab_size, seq_len) that says this task from a model's weights alone (an official
    # checkpoint imported without its data), and the dataset meta it then stands for
    official_shape: tuple[int, int] | None = None
    official_meta: Callable[[], dict] | None = None
    # `trm solve`: the module that watches a model solve one puzzle (its ``watch``, and the
    # panels and JSON of :mod:`puzzles.watch`), imported when asked for; and the model
    # shipped with trm for the task, if any
    watcher: str | None = None
    default_model: Path | None = None

    def watch_module(self) -> ModuleType:
        """The task's watcher (a module name in ``watcher``), imported now."""
        if self.watcher is None:
            raise TRMError(f"`trm solve` cannot watch {self.name} puzzles")
        return importlib.import_module(self.watcher)

    def preset_for(self, device_type: str) -> str:
        """The preset a run takes when none is named: the CPU recipe on a CPU."""
        return self.cpu_preset if device_type == "cpu" and self.cpu_preset else self.preset

    def augmenter_for(self, ds) -> Augmenter | None:
        """The on-the-fly augmenter for training on ``ds`` (a puzzles.dataset.Dataset), if the
        task has one."""
        return self.make_augmenter(ds) if self.make_augmenter else self.augmenter

    def for_scaling(self) -> Task:
        """This task, if it can run checked candidates (its views); else a setting error."""
        if self.views is None:
            able = ", ".join(n for n in TASKS if get_task(n).views is not None)
            raise SettingError(
                f"`samples` needs a task with exact augmentations ({able}); "
                f"this model is for {self.name}"
            )
        return self


def get_task(name: str) -> Task:
    """The task called ``name`` (its module imported on first use)."""
    if name not in TASKS:
        raise TRMError(f"unknown task {name!r} (this trm knows {', '.join(TASKS)})")
    task = importlib.import_module(TASKS[name]).TASK
    if task.name != name:
        raise TRMError(f"{TASKS[name]} defines task {task.name!r}, registered as {name!r}")
    return task


def task_of_shape(vocab_size: int, seq_len: int) -> Task | None:
    """The task whose models alone have this vocabulary and length (see ``official_shape``)."""
    found = [get_task(n) for n in TASKS]
    return next((t for t in found if t.official_shape == (vocab_size, seq_len)), None)
