"""Input that must not hang, run away or claim too much (issue 28): named pipes where trm
reads a file, counts without a bound, a split with nothing to score, Ctrl-C in the
interactive viewer, and a build into ``--out .``.

A command that could block on a named pipe runs in a subprocess with a timeout
(:func:`run_within`): a regression fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from puzzles.dataset import load_dataset, save_npz
from tests.helpers import (
    PUZZLE_4,
    REPO,
    SMALL_ARC,
    TOP95_FIRST,
    assert_one_line_error,
    cmd,
    run_trm,
    run_trm_here,
    sudoku_tokens,
    task_json,
    tiny_config,
    trm_ok,
    write_tasks,
)
from trm.errors import SettingError, TRMError

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
PIPE = ("a named pipe", "trm reads regular files only")


def run_within(*parts, seconds: int = 90, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`trm` on ``cmd(*parts)`` in a subprocess that cannot hang the tests: a read blocked
    on a named pipe ends in ``TimeoutExpired`` (the test fails) instead."""
    # (PYTHONPATH: this tree, from any cwd)
    return run_trm(*cmd(*parts), env={"PYTHONPATH": str(REPO)}, cwd=cwd, timeout=seconds)


def piped(path: Path) -> Path:
    """``path`` (a file, or nothing yet) replaced by a named pipe that nobody writes to."""
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    return path


def copy_with_pipe(folder: Path, name: str, to: Path) -> Path:
    """A copy of ``folder`` in ``to`` whose file ``name`` is a named pipe."""
    copy = to / folder.name
    shutil.copytree(folder, copy)
    piped(copy / name)
    return copy


@pytest.fixture(scope="module")
def arc(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Three small ARC tasks (a folder), their dataset with two augmentations of each, the
    identity and one more (two views of a test input at most), and a one-step run on it."""
    root = tmp_path_factory.mktemp("arc")
    tasks, data, run = write_tasks(root / "tasks", SMALL_ARC), root / "d", root / "run"
    trm_ok("data arc --source", tasks, "--out", data, "--augment 2 --quiet")
    trm_ok(
        "train --data",
        data,
        "--out",
        run,
        "--preset tiny --steps 1 --mixer attention --puzzle-emb-len 1 --device cpu --quiet",
    )
    return tasks, data, run


# ------------------------------------------------------------------ 1. regular files only


@posix_only
@pytest.mark.parametrize(
    "name, command, kind",
    [
        ("dataset.json", "data show {data}", "dataset metadata file"),
        ("train.npz", "data show {data}", "split file"),
        ("test.npz", "data show {data} --split test", "split file"),
        ("test.npz", "eval {run} --data {data} --device cpu", "split file"),
        ("dataset.json", "eval {run} --data {data} --device cpu", "dataset metadata file"),
        ("train.npz", "train --data {data} --out {tmp}/r --preset tiny --steps 1 -q", "split file"),
    ],
)
def test_a_named_pipe_in_a_dataset_is_refused_not_waited_on(s4_run, tmp_path, name, command, kind):
    data, run = s4_run
    copy = copy_with_pipe(data, name, tmp_path)
    r = run_within(command.format(data=copy, run=run, tmp=tmp_path))
    assert_one_line_error(r, f"{copy / name}: a named pipe, not a {kind}", PIPE[1])


@posix_only
def test_a_named_pipe_for_an_arc_datasets_augmentations_is_refused(arc, tmp_path):
    _, data, run = arc
    copy = copy_with_pipe(data, "augmentations.npz", tmp_path)
    r = run_within("eval", run, "--data", copy, "--views 2 --device cpu")
    assert_one_line_error(r, "augmentations.npz: a named pipe, not a table of augmentations")


@posix_only
def test_an_arc_source_folder_refuses_entries_that_are_not_files(arc, tmp_path):
    tasks = tmp_path / "tasks"
    shutil.copytree(arc[0], tasks)
    piped(tasks / "zz.json")
    r = run_within("data arc --source", tasks, "--out", tmp_path / "d", "--quiet")
    assert_one_line_error(r, f"{tasks / 'zz.json'}: a named pipe", PIPE[1])
    assert not (tmp_path / "d").exists()
    (tasks / "zz.json").unlink()
    (tasks / "yy.json").mkdir()
    r = run_within("data arc --source", tasks, "--out", tmp_path / "d", "--quiet")
    assert_one_line_error(r, f"{tasks / 'yy.json'}: a directory")


@posix_only
def test_named_pipes_for_kaggle_challenges_and_solutions_are_refused(tmp_path):
    task = task_json([([[1]], [[2]])], [([[3]], None)])
    challenges = piped(tmp_path / "c_challenges.json")
    r = run_within("data arc --source", challenges, "--out", tmp_path / "d", "--quiet")
    assert_one_line_error(r, f"{challenges}: a named pipe", PIPE[1])
    # the official layout: a solutions file that is a pipe is refused, not quietly skipped
    for subset in ("a", "b"):
        (tmp_path / f"k_{subset}_challenges.json").write_text(json.dumps({f"t{subset}": task}))
    solutions = piped(tmp_path / "k_b_solutions.json")
    r = run_within(
        "data arc --source", tmp_path / "k", "--subsets a,b --test-set b -q --out", tmp_path / "d"
    )
    assert_one_line_error(r, f"{solutions}: a named pipe", PIPE[1])


@posix_only
@pytest.mark.parametrize("name", ["puzzle.txt", "puzzle"])
def test_a_named_pipe_as_the_puzzle_is_refused_for_what_it_is(tmp_path, name):
    pipe = piped(tmp_path / name)
    r = run_within("solve sudoku", pipe, "--exact")
    assert_one_line_error(r, f"{pipe}: a named pipe, not a puzzle file", PIPE[1])


@posix_only
def test_named_pipes_to_import_are_refused(tmp_path):
    pipe = piped(tmp_path / "puzzles.txt")
    r = run_within("data sudoku --import", pipe, "--out", tmp_path / "d", "--quiet")
    assert_one_line_error(r, f"{pipe}: a named pipe, not a puzzle file", PIPE[1])
    # the CSV layout: a folder of train.csv (here a pipe) and test.csv
    folder = tmp_path / "csv"
    folder.mkdir()
    solution = "417369825632158947958724316825437169791586432346912758289643571573291684164875293"
    (folder / "test.csv").write_text(
        f"source,question,answer,rating\nx,{TOP95_FIRST},{solution},0\n"
    )
    pipe = piped(folder / "train.csv")
    r = run_within("data sudoku --import", folder, "--out", tmp_path / "d", "--quiet")
    assert_one_line_error(r, "train.csv: a named pipe, not a CSV file", PIPE[1])


@posix_only
def test_named_pipes_in_official_builds_and_checkpoints_are_refused(tmp_path):
    official = REPO / "tests" / "data" / "official-trm"
    build = copy_with_pipe(official / "arc-build", "train/all__inputs.npy", tmp_path)
    r = run_within("data arc --official", build, "--out", tmp_path / "d")
    assert_one_line_error(r, "all__inputs.npy: a named pipe, not a .npy array", PIPE[1])
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    shutil.copy(official / "sudoku-mlp" / "all_config.yaml", folder)
    weights = piped(folder / "step_100")
    r = run_within("import official", weights, "--out", tmp_path / "run")
    assert_one_line_error(r, f"{weights}: a named pipe, not a weights file", PIPE[1])


@posix_only
def test_read_safetensors_refuses_a_named_pipe(tmp_path):
    pipe = piped(tmp_path / "model.safetensors")
    code = (
        "import sys\nfrom trm.checkpoint import read_safetensors\nfrom trm.errors import TRMError\n"
        "try:\n    read_safetensors(sys.argv[1])\nexcept TRMError as e:\n    print(e)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(pipe)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert r.stdout.strip() == (
        f"{pipe}: a named pipe, not a safetensors file (trm reads regular files only)"
    ), r.stderr


# ------------------------------------------------------------------------- 2. bounded counts


def test_data_augment_is_bounded_as_data_sudoku_is(s4_run, tmp_path):
    from puzzles.build import MAX_AUGMENT

    out = tmp_path / "aug"
    for command in ("data augment", "data sudoku --size 4 --train 8 --test 4 -q --workers 1"):
        extra = [s4_run[0]] if command == "data augment" else []
        r = run_within(command, extra, "--out", out, "--augment", MAX_AUGMENT + 1)
        assert_one_line_error(
            r, f"--augment must be at most {MAX_AUGMENT:,}, got {MAX_AUGMENT + 1:,}"
        )
    assert not out.exists()


def test_max_steps_is_bounded_in_the_library_and_the_cli(s4_run):
    from trm.evaluate import MAX_STEPS
    from trm.model import TRM
    from trm.trace import trace

    model, tokens = TRM(tiny_config()), sudoku_tokens(4, 1).inputs[0]
    with pytest.raises(SettingError, match=f"`max_steps` must be from 1 to {MAX_STEPS:,}") as e:
        trace(model, tokens, max_steps=MAX_STEPS + 1)
    assert e.value.setting == "max_steps"
    assert len(trace(model, tokens, halting="full", max_steps=MAX_STEPS)) == MAX_STEPS
    r = run_within("solve sudoku", PUZZLE_4, "-c", s4_run[1], "--max-steps 1000000000 --json")
    assert_one_line_error(r, f"--max-steps must be from 1 to {MAX_STEPS:,}, got 1,000,000,000")


def test_views_past_those_that_exist_are_reported_as_the_views_used(arc, tmp_path):
    tasks, data, run = arc
    huge = "1000000000"
    r = trm_ok(
        "predict arc",
        run,
        "--data",
        data,
        "--out",
        tmp_path / "s.json",
        "--views",
        huge,
        "--split test",
    )
    assert "(2 views voted per input: the dataset holds no more" in r.stderr, r.stderr
    assert "1000000000 views" not in r.stderr
    summary = json.loads(trm_ok("eval", run, "--data", data, "--views", huge, "--json").stdout)
    assert summary["views"] == 2 and "pass@5" not in summary
    r = run_trm(*cmd("solve arc", tasks / "t0.json", "-c", run, "--views", huge, "--json"))
    assert r.returncode in (0, 1), r.stderr
    assert json.loads(r.stdout)["vote"]["views"] == 2


# ------------------------------------------------------------------ 3. nothing to score


def unlabelled_copy(data: Path, to: Path, rows: slice = slice(None)) -> Path:
    """A copy of the dataset ``data`` whose test labels of ``rows`` are all padding."""
    copy = to / "unlabelled"
    shutil.copytree(data, copy)
    split = load_dataset(copy, ["test"]).splits["test"]
    split.labels[rows] = 0
    save_npz(copy / "test.npz", split.arrays())
    return copy


def test_a_split_whose_labels_are_all_padding_is_not_scored_as_perfect(s4_run, tmp_path):
    data, run = s4_run
    copy = unlabelled_copy(data, tmp_path)
    says = f"{copy / 'test.npz'}: every label is padding: nothing to score"
    for extra in ("", "--samples 2", "--halting adaptive"):
        r = run_trm(*cmd("eval", run, "--data", copy, "--device cpu", extra))
        assert_one_line_error(r, says)
    # training on it is refused before it starts, not at its first evaluation
    r = run_trm(*cmd("train --data", copy, "--out", tmp_path / "r --preset tiny --steps 1 -q"))
    assert_one_line_error(r, says)


def test_examples_with_nothing_to_score_are_refused_too(s4_run, tmp_path):
    from trm.evaluate import evaluate
    from trm.model import TRM

    data, run = s4_run
    copy = unlabelled_copy(data, tmp_path, slice(0, 1))
    r = run_trm(*cmd("eval", run, "--data", copy, "--device cpu"))
    assert_one_line_error(r, "test.npz: 1 of 8 examples have every label padding")
    tokens = sudoku_tokens(4, 3)
    tokens.labels[:] = 0
    with pytest.raises(TRMError, match=r"^every label is padding: nothing to score$"):
        evaluate(TRM(tiny_config()), tokens)


# --------------------------------------------------------------- 4. Ctrl-C in the viewer


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("how", ["signal", "key"])
def test_ctrl_c_in_the_interactive_viewer_exits_130(s4_run, monkeypatch, how):
    import termios

    import cli.viewer

    leader, follower = os.openpty()
    saved = termios.tcgetattr(follower)
    terminal = os.fdopen(os.dup(follower), "rb", buffering=0)
    pressed = []

    def ctrl_c(fd, timeout):
        pressed.append(fd)
        if how == "signal":  # the terminal turns Ctrl-C into SIGINT: Python raises
            raise KeyboardInterrupt
        return "\x03"  # a terminal that passes it on as a key

    monkeypatch.setattr(cli.viewer, "open_terminal", lambda: terminal)
    monkeypatch.setattr(cli.viewer, "read_key", ctrl_c)
    try:
        r = run_trm_here(*cmd("solve sudoku", PUZZLE_4, "-c", s4_run[1], "-i --samples 1"))
        assert pressed and r.returncode == 130, r
        assert "Traceback" not in r.stderr
        assert termios.tcgetattr(follower) == saved  # the terminal's mode is restored
    finally:
        os.close(leader)
        os.close(follower)


# --------------------------------------------------------------------- 5. --out .


@pytest.mark.parametrize("kind", ["sudoku", "maze"])
def test_a_build_into_the_current_folder_leaves_no_partial_folder(tmp_path, kind):
    work = tmp_path / "work"
    work.mkdir()
    size = 4 if kind == "sudoku" else 8
    r = run_within(
        "data", kind, "--out . --size", size, "--train 8 --test 2 -q --workers 1", cwd=work
    )
    left = [p.name for folder in (work, tmp_path) for p in folder.iterdir() if "partial" in p.name]
    assert left == []
    assert r.returncode == 0, r.stderr  # an empty folder is a fine place for a dataset
    assert (work / "dataset.json").is_file()
