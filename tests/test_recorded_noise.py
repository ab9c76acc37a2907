"""A checkpoint's recorded noise (config.json ``noise``) is the default of `--noise` with
--samples in `trm eval` and `trm solve`: the flag overrides it, a model without one adds
none, a bad value is refused naming the file, and benchmarks/record_max_steps.py writes it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from puzzles.scaling import NOISE_KEY, Sampling, default_noise, run
from puzzles.tasks import get_task
from tests.helpers import PUZZLE_4, assert_one_line_error, run_trm, sudoku_tokens, tiny_config
from trm.errors import SettingError

ROOT = Path(__file__).resolve().parents[1]


def test_the_flag_wins_then_the_recorded_noise_then_none():
    assert default_noise({}) == 0.0
    assert default_noise({NOISE_KEY: None}) == 0.0
    assert default_noise({NOISE_KEY: 1}) == 1.0
    # --noise 0 turns it off
    assert Sampling(samples=2, noise=0.0).for_checkpoint({NOISE_KEY: 0.5}).noise == 0.0
    assert Sampling(samples=2, noise=0.25).for_checkpoint({}).noise == 0.25


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "1.0", True, [1]])
def test_a_bad_noise_is_refused_naming_it(bad):
    with pytest.raises(SettingError, match="`noise`"):
        default_noise({NOISE_KEY: bad})


def test_a_noise_left_to_the_checkpoint_is_read_before_candidates_run():
    import torch

    from trm.model import TRM

    torch.manual_seed(0)
    model, data = TRM(tiny_config(n_sup=2)), sudoku_tokens(4, 3)
    task = get_task("sudoku").for_scaling()
    left = Sampling(samples=3, noise=None, lead=False)
    with pytest.raises(SettingError, match="`noise`"):
        run(model, data.inputs, task, left)
    read = left.for_checkpoint({NOISE_KEY: 0.7})
    assert read.noise == 0.7 and read.report()["noise"] == 0.7
    assert left.for_checkpoint({}).noise == 0.0
    assert Sampling(samples=3, noise=0.2).for_checkpoint({NOISE_KEY: 0.7}).noise == 0.2
    same = run(model, data.inputs, task, Sampling(samples=3, noise=0.7, lead=False))
    assert np.array_equal(run(model, data.inputs, task, read).answers, same.answers)


def _recording(run_dir: Path, tmp_path: Path, value) -> Path:
    """A copy of ``run_dir`` whose checkpoint's config.json records ``noise``."""
    copy = tmp_path / "recorded"
    shutil.copytree(run_dir, copy)
    path = copy / "checkpoint" / "config.json"
    config = json.loads(path.read_text())
    config[NOISE_KEY] = value
    path.write_text(json.dumps(config))
    return copy


def _scaled_noise(*args) -> float:
    r = run_trm(*args)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)["samples"]["noise"]


def test_eval_and_solve_take_the_recorded_noise_and_the_flag_overrides_it(s4_run, tmp_path):
    data, run_dir = s4_run
    recorded = str(_recording(run_dir, tmp_path, 0.5))
    scaled = ("eval", recorded, "--data", str(data), "--samples", "2", "--json")

    def eval_noise(*more) -> float:
        r = run_trm(*scaled, *more)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["scaled"]["noise"]

    assert eval_noise() == 0.5
    assert eval_noise("--noise", "0") == 0.0
    solve = ("solve", "sudoku", PUZZLE_4, "--samples", "2", "--json")
    assert _scaled_noise(*solve, "-c", recorded) == 0.5
    assert _scaled_noise(*solve, "-c", recorded, "--noise", "0.25") == 0.25
    assert _scaled_noise(*solve, "-c", str(run_dir)) == 0.0  # none recorded: none added


@pytest.mark.parametrize("bad", [-1, "loud"])
def test_a_bad_recorded_noise_is_refused_in_one_line_naming_the_file(s4_run, tmp_path, bad):
    data, run_dir = s4_run
    recorded = str(_recording(run_dir, tmp_path, bad))
    assert_one_line_error(run_trm("eval", recorded, "--data", str(data)), "config.json", "noise")
    r = run_trm("solve", "sudoku", PUZZLE_4, "-c", recorded)
    assert_one_line_error(r, "config.json", "noise")


def _record(*args: str) -> subprocess.CompletedProcess:
    script = ROOT / "benchmarks" / "record_max_steps.py"
    return subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, cwd=ROOT
    )


def test_the_record_script_writes_steps_and_noise_keeping_the_rest(s4_run, tmp_path):
    _, run_dir = s4_run
    copy = tmp_path / "model"
    shutil.copytree(run_dir / "checkpoint", copy)
    before = json.loads((copy / "config.json").read_text())
    r = _record(str(copy), "12", "--noise", "1.0")
    assert r.returncode == 0, r.stderr
    after = json.loads((copy / "config.json").read_text())
    assert after["max_steps"] == 12 and after[NOISE_KEY] == 1.0
    assert list(after)[: len(before)] == list(before)  # the other keys, in their order
    assert {k: after[k] for k in before} == before
    r = _record(str(copy), "12", "--noise", "-2")
    assert r.returncode == 2 and "noise" in r.stderr
    assert json.loads((copy / "config.json").read_text()) == after  # untouched


def test_the_noise_script_reports_each_level_and_seed_at_the_recorded_steps(s4_run, tmp_path):
    data, run_dir = s4_run
    copy = tmp_path / "model"
    shutil.copytree(run_dir / "checkpoint", copy)
    assert _record(str(copy), "9").returncode == 0
    rows = tmp_path / "rows.jsonl"
    script = ROOT / "benchmarks" / "test_time_noise.py"
    r = subprocess.run(
        [sys.executable, str(script), "--run", str(copy), "--data", str(data),
         "--noise", "0,1", "--seeds", "0,1", "--samples", "4", "--out", str(rows)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "4 checked candidates, 9 steps" in r.stdout  # the recorded count, not n_sup
    got = [json.loads(line) for line in rows.read_text().splitlines()]
    assert [(g["noise"], g["seed"]) for g in got] == [(0.0, 0), (0.0, 1), (1.0, 0), (1.0, 1)]
    assert all(g["n"] == 8 and 0 <= g["exact"] <= 1 for g in got)
    assert r.stdout.count("noise 0.0 ") == 1 and r.stdout.count("noise 1.0 ") == 1  # a line each


def test_the_deep_set_climb_is_seeded_and_keeps_one_solution_at_depth():
    import importlib.util

    from puzzles.sudoku.grid import parse_puzzle
    from puzzles.sudoku.solver import rate, solve

    spec = importlib.util.spec_from_file_location(
        "sudoku_deep_set", ROOT / "benchmarks" / "sudoku_deep_set.py"
    )
    deep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(deep)
    found = [deep.climb(72, i) for i in range(3)]
    assert found == [deep.climb(72, i) for i in range(3)]  # the same puzzles again
    kept = [f for f in found if f is not None]
    assert kept  # most climbs reach the depth (a third or more)
    for line, dead_ends in kept:
        grid = parse_puzzle(line)
        assert solve(grid).unique
        assert rate(grid).backtracks == dead_ends >= deep.MIN_DEAD_ENDS
