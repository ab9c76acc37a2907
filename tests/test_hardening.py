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
from tests.conftest import REPO, TEST_ENV, run_trm
from tests.test_cli import assert_one_line_error
from trm.errors import TRMError
from trm.jsonfile import MAX_DEPTH, parse_json, read_json

TASK = {"train": [{"input": [[1, 2], [3, 4]], "output": [[4, 3], [2, 1]]}],
        "test": [{"input": [[0, 1], [1, 0]], "output": [[1, 0], [0, 1]]}]}


def run_closed_stdin(*args: str) -> subprocess.CompletedProcess:
    """trm with file descriptor 0 closed (Python then has no sys.stdin at all)."""
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, **TEST_ENV}, timeout=120,
                          stdin=None, preexec_fn=lambda: os.close(0))


@pytest.mark.parametrize("args", [["solve", "sudoku", "-", "--exact"],
                                  ["solve", "maze", "-", "-c", "nowhere"]])
def test_dash_with_standard_input_closed(args):
    assert_one_line_error(run_closed_stdin(*args), "standard input is closed")


def test_a_directory_a_missing_file_and_a_huge_file_as_the_puzzle(tmp_path):
    assert_one_line_error(run_trm("solve", "sudoku", str(tmp_path), "--exact"),
                          str(tmp_path), "a directory")
    assert_one_line_error(run_trm("solve", "sudoku", str(tmp_path / "gone.txt"), "--exact"),
                          "gone.txt: no such file")
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:  # sparse: 17 MiB of zeros cost no disk
        f.truncate(17 << 20)
    assert_one_line_error(run_trm("solve", "sudoku", str(big), "--exact"), "more than 16 MiB")


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
    grid.write_text('{"train": [{"input": ' + "[" * 3000 + "]" * 3000 + ', "output": [[1]]}], '
                    '"test": [{"input": [[1]]}]}')
    for path, fragment in ((huge, "colours are 0-9"), (deep, "nested too deeply"),
                           (grid, "nested")):
        assert_one_line_error(run_trm("solve", "arc", str(path), "-c", str(tmp_path / "none")),
                              str(path), fragment)
        folder = tmp_path / f"src-{path.stem}"
        folder.mkdir()
        (folder / "t.json").write_text(path.read_text())
        assert_one_line_error(run_trm("data", "arc", "--source", str(folder), "--out",
                                      str(tmp_path / "d"), "--quiet"), fragment)
        assert not (tmp_path / "d").exists()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=4),
    max_leaves=30)


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
    for candidate in (value, {"train": value, "test": value}, {"train": [{"input": value}],
                                                                "test": [{"input": [[1]]}]}):
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
