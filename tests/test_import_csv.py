"""Importing the official Sudoku-Extreme and Maze-Hard CSV layout (source,question,answer,rating).

Each test writes small files in exactly that layout from grids it knows, imports them and
checks what the dataset holds; bad rows must stop the import naming FILE:LINE.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puzzles.benchmark_csv import HEADER
from puzzles.dataset import load_dataset
from puzzles.maze import data as maze_data
from puzzles.maze.augment import SYMMETRIES
from puzzles.maze.generate import generate_indexed
from puzzles.maze.grid import CHARS, to_rows
from puzzles.maze.solver import check_path
from puzzles.sudoku import data as sudoku_data
from puzzles.sudoku.augment import random_augmentation
from puzzles.sudoku.grid import is_solution, parse_puzzle, to_string
from tests.helpers import TOP95_FIRST, assert_one_line_error, cmd, run_trm, trm_ok
from trm.errors import TRMError

# TOP95_FIRST and its unique solution
SOLUTION = parse_puzzle(
    "417369825632158947958724316825437169791586432346912758289643571573291684164875293"
)
PUZZLE = parse_puzzle(TOP95_FIRST)


def write_csv(file: Path, rows: list[tuple], quote_all: bool = False) -> Path:
    """Rows ``(source, question, answer, rating)`` under the official header."""
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file, "w", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return file


def sudoku_rows(n: int, seed: int, blank: str = ".") -> list[tuple[str, str, str, int]]:
    """``n`` valid rows: augmented copies of one hard puzzle, rated 0..n-1."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        aug = random_augmentation(9, rng)
        rows.append(
            (f"src{i % 3}", to_string(aug.apply(PUZZLE), blank), to_string(aug.apply(SOLUTION)), i)
        )
    return rows


def decoded_sudoku(split) -> list[tuple[str, str]]:
    return [
        (to_string(sudoku_data.decode(x)), to_string(sudoku_data.decode(y)))
        for x, y in zip(split.inputs, split.labels)
    ]


# --------------------------------------------------------------------------- Sudoku


def test_sudoku_folder_round_trips_both_splits_with_ratings(tmp_path):
    train, test = sudoku_rows(12, seed=1), sudoku_rows(5, seed=2, blank="0")
    write_csv(tmp_path / "src" / "train.csv", train)
    write_csv(tmp_path / "src" / "test.csv", test, quote_all=True)
    made, skipped = sudoku_data.build_import(tmp_path / "src", tmp_path / "d", progress=False)
    ds = load_dataset(tmp_path / "d")
    assert skipped == 0 and set(ds.splits) == {"train", "test"}
    for name, rows in (("train", train), ("test", test)):
        split = ds.splits[name]
        assert decoded_sudoku(split) == [(q.replace("0", "."), a) for _, q, a, _ in rows]
        assert split.extras["source_rating"].tolist() == [r for *_, r in rows]
        assert split.inputs.min() >= 1  # ours and the official encoding: 1 blank, d -> d + 1
    source = ds.meta["source"]
    assert source["files"]["test"]["rows"] == 5 and len(source["files"]["train"]["sha256"]) == 64
    assert ds.meta["task_info"]["size"] == 9 and made.meta == ds.meta


def test_one_csv_file_is_a_test_set(tmp_path):
    rows = sudoku_rows(4, seed=3)
    sudoku_data.build_import(write_csv(tmp_path / "x.csv", rows), tmp_path / "d", progress=False)
    ds = load_dataset(tmp_path / "d")
    assert list(ds.splits) == ["test"]
    assert decoded_sudoku(ds.splits["test"]) == [(q, a) for _, q, a, _ in rows]


def test_min_rating_subsample_and_augment_follow_the_official_build(tmp_path):
    write_csv(tmp_path / "src" / "train.csv", sudoku_rows(30, seed=4))
    write_csv(tmp_path / "src" / "test.csv", sudoku_rows(6, seed=5))
    options = dict(min_rating=2, subsample=10, augment=3, seed=7, progress=False)
    sudoku_data.build_import(tmp_path / "src", tmp_path / "a", **options)
    sudoku_data.build_import(tmp_path / "src", tmp_path / "b", **options)
    a, _b = load_dataset(tmp_path / "a"), load_dataset(tmp_path / "b")
    assert (tmp_path / "a" / "train.npz").read_bytes() == (
        tmp_path / "b" / "train.npz"
    ).read_bytes()
    train, test = a.splits["train"], a.splits["test"]
    assert test.extras["source_rating"].tolist() == [2, 3, 4, 5]  # both splits filtered
    assert train.n_groups == 10 and len(train) == 40 and np.all(np.diff(train.group_start) == 4)
    assert np.all(train.extras["source_rating"] >= 2)
    test_puzzles = {q for q, _ in decoded_sudoku(test)}
    for (q, s), _rating in zip(decoded_sudoku(train), train.extras["source_rating"]):
        assert is_solution(parse_puzzle(s), parse_puzzle(q)) and q not in test_puzzles
    firsts = train.group_start[:-1]
    picked = train.extras["source_rating"][firsts].tolist()
    assert picked == sorted(picked)  # the subsample keeps file order
    other = sudoku_data.build_import(tmp_path / "src", tmp_path / "c", **{**options, "seed": 8})[
        0
    ].splits["train"]
    assert other.extras["source_rating"][other.group_start[:-1]].tolist() != picked


def test_verify_proves_uniqueness_and_skip_bad_drops_the_rest(tmp_path):
    rows = sudoku_rows(3, seed=6)
    ambiguous = "." * 81  # a valid answer, but many solutions
    rows.append(("empty", ambiguous, to_string(SOLUTION), 9))
    f = write_csv(tmp_path / "t.csv", rows)
    sudoku_data.build_import(
        f, tmp_path / "plain", progress=False
    )  # answers are checked, not solved
    with pytest.raises(TRMError, match=r"^t\.csv:5: the puzzle has more than one solution$"):
        sudoku_data.build_import(f, tmp_path / "d", verify=True, progress=False)
    ds, skipped = sudoku_data.build_import(
        f, tmp_path / "d", verify=True, skip_bad=True, progress=False
    )
    assert skipped == 1 and len(ds.splits["test"]) == 3
    assert ds.splits["test"].extras["rating"].shape == (3, len(sudoku_data.RATING_FIELDS))


@pytest.mark.parametrize(
    "line, fragment",
    [
        (
            "s," + TOP95_FIRST[:-1] + "," + to_string(SOLUTION) + ",1",
            "the question has 80 characters, expected 81",
        ),
        (
            "s," + "x" + TOP95_FIRST[1:] + "," + to_string(SOLUTION) + ",1",
            "bad character 'x' at cell 1 of the question",
        ),
        (
            "s," + TOP95_FIRST + "," + "." + to_string(SOLUTION)[1:] + ",1",
            "bad character '.' at cell 1 of the answer",
        ),
        (
            "s," + TOP95_FIRST + "," + to_string(SOLUTION)[:-1] + "4" + ",1",
            "the answer breaks the rules: digit 4 2 times in row 9",
        ),
        (
            "s," + TOP95_FIRST + "," + "1" + to_string(SOLUTION)[1:] + ",1",
            "the answer breaks the rules",
        ),
        (
            "s," + TOP95_FIRST + "," + to_string(SOLUTION) + ",hard",
            "rating 'hard' is not an integer",
        ),
        ("s," + TOP95_FIRST + "," + to_string(SOLUTION), "3 fields, expected 4"),
        ("s," + TOP95_FIRST + "," + to_string(SOLUTION) + ",1,extra", "5 fields, expected 4"),
    ],
)
def test_bad_sudoku_rows_name_file_and_line(tmp_path, line, fragment):
    f = write_csv(tmp_path / "t.csv", sudoku_rows(2, seed=0))
    f.write_text(f.read_text() + line + "\n")
    with pytest.raises(TRMError, match=r"^t\.csv:4: ") as e:
        sudoku_data.build_import(f, tmp_path / "d", progress=False)
    assert fragment in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "d").exists()


def test_an_answer_that_changes_a_clue_is_refused():
    # a valid grid, but not the one the clues ask for: relabel two digits of the solution
    swapped = to_string(SOLUTION).translate(str.maketrans("12", "21"))
    with pytest.raises(TRMError, match=r"^x:7: the answer changes the clue at cell \d+"):
        sudoku_data.check_answers(PUZZLE[None], parse_puzzle(swapped)[None], lambda i: "x:7")


def test_the_header_must_be_there(tmp_path):
    rows = sudoku_rows(2, seed=0)
    f = tmp_path / "t.csv"
    f.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    with pytest.raises(
        TRMError, match=r"^t\.csv:1: the header line source,question,answer,rating is missing"
    ):
        sudoku_data.build_import(f, tmp_path / "d", progress=False)


def test_cli_sudoku_csv_import_and_its_one_line_errors(tmp_path):
    write_csv(tmp_path / "src" / "train.csv", sudoku_rows(6, seed=1))
    test = write_csv(tmp_path / "src" / "test.csv", sudoku_rows(3, seed=2))
    r = trm_ok(
        "data sudoku --import",
        tmp_path / "src",
        "--subsample 4 --augment 2 --out",
        tmp_path / "d",
        "-q",
    )
    assert "train 12, test 3" in r.stderr
    test.write_text(
        test.read_text() + "s," + TOP95_FIRST + "," + to_string(SOLUTION)[::-1] + ",1\n"
    )
    r = run_trm(*cmd("data sudoku --import", tmp_path / "src", "--out", tmp_path / "e", "-q"))
    assert_one_line_error(r, "test.csv:5: the answer", "the clue")
    assert not (tmp_path / "e").exists()
    assert_one_line_error(
        run_trm(*cmd("data sudoku --import", test, "--subsample 3 --out", tmp_path / "e")),
        "import a folder",
    )
    (tmp_path / "half").mkdir()
    write_csv(tmp_path / "half" / "test.csv", sudoku_rows(1, seed=0))
    assert_one_line_error(
        run_trm(*cmd("data sudoku --import", tmp_path / "half", "--out", tmp_path / "e")),
        "train.csv missing",
    )
    puzzles = tmp_path / "p.txt"
    puzzles.write_text(TOP95_FIRST + "\n")
    assert_one_line_error(
        run_trm(*cmd("data sudoku --import", puzzles, "--min-rating 3 --out", tmp_path / "e")),
        "--min-rating",
        "p.txt",
    )
    assert_one_line_error(
        run_trm("data", "sudoku", "--verify", "--out", str(tmp_path / "e")),
        "--verify go with --import",
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 6),
    blank=st.sampled_from(".0"),
    quote=st.booleans(),
    crlf=st.booleans(),
)
def test_any_valid_sudoku_rows_round_trip(tmp_path, seed, n, blank, quote, crlf):
    rng = random.Random(seed)
    rows = []
    for i in range(n):  # a random valid solution, with random cells blanked
        solution = random_augmentation(9, rng).apply(SOLUTION)
        puzzle = np.where(np.array([rng.random() < 0.6 for _ in range(81)]), 0, solution)
        rows.append((f"s,{i}", to_string(puzzle, blank), to_string(solution), rng.randint(-5, 99)))
    f = write_csv(tmp_path / f"h{seed}.csv", rows, quote_all=quote)
    if crlf:
        f.write_bytes(f.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    got = sudoku_data.read_csv_split(f, progress=False)
    assert [to_string(q) for q in got.questions] == [q.replace("0", ".") for _, q, _, _ in rows]
    assert [to_string(a) for a in got.answers] == [a for _, _, a, _ in rows]
    assert got.extras["source_rating"].tolist() == [r for *_, r in rows]
    assert got.lines.tolist() == list(range(2, n + 2))


# --------------------------------------------------------------------------- mazes


def maze_rows(n: int, size: int = 8, stream: str = "t") -> list[tuple[str, str, str, int]]:
    rows = []
    for i in range(n):
        g = generate_indexed(size, "random", 8, 0, stream, i)
        rows.append(("m", "".join(to_rows(g.maze)), "".join(to_rows(g.label)), g.path_length))
    return rows


def official_dihedral(grid: np.ndarray, tid: int) -> np.ndarray:
    """The official build's dihedral ids, written with numpy's functions."""
    return [
        grid,
        np.rot90(grid),
        np.rot90(grid, 2),
        np.rot90(grid, 3),
        np.fliplr(grid),
        np.flipud(grid),
        grid.T,
        np.fliplr(np.rot90(grid)),
    ][tid]


def maze_text(tokens: np.ndarray) -> str:
    return "".join(CHARS[c] for c in maze_data.decode(tokens).reshape(-1))


def test_maze_folder_round_trips_and_dihedral_copies_come_in_the_official_order(tmp_path):
    train, test = maze_rows(3, stream="train"), maze_rows(2, stream="test")
    write_csv(tmp_path / "src" / "train.csv", train, quote_all=True)
    write_csv(tmp_path / "src" / "test.csv", test)
    maze_data.build_import(tmp_path / "src", tmp_path / "d", dihedral=True, progress=False)
    ds = load_dataset(tmp_path / "d")
    t = ds.splits["test"]
    assert [(maze_text(x), maze_text(y)) for x, y in zip(t.inputs, t.labels)] == [
        (q, a) for _, q, a, _ in test
    ]
    assert (
        t.extras["path_length"].tolist()
        == t.extras["source_rating"].tolist()
        == [r for *_, r in test]
    )
    s = ds.splits["train"]
    assert len(s) == 24 and s.group_start.tolist() == list(range(0, 25, 8))
    for k, (_, q, a, rating) in enumerate(train):
        grid = np.array(list(q)).reshape(8, 8)
        label = np.array(list(a)).reshape(8, 8)
        for tid in range(8):
            row = 8 * k + tid
            assert maze_text(s.inputs[row]) == "".join(official_dihedral(grid, tid).reshape(-1))
            assert maze_text(s.labels[row]) == "".join(official_dihedral(label, tid).reshape(-1))
            assert s.extras["path_length"][row] == rating
    assert set(np.unique(s.inputs)) <= {1, 2, 3, 4} and 5 in s.labels  # '#'=1 ' '=2 S=3 G=4 o=5
    assert ds.meta["vocab"] == ["<pad>", "#", " ", "S", "G", "o"]


def test_maze_subsample_is_seeded_and_one_file_is_a_test_set(tmp_path):
    write_csv(tmp_path / "src" / "train.csv", maze_rows(6, stream="train"))
    write_csv(tmp_path / "src" / "test.csv", maze_rows(1, stream="test"))
    a = maze_data.build_import(
        tmp_path / "src", tmp_path / "a", subsample=3, seed=1, progress=False
    )
    b = maze_data.build_import(
        tmp_path / "src", tmp_path / "b", subsample=3, seed=1, progress=False
    )
    assert len(a.splits["train"]) == 3
    assert np.array_equal(a.splits["train"].inputs, b.splits["train"].inputs)
    one = maze_data.build_import(tmp_path / "src" / "test.csv", tmp_path / "c", progress=False)
    assert list(one.splits) == ["test"] and one.meta["source"]["layout"] == ",".join(HEADER)
    # only what was given is named (the message once named --subsample too)
    with pytest.raises(TRMError, match=r"^`dihedral` changes the training split"):
        maze_data.build_import(
            tmp_path / "src" / "test.csv", tmp_path / "e", dihedral=True, progress=False
        )
    with pytest.raises(TRMError, match=r"^`subsample` and `dihedral` change the training split"):
        maze_data.build_import(
            tmp_path / "src" / "test.csv", tmp_path / "e", subsample=2, dihedral=True
        )


def _edit(text: str, cell: int, ch: str) -> str:
    return text[:cell] + ch + text[cell + 1 :]


def _bad_maze_rows() -> list[tuple[str, str]]:
    """(row, fragment of the error) for each kind of bad row."""
    _, q, a, r = maze_rows(1, stream="bad")[0]
    path = [i for i, ch in enumerate(a) if ch == "o"]
    wall = q.index("#")
    start = q.index("S")
    return [
        (f"m,{q[:-1]},{a},{r}", "the question has 63 characters, expected 64"),
        (f"m,{_edit(q, 0, 'x')},{a},{r}", "bad character 'x' at cell 1 of the question"),
        (f"m,{_edit(q, path[0], 'o')},{a},{r}", "bad character 'o'"),
        (f"m,{q},{_edit(a, wall, 'o')},{r}", "the answer changes the question"),
        (f"m,{q},{_edit(a, start, ' ')},{r}", "the answer changes the question"),
        (f"m,{_edit(q, wall, 'S')},{_edit(a, wall, 'S')},{r}", "the maze has 2 starts"),
        (f"m,{q},{_edit(a, path[len(path) // 2], ' ')},{r}", "not a shortest path"),
        (f"m,{q},{q},{r}", "not a shortest path"),
        (f"m,{q},{a},{r}.5", "is not an integer"),
        (f"m,{q},{a}", "3 fields, expected 4"),
    ]


@pytest.mark.parametrize("case", range(10))
def test_bad_maze_rows_name_file_and_line(tmp_path, case):
    line, fragment = _bad_maze_rows()[case]
    f = write_csv(tmp_path / "test.csv", maze_rows(1))
    f.write_text(f.read_text() + line + "\n")
    with pytest.raises(TRMError, match=r"^test\.csv:3: ") as e:
        maze_data.build_import(f, tmp_path / "d", progress=False)
    assert fragment in str(e.value), str(e.value)
    assert not (tmp_path / "d").exists()


def test_a_maze_side_out_of_range_is_refused(tmp_path):
    f = write_csv(tmp_path / "t.csv", [("m", "#" * 9, "#" * 9, 1)])
    with pytest.raises(TRMError, match=r"^t\.csv:2: maze size 3 out of range"):
        maze_data.build_import(f, tmp_path / "d", progress=False)
    f = write_csv(tmp_path / "t.csv", [("m", "#" * 20, "#" * 20, 1)])
    with pytest.raises(
        TRMError, match=r"^t\.csv:2: the question has 20 characters: a maze has N x N"
    ):
        maze_data.build_import(f, tmp_path / "d", progress=False)


def test_cli_maze_csv_import_and_a_bad_row(tmp_path):
    write_csv(tmp_path / "src" / "train.csv", maze_rows(2, stream="train"))
    test = write_csv(tmp_path / "src" / "test.csv", maze_rows(2, stream="test"))
    r = trm_ok("data maze --import", tmp_path / "src", "--dihedral --out", tmp_path / "d", "-q")
    assert "train 16, test 2" in r.stderr
    line, _ = _bad_maze_rows()[6]
    test.write_text(test.read_text() + line + "\n")
    r = run_trm(*cmd("data maze --import", tmp_path / "src", "--out", tmp_path / "e", "-q"))
    assert_one_line_error(r, "test.csv:4: the marked path is not a shortest path")
    assert_one_line_error(
        run_trm("data", "maze", "--dihedral", "--out", str(tmp_path / "e")),
        "--dihedral go with --import",
    )


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    index=st.integers(0, 10**6),
    size=st.integers(4, 9),
    quote=st.booleans(),
    sym=st.sampled_from(SYMMETRIES),
)
def test_any_generated_maze_round_trips_through_a_csv_row(tmp_path, index, size, quote, sym):
    g = generate_indexed(size, "random", 2, 0, "h", index)
    maze, label = sym.apply(g.maze), sym.apply(g.label)
    f = write_csv(
        tmp_path / f"m{index}-{size}.csv",
        [("m", "".join(to_rows(maze)), "".join(to_rows(label)), g.path_length)],
        quote_all=quote,
    )
    got = maze_data.read_csv_split(f, progress=False)
    assert np.array_equal(got.questions[0], maze.reshape(-1))
    assert np.array_equal(got.answers[0], label.reshape(-1))
    assert got.extras["path_length"][0] == g.path_length == check_path(maze, label).length
