"""More supervision steps at test time than in training (``max_steps``): the library's paths
agree with each other and with a model trained for that many steps, the counts are honoured
and reported, and a checkpoint's recorded count is the default of `trm eval` and `trm solve`."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from puzzles.scaling import Sampling, run
from puzzles.tasks import get_task
from tests.helpers import (
    PUZZLE_4,
    assert_one_line_error,
    run_trm,
    sudoku_tokens,
    tiny_config,
    trm_ok,
)
from trm.errors import SettingError
from trm.evaluate import MAX_STEPS, default_max_steps, evaluate, predict
from trm.model import TRM
from trm.trace import trace


def _model(n_sup: int = 3) -> TRM:
    torch.manual_seed(0)
    return TRM(tiny_config(n_sup=n_sup))


def _with_n_sup(model: TRM, n_sup: int) -> TRM:
    """The same weights in a model whose training count is ``n_sup``."""
    other = TRM(dataclasses.replace(model.config, n_sup=n_sup))
    other.load_state_dict(model.state_dict())
    return other


@pytest.mark.parametrize("halting", ["full", "adaptive"])
def test_max_steps_runs_as_a_model_trained_with_that_many_steps(halting):
    model, data = _model(3), sudoku_tokens(4, 24)
    r = evaluate(model, data, halting=halting, max_steps=7)
    same = evaluate(_with_n_sup(model, 7), data, halting=halting)
    assert np.array_equal(r.predictions, same.predictions)
    assert np.array_equal(r.steps, same.steps) and r.steps.max() <= 7
    assert r.summary()["max_steps"] == 7 and same.summary()["max_steps"] == 7
    if halting == "full":
        assert np.all(r.steps == 7)
    default = evaluate(model, data, halting=halting)  # None: the model's own n_sup
    assert default.summary()["max_steps"] == 3 and default.steps.max() <= 3


def test_trace_predict_and_candidates_agree_past_the_trained_steps():
    model, data = _model(3), sudoku_tokens(4, 6)
    pred, _, _ = predict(model, data, halting="full", max_steps=9)
    for i in range(len(data)):
        steps = trace(model, data.inputs[i], halting="full", max_steps=9)
        assert len(steps) == 9 and np.array_equal(steps[-1].tokens, pred[i])
    one = run(
        model, data.inputs, get_task("sudoku"), Sampling(samples=1, halting="full"), max_steps=9
    )
    assert np.array_equal(one.answers, pred.astype(np.int64))
    assert np.all(one.candidate_steps == 9)
    four = run(
        model,
        data.inputs,
        get_task("sudoku"),
        Sampling(samples=4, halting="verified", lead=False),
        max_steps=5,
    )
    assert four.candidate_steps.max() <= 5


@pytest.mark.parametrize("bad", [0, MAX_STEPS + 1, -3, True, 2.5, "8"])
def test_a_bad_count_is_refused_naming_max_steps(bad):
    model, data = _model(), sudoku_tokens(4, 2)
    with pytest.raises(SettingError, match="`max_steps`") as e:
        evaluate(model, data, max_steps=bad)
    assert e.value.setting == "max_steps"
    with pytest.raises(SettingError, match="`max_steps`"):
        run(model, data.inputs, get_task("sudoku"), Sampling(samples=2), max_steps=bad)
    with pytest.raises(SettingError, match="`max_steps`"):
        default_max_steps({"max_steps": bad}, 8)


def test_the_recorded_count_is_the_default_and_n_sup_without_one():
    assert default_max_steps({}, 8) == 8
    assert default_max_steps({"max_steps": None}, 8) == 8
    assert default_max_steps({"max_steps": 32}, 8) == 32
    assert default_max_steps({"max_steps": 32}, 8, asked=3) == 3  # the flag wins


def _recording(run_dir, tmp_path, value):
    """A copy of ``run_dir`` whose checkpoint's config.json records ``max_steps``."""
    copy = tmp_path / "recorded"
    shutil.copytree(run_dir, copy)
    path = copy / "checkpoint" / "config.json"
    config = json.loads(path.read_text())
    config["max_steps"] = value
    path.write_text(json.dumps(config))
    return copy


def test_eval_and_solve_take_the_recorded_count_and_the_flag_overrides_it(s4_run, tmp_path):
    data, run_dir = s4_run
    recorded = _recording(run_dir, tmp_path, 5)
    summary = json.loads(trm_ok("eval", recorded, "--data", data, "--json").stdout)
    assert summary["max_steps"] == 5
    summary = json.loads(trm_ok("eval", recorded, "--data", data, "--max-steps 2 --json").stdout)
    assert summary["max_steps"] == 2 and summary["mean_steps"] <= 2
    summary = json.loads(trm_ok("eval", run_dir, "--data", data, "--json").stdout)
    n_sup = json.loads((run_dir / "checkpoint" / "config.json").read_text())["model"]["n_sup"]
    assert summary["max_steps"] == n_sup
    scaled = json.loads(
        trm_ok("eval", recorded, "--data", data, "--samples 2 --halting full --json").stdout
    )
    assert scaled["max_steps"] == 5 and scaled["scaled"]["mean_steps"] == 5
    r = run_trm("solve", "sudoku", PUZZLE_4, "-c", str(recorded), "--halting", "full", "--json")
    assert r.returncode in (0, 1), r.stderr
    out = json.loads(r.stdout)
    assert len(out["steps"]) == 5 and out["samples"]["max_steps"] == 5
    r = run_trm(
        "solve", "sudoku", PUZZLE_4, "-c", str(recorded), "--halting", "full", "--max-steps", "3",
        "--json",
    )  # fmt: skip
    out = json.loads(r.stdout)
    assert len(out["steps"]) == 3 and out["samples"]["max_steps"] == 3


@pytest.mark.parametrize("bad", [0, "many", 10**9, True])
def test_a_bad_recorded_count_is_refused_in_one_line_naming_the_file(s4_run, tmp_path, bad):
    data, run_dir = s4_run
    recorded = _recording(run_dir, tmp_path, bad)
    r = run_trm("eval", str(recorded), "--data", str(data))
    assert_one_line_error(r, "config.json", "max_steps")
    r = run_trm("solve", "sudoku", PUZZLE_4, "-c", str(recorded))
    assert_one_line_error(r, "config.json", "max_steps")


def test_the_shipped_sudoku_model_records_its_measured_count_and_noise():
    from puzzles.sudoku.watch import DEFAULT_MODEL

    config = json.loads((DEFAULT_MODEL / "config.json").read_text())
    assert config["max_steps"] == 96 > config["model"]["n_sup"]
    assert config["noise"] == 2.0  # chosen on held-out puzzles that need deep search


def test_arc_views_run_the_asked_count_as_a_model_trained_with_it(tmp_path):
    from puzzles.evaluation import evaluate_run_views, predict_run_views
    from tests.helpers import SMALL_ARC, write_tasks

    tasks, data, run_dir = (
        write_tasks(tmp_path / "tasks", SMALL_ARC),
        tmp_path / "d",
        tmp_path / "r",
    )
    trm_ok("data arc --source", tasks, "--out", data, "--augment 2 --quiet")
    trm_ok(
        "train --data",
        data,
        "--out",
        run_dir,
        "--preset tiny --steps 1 --mixer attention --puzzle-emb-len 1 --device cpu --quiet",
    )
    six = tmp_path / "six"  # the same weights, trained (on paper) with 6 steps
    shutil.copytree(run_dir, six)
    path = six / "checkpoint" / "config.json"
    config = json.loads(path.read_text())
    config["model"]["n_sup"] = 6
    path.write_text(json.dumps(config))
    asked = predict_run_views(run_dir, data, 2, progress=False, max_steps=6)
    trained = predict_run_views(six, data, 2, progress=False)
    assert np.array_equal(asked.predictions, trained.predictions)
    as_trained = predict_run_views(run_dir, data, 2, progress=False)
    assert not np.array_equal(as_trained.predictions, asked.predictions)  # the count matters
    assert np.array_equal(
        as_trained.predictions,
        predict_run_views(six, data, 2, progress=False, max_steps=4).predictions,
    )  # (the tiny preset's own n_sup is 4)
    assert evaluate_run_views(run_dir, data, 2, progress=False, max_steps=6).pass_at == (
        evaluate_run_views(six, data, 2, progress=False).pass_at
    )
    r = run_trm(
        "predict",
        "arc",
        str(run_dir),
        "--data",
        str(data),
        "--out",
        str(tmp_path / "s.json"),
        "--max-steps",
        "0",
    )
    assert r.returncode == 2 and "--max-steps" in r.stderr
    assert not (tmp_path / "s.json").exists()
