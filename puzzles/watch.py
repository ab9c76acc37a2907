"""Task-independent parts of `trm solve` with a model: which model, and the step summary.

Each task (``puzzles/<task>/watch.py``) turns a :func:`trm.trace.trace` into its own
steps (grids, conflicts, a verdict); this module finds and checks the model and holds
what every task's steps share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from puzzles.tasks import Task
from trm.errors import SettingError
from trm.files import MODEL_FILE

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
        from trm.model import parameter_count

        return parameter_count(self.net)

    def steps(self, asked: int | None) -> int:
        """``asked``, else the checkpoint's own count (:func:`trm.evaluate.default_max_steps`)."""
        from trm.evaluate import default_max_steps

        return default_max_steps(self.config, self.net.config.n_sup, asked)

    def watch_fields(self, halting: str, max_steps: int) -> dict:
        """The fields of a :class:`Watch` that say how this model ran."""
        return {
            "halting": halting,
            "checkpoint": self.source,
            "max_steps": max_steps,
            "n_sup": self.net.config.n_sup,
        }

    def candidates(self, tokens: np.ndarray, sampling, max_steps: int):
        """The answer (tokens) selected among ``sampling``'s candidates for one puzzle of the
        model's task, and how it was found (:func:`puzzles.scaling.solve_one`)."""
        from puzzles.scaling import solve_one
        from puzzles.tasks import get_task

        return solve_one(
            self.net,
            tokens,
            get_task(self.config["task"]),
            sampling.for_checkpoint(self.config),
            precision=self.precision,
            max_steps=max_steps,
        )


def open_model(
    checkpoint: Path | None,
    task: Task,
    *,
    device: str = "auto",
    precision: str = "auto",
) -> Model:
    """The checkpoint's model (or the task's shipped default), refused if made for another task."""
    from puzzles.evaluation import load_model
    from trm.checkpoint import resolve_checkpoint
    from trm.device import resolve_device, resolve_precision

    if checkpoint is None:
        default = task.default_model
        if default is None or not (default / MODEL_FILE).is_file():
            raise SettingError(
                f"no default {task.name} model is installed: pass `checkpoint` RUN "
                f"(a run folder from `trm train`)"
            )
        checkpoint = default
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    net, config = load_model(checkpoint, dev, task.name)
    return Model(net, config, str(resolve_checkpoint(checkpoint)), dev, prec)


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
    halts: bool = False  # adaptive halting stops here (trm.trace.TraceStep.halts)

    @property
    def unsure(self) -> list[int]:
        return [int(i) for i in np.nonzero(self.confidence < LOW_CONFIDENCE)[0]]


def changed_cells(before: np.ndarray, after: np.ndarray) -> list[int]:
    return [
        int(i)
        for i in np.nonzero(np.asarray(before).reshape(-1) != np.asarray(after).reshape(-1))[0]
    ]


@dataclass(kw_only=True)
class Watch:
    """A whole solve: the steps, the answer taken and how it checks out (made by each task's
    ``watch``, every field named)."""

    task: str
    puzzle: np.ndarray  # the question, decoded
    reference: np.ndarray | None  # the known answer (exact solver, dataset label), if any
    steps: list[Step]  # the last one's answer is the one taken
    halting: str  # adaptive or full
    checkpoint: str
    valid: bool
    correct: bool
    verdict: str  # e.g. "correct", "valid but differs", "invalid: 3 conflicts"
    max_steps: int
    n_sup: int  # the steps the model was trained with
    checked: bool = True  # False when there is no known answer to check against (ARC)
    info: dict = field(default_factory=dict)  # task-specific facts (e.g. ARC's task id)

    @property
    def halted_at(self) -> int:
        """The step whose answer is final."""
        return len(self.steps)

    @property
    def final(self) -> Step:
        return self.steps[self.halted_at - 1]

    def how_it_ended(self) -> str:
        """Why this step's answer is the one taken."""
        s = self.final
        if self.halting == "adaptive" and s.halts:
            return (
                f"the halting head stopped at step {self.halted_at} (p={s.halt_prob:.2f}, "
                "the answer confirmed)"
            )
        if self.halting == "adaptive":
            return f"no halt before the step limit; answer from step {self.halted_at}"
        first = next((x.step for x in self.steps if x.halts), None)
        return f"all {self.halted_at} steps run" + (
            f" (the halting head would have stopped at step {first})" if first else ""
        )

    @property
    def outcome(self) -> tuple[bool, bool, str]:
        """(valid, correct, verdict) of the answer given: with --samples the selected one."""
        s = self.info.get("samples")
        return (
            (s["valid"], s["correct"], s["verdict"])
            if s
            else (self.valid, self.correct, self.verdict)
        )

    def common_json(self, one_pass_answer) -> dict:
        """The fields every task's JSON shares (after its own "steps"); ``one_pass_answer``:
        the final step's answer in the task's JSON form. With --samples, "answer", "valid",
        "correct" and "verdict" are the selected answer's (what the exit status says), and
        "one_pass" holds the identity view's (the steps shown); "samples" says how the
        answer was found."""
        valid, correct, verdict = self.outcome
        samples = self.info.get("samples")
        out = {
            "answer": samples["answer"] if samples else one_pass_answer,
            "valid": valid,
            "correct": correct if self.checked else None,
            "verdict": verdict,
            "halted_at": self.halted_at,
            "halting": self.halting,
            "checkpoint": self.checkpoint,
        }
        if "samples" in self.info:
            out["one_pass"] = {
                "answer": one_pass_answer,
                "valid": self.valid,
                "correct": self.correct,
                "verdict": self.verdict,
            }
            out["samples"] = self.info["samples"]
        return out


def header(w: Watch, params: int, default: Path | None = None) -> Text:
    name = (
        "the default model"
        if default is not None and Path(w.checkpoint) == default
        else f"model {w.checkpoint}"
    )
    return Text(
        f"{name} ({params:,} parameters) · halting {w.halting} · trained with {w.n_sup} steps",
        style="dim",
    )


def step_info(s: Step, extra: list[tuple[str, str]] = ()) -> Table:
    """The column beside a step's grid: halting probability, conflicts, completeness..."""
    info = Table.grid(padding=(0, 1))
    info.add_column(style="dim")
    info.add_column(width=12)  # fixed, so every step's panel has the same width
    halts = s.halts
    info.add_row(
        "halt",
        Text(
            f"{s.halt_prob:.2f}" + ("  halt" if halts else ""), style="bold green" if halts else ""
        ),
    )
    info.add_row("conflicts", Text(str(s.conflicts), style="bold red" if s.conflicts else "green"))
    for label, value in extra:
        info.add_row(label, value)
    info.add_row("changed", str(len(s.changed)))
    info.add_row("unsure", str(len(s.unsure)))
    return info


def add_samples(
    w: Watch, info: dict, answer_json, valid: bool, correct: bool, verdict: str, answer: np.ndarray
) -> None:
    """Record a --samples run (puzzles.scaling.solve_one) on a solve: the selected answer
    and its check; the steps shown stay the identity view's one pass."""
    how = (
        "verified by the checker"
        if info["verified"]
        else "no candidate passed the checker: the vote's best"
        if info["verified"] is False
        else f"selected by {info['select']}"
    )
    w.info["samples"] = {
        **info,
        "answer": answer_json,
        "valid": valid,
        "correct": correct,
        "verdict": f"{verdict} ({how})",
    }
    w.info["samples_grid"] = answer


def samples_panel(w: Watch, grid: RenderableType) -> RenderableType:
    """What --samples found: the candidates, which one was chosen, how, and in what time."""
    from puzzles.scaling import describe

    s = w.info["samples"]
    kind = describe(s["views"], s["noise"])
    alone = s.get("ran", s["samples"]) == 1 < s["samples"]  # (lead: it solved it alone)
    lines = [
        f"{s['samples']} candidates ({kind}), select {s['select']}",
        f"chosen: candidate 1 (as given), verified alone; {s['samples'] - 1} never ran"
        if alone
        else f"chosen: candidate {s['chosen'] + 1}"
        + (" (the identity view)" if s["chosen"] == 0 else "")
        + f", {s['votes']} of {s['samples']} gave this answer",
    ]
    if s["verified"]:
        lines.append(
            f"verified at step {s['verified_at_step']} ({s['verified_candidates']} "
            f"candidate{'s' * (s['verified_candidates'] != 1)} passed then)"
        )
    lines.append(
        f"mean steps per candidate {s['mean_steps']:.2f} of {w.max_steps} · {s['seconds']:.2f} s"
    )
    style = "green" if s["correct"] else "red"
    return Panel.fit(
        Group(*(Text(line) for line in lines), grid, Text(s["verdict"], style=f"bold {style}")),
        title="with the checker" if s["select"] == "checker" else "with samples",
        title_align="left",
        border_style=style,
    )
