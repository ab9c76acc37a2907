"""The exact solver and the difficulty rating: puzzles.sudoku.solver.

Checked against the outside puzzle sets in shared/data/sudoku and against the
independent backtracking solver in tests/reference_solver.py.
"""

from __future__ import annotations

import random
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puzzles.sudoku.augment import relabel
from puzzles.sudoku.grid import find_conflicts, geometry, is_solution, parse_text
from puzzles.sudoku.solver import (
    EXTREME_MIN_BACKTRACKS,
    TIERS,
    TIERS_BY_SIZE,
    Rating,
    has_other_solution,
    propagate_only,
    random_solution,
    rate,
    solve,
    tier_of,
)
from tests.helpers import SHARED_SUDOKU as DATA_DIR
from tests.reference_solver import count_solutions, naked_singles_fill, singles_fill
from trm.errors import TRMError

SIZES = (4, 6, 9)
PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OUTSIDE_SETS = {"top95.txt": 95, "hardest.txt": 11, "17clue-2000.txt": 2000}


@cache
def _outside(name: str) -> tuple[np.ndarray, ...]:
    return tuple(p.puzzle for p in parse_text((DATA_DIR / name).read_text(), source=name))


def outside(name: str) -> tuple[np.ndarray, ...]:
    """The puzzles of one outside set (skips the test when shared/ is not checked out)."""
    if not (DATA_DIR / name).is_file():
        pytest.skip(
            f"outside Sudoku set {DATA_DIR / name} not found "
            "(shared/data/sudoku must sit beside the repository)"
        )
    return _outside(name)


def solution_grid(size: int, seed: int) -> np.ndarray:
    return random_solution(size, random.Random(seed))


# --------------------------------------------------------------------------- outside sets


@pytest.mark.parametrize("name,count", sorted(OUTSIDE_SETS.items()))
def test_outside_sets_parse_to_the_documented_number_of_9x9_puzzles(name, count):
    puzzles = outside(name)
    assert len(puzzles) == count
    assert all(p.size == 81 and not find_conflicts(p) for p in puzzles)
    if name.startswith("17clue"):
        assert all(int(np.count_nonzero(p)) == 17 for p in puzzles)


@pytest.mark.parametrize("name", ["top95.txt", "hardest.txt"])
def test_hard_outside_puzzles_have_one_solution_agreeing_with_the_reference_solver(name):
    for i, puzzle in enumerate(outside(name)):
        result = solve(puzzle)
        assert result.count == 1, f"{name} puzzle {i + 1}"
        assert result.unique
        assert is_solution(result.solution, puzzle), f"{name} puzzle {i + 1}"
        ref_count, ref_solution = count_solutions(puzzle, 9)
        assert ref_count == 1, f"{name} puzzle {i + 1}"
        assert np.array_equal(result.solution, ref_solution), f"{name} puzzle {i + 1}"
        assert result.rating is not None
        assert result.rating.clues == int(np.count_nonzero(puzzle))


def test_every_17_clue_puzzle_is_solved_uniquely():
    tiers = set()
    for i, puzzle in enumerate(outside("17clue-2000.txt")):
        result = solve(puzzle)
        assert result.count == 1, f"17clue puzzle {i + 1}"
        assert is_solution(result.solution, puzzle), f"17clue puzzle {i + 1}"
        assert result.rating is not None and result.rating.clues == 17
        tiers.add(result.rating.tier)
    assert tiers <= set(TIERS)


def test_17_clue_sample_agrees_with_the_reference_solver():
    puzzles = outside("17clue-2000.txt")
    for i in range(0, len(puzzles), 40):  # 50 of them
        count, ref_solution = count_solutions(puzzles[i], 9)
        assert count == 1
        assert np.array_equal(solve(puzzles[i]).solution, ref_solution), f"17clue puzzle {i + 1}"


def test_outside_ratings_flags_agree_with_independent_propagation():
    """naked_singles_only and propagation_only mean what they say: re-derived with the
    reference propagators on every hard outside puzzle and a sample of the 17-clue ones."""
    puzzles = (
        list(outside("top95.txt"))
        + list(outside("hardest.txt"))
        + list(outside("17clue-2000.txt")[::20])
    )
    for puzzle in puzzles:
        r = solve(puzzle).rating
        assert r is not None
        assert r.naked_singles_only == bool(np.all(naked_singles_fill(puzzle, 9) > 0))
        assert r.propagation_only == bool(np.all(singles_fill(puzzle, 9) > 0))


# --------------------------------------------------------------------------- counting


@pytest.mark.parametrize("size", SIZES)
def test_an_empty_grid_has_several_solutions_and_no_rating(size):
    result = solve(np.zeros(size * size, dtype=np.int8))
    assert result.count == 2
    assert not result.unique
    assert result.rating is None
    assert is_solution(result.solution)


def test_solve_counts_all_288_4x4_grids_when_the_limit_allows():
    assert solve(np.zeros(16, dtype=np.int8), limit=1000).count == 288
    assert count_solutions(np.zeros(16, dtype=np.int8), 4, limit=1000)[0] == 288
    assert solve(np.zeros(16, dtype=np.int8), limit=7).count == 7


def deadly_rectangle(sol: np.ndarray, size: int) -> list[int] | None:
    """Four cells (r1,c1) (r1,c2) (r2,c1) (r2,c2) holding a b / b a in two boxes of one
    band: blanking them leaves exactly two solutions."""
    geo = geometry(size)
    g = sol.reshape(size, size)
    for r1 in range(size):
        for r2 in range(r1 + 1, size):
            if r1 // geo.box_rows != r2 // geo.box_rows:
                continue
            for c1 in range(size):
                for c2 in range(c1 + 1, size):
                    if c1 // geo.box_cols == c2 // geo.box_cols:
                        continue
                    if g[r1, c1] == g[r2, c2] and g[r1, c2] == g[r2, c1]:
                        return [r1 * size + c1, r1 * size + c2, r2 * size + c1, r2 * size + c2]
    return None


@pytest.mark.parametrize("size", SIZES)
def test_a_solution_with_a_deadly_rectangle_blanked_has_exactly_two_solutions(size):
    for seed in range(200):
        sol = solution_grid(size, seed)
        cells = deadly_rectangle(sol, size)
        if cells:
            break
    else:
        pytest.fail("no deadly rectangle found in 200 grids")
    puzzle = sol.copy()
    puzzle[cells] = 0
    ref_count, _ = count_solutions(puzzle, size, limit=10)
    assert ref_count == 2
    result = solve(puzzle, limit=10)
    assert result.count == 2
    assert result.rating is None
    assert is_solution(result.solution, puzzle)
    assert solve(puzzle).count == 2
    with pytest.raises(TRMError, match="several"):
        rate(puzzle)


@pytest.mark.parametrize("size", SIZES)
def test_valid_clues_leaving_a_cell_without_candidates_have_no_solution(size):
    # row 1 holds 1..size-1 in columns 2..size, the last row holds `size` in column 1:
    # no clue repeats, but cell (1, 1) can take no digit
    puzzle = np.zeros(size * size, dtype=np.int8)
    puzzle[1:size] = np.arange(1, size)
    puzzle[(size - 1) * size] = size
    assert find_conflicts(puzzle) == []
    assert count_solutions(puzzle, size)[0] == 0
    result = solve(puzzle)
    assert result.count == 0
    assert result.solution is None
    assert result.rating is None
    assert propagate_only(puzzle) is None
    with pytest.raises(TRMError, match="none"):
        rate(puzzle)


def test_valid_clues_leaving_a_digit_no_place_in_a_box_have_no_solution():
    # digit 1 is barred from box 1 (rows 1-3, columns 1-3) without any clue repeating:
    # rows 1 and 2 hold a 1 further right, columns 1 and 2 hold a 1 further down, and
    # the last cell of the box, row 3 column 3, is taken by a 2
    puzzle = np.zeros(81, dtype=np.int8)
    puzzle[0 * 9 + 4] = 1
    puzzle[1 * 9 + 7] = 1
    puzzle[3 * 9 + 0] = 1
    puzzle[7 * 9 + 1] = 1
    puzzle[2 * 9 + 2] = 2
    assert find_conflicts(puzzle) == []
    assert count_solutions(puzzle, 9)[0] == 0
    assert solve(puzzle).count == 0


@pytest.mark.parametrize("name", ["top95.txt", "hardest.txt"])
def test_a_wrong_but_non_conflicting_extra_clue_makes_a_unique_puzzle_unsolvable(name):
    rng = random.Random(name)
    for puzzle in outside(name)[:30]:
        sol = solve(puzzle).solution
        blanks = [c for c in range(81) if puzzle[c] == 0]
        geo = geometry(9)
        for _ in range(100):
            c = rng.choice(blanks)
            seen = {int(puzzle[p]) for p in geo.peers[c]}
            wrong = [d for d in range(1, 10) if d != sol[c] and d not in seen]
            if wrong:
                break
        else:
            continue
        bad = puzzle.copy()
        bad[c] = rng.choice(wrong)
        assert find_conflicts(bad) == []
        assert count_solutions(bad, 9)[0] == 0
        result = solve(bad)
        assert result.count == 0 and result.solution is None and result.rating is None


def test_clues_that_break_a_rule_have_no_solution():
    puzzle = np.zeros(81, dtype=np.int8)
    puzzle[0] = puzzle[80] = 5  # fine
    puzzle[40] = puzzle[44] = 3  # same row
    assert solve(puzzle).count == 0
    assert propagate_only(puzzle) is None


@st.composite
def noisy_puzzles(draw):
    """Partial grids of any size: blanked solutions, sometimes with random extra clues
    that may make them unsolvable (or even break a rule)."""
    size = draw(st.sampled_from(SIZES))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    grid = random_solution(size, rng)
    keep = (
        draw(st.sampled_from([0.15, 0.3, 0.45, 0.6, 0.9]))
        if size == 9
        else draw(st.sampled_from([0.0, 0.2, 0.35, 0.5, 0.8]))
    )
    puzzle = np.where([rng.random() < keep for _ in range(grid.size)], grid, 0).astype(np.int8)
    for _ in range(draw(st.integers(0, 2))):
        puzzle[rng.randrange(puzzle.size)] = rng.randint(1, size)
    return size, puzzle


@PROPERTY
@given(case=noisy_puzzles(), limit=st.sampled_from([1, 2, 3, 5]))
def test_solution_count_agrees_with_the_reference_solver_up_to_the_limit(case, limit):
    size, puzzle = case
    before = puzzle.copy()
    ref_count, _ = count_solutions(puzzle, size, limit=limit)
    result = solve(puzzle, limit=limit)
    assert np.array_equal(puzzle, before)  # the input is not changed
    assert result.count == ref_count
    if result.count:
        assert is_solution(result.solution, puzzle)
    else:
        assert result.solution is None
    if limit > 1:  # (limit 1 proves nothing about uniqueness: see the test below)
        assert (result.rating is not None) == (result.count == 1)
        assert result.unique == (ref_count == 1)


@pytest.mark.parametrize("size", SIZES)
def test_a_search_stopped_at_the_first_solution_gives_no_rating(size):
    """With limit=1 the search stops at the first solution, so it proves no uniqueness:
    the result must not carry a rating ("a partial search rates nothing")."""
    empty = np.zeros(size * size, dtype=np.int8)  # many solutions
    result = solve(empty, limit=1)
    assert result.count == 1
    assert is_solution(result.solution)
    assert result.rating is None


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), blank=st.sampled_from([0.0, 0.2, 0.5, 0.8, 1.0]))
def test_4x4_solution_counts_are_exact_when_the_limit_exceeds_all_grids(seed, blank):
    rng = random.Random(seed)
    grid = random_solution(4, rng)
    puzzle = np.where([rng.random() >= blank for _ in range(16)], grid, 0).astype(np.int8)
    assert solve(puzzle, limit=300).count == count_solutions(puzzle, 4, limit=300)[0]


def test_solve_takes_a_2d_grid_and_rejects_other_sizes():
    sol = solution_grid(9, 3)
    assert np.array_equal(solve(sol.reshape(9, 9)).solution, sol)
    for n in (0, 10, 25, 80):
        with pytest.raises(TRMError):
            solve(np.zeros(n, dtype=np.int8))


# --------------------------------------------------------------------------- rating


@pytest.mark.parametrize("size", SIZES)
def test_a_full_grid_is_rated_easy_with_no_search(size):
    sol = solution_grid(size, 5)
    r = rate(sol)
    assert r == Rating(
        size=size,
        clues=size * size,
        naked_singles_only=True,
        propagation_only=True,
        guesses=0,
        backtracks=0,
    )
    assert r.tier == "easy"
    assert r.to_dict() == {
        "size": size,
        "clues": size * size,
        "naked_singles_only": True,
        "propagation_only": True,
        "guesses": 0,
        "backtracks": 0,
        "tier": "easy",
    }


@pytest.mark.parametrize("size", SIZES)
def test_a_grid_with_one_blank_per_box_is_easy_and_needs_no_guess(size):
    geo = geometry(size)
    sol = solution_grid(size, 9)
    puzzle = sol.copy()
    for box in range(size):
        r = (box // geo.n_stacks) * geo.box_rows + box % geo.box_rows
        c = (box % geo.n_stacks) * geo.box_cols + box % geo.box_cols
        puzzle[r * size + c] = 0
    result = solve(puzzle)
    assert result.count == 1 and np.array_equal(result.solution, sol)
    r = result.rating
    assert (r.naked_singles_only, r.propagation_only, r.guesses, r.backtracks) == (True, True, 0, 0)
    assert r.clues == size * size - size
    assert r.tier == "easy"


def test_rating_fields_are_consistent_on_outside_puzzles():
    """propagation_only exactly when no guess; naked_singles_only implies it; a search tree
    with one solution and at least two branches per guess has at least one dead end per
    guess; and the tier is the documented function of the fields."""
    puzzles = (
        list(outside("top95.txt"))
        + list(outside("hardest.txt"))
        + list(outside("17clue-2000.txt")[::10])
    )
    seen = set()
    for puzzle in puzzles:
        r = solve(puzzle).rating
        assert r.size == 9
        assert r.propagation_only == (r.guesses == 0)
        assert not r.naked_singles_only or r.propagation_only
        assert r.backtracks >= r.guesses
        assert r.guesses == 0 or r.backtracks >= 1
        assert r.tier == tier_of(r)
        seen.add(r.tier)
    assert {"hard", "extreme"} <= seen  # top95 is hard enough to reach both


def ratings(size: int, **fields) -> Rating:
    base = dict(
        size=size,
        clues=20,
        naked_singles_only=False,
        propagation_only=False,
        guesses=1,
        backtracks=0,
    )
    base.update(fields)
    return Rating(**base)


@pytest.mark.parametrize("size", SIZES)
def test_tier_boundaries_for_each_size(size):
    edge = EXTREME_MIN_BACKTRACKS[size]
    assert edge >= 1
    assert (
        tier_of(
            ratings(size, naked_singles_only=True, propagation_only=True, guesses=0, backtracks=0)
        )
        == "easy"
    )
    assert tier_of(ratings(size, propagation_only=True, guesses=0, backtracks=0)) == "medium"
    assert tier_of(ratings(size, guesses=1, backtracks=0)) == "hard"
    assert tier_of(ratings(size, guesses=edge, backtracks=edge - 1)) == "hard"
    assert tier_of(ratings(size, guesses=edge, backtracks=edge)) == "extreme"
    assert tier_of(ratings(size, guesses=1, backtracks=edge)) == "extreme"
    assert tier_of(ratings(size, guesses=50, backtracks=edge + 100)) == "extreme"
    # the flags come first: a naked-singles puzzle is easy whatever the search did
    assert (
        tier_of(ratings(size, naked_singles_only=True, propagation_only=True, backtracks=edge + 5))
        == "easy"
    )
    assert tier_of(ratings(size, propagation_only=True, backtracks=edge + 5)) == "medium"
    r = ratings(size, guesses=3, backtracks=edge)
    assert r.tier == tier_of(r) == r.to_dict()["tier"]


def test_tier_tables_are_as_documented():
    assert TIERS == ("easy", "medium", "hard", "extreme")
    assert set(EXTREME_MIN_BACKTRACKS) == set(SIZES)
    assert EXTREME_MIN_BACKTRACKS[9] == 6
    assert TIERS_BY_SIZE == {4: ("easy",), 6: TIERS, 9: TIERS}


@PROPERTY
@given(index=st.integers(0, 95 + 11 - 1), perm=st.permutations(range(1, 10)))
def test_rating_and_solution_follow_a_digit_relabelling(index, perm):
    puzzle = (list(outside("top95.txt")) + list(outside("hardest.txt")))[index]
    aug = relabel(9, list(perm))
    original = solve(puzzle)
    relabelled = solve(aug.apply(puzzle))
    assert relabelled.count == 1
    assert relabelled.rating == original.rating
    assert np.array_equal(relabelled.solution, aug.apply(original.solution))


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.sampled_from([6, 9]),
    perm_seed=st.integers(0, 2**32 - 1),
)
def test_rating_of_generated_style_puzzles_is_invariant_under_relabelling(seed, size, perm_seed):
    rng = random.Random(seed)
    sol = random_solution(size, rng)
    puzzle = sol.copy()
    order = list(range(puzzle.size))
    rng.shuffle(order)
    for c in order:  # blank cells while the puzzle stays unique (a minimal puzzle)
        v = puzzle[c]
        puzzle[c] = 0
        if solve(puzzle).count != 1:
            puzzle[c] = v
    mapping = list(range(1, size + 1))
    random.Random(perm_seed).shuffle(mapping)
    aug = relabel(size, mapping)
    assert solve(aug.apply(puzzle)).rating == solve(puzzle).rating


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize("size", SIZES)
def test_random_solution_is_a_valid_grid_fixed_by_the_seed(size):
    grids = [random_solution(size, random.Random(seed)) for seed in range(10)]
    assert all(g.dtype == np.int8 and g.size == size * size and is_solution(g) for g in grids)
    assert np.array_equal(random_solution(size, random.Random(3)), grids[3])
    assert len({g.tobytes() for g in grids}) > 5


def test_propagate_only_fills_what_singles_fill_and_stops_where_they_stall():
    for puzzle in list(outside("hardest.txt")) + list(outside("top95.txt")[:20]):
        assert np.array_equal(propagate_only(puzzle), singles_fill(puzzle, 9))
        assert np.array_equal(
            propagate_only(puzzle, hidden_singles=False), naked_singles_fill(puzzle, 9)
        )


@PROPERTY
@given(index=st.integers(0, 2000 + 95 - 1), pick=st.integers(0, 10**6))
def test_has_other_solution_agrees_with_counting_after_removing_a_clue(index, pick):
    puzzles = list(outside("17clue-2000.txt")) + list(outside("top95.txt"))
    puzzle = puzzles[index]
    clues = np.nonzero(puzzle)[0]
    cell = int(clues[pick % len(clues)])
    value = int(puzzle[cell])
    without = puzzle.copy()
    without[cell] = 0
    ref_count, _ = count_solutions(without, 9, limit=2)
    assert has_other_solution(without, cell, value) == (ref_count > 1)
    if index < 2000:  # the 17-clue puzzles are minimal: every clue is needed
        assert has_other_solution(without, cell, value)
