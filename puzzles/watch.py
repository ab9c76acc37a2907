"""Task-independent parts of `trm solve` with a model: which model, and the step summary.

Each task (``puzzles/<task>/watch.py``) turns a :func:`trm.trace.trace` into its own
steps (grids, conflicts, a verdict); this module finds and checks the model and holds
what every task's steps share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trm.errors import TRMError

LOW_CONFIDENCE = 0.5  # a cell whose chosen token has less probability than this is "unsure"


@dataclass
class Model:
    """A loaded model ready to trace, with where it came from."""

    net: object  # trm.model.TRM
    config: dict  # the checkpoint's config.json
    source: str  # the checkpoint folder, for messages and JSON
    device: object
    precision: str

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.net.parameters())


def open_model(checkpoint: Path | None, task: str, *, default: Path | None = None,
               device: str = "auto", precision: str = "auto") -> Model:
    """The checkpoint's model (or the task's shipped default), refused if made for another task."""
    from puzzles.training import load_model
    from trm.checkpoint import resolve_checkpoint
    from trm.device import resolve_device, resolve_precision

    if checkpoint is None:
        if default is None or not (default / "model.safetensors").is_file():
            raise TRMError(f"no default {task} model is installed: pass --checkpoint RUN "
                           f"(a run folder from `trm train`)")
        checkpoint = default
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    net, config = load_model(checkpoint, dev)
    source = str(resolve_checkpoint(checkpoint))
    if config.get("task") != task:
        raise TRMError(f"{source} was trained on {config.get('task')!r} data, not {task}")
    return Model(net, config, source, dev, prec)


@dataclass
class Step:
    """One supervision step as shown: the task's answer and what changed since the last."""

    step: int
    answer: np.ndarray  # the decoded answer (a grid)
    confidence: np.ndarray  # per cell
    halt_prob: float
    changed: list[int]  # cells that differ from the previous step (step 1: from the puzzle)
    conflicts: int  # rule violations (e.g. a digit twice in a row)
    flagged: list[int]  # the cells involved in them
    complete: bool
    extra: dict = field(default_factory=dict)  # task-specific JSON fields

    @property
    def unsure(self) -> list[int]:
        return [int(i) for i in np.nonzero(self.confidence < LOW_CONFIDENCE)[0]]


def changed_cells(before: np.ndarray, after: np.ndarray) -> list[int]:
    return [int(i) for i in np.nonzero(np.asarray(before).reshape(-1)
                                       != np.asarray(after).reshape(-1))[0]]


@dataclass
class Watch:
    """A whole solve: the steps, the answer taken and how it checks out."""

    task: str
    puzzle: np.ndarray  # the question, decoded
    reference: np.ndarray | None  # the known answer (exact solver, dataset label), if any
    steps: list[Step]
    halted_at: int  # the step whose answer is final
    halting: str  # adaptive or full
    checkpoint: str
    valid: bool
    correct: bool
    verdict: str  # e.g. "correct", "valid but differs", "invalid: 3 conflicts"
    max_steps: int
    n_sup: int  # the steps the model was trained with

    @property
    def final(self) -> Step:
        return self.steps[self.halted_at - 1]
