"""The ARC task: its examples shown (input, output and the task they belong to) and trained
with each task's own augmentations. Its test-time views are per task and voted
(:mod:`puzzles.arc.views`); it has no checker (an ARC answer is right only if it is the
answer)."""

from __future__ import annotations

from puzzles.arc import view
from puzzles.arc.data import build_from, make_augmenter
from puzzles.tasks import Task

TASK = Task(
    "arc",
    view.example_json,
    view.render_example,
    build=build_from,
    preset="arc",
    make_augmenter=make_augmenter,
    watcher="puzzles.arc.watch",
)
