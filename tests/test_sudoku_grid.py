"""Sudoku text forms and rule checks: puzzles.sudoku.grid."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puzzles.sudoku.grid import (
    Conflict,
    find_conflicts,
    geometry,
    is_solution,
    parse_puzzle,
    parse_text,
    to_grid_text,
    to_string,
)
from puzzles.sudoku.solver import random_solution
from tests.reference_solver import count_solutions
from tests.reference_solver import units as reference_units
from trm.errors import TRMError

SIZES = (4, 6, 9)
PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- helpers


def solution_grid(size: int, seed: int) -> np.ndarray:
    return random_solution(size, random.Random(seed))


@st.composite
def partial_grids(draw, size: int) -> np.ndarray:
    """A valid partial grid: a random full grid with a random subset of cells blanked."""
    grid = solution_grid(size, draw(st.integers(0, 2**32 - 1)))
    blank_fraction = draw(st.sampled_from([0.0, 0.3, 0.6, 0.9, 1.0]))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    for cell in range(grid.size):
        if rng.random() < blank_fraction:
            grid[cell] = 0
    return grid


sized_partial_grids = st.sampled_from(SIZES).flatmap(partial_grids)


def cell(size: int, row: int, col: int) -> int:
    return row * size + col


def error_of(text: str, source: str = "f.txt") -> str:
    with pytest.raises(TRMError) as info:
        parse_text(text, source=source)
    return str(info.value)


# --------------------------------------------------------------------------- round trips


@PROPERTY
@given(grid=sized_partial_grids)
def test_one_line_form_parses_back_to_the_same_grid(grid):
    for blank in ".0":
        text = to_string(grid, blank=blank)
        assert len(text) == grid.size
        parsed = parse_text(text)
        assert len(parsed) == 1
        assert parsed[0].puzzle.dtype == np.int8
        assert np.array_equal(parsed[0].puzzle, grid)
        assert parsed[0].solution is None
        assert parsed[0].line == 1
        assert np.array_equal(parse_puzzle(text), grid)


@PROPERTY
@given(grid=sized_partial_grids)
def test_grid_text_parses_back_to_the_same_grid(grid):
    size = int(round(grid.size**0.5))
    text = to_grid_text(grid)
    assert len(text.splitlines()) == size + (size // geometry(size).box_rows - 1)
    parsed = parse_text(text)
    assert len(parsed) == 1
    assert np.array_equal(parsed[0].puzzle, grid)
    assert parsed[0].line == 1
    assert np.array_equal(parse_puzzle(to_grid_text(grid, blank="0")), grid)


@PROPERTY
@given(grids=st.lists(sized_partial_grids, min_size=1, max_size=4))
def test_several_grid_texts_split_by_blank_lines_parse_in_order(grids):
    text = "\n\n".join(to_grid_text(g) for g in grids) + "\n"
    parsed = parse_text(text)
    assert [p.puzzle.tolist() for p in parsed] == [g.tolist() for g in grids]
    # each grid starts on the line after the blank line that ends the one before it
    expected_line = 1
    for p, g in zip(parsed, grids):
        assert p.line == expected_line
        expected_line += len(to_grid_text(g).splitlines()) + 1


@PROPERTY
@given(grid=sized_partial_grids)
def test_zero_and_dot_blanks_parse_to_the_same_grid(grid):
    dots = to_string(grid, blank=".")
    zeros = to_string(grid, blank="0")
    # any mix of the two blank characters, too
    mixed = "".join(("0" if i % 2 else ".") if ch == "." else ch for i, ch in enumerate(dots))
    for text in (dots, zeros, mixed):
        assert np.array_equal(parse_puzzle(text), grid)


def test_leading_and_trailing_spaces_and_comments_are_ignored():
    grid = solution_grid(9, 3)
    grid[::2] = 0
    text = f"# a comment\n\n   {to_string(grid)}   \n# another\n"
    parsed = parse_text(text)
    assert len(parsed) == 1
    assert parsed[0].line == 3
    assert np.array_equal(parsed[0].puzzle, grid)


def test_grid_rows_may_be_written_without_spaces_or_bars():
    grid = solution_grid(6, 5)
    grid[::3] = 0
    rows = [to_string(grid[r * 6 : (r + 1) * 6]) for r in range(6)]
    assert np.array_equal(parse_puzzle("\n".join(rows)), grid)


def test_grid_texts_back_to_back_without_a_blank_line_are_two_puzzles():
    a, b = solution_grid(4, 1), solution_grid(4, 2)
    a[:5] = 0
    parsed = parse_text(to_grid_text(a) + "\n" + to_grid_text(b))
    assert len(parsed) == 2
    assert np.array_equal(parsed[0].puzzle, a)
    assert np.array_equal(parsed[1].puzzle, b)
    assert parsed[1].line == len(to_grid_text(a).splitlines()) + 1


# --------------------------------------------------------------------------- CSV


@PROPERTY
@given(
    grids=st.lists(sized_partial_grids, min_size=1, max_size=5),
    header=st.sampled_from(["quizzes,solutions", "puzzle,solution", "Puzzle, Solution", None]),
)
def test_csv_lines_give_puzzle_and_solution_with_an_optional_header(grids, header):
    lines = [] if header is None else [header]
    solutions = []
    for g in grids:
        size = int(round(g.size**0.5))
        # the full grid the partial one came from is not kept: complete it with the reference
        count, sol = count_solutions(g, size, limit=1)
        assert count == 1
        solutions.append(sol)
        lines.append(f"{to_string(g, blank='0')},{to_string(sol)}")
    parsed = parse_text("\n".join(lines) + "\n", source="train.csv")
    assert len(parsed) == len(grids)
    offset = 0 if header is None else 1
    for i, (p, g, sol) in enumerate(zip(parsed, grids, solutions)):
        assert np.array_equal(p.puzzle, g)
        assert p.solution is not None and np.array_equal(p.solution, sol)
        assert p.line == i + 1 + offset


def test_csv_fields_may_have_spaces_around_them():
    sol = solution_grid(9, 8)
    puzzle = sol.copy()
    puzzle[10:40] = 0
    parsed = parse_text(f"  {to_string(puzzle)} , {to_string(sol)}  ")
    assert np.array_equal(parsed[0].puzzle, puzzle)
    assert np.array_equal(parsed[0].solution, sol)


def test_a_mixed_file_reads_every_form_in_order():
    sol9, sol6, sol4 = solution_grid(9, 1), solution_grid(6, 2), solution_grid(4, 3)
    p9, p6, p4 = sol9.copy(), sol6.copy(), sol4.copy()
    p9[::2] = 0
    p6[1::2] = 0
    p4[:8] = 0
    text = "\n".join(
        [
            "quizzes,solutions",  # 1: header
            f"{to_string(p9, '0')},{to_string(sol9)}",  # 2: CSV 9x9
            "# a 6x6 grid text follows",  # 3
            to_grid_text(p6),  # 4..10 (6 rows + 1 separator)
            "",  # 11
            to_string(p4),  # 12: one-line 4x4
            to_string(p9),  # 13: one-line 9x9
            "",  # 14
            to_grid_text(sol4),  # 15..
        ]
    )
    parsed = parse_text(text, source="mixed.txt")
    assert [p.line for p in parsed] == [2, 4, 13, 14, 16]
    expected = [p9, p6, p4, p9, sol4]
    for p, want in zip(parsed, expected):
        assert np.array_equal(p.puzzle, want)
    assert np.array_equal(parsed[0].solution, sol9)
    assert all(p.solution is None for p in parsed[1:])


def test_a_header_like_line_after_the_first_content_is_an_error():
    sol = solution_grid(4, 1)
    text = f"{to_string(sol)}\nquizzes,solutions\n"
    assert "f.txt:2" in error_of(text)


def test_empty_text_has_no_puzzles():
    assert parse_text("") == []
    assert parse_text("\n\n# only a comment\n   \n") == []


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("length", [1, 3, 15, 17, 35, 37, 80, 82, 100])
def test_a_line_of_the_wrong_length_is_an_error_naming_line_and_length(length):
    good = to_string(solution_grid(9, 0))
    text = f"{good}\n{'.' * length}\n"
    message = error_of(text)
    assert "f.txt:2" in message
    assert f"got {length}" in message


@pytest.mark.parametrize("size", SIZES)
def test_a_csv_field_of_the_wrong_length_is_an_error(size):
    sol = to_string(solution_grid(size, 0))
    message = error_of(f"{sol[:-1]},{sol}")
    assert "f.txt:1" in message
    assert f"got {size * size - 1}" in message


@pytest.mark.parametrize(
    "size,bad",
    [(9, "x"), (9, "a"), (9, "-"), (9, "*"), (6, "7"), (6, "9"), (4, "5"), (4, "7"), (4, "x")],
)
def test_a_bad_character_is_an_error_naming_line_cell_and_character(size, bad):
    text = list(to_string(solution_grid(size, 4)))
    text[size + 1] = bad
    message = error_of("\n# comment\n" + "".join(text))
    assert "f.txt:3" in message
    assert "bad character" in message
    assert repr(bad) in message
    assert f"cell {size + 2}" in message


def test_a_bad_character_in_a_grid_text_is_an_error():
    text = to_grid_text(solution_grid(4, 4)).replace("3", "7", 1)
    message = error_of(text)
    assert "bad character '7'" in message
    assert "f.txt:1" in message


def duplicate_pair(size: int, unit: str) -> tuple[int, int]:
    """Two cells that share ``unit`` and nothing else (for 'row' and 'column'),
    or share a box but neither row nor column (for 'box')."""
    geo = geometry(size)
    if unit == "row":  # same row, different boxes
        return cell(size, 0, 0), cell(size, 0, geo.box_cols)
    if unit == "column":  # same column, different boxes
        return cell(size, 0, 0), cell(size, geo.box_rows, 0)
    return cell(size, 0, 0), cell(size, 1, 1)  # same box


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("unit,name", [("row", "row 1"), ("column", "column 1"), ("box", "box 1")])
@pytest.mark.parametrize("form", ["line", "grid", "csv"])
def test_duplicate_clues_are_an_error_naming_line_unit_and_digit(size, unit, name, form):
    puzzle = np.zeros(size * size, dtype=np.int8)
    a, b = duplicate_pair(size, unit)
    puzzle[a] = puzzle[b] = 2
    assert [c.unit for c in find_conflicts(puzzle)] == [name]
    good = to_string(solution_grid(size, 0))
    if form == "line":
        body = to_string(puzzle)
    elif form == "grid":
        body = to_grid_text(puzzle)
    else:
        body = f"{to_string(puzzle)},{good}"
    message = error_of(f"{good}\n\n{body}\n")
    assert "f.txt:3" in message
    assert "break the rules" in message
    assert f"digit 2 2 times in {name}" in message


def test_a_csv_solution_that_does_not_solve_its_puzzle_is_an_error():
    sol = solution_grid(9, 11)
    puzzle = sol.copy()
    puzzle[5:50] = 0
    # a different valid grid: its clues disagree with the puzzle's
    other = solution_grid(9, 12)
    assert not np.array_equal(other[puzzle > 0], puzzle[puzzle > 0])
    message = error_of(f"quizzes,solutions\n{to_string(puzzle)},{to_string(other)}\n")
    assert "f.txt:2" in message
    assert "does not solve" in message


def test_a_csv_solution_that_breaks_a_rule_or_has_blanks_is_an_error():
    sol = solution_grid(4, 11)
    puzzle = np.zeros(16, dtype=np.int8)
    broken = sol.copy()
    broken[0], broken[1] = broken[1], broken[0]  # two swapped cells: columns now repeat
    assert find_conflicts(broken)
    assert "does not solve" in error_of(f"{to_string(puzzle)},{to_string(broken)}")
    holed = sol.copy()
    holed[7] = 0
    assert "does not solve" in error_of(f"{to_string(puzzle)},{to_string(holed)}")


def test_a_csv_line_with_other_than_two_fields_is_an_error():
    sol = to_string(solution_grid(4, 0))
    message = error_of(f"{sol},{sol},{sol}")
    assert "f.txt:1" in message and "3 fields" in message


def test_csv_puzzle_and_solution_of_different_sizes_is_an_error():
    message = error_of(f"{'.' * 16},{to_string(solution_grid(9, 0))}")
    assert "different sizes" in message


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("drop", [1, 2])
@pytest.mark.parametrize("at_end", [True, False])
def test_a_grid_text_with_missing_rows_is_an_error_naming_its_first_line(size, drop, at_end):
    rows = [r for r in to_grid_text(solution_grid(size, 2)).splitlines() if "-" not in r]
    rows = rows[:-drop]
    text = "# header comment\n" + "\n".join(rows) + ("\n" if at_end else "\n\n" + "." * 81 + "\n")
    message = error_of(text)
    assert "f.txt:2" in message
    assert f"grid has {size - drop} rows, expected {size}" in message


def test_a_grid_row_of_another_width_is_an_error():
    rows = to_grid_text(solution_grid(9, 2)).splitlines()
    rows[2] = rows[2][:-2]  # drop the last cell
    message = error_of("\n".join(rows))
    assert "f.txt:3" in message
    assert "grid row has 8 cells, expected 9" in message


def test_parse_puzzle_wants_exactly_one_puzzle():
    good = to_string(solution_grid(4, 0))
    with pytest.raises(TRMError, match="found 2"):
        parse_puzzle(f"{good}\n{good}")
    with pytest.raises(TRMError, match="found 0"):
        parse_puzzle("# nothing here")
    with pytest.raises(TRMError, match="--given"):
        parse_puzzle(good.replace("1", "x"), where="--given")


def mutate(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply (kind, position, char) edits: 0 replace, 1 insert, 2 delete."""
    chars = list(text)
    for kind, pos, ch in edits:
        if not chars:
            chars.append(ch)
            continue
        pos %= len(chars)
        if kind == 0:
            chars[pos] = ch
        elif kind == 1:
            chars.insert(pos, ch)
        else:
            del chars[pos]
    return "".join(chars)


SUDOKU_CHARS = "0123456789.,|-+=# \t\n\rxX_\u00a0\u2028\ufeff\u0663"
near_valid_texts = st.builds(
    mutate,
    st.one_of(
        sized_partial_grids.map(to_string),
        sized_partial_grids.map(to_grid_text),
        sized_partial_grids.map(lambda g: f"quizzes,solutions\n{to_string(g)},{to_string(g)}"),
    ),
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 10**6), st.sampled_from(SUDOKU_CHARS)),
        max_size=4,
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.text(max_size=200), st.text(alphabet=SUDOKU_CHARS, max_size=300), near_valid_texts
    )
)
def test_any_text_either_parses_to_valid_puzzles_or_raises_trm_error(text):
    try:
        parsed = parse_text(text, source="fuzz")
    except TRMError as e:
        assert str(e).startswith("fuzz:")
        return
    for p in parsed:
        assert p.puzzle.size in (16, 36, 81)
        assert p.puzzle.dtype == np.int8
        assert not find_conflicts(p.puzzle)
        size = int(round(p.puzzle.size**0.5))
        assert p.puzzle.min() >= 0 and p.puzzle.max() <= size
        if p.solution is not None:
            assert is_solution(p.solution, p.puzzle)


# --------------------------------------------------------------------------- rule checks


def reference_conflicts(grid: np.ndarray, size: int) -> list[tuple[str, int, tuple[int, ...]]]:
    names = (
        [f"row {i + 1}" for i in range(size)]
        + [f"column {i + 1}" for i in range(size)]
        + [f"box {i + 1}" for i in range(size)]
    )
    out = []
    for name, unit in zip(names, reference_units(size)):
        for digit in range(1, size + 1):
            cells = tuple(c for c in unit if grid[c] == digit)
            if len(cells) > 1:
                out.append((name, digit, cells))
    return out


@PROPERTY
@given(data=st.data(), size=st.sampled_from(SIZES))
def test_find_conflicts_lists_every_repeated_digit_of_every_unit(data, size):
    values = data.draw(
        st.lists(
            st.sampled_from([0] * 3 + list(range(1, size + 1))),
            min_size=size * size,
            max_size=size * size,
        )
    )
    grid = np.array(values, dtype=np.int8)
    got = [(c.unit, c.digit, c.cells) for c in find_conflicts(grid)]
    assert sorted(got) == sorted(reference_conflicts(grid, size))


@PROPERTY
@given(grid=sized_partial_grids)
def test_valid_partial_grids_have_no_conflicts(grid):
    assert find_conflicts(grid) == []


@pytest.mark.parametrize("size", SIZES)
def test_find_conflicts_counts_on_hand_made_grids(size):
    grid = np.zeros(size * size, dtype=np.int8)
    assert find_conflicts(grid) == []
    grid[cell(size, 0, 0)] = grid[cell(size, 0, 1)] = 1  # same row, same box
    conflicts = find_conflicts(grid)
    assert [(c.unit, c.digit, len(c.cells)) for c in conflicts] == [
        ("row 1", 1, 2),
        ("box 1", 1, 2),
    ]
    assert str(conflicts[0]) == "digit 1 2 times in row 1"
    grid[cell(size, 0, size - 1)] = 1  # three in row 1, the third in another box
    grid[cell(size, size - 1, size - 1)] = 1  # and a pair in the last column
    got = [(c.unit, c.digit, len(c.cells)) for c in find_conflicts(grid)]
    assert got == [("row 1", 1, 3), (f"column {size}", 1, 2), ("box 1", 1, 2)]
    assert all(isinstance(c, Conflict) for c in find_conflicts(grid))


@pytest.mark.parametrize("size", SIZES)
def test_is_solution_accepts_full_valid_grids_keeping_the_clues_and_nothing_else(size):
    sol = solution_grid(size, 21)
    puzzle = sol.copy()
    puzzle[::2] = 0
    assert is_solution(sol)
    assert is_solution(sol, puzzle)
    assert is_solution(sol, np.zeros_like(sol))
    assert not is_solution(puzzle)  # blanks
    other_clue = puzzle.copy()
    other_clue[1] = sol[1] % size + 1
    assert not is_solution(sol, other_clue)
    swapped = sol.copy()
    swapped[0], swapped[1] = swapped[1], swapped[0]  # the columns now repeat digits
    assert not is_solution(swapped)


@pytest.mark.parametrize("size", [0, 1, 3, 5, 8, 16])
def test_an_unsupported_size_is_an_error(size):
    with pytest.raises(TRMError):
        geometry(size)


@pytest.mark.parametrize("size,box", [(4, (2, 2)), (6, (2, 3)), (9, (3, 3))])
def test_geometry_units_match_an_independent_construction(size, box):
    geo = geometry(size)
    assert (geo.box_rows, geo.box_cols) == box
    assert [list(u) for u in geo.units] == reference_units(size)
    for c in range(size * size):
        shared = {x for u in reference_units(size) if c in u for x in u} - {c}
        assert set(geo.peers[c]) == shared
