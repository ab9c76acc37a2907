"""Hostile-but-realistic input: every case ends in one line and exit status 2 (issue 17).

Each test reproduces a case that once gave a traceback, ran away or was silently accepted.
"""

import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puzzles.arc.grid import check_grid, parse_task
from tests.helpers import REPO, TEST_ENV, assert_one_line_error, cmd, run_trm, run_trm_here, trm_ok
from trm.errors import TRMError
from trm.jsonfile import MAX_DEPTH, parse_json, read_json

TASK = {
    "train": [{"input": [[1, 2], [3, 4]], "output": [[4, 3], [2, 1]]}],
    "test": [{"input": [[0, 1], [1, 0]], "output": [[1, 0], [0, 1]]}],
}


def run_closed_stdin(*args: str) -> subprocess.CompletedProcess:
    """trm with file descriptor 0 closed (Python then has no sys.stdin at all)."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **TEST_ENV},
        timeout=120,
        stdin=None,
        preexec_fn=lambda: os.close(0),
    )


@pytest.mark.parametrize(
    "args", [["solve", "sudoku", "-", "--exact"], ["solve", "maze", "-", "-c", "nowhere"]]
)
def test_dash_with_standard_input_closed(args):
    assert_one_line_error(run_closed_stdin(*args), "standard input is closed")


def test_a_directory_a_missing_file_and_a_huge_file_as_the_puzzle(tmp_path):
    assert_one_line_error(
        run_trm("solve", "sudoku", str(tmp_path), "--exact"), str(tmp_path), "a directory"
    )
    assert_one_line_error(
        run_trm("solve", "sudoku", str(tmp_path / "gone.txt"), "--exact"), "gone.txt: no such file"
    )
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:  # sparse: 17 MiB of zeros cost no disk
        f.truncate(17 << 20)
    assert_one_line_error(run_trm("solve", "sudoku", str(big), "--exact"), "larger than 16 MiB")


def test_import_of_a_huge_text_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    import puzzles.dataset

    monkeypatch.setattr(puzzles.dataset, "MAX_IMPORT_BYTES", 1 << 20)
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(2 << 20)
    assert_one_line_error(
        run_trm_here(*cmd("data sudoku --import", big, "--out", tmp_path / "d", "--quiet")),
        "larger than 1 MiB",
    )


@pytest.mark.parametrize("kind", ["sudoku", "maze"])
def test_import_of_a_directory_says_what_a_folder_needs(tmp_path, kind):
    r = run_trm("data", kind, "--import", str(tmp_path), "--out", str(tmp_path / "d"), "--quiet")
    assert_one_line_error(r, "a folder to import holds train.csv and test.csv")
    assert "no such file" not in r.stderr


@pytest.mark.parametrize("colour", [10**30, -(10**30), 10, -1])
def test_arc_colours_out_of_range(colour):
    with pytest.raises(TRMError, match="colours are 0-9") as e:
        check_grid([[1, colour]], "t.json: task t, train pair 1 input")
    assert "\n" not in str(e.value) and len(str(e.value)) < 200


def test_arc_task_file_with_a_huge_colour_or_deep_nesting(tmp_path):
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps(TASK).replace("[[1, 2]", "[[1" + "0" * 30 + ", 2]"))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * (4 << 20))
    grid = tmp_path / "grid.json"
    grid.write_text(
        '{"train": [{"input": ' + "[" * 3000 + "]" * 3000 + ', "output": [[1]]}], '
        '"test": [{"input": [[1]]}]}'
    )
    for path, fragment in (
        (huge, "colours are 0-9"),
        (deep, "nested too deeply"),
        (grid, "nested"),
    ):
        assert_one_line_error(
            run_trm("solve", "arc", str(path), "-c", str(tmp_path / "none")), str(path), fragment
        )
        folder = tmp_path / f"src-{path.stem}"
        folder.mkdir()
        (folder / "t.json").write_text(path.read_text())
        assert_one_line_error(
            run_trm(*cmd("data arc --source", folder, "--out", tmp_path / "d", "--quiet")),
            fragment,
        )
        assert not (tmp_path / "d").exists()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_parse_json_round_trips_what_json_writes(value):
    assert parse_json(json.dumps(value), "x") == value


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_parse_json_of_anything_is_a_value_or_one_line(data):
    try:
        parse_json(data, "f.json")
    except TRMError as e:
        assert str(e).startswith("f.json: ") and "\n" not in str(e)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arc_task_parser_of_any_json_is_a_task_or_one_line(value):
    for candidate in (
        value,
        {"train": value, "test": value},
        {"train": [{"input": value}], "test": [{"input": [[1]]}]},
    ):
        try:
            parse_task(candidate, "t", "t.json")
        except TRMError as e:
            assert "\n" not in str(e) and str(e).startswith("t.json")


def test_depth_limit_and_read_json_bounds(tmp_path):
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(ok, "x") is not None
    with pytest.raises(TRMError, match="nested more than"):
        parse_json("[" + ok + "]", "x")
    f = tmp_path / "a.json"
    f.write_text("[1, 2, 3]")
    with pytest.raises(TRMError, match="larger than"):
        read_json(f, max_bytes=4)
    with pytest.raises(TRMError, match="a directory"):
        read_json(tmp_path)
    with pytest.raises(TRMError, match="no such file"):
        read_json(tmp_path / "b.json")


# ------------------------------------------------------------------ numbers from disk and options


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 4x4 Sudoku dataset, a 3-step run on it, and a tiny synthetic image set."""
    from vision.synthetic import write_synthetic

    root = tmp_path_factory.mktemp("tiny")
    data, run, images = root / "d", root / "r", root / "img"
    trm_ok("data sudoku --out", data, "--size 4 --train 16 --test 4 --workers 1 --quiet")
    trm_ok(
        "train --data",
        data,
        "--out",
        run,
        "--preset tiny --steps 3 --device cpu --precision fp32 --quiet",
    )
    write_synthetic(images, train=32, test=8, classes=10, seed=0, progress=False)
    return data, run, images


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("hidden_size", 32.5, "'hidden_size' must be an integer, got 32.5"),
        ("n", 2.0, "'n' must be an integer, got 2.0"),
        ("n", True, "'n' must be an integer, got True"),
        ("seq_len", 10**9, "`seq_len` must be at most"),
        ("hidden_size", 10**9, "`hidden_size` must be at most"),
        ("n", 10**9, "`n` must be at most 256"),
        ("norm_eps", "1e-5", "'norm_eps' must be a finite number"),
    ],
)
def test_an_edited_config_json_is_refused_naming_it(tiny, tmp_path, field, value, fragment):
    import shutil

    data, run, _ = tiny
    edited = tmp_path / "run"
    shutil.copytree(run, edited)
    config = edited / "checkpoint" / "config.json"
    c = json.loads(config.read_text())
    c["model"][field] = value
    config.write_text(json.dumps(c))
    for args in (
        ["eval", str(edited), "--data", str(data), "--device", "cpu"],
        ["solve", "sudoku", "1...\n....\n....\n....", "-c", str(edited), "--device", "cpu"],
        [
            "train",
            "--data",
            str(data),
            "--out",
            str(edited),
            "--resume",
            "--quiet",
            "--device",
            "cpu",
        ],
    ):
        assert_one_line_error(run_trm_here(*args), str(config), fragment)


def test_a_training_config_with_a_nan_learning_rate_is_refused(tiny, tmp_path):
    import shutil

    data, run, _ = tiny
    edited = tmp_path / "run"
    shutil.copytree(run, edited)
    config = edited / "checkpoint" / "config.json"
    config.write_text(config.read_text().replace('"lr": 0.001', '"lr": NaN'))
    assert '"lr": NaN' in config.read_text()
    assert_one_line_error(
        run_trm_here(*cmd("train --data", data, "--out", edited, "--resume --quiet --device cpu")),
        str(config),
        "'lr'",
    )


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--lr", "nan"], "'lr' must be a finite number"),
        (["--lr", "inf"], "'lr' must be a finite number"),
        (["--hidden-size", "100000000"], "--hidden-size must be at most 16384"),
        (["--n", "100000"], "--n must be at most 256"),
        (["--max-minutes", "-5"], "--max-minutes must be a positive number"),
        (["--max-minutes", "0"], "--max-minutes must be a positive number"),
        (["--max-minutes", "nan"], "--max-minutes must be a positive number"),
        (["--max-minutes", "inf"], "--max-minutes must be a positive number"),
    ],
)
def test_bad_numbers_for_puzzle_training(tiny, tmp_path, args, fragment):
    data, _, _ = tiny
    r = run_trm_here(
        *cmd(
            "train --data",
            data,
            "--out",
            tmp_path / "r",
            "--preset tiny --device cpu --quiet",
            args,
        )
    )
    assert_one_line_error(r, fragment)
    assert not (tmp_path / "r" / "checkpoint").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--lr", "nan"], "'lr' must be a finite number"),
        (["--randaugment", "-1,50"], "--randaugment N,M wants"),
        (["--randaugment", "2,50"], "--randaugment N,M wants"),
        (["--smoothing", "2"], "--smoothing must be in [0, 1)"),
        (["--epochs", "-1"], "--epochs must be a positive number"),
        (["--epochs", "0"], "--epochs must be a positive number"),
        (["--max-minutes", "-5"], "--max-minutes must be a positive number"),
        (["--hidden-size", "100000000"], "--hidden-size must be at most 16384"),
        (["--seed", str(2**64 - 1)], "--seed must be from 0 to 4,294,967,295"),
        (["--lr", "1e308"], "--lr is 1e+308"),
        (["--weight-decay", "-1"], "--weight-decay must be from 0 to 1000, got -1"),
    ],
)
def test_bad_numbers_for_vision_training(tiny, tmp_path, args, fragment):
    _, _, images = tiny
    r = run_trm_here(
        *cmd(
            "vision train --data",
            images,
            "--variant vit --preset small --out",
            tmp_path / "v",
            "--device cpu --quiet",
            args,
        )
    )
    assert_one_line_error(r, fragment)
    assert not (tmp_path / "v").exists()  # checked before anything is written


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "hidden_size",
                "num_heads",
                "n",
                "T",
                "n_sup",
                "seq_len",
                "vocab_size",
                "expansion",
                "mixer",
                "loss",
                "norm_eps",
                "puzzle_emb_len",
                "puzzle_emb_ndim",
                "halt_outputs",
                "num_puzzle_ids",
                "halt_exploration",
                "unknown",
            ]
        ),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=4)
        | st.lists(st.integers(), max_size=2),
        max_size=5,
    )
)
def test_model_config_from_any_json_is_a_small_model_or_one_line(d):
    from trm.config import MAX_PARAMETERS, TRMConfig

    try:
        c = TRMConfig.from_dict({"vocab_size": 11, "seq_len": 81, **d})
    except TRMError as e:
        assert "\n" not in str(e) and len(str(e)) < 300
    else:
        assert c.parameter_estimate() <= MAX_PARAMETERS and c.hidden_size <= 1 << 14


# ------------------------------------------------------------------ writes that fail


def disk_full_after(calls: int, real):
    """``real``, failing with ENOSPC (as a full disk does) from call number ``calls`` + 1 on."""
    import errno

    count = {"n": 0}

    def write(path, *args, **kw):
        count["n"] += 1
        if count["n"] > calls:
            with open(path, "wb") as f:  # half a file, as a full disk leaves it
                f.write(b"PK\x03\x04")
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, *args, **kw)

    return write


def test_disk_full_during_a_sudoku_build_is_one_line_and_resumes(tmp_path, monkeypatch):
    import puzzles.build
    import puzzles.dataset

    out = tmp_path / "d"
    args = [
        "data",
        "sudoku",
        "--out",
        str(out),
        "--size",
        "4",
        "--train",
        "300",
        "--test",
        "10",
        "--workers",
        "1",
        "--quiet",
    ]
    monkeypatch.setattr(puzzles.build, "save_npz", disk_full_after(2, puzzles.build.save_npz))
    assert_one_line_error(
        run_trm_here(*args), "No space left on device", "run the same command again"
    )
    partial = out / ".trm-partial"
    assert [p.name for p in out.iterdir()] == [".trm-partial"]  # no dataset in place
    assert sorted(p.name for p in partial.glob("*.npz")) == [
        "test-000000.npz",
        "train-000000.npz",
    ]  # whole chunks only: no half-written file
    assert not list(partial.glob(".*tmp*"))
    monkeypatch.undo()
    # the final write into the dataset folder fails: nothing half-written is left there
    monkeypatch.setattr(puzzles.dataset, "save_npz", disk_full_after(0, puzzles.dataset.save_npz))
    assert_one_line_error(run_trm_here(*args), str(out), "No space left on device")
    assert [p.name for p in out.iterdir()] == [".trm-partial"]  # no stage, no lock
    monkeypatch.undo()
    r = run_trm_here(*args)  # space again: it goes on from the kept chunks
    assert r.returncode == 0, r.stderr
    assert (out / "dataset.json").is_file() and not partial.exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_disk_full_during_a_synthetic_image_build_leaves_nothing(tmp_path, monkeypatch):
    import vision.cifar

    monkeypatch.setattr(
        vision.cifar,
        "write_python_pickle",
        disk_full_after(1, vision.cifar.write_python_pickle),
    )
    out = tmp_path / "img"
    r = run_trm_here(*cmd("vision data synthetic --out", out, "--train 20 --test 10 --quiet"))
    assert_one_line_error(r, str(out), "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_a_build_that_cannot_succeed_does_not_block_another(tmp_path):
    out = tmp_path / "m"
    r = run_trm_here(
        *cmd("data maze --out", out, "--size 5 --train 500 --test 0 --workers 1 --quiet")
    )
    assert_one_line_error(r, "too few distinct")
    assert list(tmp_path.iterdir()) == []  # no .m.partial to block the next command
    r = run_trm_here(
        *cmd("data maze --out", out, "--size 5 --train 3 --test 0 --workers 1 --quiet")
    )
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    "edit, fragment",
    [
        ({"size": 9}, "task_info size 9 does not fit seq_len 16"),
        ({"size": "4"}, "task_info size '4'"),
        ({"box_rows": 3}, "boxes 3 x 2 do not make a 4x4 Sudoku"),
    ],
)
def test_dataset_metadata_that_disagrees_with_its_arrays(tiny, tmp_path, edit, fragment):
    import shutil

    data, run, _ = tiny
    edited = tmp_path / "d"
    shutil.copytree(data, edited)
    meta = json.loads((edited / "dataset.json").read_text())
    meta["task_info"].update(edit)
    (edited / "dataset.json").write_text(json.dumps(meta))
    for args in (["data", "show", str(edited)], ["eval", str(run), "--data", str(edited)]):
        assert_one_line_error(run_trm_here(*args), "dataset.json", fragment)


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("[" * 5000, "nested too deeply"),
        ('{"step": 1, "loss": ' + "9" * 5000 + "}", "not valid JSON"),
        (b"\xff\xfe{", "not valid JSON"),
    ],
)
def test_a_damaged_metrics_file_is_one_line(tmp_path, line, fragment):
    path = tmp_path / "metrics.jsonl"
    body = line.encode() if isinstance(line, str) else line
    path.write_bytes(body + b'\n{"step": 2, "loss": 1.0}\n')
    assert_one_line_error(
        run_trm_here("plot", str(path), "--out", str(tmp_path / "p.png")),
        "metrics.jsonl:1",
        fragment,
    )


# ------------------------------------------------------------------ fuzzed readers


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200) | st.text(alphabet="#. SG*o\n", max_size=300))
def test_maze_text_parser_of_any_text_is_mazes_or_one_line(text):
    from puzzles.maze.solver import check_maze
    from puzzles.maze.text import parse_text

    try:
        parsed = parse_text(text, source="fuzz")
    except TRMError as e:
        assert str(e).startswith("fuzz") and "\n" not in str(e)
        return
    for p in parsed:
        check_maze(p.maze)


csv_rows = st.lists(
    st.text(alphabet='0123456789.,"#SGo \r\n', max_size=120) | st.text(max_size=40), max_size=5
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rows=csv_rows, header=st.booleans(), kind=st.sampled_from(["sudoku", "maze"]))
def test_csv_imports_of_any_rows_are_a_dataset_or_one_line(tmp_path, rows, header, kind):
    from puzzles.benchmark_csv import HEADER
    from puzzles.maze import data as maze_data
    from puzzles.sudoku import data as sudoku_data

    path = tmp_path / "test.csv"
    path.write_text(((",".join(HEADER) + "\n") if header else "") + "\n".join(rows))
    build = sudoku_data.import_csv if kind == "sudoku" else maze_data.import_csv
    try:
        build(path, tmp_path / "out", force=True, progress=False)
    except TRMError as e:
        assert "\n" not in str(e) and path.name in str(e)
        return
    # imported: every puzzle in the dataset is one its checker accepts with its answer
    from puzzles.dataset import load_dataset
    from puzzles.maze.solver import check_path
    from puzzles.sudoku.grid import is_solution

    splits = load_dataset(tmp_path / "out").splits.values()
    assert sum(len(split) for split in splits) >= 1
    pairs = [pair for split in splits for pair in zip(split.inputs, split.labels)]
    for question, answer in pairs:
        if kind == "sudoku":
            assert is_solution(sudoku_data.decode(answer), sudoku_data.decode(question))
        else:
            assert check_path(maze_data.decode(question), maze_data.decode(answer)).ok


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    edits=st.dictionaries(
        st.sampled_from(
            [
                "format",
                "version",
                "task",
                "seq_len",
                "vocab",
                "splits",
                "task_info",
                "num_puzzle_ids",
            ]
        ),
        json_values,
        max_size=3,
    )
)
def test_dataset_json_of_any_values_loads_or_is_one_line(tiny, tmp_path_factory, edits):
    import shutil

    from puzzles.dataset import load_dataset

    data, _, _ = tiny
    folder = tmp_path_factory.mktemp("meta") / "d"
    shutil.copytree(data, folder)
    meta = json.loads((folder / "dataset.json").read_text())
    meta.update(edits)
    (folder / "dataset.json").write_text(json.dumps(meta))
    try:
        loaded = load_dataset(folder)
    except TRMError as e:
        assert "\n" not in str(e) and str(folder) in str(e)
        return
    # loaded: the edits were taken as they are, and the puzzles read are the folder's own
    import numpy as np

    original = load_dataset(data)
    assert all(loaded.meta[k] == v for k, v in edits.items())
    for name, split in loaded.splits.items():
        assert np.array_equal(split.inputs, original.splits[name].inputs)
        assert np.array_equal(split.labels, original.splits[name].labels)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "steps",
                "batch_size",
                "lr",
                "warmup",
                "ema",
                "beta1",
                "schedule",
                "optimizer",
                "augment",
                "seed",
                "grad_clip",
                "min_lr_ratio",
                "new_field",
            ]
        ),
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
        max_size=4,
    )
)
def test_training_config_from_any_json_is_sane_or_one_line(d):
    import math

    from trm.config import TrainConfig

    try:
        c = TrainConfig.from_dict(d)
    except TRMError as e:
        assert "\n" not in str(e)
    else:
        assert math.isfinite(c.lr) and c.lr > 0 and 1 <= c.steps <= 10**9 and 0 <= c.ema < 1


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["solve", "sudoku", "--samples", "100000000"], "--samples must be from 1 to 4096"),
        (["solve", "sudoku", "--sample-seed", "-1"], "seed of the views and noise must be >= 0"),
        (
            ["data", "sudoku", "--out", "never", "--train", "5", "--workers", "100000"],
            "--workers must be from 0 (one per core) to",
        ),
        (
            ["data", "maze", "--out", "never", "--train", "5", "--workers", "-1"],
            "--workers must be from 0 (one per core) to",
        ),
        (
            ["data", "sudoku", "--out", "never", "--train", "5", "--augment", "100000000"],
            "--augment must be at most 10,000",
        ),
        (
            ["data", "sudoku", "--out", "never", "--train", "1000000000"],
            "--train must be at most 100,000,000",
        ),
        (
            ["data", "maze", "--out", "never", "--test", "1000000000"],
            "--test must be at most 100,000,000",
        ),
        (
            ["data", "arc", "--source", "arc-agi-1", "--out", "never", "--augment", "100000000"],
            "--augment must be at most 10,000",
        ),
        (
            [
                "vision",
                "compare",
                "--data",
                "none",
                "--out",
                "never",
                "--budget",
                "time",
                "--max-minutes",
                "nan",
            ],
            "--max-minutes must be a positive number",
        ),
        (
            ["vision", "compare", "--data", "none", "--out", "never", "--epochs", "nan"],
            "--epochs must be a positive number",
        ),
        (
            ["vision", "compare", "--data", "none", "--out", "never", "--epochs", "1e9"],
            "--epochs must be a positive number",
        ),
        (
            [
                "vision",
                "data",
                "synthetic",
                "--out",
                "never",
                "--train",
                "1000000000",
                "--test",
                "5",
            ],
            "at most 2,000,000 images",
        ),
    ],
)
def test_counts_and_seeds_out_of_range(tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(run_trm_here(*args), fragment)
    assert list(tmp_path.iterdir()) == []


def test_eval_samples_out_of_range(tiny):
    data, run, _ = tiny
    assert_one_line_error(
        run_trm_here(*cmd("eval", run, "--data", data, "--samples 100000000")),
        "--samples must be from 1 to 4096",
    )
    assert_one_line_error(
        run_trm_here(*cmd("eval", run, "--data", data, "--samples 2 --seed -4")),
        "must be >= 0",
    )


def test_a_split_whose_arrays_claim_gigabytes_is_refused_before_numpy_allocates(tiny, tmp_path):
    import io
    import shutil
    import zipfile

    import numpy as np

    data, _, _ = tiny
    edited = tmp_path / "d"
    shutil.copytree(data, edited)
    header = io.BytesIO()  # a header claiming 10**9 x 16 bytes, and no data at all
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (10**9, 16)}
    )
    with zipfile.ZipFile(edited / "test.npz", "a") as zf:
        zf.writestr("huge.npy", header.getvalue())
    assert_one_line_error(
        run_trm_here("data", "show", str(edited), "--split", "test"),
        "test.npz",
        "claim 16,000,000,",
        "more than 4 examples",
    )


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("arch: " + "[" * 100000, "nested too deeply"),
        ("a: &a [1, 2]\nb: &b [*a, *a, *a]\narch: {name: x, l: [*b, *b]}\n", "uses YAML aliases"),
        ("arch: {name: x}\n" + "#" * (2 << 20), "larger than 1 MiB"),
        ("arch: [1, 2\n", "not valid YAML"),
    ],
    ids=["deep", "aliases", "huge", "malformed"],
)
def test_official_config_yaml_is_bounded(tmp_path, text, fragment):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "all_config.yaml").write_text(text)
    (folder / "step_100").write_bytes(b"\0" * 10)
    r = run_trm_here("import", "official", str(folder), "--out", str(tmp_path / "out"))
    assert_one_line_error(r, "all_config.yaml", fragment)
    assert not (tmp_path / "out").exists()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_cifar_pickle_reader_of_any_bytes_is_a_value_or_one_line(data):
    """Random bytes, and real CIFAR pickles (every protocol) with bytes flipped or cut."""
    import pickle

    import numpy as np

    from vision.pickles import read_pickle

    batch = {
        b"batch_label": b"b",
        b"labels": [1, 2],
        b"data": np.arange(6, dtype=np.uint8),
        b"filenames": [b"a.png", b"b.png"],
    }
    real = pickle.dumps(batch, protocol=data.draw(st.integers(0, 5)))
    body = data.draw(
        st.one_of(
            st.binary(max_size=300),
            st.builds(
                lambda i, b: real[:i] + bytes([b]) + real[i + 1 :],
                st.integers(0, len(real) - 1),
                st.integers(0, 255),
            ),
            st.integers(0, len(real)).map(lambda i: real[:i]),
        )
    )
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "data_batch_1"
        path.write_bytes(body)
        try:
            read_pickle(path)
        except TRMError as e:
            assert "\n" not in str(e) and "data_batch_1" in str(e)
