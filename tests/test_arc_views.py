"""ARC views and voting, checked with planted predictions whose votes are known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puzzles.arc.augment import AugmentationTable
from puzzles.arc.data import split_pairs
from puzzles.arc.grid import ArcTask, Pair
from puzzles.arc.tokens import crop_prediction, decode, encode
from puzzles.arc.views import Predicted, build_views, grid_key, score, submission
from tests.helpers import cmd, trm_ok
from trm.errors import TRMError
from trm.vote import hit_within, rank

RNG = np.random.default_rng(0)


def _task(name: str, h: int, w: int, tests: int = 1) -> ArcTask:
    def pair():
        grid = RNG.integers(0, 10, (h, w)).astype(np.uint8)
        return Pair(grid, np.rot90(grid).copy())  # any rule: the output is known

    return ArcTask(name, (pair(), pair()), tuple(pair() for _ in range(tests)))


TASKS = [_task("a", 3, 4), _task("b", 2, 2, tests=2), _task("c", 5, 3)]
TABLE = AugmentationTable.build(TASKS, 8, seed=0)
TEST = split_pairs(TASKS, TABLE.start)["test"]


def _planted(views, right: dict[int, set[int]], conf: dict[int, float] | None = None):
    """Per view: the right output (in the view's own orientation and colours) if its
    augmentation index is in ``right[row]``, else a wrong grid of its own; confidences."""
    preds, confs = [], []
    for v in range(len(views)):
        row, pid = int(views.example[v]), int(views.puzzle_ids[v])
        t = int(TEST.extras["task"][row])
        index = pid - int(TABLE.start[t])
        aug = TABLE.augmentation(pid)
        truth = decode(TEST.labels[row])
        if index in right.get(row, set()):
            preds.append(encode(aug.apply(truth)))
        else:  # wrong, and different for every view: each gets one vote
            preds.append(encode(np.full((1, 1 + index), 1 + row % 9, np.uint8)))
        confs.append((conf or {}).get(index, 0.5))
    return np.stack(preds), np.asarray(confs)


def test_views_are_the_tasks_augmentations_identity_first():
    views = build_views(TEST, TABLE, 4)
    assert len(views) == 4 * len(TEST)
    for v in range(len(views)):
        row, pid = int(views.example[v]), int(views.puzzle_ids[v])
        t = int(TEST.extras["task"][row])
        assert TABLE.start[t] <= pid < TABLE.start[t] + 4
        expected = TABLE.augmentation(pid).apply(decode(TEST.inputs[row]))
        assert np.array_equal(decode(views.inputs[v]), expected)
    assert np.array_equal(decode(views.inputs[0]), decode(TEST.inputs[0]))  # identity first
    with pytest.raises(TRMError, match="at least 1"):
        build_views(TEST, TABLE, 0)


def test_right_views_outvote_scattered_wrong_ones():
    views = build_views(TEST, TABLE, 8)
    # row 0: 3 of 8 views right (the rest scatter): pass@1; row 1: no view right;
    # row 2: 1 right view among 7 single wrong votes, with the lowest confidence: not in the
    # first two; row 3: 2 right views
    right = {0: {1, 4, 6}, 2: {7}, 3: {0, 2}}
    conf = {7: 0.1}
    preds, confs = _planted(views, right, conf)
    result = score(TEST, views, preds, confs, TABLE, [t.id for t in TASKS])
    rows = {t: r for t, r in result.per_task.items()}
    assert rows["a"]["test_inputs"][0]["pass@1"] is True
    assert rows["a"]["test_inputs"][0]["candidates"][0]["votes"] == 3
    b = rows["b"]["test_inputs"]
    assert [r["pass@1"] for r in b] == [False, False]
    assert b[1]["pass@5"] is False  # its 1 right vote has the lowest confidence: last of 8
    assert rows["c"]["test_inputs"][0]["pass@1"] is True
    assert rows["b"]["pass@1"] == 0.0 and rows["a"]["pass@1"] == 1.0
    # tasks weigh the same whatever their number of test inputs: (1 + 0 + 1) / 3
    assert result.pass_at[1] == pytest.approx(2 / 3)
    assert set(result.pass_at) == {1, 2, 5}  # only k up to the 8 views
    assert result.summary()["tasks"] == 3 and result.summary()["test_inputs"] == 4


def test_ties_in_votes_go_to_the_more_confident_answer():
    views = build_views(TEST, TABLE, 4)
    row = 0
    # views 0, 1 right (confidence 0.2); views 2, 3 give one same wrong grid (confidence 0.9)
    preds, confs = [], []
    for v in range(len(views)):
        r, pid = int(views.example[v]), int(views.puzzle_ids[v])
        index = pid - int(TABLE.start[int(TEST.extras["task"][r])])
        aug = TABLE.augmentation(pid)
        truth = decode(TEST.labels[r])
        wrong = np.zeros((2, 2), np.uint8)
        grid = truth if index < 2 else wrong
        preds.append(encode(aug.apply(grid)))  # both answers map back to the same grid
        confs.append(0.2 if index < 2 else 0.9)
    result = score(TEST, views, np.stack(preds), np.asarray(confs), TABLE, [t.id for t in TASKS])
    first = result.per_task["a"]["test_inputs"][row]
    assert first["candidates"][0]["votes"] == 2 and first["candidates"][0]["correct"] is False
    assert first["pass@1"] is False and first["pass@2"] is True


def test_views_without_a_grid_vote_for_the_empty_answer_as_the_official_evaluator_counts():
    views = build_views(TEST, TABLE, 3)
    preds, confs = _planted(views, {0: {0}})
    preds[1] = preds[2] = 0  # two all-PAD canvases: the empty answer outvotes the right one
    official = score(TEST, views, preds, confs, TABLE, [t.id for t in TASKS])
    first = official.per_task["a"]["test_inputs"][0]
    assert first["views_voting"] == 3
    assert first["candidates"][0] == {"grid": [], "votes": 2, "confidence": 0.5, "correct": False}
    assert first["pass@1"] is False and first["pass@2"] is True
    assert official.summary()["empty_answers"] == "vote (official)"
    ours = score(TEST, views, preds, confs, TABLE, [t.id for t in TASKS], skip_empty=True)
    first = ours.per_task["a"]["test_inputs"][0]
    assert first["views_voting"] == 1 and first["pass@1"] is True
    assert ours.summary()["empty_answers"] == "skipped"
    # the submission never offers the empty answer, whatever the count
    p = Predicted(TEST, views, preds, confs, TABLE, [t.id for t in TASKS])
    attempts = submission(p)["a"][0]
    assert attempts["attempt_1"] == decode(TEST.labels[0]).tolist() == attempts["attempt_2"]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 7), st.permutations(list(range(1, 10))), st.integers(1, 6), st.integers(1, 6))
def test_every_view_maps_back_exactly(d, colours, h, w):
    from puzzles.arc.augment import Augmentation

    aug = Augmentation(d, (0, *colours))
    grid = np.random.default_rng(h * 7 + w).integers(0, 10, (h, w)).astype(np.uint8)
    seen = crop_prediction(encode(aug.apply(grid)))
    assert np.array_equal(aug.inverse().apply(seen), grid)


def validate_submission(sub: dict, expected: dict[str, int]) -> None:
    """The Kaggle ARC Prize format: every task id, one entry per test input, two attempts,
    each a rectangular list of rows of ints 0-9, 1 to 30 a side."""
    assert isinstance(sub, dict) and set(sub) == set(expected)
    for task, entries in sub.items():
        assert isinstance(entries, list) and len(entries) == expected[task], task
        for entry in entries:
            assert set(entry) == {"attempt_1", "attempt_2"}
            for grid in entry.values():
                assert isinstance(grid, list) and 1 <= len(grid) <= 30
                assert all(
                    isinstance(r, list) and len(r) == len(grid[0]) and 1 <= len(r) <= 30
                    for r in grid
                )
                assert all(type(v) is int and 0 <= v <= 9 for r in grid for v in r)


def test_submission_takes_the_two_best_answers_and_always_has_valid_attempts():
    views = build_views(TEST, TABLE, 8)
    preds, confs = _planted(views, {0: {1, 4, 6}, 3: {0, 2}})
    preds[views.example == 1] = 0  # row 1 (task b, first input): no view reads as a grid
    sub = submission(Predicted(TEST, views, preds, confs, TABLE, [t.id for t in TASKS]))
    validate_submission(sub, {"a": 1, "b": 2, "c": 1})
    assert sub["a"][0]["attempt_1"] == decode(TEST.labels[0]).tolist()
    assert sub["a"][0]["attempt_2"] != sub["a"][0]["attempt_1"]
    assert sub["b"][0]["attempt_1"] == sub["b"][0]["attempt_2"] == decode(TEST.inputs[1]).tolist()
    assert sub["c"][0]["attempt_1"] == decode(TEST.labels[3]).tolist()


def test_rank_counts_then_confidence_then_first_seen():
    ranked = rank([(b"x", 0.1), (b"y", 0.9), (b"x", 0.3), (b"z", 0.9), (b"y", 0.1)])
    assert [(r.key, r.votes) for r in ranked] == [(b"y", 2), (b"x", 2), (b"z", 1)]
    assert ranked[0].confidence == pytest.approx(0.5) and ranked[1].confidence == pytest.approx(0.2)
    assert hit_within(ranked, b"x", 2) and not hit_within(ranked, b"z", 2)
    assert grid_key(np.zeros((2, 3))) != grid_key(np.zeros((3, 2)))


def test_eval_views_cli_reports_pass_at_k_and_writes_per_task_results(tmp_path):
    import json

    from tests.helpers import run_trm, task_json, write_tasks

    tasks = {
        "aa": task_json([([[1, 2]], [[2, 1]])], [([[3, 4]], [[4, 3]])]),
        "bb": task_json([([[5]], [[6]])], [([[7]], [[8]])]),
    }
    folder = write_tasks(tmp_path / "tasks", tasks)
    data, run = tmp_path / "data", tmp_path / "run"
    assert (
        run_trm(*cmd("data arc --source", folder, "--out", data, "--augment 4 --quiet")).returncode
        == 0
    )
    r = trm_ok(
        "train --data",
        data,
        "--out",
        run,
        "--preset tiny --steps 1 --mixer attention --puzzle-emb-len 1 --device cpu --quiet",
    )
    per_task = tmp_path / "per_task.json"
    r = trm_ok("eval", run, "--data", data, "--views 4 --per-task", per_task, "--json")
    summary = json.loads(r.stdout)
    assert set(summary) == {"pass@1", "pass@2", "tasks", "test_inputs", "views", "empty_answers"}
    assert summary["tasks"] == 2 and summary["views"] == 4
    saved = json.loads(per_task.read_text())
    assert set(saved["tasks"]) == {"aa", "bb"} and saved["summary"] == summary
    sub_file = tmp_path / "submission.json"
    r = trm_ok("predict arc", run, "--data", data, "--out", sub_file, "--views 4 --quiet")
    validate_submission(json.loads(sub_file.read_text()), {"aa": 1, "bb": 1})
    r = run_trm(*cmd("predict arc", run, "--data", data, "--out", tmp_path / "no" / "s.json"))
    assert r.returncode == 2 and "no such folder" in r.stderr
    # result files: never replaced unasked, never inside the run's checkpoint (issue 28)
    written = {p: p.read_bytes() for p in (sub_file, per_task, run / "checkpoint" / "config.json")}
    for again, needle in (
        (cmd("predict arc", run, "--data", data, "--out", sub_file), "--force"),
        (cmd("eval", run, "--data", data, "--views 2 --per-task", per_task), "--force"),
        (cmd("predict arc", run, "--data", data, "--out", tmp_path), "a folder"),
        (
            cmd("predict arc", run, "--data", data, "--out", run / "checkpoint" / "config.json"),
            "own files",
        ),
        (
            cmd("predict arc", run, "--data", data, "--out", run / "checkpoint" / "new.json"),
            "own files",
        ),
    ):
        r = run_trm(*again, *(["--force"] if "own files" in needle else []))
        assert r.returncode == 2 and needle in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in written} == written
    trm_ok("predict arc", run, "--data", data, "--out", sub_file, "--views 4 --quiet --force")
    # trm solve arc --views: the vote after the steps, its first answer the one checked
    r = run_trm(*cmd("solve arc", folder / "aa.json", "-c", run, "--views 4 --json"))
    assert r.returncode in (0, 1), r.stderr
    vote = json.loads(r.stdout)["vote"]
    assert vote["views"] == 4 and set(vote) >= {"candidates", "pass@1", "pass@2", "voting"}
    assert r.returncode == (0 if vote["pass@1"] else 1)
    r = run_trm(*cmd("solve arc", folder / "aa.json", "-c", run, "--views 4 --no-color"))
    assert "vote of 4 views" in r.stdout, r.stdout
    r = run_trm(
        *cmd("solve arc", folder / "aa.json", "-c", run, "--views 4 --data", tmp_path / "tasks")
    )
    assert r.returncode == 2 and "dataset" in r.stderr
    for args, needle in (
        (["--views", "0"], "at least 1"),
        (["--per-task", str(per_task)], "goes with --views"),
        (["--views", "2", "--per-task", str(tmp_path / "no" / "x.json")], "no such folder"),
    ):
        r = run_trm("eval", str(run), "--data", str(data), *args)
        assert (
            r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
        ), r.stderr
