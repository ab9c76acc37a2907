"""Puzzle generation by tier: puzzles.sudoku.generate.

Every generated puzzle is checked with the independent reference solver and
propagators in tests/reference_solver.py, and its tier re-derived from the documented
definitions (solver.tier_of):

* easy: naked singles alone fill the grid;
* medium: they do not, but naked + hidden singles do;
* hard: propagation stalls, the search hits fewer than EXTREME_MIN_BACKTRACKS[size]
  dead ends;
* extreme: propagation stalls, the search hits at least that many.
"""

from __future__ import annotations

import random
from functools import cache

import numpy as np
import pytest

from puzzles.sudoku.generate import Generated, generate_indexed, generate_one
from puzzles.sudoku.solver import EXTREME_MIN_BACKTRACKS, TIERS, TIERS_BY_SIZE, solve
from tests.reference_solver import (
    count_solutions,
    is_valid_solution,
    naked_singles_fill,
    singles_fill,
)
from trm.errors import TRMError

SEED = 1234
STREAM = "tests"
# puzzles drawn per (size, tier) in the default run: well under 10 s in all
SAMPLE = {
    (9, "easy"): 6,
    (9, "medium"): 6,
    (9, "hard"): 5,
    (9, "extreme"): 3,
    (6, "easy"): 5,
    (6, "medium"): 5,
    (6, "hard"): 4,
    (6, "extreme"): 2,
    (4, "easy"): 15,
}


@cache
def generated(
    size: int, tier: str, index: int, seed: int = SEED, stream: str = STREAM
) -> Generated:
    return generate_indexed(size, tier, seed, stream, index)


def check_generated(g: Generated, size: int, tier: str, minimal: bool = True) -> None:
    """Everything a generated puzzle promises, checked independently of the solver."""
    cells = size * size
    assert g.puzzle.dtype == np.int8 and g.puzzle.shape == (cells,)
    assert g.solution.dtype == np.int8 and g.solution.shape == (cells,)
    assert is_valid_solution(g.solution)
    given = g.puzzle > 0
    assert np.array_equal(g.puzzle[given], g.solution[given]), "clues disagree with the solution"
    assert 0 < np.count_nonzero(g.puzzle) < cells

    count, ref_solution = count_solutions(g.puzzle, size, limit=2)
    assert count == 1, "the puzzle must have exactly one solution"
    assert np.array_equal(ref_solution, g.solution)

    r = g.rating
    assert r.size == size
    assert r.clues == int(np.count_nonzero(g.puzzle))
    assert r == solve(g.puzzle).rating  # the stored rating is the puzzle's rating
    assert r.tier == tier

    naked = naked_singles_fill(g.puzzle, size)
    singles = singles_fill(g.puzzle, size)
    if tier == "easy":
        assert np.array_equal(naked, g.solution), "easy: naked singles alone must fill the grid"
    elif tier == "medium":
        assert not np.all(naked > 0), "medium: naked singles alone must not fill the grid"
        assert np.array_equal(singles, g.solution), "medium: naked + hidden singles must fill it"
    else:
        assert not np.all(singles > 0), f"{tier}: propagation alone must stall"
        # whatever the singles do place is right
        placed = singles > 0
        assert np.array_equal(singles[placed], g.solution[placed])
        assert r.guesses > 0
        assert r.backtracks >= 1
        if tier == "hard":
            assert r.backtracks < EXTREME_MIN_BACKTRACKS[size]
        else:
            assert r.backtracks >= EXTREME_MIN_BACKTRACKS[size]

    if minimal:
        check_no_clue_can_go(g.puzzle, size, tier)


def check_no_clue_can_go(puzzle: np.ndarray, size: int, tier: str) -> None:
    """Clues are removed while the puzzle stays inside what the tier allows, so at the end
    none can go: without any one of them, easy puzzles defeat naked singles, medium ones
    defeat all singles, and hard/extreme ones have another solution."""
    for cell in np.nonzero(puzzle)[0]:
        fewer = puzzle.copy()
        fewer[cell] = 0
        if tier == "easy":
            assert not np.all(naked_singles_fill(fewer, size) > 0), f"clue at cell {cell} can go"
        elif tier == "medium":
            assert not np.all(singles_fill(fewer, size) > 0), f"clue at cell {cell} can go"
        else:
            assert count_solutions(fewer, size, limit=2)[0] == 2, f"clue at cell {cell} can go"


CASES = [(size, tier) for size in (4, 6, 9) for tier in TIERS_BY_SIZE[size]]


def test_the_sample_covers_every_tier_of_every_size():
    assert sorted(SAMPLE) == sorted(CASES)


@pytest.mark.parametrize("size,tier", CASES)
def test_generated_puzzles_are_unique_agree_with_their_solution_and_sit_in_their_tier(size, tier):
    for index in range(SAMPLE[size, tier]):
        check_generated(generated(size, tier, index), size, tier)


@pytest.mark.parametrize("size,tier", [(9, "hard"), (6, "medium"), (4, "easy")])
def test_generation_is_a_pure_function_of_its_arguments(size, tier):
    a = generate_indexed(size, tier, SEED, STREAM, 3)
    b = generate_indexed(size, tier, SEED, STREAM, 3)
    assert np.array_equal(a.puzzle, b.puzzle)
    assert np.array_equal(a.solution, b.solution)
    assert a.rating == b.rating
    c = generate_one(size, tier, random.Random(99))
    d = generate_one(size, tier, random.Random(99))
    assert np.array_equal(c.puzzle, d.puzzle) and np.array_equal(c.solution, d.solution)


@pytest.mark.parametrize("size,tier", [(9, "easy"), (9, "extreme"), (6, "hard"), (4, "easy")])
def test_another_index_seed_or_stream_gives_another_puzzle(size, tier):
    base = generated(size, tier, 0)
    others = [
        generated(size, tier, 1),
        generated(size, tier, 2),
        generated(size, tier, 0, seed=SEED + 1),
        generated(size, tier, 0, stream="other"),
    ]
    for other in others:
        assert not np.array_equal(base.puzzle, other.puzzle)
    puzzles = {g.puzzle.tobytes() for g in [base, *others]}
    assert len(puzzles) == len(others) + 1


@pytest.mark.parametrize("tier", ["medium", "hard", "extreme"])
def test_4x4_has_only_the_easy_tier(tier):
    with pytest.raises(TRMError, match="4x4"):
        generate_indexed(4, tier, SEED, STREAM, 0)
    with pytest.raises(TRMError):
        generate_one(4, tier, random.Random(0))


@pytest.mark.parametrize(
    "size,tier", [(9, "impossible"), (9, "Easy"), (5, "easy"), (8, "hard"), (16, "easy")]
)
def test_an_unknown_tier_or_size_is_an_error(size, tier):
    with pytest.raises(TRMError):
        generate_indexed(size, tier, SEED, STREAM, 0)


def test_running_out_of_tries_is_an_error_not_a_wrong_tier():
    # about 1 full 6x6 grid in 70 yields an extreme puzzle: with one try, most seeds fail
    failures = 0
    for seed in range(20):
        try:
            g = generate_one(6, "extreme", random.Random(seed), max_tries=1)
        except TRMError as e:
            assert "1 tries" in str(e)
            failures += 1
        else:
            check_generated(g, 6, "extreme")
    assert failures > 0


def test_tiers_by_size_lists_known_tiers_only():
    for _size, tiers in TIERS_BY_SIZE.items():
        assert set(tiers) <= set(TIERS)
        assert tiers[0] == "easy"


@pytest.mark.slow
@pytest.mark.parametrize(
    "size,tier,count",
    [
        (9, "hard", 30),
        (9, "extreme", 12),
        (9, "medium", 30),
        (6, "extreme", 10),
        (6, "hard", 20),
        (9, "easy", 30),
        (4, "easy", 60),
    ],
)
def test_a_bigger_sample_of_generated_puzzles_holds_every_promise(size, tier, count):
    for index in range(count):
        check_generated(generate_indexed(size, tier, SEED + 1, "slow", index), size, tier)
