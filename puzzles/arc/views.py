"""ARC scored as the TRM paper scores it: augmented views of each test input, mapped back, voted.

For each test input of task ``t``, :func:`build_views` makes up to ``K`` views: the first
``K`` augmentations of the task's seeded list (identity first: the same list and puzzle
ids training used), each applied to the input grid and paired with that augmentation's
puzzle id, so the model sees the view with the embedding it learned for it. After the
model has run on all views (batched across tasks), :func:`score` reads each predicted
grid from the canvas (:func:`puzzles.arc.tokens.crop_prediction`), maps it back through
the inverse augmentation, and votes per test input (:func:`trm.vote.rank`: most views
first, ties by mean halting confidence). A view whose canvas holds no grid at its corner
votes for the empty answer, as the official evaluator counts it (it is never right, but it
can take one of the first places); with ``skip_empty`` it does not vote (ours). A test
input counts for pass@k when its known output is among the first k answers; a task's
score is the share of its test inputs that count; the result is the mean over tasks (the
ARC Prize metric is pass@2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from puzzles.arc.augment import AugmentationTable
from puzzles.arc.tokens import crop_prediction, decode, encode
from puzzles.dataset import Split
from trm.errors import SettingError, TRMError
from trm.vote import Ranked, hit_within, rank

PASS_KS = (1, 2, 5, 10, 100, 1000)


@dataclass
class Views:
    inputs: np.ndarray  # (V, 900) uint8: each view's input canvas
    puzzle_ids: np.ndarray  # (V,) int32: the (task, augmentation) of each view
    example: np.ndarray  # (V,) int64: which row of the split it is a view of
    k: int  # the most views of one test input: those asked for, or as many as a task has

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


def build_views(split: Split, table: AugmentationTable, k: int) -> Views:
    """Up to ``k`` views of every row of ``split`` (an ARC split with a ``task`` extra): as
    many as its task has augmentations, if fewer."""
    if k < 1:
        raise SettingError("views", f"must be at least 1, got {k}")
    if "task" not in split.extras:
        raise TRMError("not an ARC split: no task of each example")
    inputs, ids, example = [], [], []
    for i, t in enumerate(split.extras["task"]):
        grid = decode(split.inputs[i])
        first, end = int(table.start[t]), int(table.start[t + 1])
        for pid in range(first, min(end, first + k)):
            inputs.append(encode(table.augmentation(pid).apply(grid)))
            ids.append(pid)
            example.append(i)
    rows = np.asarray(example, np.int64)
    return Views(np.stack(inputs), np.asarray(ids, np.int32), rows, int(np.bincount(rows).max()))


def grid_key(grid: np.ndarray) -> bytes:
    """Equal grids, equal keys (the shape is part of it)."""
    grid = np.ascontiguousarray(grid, dtype=np.uint8)
    return bytes(grid.shape) + grid.tobytes()


@dataclass
class Vote:
    """The vote of one test input's views."""

    ranked: list[Ranked]  # distinct answers, best first
    grids: dict[bytes, np.ndarray]  # answer key -> grid
    voting: int  # views that voted (with skip_empty: those whose prediction read as a grid)


EMPTY = np.zeros((0, 0), np.uint8)  # the answer of a canvas with no grid at its corner


def votes(
    views: Views,
    predictions: np.ndarray,
    confidences: np.ndarray,
    table: AugmentationTable,
    rows: int,
    *,
    skip_empty: bool = False,
) -> list[Vote]:
    """The vote of each of ``rows`` test inputs: each view's predicted grid, mapped back to
    the task's own orientation and colours, votes with its confidence. A view with no grid
    votes for :data:`EMPTY` (the official count), or not at all if ``skip_empty``."""
    cast: list[list[tuple[bytes, np.ndarray, float]]] = [[] for _ in range(rows)]
    for v in range(len(views)):
        grid = crop_prediction(predictions[v])
        if grid is None:
            if skip_empty:
                continue
            grid = EMPTY
        else:
            grid = table.augmentation(int(views.puzzle_ids[v])).inverse().apply(grid)
        cast[int(views.example[v])].append((grid_key(grid), grid, float(confidences[v])))
    return [
        Vote(rank((key, conf) for key, _, conf in row), {key: g for key, g, _ in row}, len(row))
        for row in cast
    ]


def run_views(
    model,
    views: Views,
    *,
    batch_size: int | None = None,
    device=None,
    precision: str = "fp32",
    progress: bool = False,
    id_map=None,
    max_steps: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The model's predicted canvas for every view (all supervision steps, as the official
    evaluation runs; ``max_steps``: another count) and its halting probability at the last
    step. ``id_map``: the model's rows for the dataset's puzzle ids, when they differ (an
    adapted run: :class:`puzzles.arc.adapt.IdMap`)."""
    from trm.data import TokenData
    from trm.evaluate import predict

    ids = views.puzzle_ids if id_map is None else id_map(views.puzzle_ids)
    data = TokenData(views.inputs, np.zeros_like(views.inputs), ids)
    preds, _, confidences = predict(
        model,
        data,
        batch_size=batch_size,
        device=device,
        precision=precision,
        halting="full",
        progress=progress,
        max_steps=max_steps,
    )
    return preds, confidences


@dataclass
class ArcScore:
    pass_at: dict[int, float]  # k -> mean over tasks of the share of test inputs passed
    tasks: int
    test_inputs: int
    views: int
    per_task: dict[str, dict] = field(default_factory=dict)
    skip_empty: bool = False

    def summary(self) -> dict:
        return {
            **{f"pass@{k}": v for k, v in self.pass_at.items()},
            "tasks": self.tasks,
            "test_inputs": self.test_inputs,
            "views": self.views,
            "empty_answers": "skipped" if self.skip_empty else "vote (official)",
        }


def score(
    split: Split,
    views: Views,
    predictions: np.ndarray,
    confidences: np.ndarray,
    table: AugmentationTable,
    task_ids: list[str],
    ks: tuple[int, ...] = PASS_KS,
    *,
    skip_empty: bool = False,
) -> ArcScore:
    """pass@k (for the ``ks`` up to the number of views) of a split with known outputs."""
    ks = tuple(k for k in ks if k <= views.k) or (1,)
    tasks: dict[int, list[dict]] = {}
    for i, vote in enumerate(
        votes(views, predictions, confidences, table, len(split), skip_empty=skip_empty)
    ):
        truth = grid_key(decode(split.labels[i]))
        t = int(split.extras["task"][i])
        tasks.setdefault(t, []).append(
            {
                "pair": int(split.extras["pair"][i]) if "pair" in split.extras else i,
                **{f"pass@{k}": hit_within(vote.ranked, truth, k) for k in ks},
                "candidates": [
                    _candidate(r, vote.grids[r.key], truth)
                    for r in vote.ranked[: max(2, min(ks[-1], 10))]
                ],
                "views_voting": vote.voting,
            }
        )
    pass_at = {
        k: float(np.mean([np.mean([r[f"pass@{k}"] for r in rows]) for rows in tasks.values()]))
        for k in ks
    }
    per_task = {
        task_ids[t]: {
            **{f"pass@{k}": float(np.mean([r[f"pass@{k}"] for r in rows])) for k in ks},
            "test_inputs": rows,
        }
        for t, rows in tasks.items()
    }
    return ArcScore(pass_at, len(tasks), len(split), views.k, per_task, skip_empty)


def _candidate(r: Ranked, grid: np.ndarray, truth: bytes) -> dict:
    return {
        "grid": grid.tolist(),
        "votes": r.votes,
        "confidence": round(r.confidence, 6),
        "correct": r.key == truth,
    }


@dataclass
class Predicted:
    """A model's run on the views of a split: what :func:`score` and :func:`submission` read."""

    split: Split
    views: Views
    predictions: np.ndarray  # (V, 900) uint8
    confidences: np.ndarray  # (V,) halting probability at the last step
    table: AugmentationTable
    task_ids: list[str]


def predict_views(
    model,
    ds,
    split_name: str,
    k: int,
    *,
    batch_size: int | None = None,
    device=None,
    precision: str = "fp32",
    limit: int = 0,
    progress: bool = True,
    id_map=None,
    max_steps: int | None = None,
) -> Predicted:
    """Run ``model`` (all supervision steps) on ``k`` views of every input of an ARC
    dataset's split (the first ``limit`` inputs, when given), batched across tasks
    (``id_map``: see :func:`run_views`)."""
    from puzzles.arc.data import load_table

    if ds.task != "arc":
        raise TRMError(f"{ds.path} holds {ds.task!r} data: views and votes are for ARC datasets")
    split = ds.splits[split_name]
    if limit:
        split = first_rows(split, limit)
    table = load_table(ds)
    views = build_views(split, table, k)
    preds, conf = run_views(
        model,
        views,
        batch_size=batch_size,
        device=device,
        precision=precision,
        progress=progress,
        id_map=id_map,
        max_steps=max_steps,
    )
    return Predicted(split, views, preds, conf, table, ds.meta["task_info"]["task_ids"])


def evaluate_views(
    model, ds, split_name: str, k: int, *, skip_empty: bool = False, **options
) -> ArcScore:
    """pass@k of the vote over ``k`` views of each test input (outputs must be known)."""
    split = ds.splits[split_name]
    if any(np.all(split.labels == 0, axis=1)):
        raise TRMError(f"{ds.path}: split {split_name!r} has test inputs without a known output")
    p = predict_views(model, ds, split_name, k, **options)
    return score(
        p.split, p.views, p.predictions, p.confidences, p.table, p.task_ids, skip_empty=skip_empty
    )


def submission(p: Predicted, attempts: int = 2) -> dict[str, list[dict]]:
    """The Kaggle ARC Prize format: ``{task id: [{"attempt_1": grid, "attempt_2": grid}, ...]}``
    with one entry per test input in order. Attempts are the best-ranked grids (the empty
    answer is never one: the official evaluator would write ``[]``, which Kaggle refuses);
    a test input with fewer answers repeats its best one, and one with none (no view read
    as a grid) gets its own input grid, so every attempt is a valid grid."""
    pairs = p.split.extras.get("pair", np.arange(len(p.split)))
    entries: dict[str, list[tuple[int, dict]]] = {}
    for i, vote in enumerate(votes(p.views, p.predictions, p.confidences, p.table, len(p.split))):
        grids = [vote.grids[r.key] for r in vote.ranked if vote.grids[r.key].size]
        chosen = grids[:attempts] or [decode(p.split.inputs[i])]
        chosen += [chosen[0]] * (attempts - len(chosen))
        task = p.task_ids[int(p.split.extras["task"][i])]
        entries.setdefault(task, []).append(
            (
                int(pairs[i]),
                {f"attempt_{a + 1}": g.astype(int).tolist() for a, g in enumerate(chosen)},
            )
        )
    return {
        task: [entry for _, entry in sorted(rows, key=lambda r: r[0])]
        for task, rows in entries.items()
    }


def first_rows(split: Split, n: int) -> Split:
    """The first ``n`` rows of a split, its groups cut there."""
    return split.select(np.arange(len(split)) < n)


def vote_one(
    model,
    table: AugmentationTable,
    task_index: int,
    grid: np.ndarray,
    k: int,
    *,
    expected: np.ndarray | None = None,
    device=None,
    precision: str = "fp32",
    id_map=None,
    max_steps: int | None = None,
) -> dict:
    """The vote of ``k`` views of one test input of task ``task_index`` (``trm solve arc
    --views``): the ranked answers with their votes and confidence, and pass@1 / pass@2
    when the output is known (``id_map``: see :func:`run_views`)."""
    one = Split(
        encode(grid)[None],
        np.zeros((1, encode(grid).size), np.uint8),
        np.zeros(1, np.int32),
        np.array([0, 1], np.int64),
        {"task": np.array([task_index], np.int32)},
    )
    views = build_views(one, table, k)
    preds, conf = run_views(
        model,
        views,
        batch_size=len(views),
        device=device,
        precision=precision,
        id_map=id_map,
        max_steps=max_steps,
    )
    vote = votes(views, preds, conf, table, 1)[0]
    truth = None if expected is None else grid_key(expected)
    result = {
        "views": len(views),
        "voting": vote.voting,
        "candidates": [
            {
                "grid": vote.grids[r.key],
                "votes": r.votes,
                "confidence": r.confidence,
                "correct": None if truth is None else r.key == truth,
            }
            for r in vote.ranked[:5]
        ],
    }
    if truth is not None:
        result.update(
            {
                "pass@1": hit_within(vote.ranked, truth, 1),
                "pass@2": hit_within(vote.ranked, truth, 2),
            }
        )
    return result
