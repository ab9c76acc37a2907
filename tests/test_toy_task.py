"""A task added in one module (tests/toy_task.py) and one registry line: the dataset reader
(its meta check), `trm data show`, `trm train` (its preset and augmentation) and `trm eval
--samples` (its views and checker) all find it, with nothing else changed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from puzzles.dataset import read_meta
from puzzles.tasks import TASKS, get_task
from tests import toy_task
from tests.helpers import trm_ok
from trm.errors import TRMError
from trm.files import DATASET_META


@pytest.fixture
def reverse(monkeypatch, tmp_path):
    monkeypatch.setitem(TASKS, toy_task.NAME, "tests.toy_task")  # the one registry line
    data = tmp_path / "reverse"
    get_task("reverse").build(data, train=512, test=64, seed=0)
    return data


def test_the_toy_tasks_views_and_augmentation_keep_its_answers_right():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 5, (50, toy_task.LENGTH)).astype(np.uint8)
    y = x[:, ::-1]
    assert toy_task.check(x, y).all() and not toy_task.check(x, x).all()
    ax, ay, _ = toy_task.augment(x, y, np.zeros(50), rng)
    assert toy_task.check(ax, ay).all() and not np.array_equal(ax, x)
    v = toy_task.views(4, toy_task.LENGTH, 5, rng)
    k = np.arange(4).repeat(len(x) // 4 + 1)[: len(x)]
    assert toy_task.check(v.apply(x, k), v.apply(y, k)).all()
    assert np.array_equal(v.inverse().apply(v.apply(y, k), k), y)


def test_a_task_added_in_one_module_is_read_shown_trained_and_checked(reverse, tmp_path):
    assert get_task("reverse") is toy_task.TASK
    with pytest.raises(TRMError, match="cannot watch reverse puzzles"):  # no watcher given
        toy_task.TASK.watch_module()
    assert get_task("sudoku").watch_module().TASK is get_task("sudoku")  # the shipped ones
    # the reader checks the meta the task's way
    meta_file = reverse / DATASET_META
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "task_info": {"length": 3}}))
    with pytest.raises(TRMError, match="task_info length 3 is not seq_len"):
        read_meta(reverse)
    meta_file.write_text(json.dumps(meta))

    shown = json.loads(trm_ok("data show", reverse, "--n 2 --json").stdout)["examples"]
    assert shown[0]["output"] == shown[0]["input"][::-1] and set(shown[0]["input"]) <= set("abcd")

    run = tmp_path / "run"
    r = trm_ok("train --data", reverse, "--out", run, "--steps 500 --lr 3e-3 --device cpu --quiet")
    assert "preset tiny: the recipe for reverse data" in r.stderr  # the Task's preset, named
    report = json.loads(trm_ok("eval", run, "--data", reverse, "--samples 4 --json").stdout)
    one, scaled = report["one_pass"], report["scaled"]
    assert scaled["samples"] == 4 and scaled["select"] == "checker"
    # it learned (chance is 4^-8), and its checker passes exactly its right answers
    assert one["checker_passed"] == one["exact_accuracy"] > 0.25
    assert scaled["verified"] == scaled["exact_accuracy"] >= one["exact_accuracy"]
