"""`trm solve maze` with a model: the predicted path after every supervision step, checked.

The answer is checked by :func:`puzzles.maze.solver.check_path`: correct only if the
path keeps the maze, avoids walls, is connected, joins S to G and is a shortest one.
A step's "conflicts" are the cells where its grid breaks the maze (a path on a wall, a
wall or S/G changed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from puzzles.maze.data import decode, encode
from puzzles.maze.grid import GOAL, OPEN, PATH, START, WALL, strip_path, to_rows
from puzzles.maze.render import CELLS, FLAGGED, MOVED, render_grid
from puzzles.maze.solver import check_path, solve
from puzzles.maze.task import TASK
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

READABLE = {
    "keeps_maze": "changes the maze",
    "wall_free": "crosses a wall",
    "connected": "is not connected",
    "joins_start_goal": "does not join S to G",
    "optimal_length": "is not a shortest path",
}


if TYPE_CHECKING:
    from puzzles.scaling import Sampling

DEFAULT_MODEL = TASK.default_model


def broken_cells(maze: np.ndarray, grid: np.ndarray) -> list[int]:
    """Cells where a predicted grid breaks the maze: path on a wall, walls/S/G changed."""
    m, g = maze.reshape(-1), grid.reshape(-1)
    fine = (g == m) | ((g == PATH) & (m == OPEN)) | ((g == OPEN) & (m == OPEN))
    return [int(i) for i in np.nonzero(~fine)[0]]


def watch(
    model: Model,
    maze: np.ndarray,
    *,
    halting: str = "full",
    max_steps: int | None = None,
    where: str = "maze",
    samples: Sampling | None = None,
) -> Watch:
    """The steps of the identity view, checked; with ``samples`` (a
    :class:`puzzles.scaling.Sampling`), also the answer selected among K candidates."""
    maze = strip_path(maze)
    seq_len = model.config.get("data", {}).get("seq_len")
    if seq_len != maze.size:
        raise TRMError(
            f"{where} is {maze.shape[0]}x{maze.shape[1]} but {model.source} was "
            f"trained on mazes of {seq_len} cells"
        )
    reference = solve(maze)
    max_steps = model.steps(max_steps)
    traced = trace(
        model.net, encode(maze), halting=halting, max_steps=max_steps, precision=model.precision
    )
    steps, before = [], maze
    for t in traced:
        grid = decode(t.tokens)
        check = check_path(maze, grid)
        flagged = broken_cells(maze, grid)
        joined = not ({"connected", "joins_start_goal"} & set(check.failed))
        steps.append(
            Step(
                t.step,
                grid,
                t.confidence,
                t.halt_prob,
                changed_cells(before, grid),
                len(flagged),
                flagged,
                joined,
                extra={"failed": list(check.failed), "moves": check.length},
                halts=t.halts,
            )
        )
        before = grid
    valid, correct, verdict = _judge(steps[-1].extra["failed"])
    w = Watch(
        task="maze",
        puzzle=maze,
        reference=reference,
        steps=steps,
        valid=valid,
        correct=correct,
        verdict=verdict,
        **model.watch_fields(halting, max_steps),
    )
    if samples:
        tokens, info = model.candidates(encode(maze), samples, max_steps)
        grid = decode(tokens)
        failed = list(check_path(maze, grid).failed) if grid.min() >= 0 else ["keeps_maze"]
        add_samples(w, {**info, "failed": failed}, to_rows(grid), *_judge(failed), grid)
    return w


def _judge(failed: list[str]) -> tuple[bool, bool, str]:
    """(valid, correct, verdict) of an answer that failed the checks ``failed``."""
    correct = not failed
    valid = not ({"keeps_maze", "wall_free", "connected", "joins_start_goal"} & set(failed))
    verdict = (
        "correct"
        if correct
        else "valid but not shortest"
        if valid
        else "invalid: the path " + ", ".join(READABLE[f] for f in failed)
    )
    return valid, correct, verdict


def to_json(w: Watch) -> dict:
    """With --samples, "answer" and "failed" are the selected path's, "one_pass" the steps'."""
    samples = w.info.get("samples")
    out = {
        "steps": [
            {
                "step": s.step,
                "grid": to_rows(s.answer),
                "halt_prob": round(s.halt_prob, 4),
                "changed": s.changed,
                "conflicts": s.conflicts,
                "complete": s.complete,
                "unsure": s.unsure,
                "failed": s.extra["failed"],
            }
            for s in w.steps
        ],
        "puzzle": to_rows(w.puzzle),
        **w.common_json(to_rows(w.final.answer)),
        "failed": samples["failed"] if samples else w.final.extra["failed"],
    }
    if samples:
        out["one_pass"]["failed"] = w.final.extra["failed"]
    return out


def legend() -> Text:
    parts = [
        (CELLS[WALL][0] + " wall", CELLS[WALL][1]),
        (CELLS[START][0] + "start", CELLS[START][1]),
        (CELLS[GOAL][0] + "goal", CELLS[GOAL][1]),
        (CELLS[PATH][0] + " path", CELLS[PATH][1]),
        ("changed", MOVED),
        (f"unsure (p<{LOW_CONFIDENCE})", "underline"),
        ("×× breaks the maze", FLAGGED),
    ]
    return Text(" · ").join(Text(label, style=style) for label, style in parts)


def render_step(w: Watch, s: Step) -> RenderableType:
    moves = f"{s.extra['moves']} moves" if s.complete else "no"
    info = step_info(s, [("joins S-G", moves)])
    body = Table.grid(padding=(0, 3))
    body.add_row(
        render_grid(s.answer, flagged=s.flagged, highlight=s.changed, unsure=s.unsure), info
    )
    ok = not s.extra["failed"]
    return Panel.fit(
        body,
        title=f"step {s.step} of {w.max_steps}",
        title_align="left",
        border_style="green" if ok else "dim",
    )


def render_summary(w: Watch) -> RenderableType:
    s = w.final
    shortest = int(np.count_nonzero(w.reference == PATH)) + 1
    verdict = Text(w.verdict, style="bold green" if w.correct else "bold red")
    detail = Text(
        f"checked by breadth-first search: the shortest path has {shortest} moves", style="dim"
    )
    return Panel.fit(
        Group(
            Text(f"answer: {w.how_it_ended()}"),
            render_grid(s.answer, flagged=s.flagged),
            verdict,
            detail,
        ),
        title="answer",
        title_align="left",
        border_style="green" if w.correct else "red",
    )


def render_samples(w: Watch) -> RenderableType:
    grid = w.info["samples_grid"]
    return samples_panel(w, render_grid(grid, flagged=broken_cells(w.puzzle, grid)))
