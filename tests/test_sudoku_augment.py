"""Validity-preserving Sudoku augmentations: puzzles.sudoku.augment."""

from __future__ import annotations

import random
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puzzles.sudoku.augment import (
    Augmentation,
    identity,
    permute_bands,
    permute_cols,
    permute_rows,
    permute_stacks,
    random_augmentation,
    relabel,
    transpose,
)
from puzzles.sudoku.generate import generate_indexed
from puzzles.sudoku.grid import BOX_SHAPES, is_solution
from puzzles.sudoku.solver import random_solution, solve
from tests.reference_solver import count_solutions, is_valid_solution, units
from trm.errors import TRMError

SIZES = (4, 6, 9)
SQUARE_BOX_SIZES = (4, 9)
PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- strategies


def shape(size: int) -> tuple[int, int, int, int]:
    """(box_rows, box_cols, bands, stacks)"""
    box_rows, box_cols = BOX_SHAPES[size]
    return box_rows, box_cols, size // box_rows, size // box_cols


@st.composite
def line_orders(draw, size: int, block: int) -> list[int]:
    """A line order that keeps lines with their block: blocks permuted, lines inside each
    output block permuted."""
    blocks = draw(st.permutations(range(size // block)))
    out = []
    for b in blocks:
        out.extend(b * block + i for i in draw(st.permutations(range(block))))
    return out


@st.composite
def named_augmentations(draw, size: int) -> tuple[str, Augmentation, object]:
    """One named constructor with valid random arguments: (name, augmentation, argument)."""
    box_rows, box_cols, bands, stacks = shape(size)
    names = ["identity", "relabel", "rows", "cols", "bands", "stacks", "random"]
    if size in SQUARE_BOX_SIZES:
        names.append("transpose")
    name = draw(st.sampled_from(names))
    if name == "identity":
        return name, identity(size), None
    if name == "relabel":
        mapping = draw(st.permutations(range(1, size + 1)))
        return name, relabel(size, mapping), mapping
    if name == "rows":
        order = draw(line_orders(size, box_rows))
        return name, permute_rows(size, order), order
    if name == "cols":
        order = draw(line_orders(size, box_cols))
        return name, permute_cols(size, order), order
    if name == "bands":
        order = draw(st.permutations(range(bands)))
        return name, permute_bands(size, order), order
    if name == "stacks":
        order = draw(st.permutations(range(stacks)))
        return name, permute_stacks(size, order), order
    if name == "transpose":
        return name, transpose(size), None
    seed = draw(st.integers(0, 2**32 - 1))
    return name, random_augmentation(size, random.Random(seed)), seed


def augmentations(size: int):
    return named_augmentations(size).map(lambda t: t[1])


@st.composite
def grids(draw, size: int, blank: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(solution, puzzle): a random full grid and the same grid with cells blanked."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    sol = random_solution(size, rng)
    fraction = draw(st.sampled_from([0.0, 0.3, 0.7, 1.0])) if blank is None else blank
    puzzle = np.where([rng.random() >= fraction for _ in range(sol.size)], sol, 0).astype(np.int8)
    return sol, puzzle


@st.composite
def cases(draw, n_augmentations: int = 1):
    size = draw(st.sampled_from(SIZES))
    augs = [draw(named_augmentations(size)) for _ in range(n_augmentations)]
    sol, puzzle = draw(grids(size))
    return size, augs, sol, puzzle


# --------------------------------------------------------------------------- validity


@PROPERTY
@given(case=cases())
def test_every_augmentation_maps_solutions_to_solutions(case):
    _size, [(name, aug, _)], sol, _ = case
    out = aug.apply(sol)
    assert out.dtype == sol.dtype and out.shape == sol.shape
    assert is_solution(out), name
    assert is_valid_solution(out), name


@PROPERTY
@given(case=cases())
def test_every_augmentation_maps_puzzles_to_puzzles_with_as_many_clues(case):
    size, [(name, aug, _)], sol, puzzle = case
    out = aug.apply(puzzle)
    assert np.count_nonzero(out) == np.count_nonzero(puzzle), name
    assert sorted(np.bincount(out, minlength=size + 1)[1:]) == sorted(
        np.bincount(puzzle, minlength=size + 1)[1:]
    )
    assert is_solution(aug.apply(sol), out), name  # its clues agree with the mapped solution


@PROPERTY
@given(case=cases())
def test_every_augmentation_maps_each_row_column_and_box_onto_one(case):
    """The cell permutation of a Sudoku symmetry sends units to units."""
    size, [(name, aug, _)], _, _ = case
    all_units = {frozenset(u) for u in units(size)}
    assert sorted(aug.cells) == list(range(size * size))
    assert aug.digits[0] == 0 and sorted(aug.digits) == list(range(size + 1))
    for unit in units(size):
        assert frozenset(aug.cells[i] for i in unit) in all_units, name


# --------------------------------------------------------------------------- algebra


@PROPERTY
@given(case=cases())
def test_inverse_restores_the_original_exactly(case):
    _size, [(name, aug, _)], sol, puzzle = case
    inv = aug.inverse()
    for grid in (sol, puzzle):
        assert np.array_equal(inv.apply(aug.apply(grid)), grid), name
        assert np.array_equal(aug.apply(inv.apply(grid)), grid), name
    assert inv.inverse() == aug


@PROPERTY
@given(case=cases())
def test_an_augmentation_then_its_inverse_is_the_identity(case):
    size, [(name, aug, _)], _sol, puzzle = case
    assert aug.then(aug.inverse()) == identity(size), name
    assert aug.inverse().then(aug) == identity(size), name
    assert np.array_equal(aug.then(aug.inverse()).apply(puzzle), puzzle)


@PROPERTY
@given(case=cases(n_augmentations=3))
def test_then_agrees_with_applying_in_sequence(case):
    size, [(_, a, _), (_, b, _), (_, c, _)], sol, puzzle = case
    for grid in (sol, puzzle):
        assert np.array_equal(a.then(b).apply(grid), b.apply(a.apply(grid)))
        assert np.array_equal(a.then(b).then(c).apply(grid), c.apply(b.apply(a.apply(grid))))
    assert a.then(b).then(c) == a.then(b.then(c))  # associative
    assert identity(size).then(a) == a == a.then(identity(size))
    assert a.then(b).inverse() == b.inverse().then(a.inverse())


@PROPERTY
@given(size=st.sampled_from(SIZES), data=st.data(), n=st.integers(1, 6))
def test_apply_on_a_batch_maps_each_row(size, data, n):
    aug = data.draw(augmentations(size))
    batch = np.stack([data.draw(grids(size))[i % 2] for i in range(n)])
    out = aug.apply(batch)
    assert out.shape == batch.shape and out.dtype == batch.dtype
    for row_in, row_out in zip(batch, out):
        assert np.array_equal(row_out, aug.apply(row_in))
    stacked = aug.apply(batch.reshape(1, n, size * size))
    assert np.array_equal(stacked[0], out)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.int64])
def test_apply_keeps_the_dtype_of_its_input(dtype):
    sol = random_solution(9, random.Random(0)).astype(dtype)
    aug = random_augmentation(9, random.Random(1))
    out = aug.apply(sol)
    assert out.dtype == dtype
    assert is_solution(out)
    assert np.array_equal(aug.apply(sol.tolist()), out)


# --------------------------------------------------------------------------- semantics


@PROPERTY
@given(size=st.sampled_from(SIZES), data=st.data())
def test_relabel_sends_each_digit_to_its_image_and_keeps_blanks(size, data):
    mapping = data.draw(st.permutations(range(1, size + 1)))
    _, puzzle = data.draw(grids(size))
    out = relabel(size, mapping).apply(puzzle)
    expected = np.array([0 if v == 0 else mapping[v - 1] for v in puzzle], dtype=np.int8)
    assert np.array_equal(out, expected)


@PROPERTY
@given(size=st.sampled_from(SIZES), data=st.data())
def test_permute_rows_and_cols_move_whole_lines(size, data):
    box_rows, box_cols, _, _ = shape(size)
    rows = data.draw(line_orders(size, box_rows))
    cols = data.draw(line_orders(size, box_cols))
    _, puzzle = data.draw(grids(size))
    grid2d = puzzle.reshape(size, size)
    assert np.array_equal(
        permute_rows(size, rows).apply(puzzle).reshape(size, size), grid2d[rows, :]
    )
    assert np.array_equal(
        permute_cols(size, cols).apply(puzzle).reshape(size, size), grid2d[:, cols]
    )


@PROPERTY
@given(size=st.sampled_from(SIZES), data=st.data())
def test_permute_bands_and_stacks_move_whole_strips_of_boxes(size, data):
    box_rows, box_cols, bands, stacks = shape(size)
    band_order = data.draw(st.permutations(range(bands)))
    stack_order = data.draw(st.permutations(range(stacks)))
    _, puzzle = data.draw(grids(size))
    g = puzzle.reshape(size, size)
    out = permute_bands(size, band_order).apply(puzzle).reshape(size, size)
    for b, src in enumerate(band_order):
        assert np.array_equal(
            out[b * box_rows : (b + 1) * box_rows], g[src * box_rows : (src + 1) * box_rows]
        )
    out = permute_stacks(size, stack_order).apply(puzzle).reshape(size, size)
    for s, src in enumerate(stack_order):
        assert np.array_equal(
            out[:, s * box_cols : (s + 1) * box_cols], g[:, src * box_cols : (src + 1) * box_cols]
        )


@pytest.mark.parametrize("size", SQUARE_BOX_SIZES)
def test_transpose_swaps_rows_and_columns(size):
    sol = random_solution(size, random.Random(size))
    out = transpose(size).apply(sol)
    assert np.array_equal(out.reshape(size, size), sol.reshape(size, size).T)
    assert transpose(size).then(transpose(size)) == identity(size)


def test_transpose_of_a_6x6_grid_is_an_error():
    with pytest.raises(TRMError, match="6x6"):
        transpose(6)


@pytest.mark.parametrize("size", SIZES)
def test_identity_changes_nothing(size):
    sol = random_solution(size, random.Random(1))
    assert np.array_equal(identity(size).apply(sol), sol)
    assert identity(size).inverse() == identity(size)


@pytest.mark.parametrize("size", SIZES)
def test_random_augmentation_is_fixed_by_the_rng_and_varied_across_seeds(size):
    augs = [random_augmentation(size, random.Random(seed)) for seed in range(30)]
    assert random_augmentation(size, random.Random(7)) == augs[7]
    assert len(set(augs)) > 20
    assert len({a.digits for a in augs}) > 10


def reads_columns(aug: Augmentation) -> bool:
    """Whether output row 1 is read from an input column (the augmentation transposes)."""
    size = aug.size
    first_row = {aug.cells[i] for i in range(size)}
    return first_row in [set(range(c, size * size, size)) for c in range(size)]


@pytest.mark.parametrize("size", SQUARE_BOX_SIZES)
def test_random_augmentation_sometimes_transposes_square_grids(size):
    kinds = {reads_columns(random_augmentation(size, random.Random(s))) for s in range(40)}
    assert kinds == {True, False}


def test_random_augmentation_never_transposes_6x6_grids():
    assert not any(reads_columns(random_augmentation(6, random.Random(s))) for s in range(100))


# --------------------------------------------------------------------------- invalid input


def valid_line_order(order: list[int], size: int, block: int) -> bool:
    if sorted(order) != list(range(size)):
        return False
    return all(
        len({line // block for line in order[s : s + block]}) == 1 for s in range(0, size, block)
    )


@PROPERTY
@given(size=st.sampled_from(SIZES), data=st.data())
def test_line_orders_are_accepted_exactly_when_they_keep_lines_with_their_boxes(size, data):
    box_rows, box_cols, _, _ = shape(size)
    order = data.draw(
        st.one_of(
            st.permutations(range(size)).map(list),
            st.lists(st.integers(-1, size), min_size=0, max_size=size + 1),
        )
    )
    for build, block in ((permute_rows, box_rows), (permute_cols, box_cols)):
        if valid_line_order(order, size, block):
            assert is_solution(build(size, order).apply(random_solution(size, random.Random(0))))
        else:
            with pytest.raises(TRMError):
                build(size, order)


@pytest.mark.parametrize("size", SIZES)
def test_a_row_or_column_order_that_mixes_boxes_is_an_error(size):
    box_rows, box_cols, _, _ = shape(size)
    rows = list(range(size))
    rows[0], rows[box_rows] = rows[box_rows], rows[0]  # swap rows of two bands
    with pytest.raises(TRMError, match="mixes"):
        permute_rows(size, rows)
    cols = list(range(size))
    cols[0], cols[box_cols] = cols[box_cols], cols[0]
    with pytest.raises(TRMError, match="mixes"):
        permute_cols(size, cols)


@pytest.mark.parametrize("size", SIZES)
def test_orders_that_are_not_permutations_are_errors(size):
    _, _, bands, stacks = shape(size)
    bad_lines = [list(range(size - 1)), list(range(size + 1)), [0] * size, list(range(1, size + 1))]
    for order in bad_lines:
        for build in (permute_rows, permute_cols):
            with pytest.raises(TRMError):
                build(size, order)
    for build, n in ((permute_bands, bands), (permute_stacks, stacks)):
        for order in (list(range(n - 1)), list(range(n + 1)), [0] * n, list(range(1, n + 1))):
            with pytest.raises(TRMError):
                build(size, order)
    for mapping in (list(range(size)), [1] * size, list(range(1, size)), list(range(1, size + 2))):
        with pytest.raises(TRMError):
            relabel(size, mapping)


@pytest.mark.parametrize("size", [5, 8])
def test_unsupported_sizes_are_errors(size):
    for build in (identity, transpose, lambda s: random_augmentation(s, random.Random(0))):
        with pytest.raises(TRMError):
            build(size)


# --------------------------------------------------------------------------- with the solver


@cache
def generated_puzzle(size: int, tier: str, index: int):
    return generate_indexed(size, tier, 77, "augment-tests", index)


PUZZLES = [
    (9, "extreme", 0),
    (9, "hard", 1),
    (9, "medium", 2),
    (6, "hard", 0),
    (6, "easy", 1),
    (4, "easy", 0),
    (4, "easy", 1),
]


@PROPERTY
@given(which=st.sampled_from(PUZZLES), data=st.data())
def test_solving_an_augmented_puzzle_gives_the_augmented_solution(which, data):
    size = which[0]
    g = generated_puzzle(*which)
    aug = data.draw(augmentations(size))
    puzzle = aug.apply(g.puzzle)
    result = solve(puzzle)
    assert result.count == 1
    assert np.array_equal(result.solution, aug.apply(g.solution))
    assert np.array_equal(result.solution, aug.apply(solve(g.puzzle).solution))
    assert result.rating.clues == g.rating.clues
    ref_count, ref_solution = count_solutions(puzzle, size)
    assert ref_count == 1 and np.array_equal(ref_solution, result.solution)


@PROPERTY
@given(size=st.sampled_from(SIZES), data=st.data())
def test_augmentation_keeps_the_number_of_solutions(size, data):
    aug = data.draw(augmentations(size))
    _sol, puzzle = data.draw(grids(size, blank=0.75 if size < 9 else 0.6))
    assert (
        count_solutions(aug.apply(puzzle), size, limit=4)[0]
        == count_solutions(puzzle, size, limit=4)[0]
    )
