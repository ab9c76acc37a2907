"""`trm solve sudoku` with a model: the answer grid after every supervision step, checked.

The answer is checked against the rules and the exact solver: "correct" (it is the
solution), "valid but differs" (a full grid breaking no rule that is not the solution:
the model changed a clue), "invalid: N conflicts" or "incomplete: N blank cells".
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from puzzles.sudoku.data import decode, encode
from puzzles.sudoku.grid import find_conflicts, is_complete, is_solution, to_string
from puzzles.sudoku.render import FILLED, FLAGGED, GIVEN, HIGHLIGHT, UNSURE, render_grid
from puzzles.sudoku.solver import solve
from puzzles.sudoku.task import TASK
from puzzles.watch import (
    LOW_CONFIDENCE,
    Model,
    Step,
    Watch,
    add_samples,
    changed_cells,
    samples_panel,
    step_info,
)
from trm.errors import TRMError
from trm.trace import trace

if TYPE_CHECKING:
    from puzzles.scaling import Sampling

DEFAULT_MODEL = TASK.default_model


def watch(
    model: Model,
    puzzle: np.ndarray,
    *,
    halting: str = "full",
    max_steps: int | None = None,
    where: str = "puzzle",
    samples: Sampling | None = None,
) -> Watch:
    """The steps of the identity view, checked; with ``samples`` (a
    :class:`puzzles.scaling.Sampling`), also the answer selected among K candidates."""
    puzzle = np.asarray(puzzle, dtype=np.int8).reshape(-1)
    seq_len = model.config.get("data", {}).get("seq_len")
    if seq_len != puzzle.size:
        raise TRMError(
            f"{where} is a {_side(puzzle.size)} Sudoku but {model.source} was "
            f"trained on {_side(seq_len)}"
        )
    exact = solve(puzzle)
    if exact.solution is None:
        raise TRMError(f"{where}: the puzzle has no solution")
    max_steps = model.steps(max_steps)

    traced = trace(
        model.net, encode(puzzle), halting=halting, max_steps=max_steps, precision=model.precision
    )
    steps, before = [], puzzle
    for t in traced:
        grid = decode(t.tokens)
        conflicts = find_conflicts(grid)
        flagged = {c for conflict in conflicts for c in conflict.cells}
        flagged |= set(np.nonzero((puzzle > 0) & (grid != puzzle))[0].tolist())  # changed clues
        steps.append(
            Step(
                t.step,
                grid,
                t.confidence,
                t.halt_prob,
                changed_cells(before, grid),
                len(conflicts),
                sorted(int(c) for c in flagged),
                is_complete(grid),
                halts=t.halts,
            )
        )
        before = grid

    valid, correct, verdict = check_answer(puzzle, steps[-1].answer, exact.solution, exact.unique)
    w = Watch(
        task="sudoku",
        puzzle=puzzle,
        reference=exact.solution,
        steps=steps,
        valid=valid,
        correct=correct,
        verdict=verdict,
        **model.watch_fields(halting, max_steps),
    )
    if samples:
        tokens, info = model.candidates(encode(puzzle), samples, max_steps)
        grid = decode(tokens)
        add_samples(
            w,
            info,
            to_string(grid),
            *check_answer(puzzle, grid, exact.solution, exact.unique),
            grid,
        )
    return w


def _side(cells) -> str:
    n = math.isqrt(cells) if isinstance(cells, int) and cells > 0 else 0
    return f"{n}x{n}" if n else "another size"


def check_answer(
    puzzle: np.ndarray, answer: np.ndarray, solution: np.ndarray, unique: bool = True
) -> tuple[bool, bool, str]:
    """(valid, correct, verdict) of a model's answer to ``puzzle``.

    valid: a full grid breaking no rule; correct: the solution (when the puzzle has several,
    any grid that solves it and keeps its clues).
    """
    puzzle, answer = np.asarray(puzzle).reshape(-1), np.asarray(answer).reshape(-1)
    conflicts = len(find_conflicts(answer))
    valid = is_complete(answer) and conflicts == 0
    correct = bool(
        np.array_equal(answer, np.asarray(solution).reshape(-1))
        or (not unique and is_solution(answer, puzzle))
    )
    if correct:
        return valid, correct, "correct"
    if valid:
        changed = int(np.sum((puzzle > 0) & (answer != puzzle)))
        return valid, correct, f"valid but differs ({changed} clue{'s' * (changed != 1)} changed)"
    if conflicts:
        return valid, correct, f"invalid: {conflicts} conflict{'s' * (conflicts != 1)}"
    blanks = int(np.sum(answer == 0))
    return valid, correct, f"incomplete: {blanks} blank cell{'s' * (blanks != 1)}"


# --------------------------------------------------------------------------- JSON


def to_json(w: Watch) -> dict:
    return {
        "steps": [
            {
                "step": s.step,
                "grid": to_string(s.answer),
                "halt_prob": round(s.halt_prob, 4),
                "changed": s.changed,
                "conflicts": s.conflicts,
                "complete": s.complete,
                "unsure": s.unsure,
            }
            for s in w.steps
        ],
        "puzzle": to_string(w.puzzle),
        **w.common_json(to_string(w.final.answer)),
    }


# --------------------------------------------------------------------------- display


def legend() -> Text:
    parts = [
        ("clue", GIVEN),
        ("filled by the model", FILLED),
        ("changed", HIGHLIGHT),
        (f"unsure (p<{LOW_CONFIDENCE})", UNSURE),
        ("breaks a rule", FLAGGED),
    ]
    return Text(" · ").join(Text(label, style=style) for label, style in parts)


def render_step(w: Watch, s: Step) -> RenderableType:
    blanks = int(np.sum(s.answer == 0))
    info = step_info(s, [("complete", "yes" if s.complete else f"no ({blanks} blank)")])
    body = Table.grid(padding=(0, 3))
    body.add_row(
        render_grid(s.answer, w.puzzle, highlight=s.changed, flagged=s.flagged, unsure=s.unsure),
        info,
    )
    return Panel.fit(
        body,
        title=f"step {s.step} of {w.max_steps}",
        title_align="left",
        border_style="green" if (s.complete and not s.conflicts) else "dim",
    )


def render_summary(w: Watch) -> RenderableType:
    s = w.final
    wrong = changed_cells(w.reference, s.answer)
    grid = render_grid(s.answer, w.puzzle, flagged=wrong)
    verdict = Text(w.verdict, style="bold green" if w.correct else "bold red")
    detail = Text(
        "checked against the rules and the exact solver"
        + (
            "" if w.correct or not wrong else f"; {len(wrong)} cells differ (marked: breaks a rule)"
        ),
        style="dim",
    )
    return Panel.fit(
        Group(Text(f"answer: {w.how_it_ended()}"), grid, verdict, detail),
        title="answer",
        title_align="left",
        border_style="green" if w.correct else "red",
    )


def render_samples(w: Watch) -> RenderableType:
    grid = w.info["samples_grid"]
    return samples_panel(w, render_grid(grid, w.puzzle, flagged=changed_cells(w.reference, grid)))
