"""Test-time scaling: views mapped back exactly, the checker the only judge, one pass kept."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from puzzles.maze import solver as maze_solver
from puzzles.maze.augment import SYMMETRIES, cell_tables
from puzzles.maze.data import encode as maze_encode
from puzzles.maze.generate import generate_indexed
from puzzles.maze.task import check as maze_check
from puzzles.scaling import Sampling, run
from puzzles.sudoku import augment as sa
from puzzles.sudoku.data import decode, encode
from puzzles.sudoku.generate import generate_indexed as generate_indexed_sudoku
from puzzles.sudoku.grid import is_solution
from puzzles.sudoku.solver import solve
from puzzles.sudoku.task import check as sudoku_check
from puzzles.tasks import Task, Views, get_task
from trm.errors import TRMError
from trm.model import StepOutput

SUDOKU = get_task("sudoku")


class Planted(torch.nn.Module):
    """A stand-in model: at step ``s`` it answers ``answer(input tokens, s)`` for each row.

    Whatever ``answer`` computes from the view it is shown is what the candidate says, so a
    model that solves its input exactly is equivariant by construction."""

    def __init__(self, seq_len: int, vocab: int, answer, n_sup: int = 6):
        super().__init__()
        self.config = SimpleNamespace(
            seq_len=seq_len, vocab_size=vocab, n_sup=n_sup, total_len=seq_len, hidden_size=1
        )
        self.answer = answer
        self.w = torch.nn.Parameter(torch.zeros(1))

    def embed_input(self, inputs, puzzle_ids):
        return inputs.long()

    def initial_state(self, batch):
        return torch.zeros(batch, 1, 1), torch.zeros(batch, 1, 1)

    def deep_step(self, x, y, z):  # each row counts its own steps (rows start apart)
        steps = y[:, 0, 0].long() + 1
        tokens = (
            np.stack([self.answer(row, int(s)) for row, s in zip(x.numpy(), steps)])
            if len(x)
            else np.zeros((0, self.config.seq_len), np.int64)
        )
        logits = torch.nn.functional.one_hot(
            torch.from_numpy(tokens).long(), self.config.vocab_size
        ).float()
        return StepOutput(y + 1, z, logits, torch.zeros(len(x)))


def _solved_from(reveal: int):
    """A Sudoku model that copies the question until step ``reveal``, then solves it."""

    def answer(row, step):
        if step < reveal:
            return row
        return encode(solve(decode(row)).solution)

    return answer


def _puzzles(n: int = 3) -> np.ndarray:
    return np.stack(
        [
            encode(generate_indexed_sudoku(9, "hard", 0, "test", i).puzzle.reshape(-1))
            for i in range(n)
        ]
    )


def _views_task(augs: list) -> Task:
    """The Sudoku task with fixed views (identity first) instead of drawn ones."""

    def views(k, seq_len, vocab, rng):
        chosen = [sa.identity(9), *augs][:k]
        tables = np.tile(np.arange(vocab), (len(chosen), 1))
        for i, a in enumerate(chosen):
            tables[i, :11] = a.token_table()
        return Views(np.asarray([a.cells for a in chosen]), tables)

    return dataclasses.replace(SUDOKU, views=views)


KINDS = {
    "relabel": sa.relabel(9, [3, 1, 2, 5, 4, 6, 9, 7, 8]),
    "rows": sa.permute_rows(9, [2, 0, 1, 3, 4, 5, 8, 7, 6]),
    "cols": sa.permute_cols(9, [0, 2, 1, 5, 3, 4, 6, 7, 8]),
    "bands": sa.permute_bands(9, [2, 0, 1]),
    "stacks": sa.permute_stacks(9, [1, 2, 0]),
    "transpose": sa.transpose(9),
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_sudoku_view_maps_back_to_the_models_answer_on_the_original(kind):
    q = _puzzles()
    model = Planted(81, 11, _solved_from(1))
    one = run(model, q, _views_task([]), Sampling(samples=1, select="vote", halting="full"))
    both = run(
        model, q, _views_task([KINDS[kind]]), Sampling(samples=2, select="vote", halting="full")
    )
    assert np.array_equal(both.answers, one.answers)
    assert np.all(both.votes == 2)  # the view's answer, mapped back, is the original's
    # and the view really was another puzzle: the model saw different tokens
    v = _views_task([KINDS[kind]]).views(2, 81, 11, None)
    assert not np.array_equal(v.apply(q, np.ones(len(q), int)), q)


def test_every_maze_symmetry_maps_back():
    mazes = [generate_indexed(8, "corridors", 12, 0, "test", i).maze for i in range(2)]
    q = np.stack([maze_encode(m) for m in mazes])

    def answer(row, step):
        return maze_encode(maze_solver.solve((row.reshape(8, 8) - 1).astype(np.int8)))

    model = Planted(64, 6, answer)
    r = run(model, q, get_task("maze"), Sampling(samples=8, select="vote", halting="full"))
    assert np.all(r.votes == 8)
    assert np.array_equal(r.answers, np.stack([answer(row, 1) for row in q]))
    views = get_task("maze").views(8, 64, 6, np.random.default_rng(0))
    assert sorted(map(tuple, views.perms)) == sorted(map(tuple, cell_tables(8)))  # all 8 kinds
    assert np.array_equal(views.perms[0], np.arange(64))
    assert len(SYMMETRIES) == 8


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12))
def test_views_round_trip_exactly(seed, k):
    rng = np.random.default_rng(seed)
    v = SUDOKU.views(k, 81, 11, rng)
    x = np.repeat(_puzzles(1), k, axis=0)
    which = np.arange(k)
    seen = v.apply(x, which)
    assert np.array_equal(v.inverse().apply(seen, which), x)
    assert np.array_equal(seen[0], x[0])  # view 0 is the identity


def test_the_checker_is_the_only_judge_of_verified():
    q = _puzzles()

    def valid_but_changes_clues(row, step):  # a full valid grid with the digits relabelled
        sol = solve(decode(row)).solution
        return encode(np.where(sol > 0, sol % 9 + 1, 0))

    def breaks_a_rule(row, step):
        sol = encode(solve(decode(row)).solution).copy()
        blanks = np.flatnonzero(row == 1)
        sol[blanks[0]], sol[blanks[1]] = sol[blanks[1]], sol[blanks[1]]  # a digit twice
        return sol

    for wrong in (valid_but_changes_clues, breaks_a_rule):
        r = run(Planted(81, 11, wrong), q, SUDOKU, Sampling(samples=4, lead=False))
        assert not r.verified.any() and np.all(r.step == 0) and np.all(r.n_verified == 0)
        for qq, a in zip(q, r.answers):
            assert not is_solution(decode(a), decode(qq))
        assert np.all(r.candidate_steps == 6)  # unverified: every candidate ran every step
    r = run(Planted(81, 11, _solved_from(3)), q, SUDOKU, Sampling(samples=4, lead=False))
    assert r.verified.all() and np.all(r.step == 3) and np.all(r.n_verified == 4)
    for qq, a in zip(q, r.answers):
        assert is_solution(decode(a), decode(qq))


def test_verified_halting_stops_a_puzzle_at_its_first_verified_step():
    q = _puzzles()
    model = Planted(81, 11, _solved_from(2))
    early = run(model, q, SUDOKU, Sampling(samples=4, halting="verified", lead=False))
    full = run(model, q, SUDOKU, Sampling(samples=4, halting="full"))
    assert np.all(early.candidate_steps == 2) and np.all(full.candidate_steps == 6)
    assert np.array_equal(early.answers, full.answers) and early.verified.all()
    assert np.all(full.step == 6)  # checked only at the end


def test_sudoku_check_agrees_with_the_rules():
    rng = np.random.default_rng(0)
    q = _puzzles(4)
    sols = np.stack([encode(solve(decode(x)).solution) for x in q])
    answers = [sols[0], q[1], sols[2].copy(), sols[3].copy()]
    answers[2][np.flatnonzero(q[2] > 1)[0]] = 1  # a clue blanked
    answers[3] = np.where(answers[3] > 1, (answers[3] - 1) % 9 + 2, answers[3])  # relabelled
    ok = sudoku_check(q, np.stack(answers))
    expected = [is_solution(decode(a), decode(x)) for a, x in zip(answers, q)]
    assert ok.tolist() == expected == [True, False, False, False]
    noise = rng.integers(0, 11, size=(50, 81))
    assert not sudoku_check(np.repeat(q[:1], 50, 0), noise).any()


def test_maze_check_is_the_bfs_checker():
    m = generate_indexed(8, "corridors", 12, 0, "test", 0).maze
    q = maze_encode(m)[None]
    right = maze_encode(maze_solver.solve(m))[None]
    assert maze_check(q, right).tolist() == [True]
    assert maze_check(q, q).tolist() == [False]  # no path marked
    assert maze_check(q, np.zeros_like(q)).tolist() == [False]  # PAD everywhere


def _tiny_trm():
    from trm.config import TRMConfig
    from trm.model import TRM

    torch.manual_seed(0)
    return TRM(
        TRMConfig(
            vocab_size=11,
            seq_len=81,
            hidden_size=32,
            num_heads=2,
            num_layers=1,
            n=2,
            T=2,
            n_sup=3,
            mixer="mlp",
        )
    )


def test_one_sample_is_todays_one_pass_answer_bit_for_bit():
    from trm.data import TokenData
    from trm.evaluate import predict

    model = _tiny_trm()
    q = _puzzles(5)
    today, _, _ = predict(model, TokenData(q, q, np.zeros(len(q), np.int32)), halting="full")
    for select in ("vote", "confidence", "checker"):
        for noise in (0.0, 0.5):  # noise never touches candidate 0
            r = run(
                model, q, SUDOKU, Sampling(samples=1, noise=noise, select=select, halting="full")
            )
            assert np.array_equal(r.answers, today.astype(np.int64)), (select, noise)


def test_noisy_trajectories_are_seeded_and_do_not_depend_on_the_batch_size():
    model = _tiny_trm()
    q = _puzzles(3)
    a = run(
        model, q, SUDOKU, Sampling(samples=6, noise=1.0, views=False, select="confidence", seed=3)
    )
    b = run(
        model,
        q,
        SUDOKU,
        Sampling(samples=6, noise=1.0, views=False, select="confidence", seed=3),
        batch_rows=6,
    )  # one puzzle at a time
    assert np.array_equal(a.answers, b.answers) and np.array_equal(a.chosen, b.chosen)
    from puzzles.scaling import _noise

    whole = _noise((18, 2, 3), 6, seed=3, puzzles=range(3))
    parts = torch.cat([_noise((6, 2, 3), 6, seed=3, puzzles=[i]) for i in range(3)])
    assert torch.equal(whole, parts)  # each puzzle's draws are its own, whatever the chunk
    assert not torch.equal(whole, _noise((18, 2, 3), 6, seed=4, puzzles=range(3)))


@pytest.mark.parametrize(
    "options, needle",
    [
        (dict(samples=0), "`samples` must be from 1 to 4096"),
        (dict(samples=2, noise=-1.0), "`noise` must be"),
        (dict(samples=2, noise=float("nan")), "`noise` must be"),
        (dict(samples=2, select="best"), "`select` must be"),
        (dict(samples=2, halting="adaptive"), "halting"),
    ],
)
def test_bad_options_are_refused(options, needle):
    with pytest.raises(TRMError, match=needle):
        run(Planted(81, 11, _solved_from(1)), _puzzles(1), SUDOKU, Sampling(**options))


def test_a_task_without_a_checker_is_refused_for_select_checker():
    with pytest.raises(TRMError, match="arc"):
        get_task("arc").for_scaling()
    bare = Task("arc-like", SUDOKU.example_json, SUDOKU.render_example, views=SUDOKU.views)
    with pytest.raises(TRMError, match="no checker"):
        run(
            Planted(81, 11, _solved_from(1)),
            _puzzles(1),
            bare,
            Sampling(samples=2, select="checker"),
        )


def test_lead_runs_the_puzzle_as_it_is_alone_first_and_changes_no_answer():
    """`lead`: candidate 0 (the identity view, never noised) runs alone with the checker;
    the other K-1 run only for the puzzles it did not solve, exactly as without `lead`."""
    q = _puzzles()
    solved = Planted(81, 11, _solved_from(2))
    lead = run(solved, q, SUDOKU, Sampling(samples=4, lead=True))
    assert lead.verified.all() and lead.candidate_steps.tolist() == [[2, 0, 0, 0]] * 3

    def only_views(row, step):  # the puzzle as it is stays unsolved; its views solve at step 3
        if step < 3 or any(np.array_equal(row, p) for p in q):
            return row
        return encode(solve(decode(row)).solution)

    model = Planted(81, 11, only_views)
    lead = run(model, q, SUDOKU, Sampling(samples=4, lead=True))
    lockstep = run(model, q, SUDOKU, Sampling(samples=4, lead=False))
    for f in ("answers", "verified", "chosen", "step", "votes", "n_verified"):
        assert np.array_equal(getattr(lead, f), getattr(lockstep, f)), f
    assert lead.verified.all() and np.all(lead.chosen > 0)
    # candidate 0 ran alone to the end (n_sup 6, before lead_steps), and only once
    assert lead.candidate_steps.tolist() == [[6, 3, 3, 3]] * 3
    assert lockstep.candidate_steps.tolist() == [[3, 3, 3, 3]] * 3
    # the others join after 2 steps: candidate 0 goes on from where it is, the others
    # pass at their own third step (its fifth), with the same answers
    joined = run(model, q, SUDOKU, Sampling(samples=4, lead=True, lead_steps=2))
    for f in ("answers", "verified", "chosen", "step", "votes", "n_verified"):
        assert np.array_equal(getattr(joined, f), getattr(lockstep, f)), f
    assert joined.candidate_steps.tolist() == [[5, 3, 3, 3]] * 3
    # noise is drawn per puzzle of the whole set: the second stage's puzzles get their own
    tiny = _tiny_trm()
    options = dict(samples=6, noise=1.0, seed=3)
    a = run(tiny, _puzzles(3), SUDOKU, Sampling(**options, lead=True))
    b = run(tiny, _puzzles(3), SUDOKU, Sampling(**options, lead=False))
    assert np.array_equal(a.answers, b.answers) and np.array_equal(a.chosen, b.chosen)


def test_a_row_that_stops_gives_its_place_to_a_waiting_one_with_the_same_outcome():
    """The batch refills as rows stop: how many rows run at once changes no candidate's
    trajectory, whether they start together or join a lead candidate part-way."""
    tiny = _tiny_trm()
    q = _puzzles(4)
    for options in (dict(lead=False), dict(lead=True, lead_steps=1), dict(lead=True)):
        sampling = Sampling(samples=5, noise=1.0, seed=2, **options)
        whole = run(tiny, q, SUDOKU, sampling)
        for batch_rows in (1, 3, 7):  # fewer rows than one puzzle's candidates, and odd
            part = run(tiny, q, SUDOKU, sampling, batch_rows=batch_rows)
            for f in ("answers", "verified", "chosen", "step", "votes", "candidate_steps"):
                assert np.array_equal(getattr(part, f), getattr(whole, f)), (options, f)


def test_the_others_join_only_puzzles_the_lead_has_not_solved():
    """With ``lead_steps`` s: a puzzle candidate 0 solves by step s never starts the others;
    one it has not solved starts all of them at its step s."""
    q = _puzzles(2)

    def first_fast(row, step):  # puzzle 0 as it is: solved at step 2; puzzle 1: never
        if step >= 2 and np.array_equal(row, q[0]):
            return encode(solve(decode(row)).solution)
        return row

    r = run(Planted(81, 11, first_fast), q, SUDOKU, Sampling(samples=3, lead_steps=4))
    assert r.verified.tolist() == [True, False]
    assert r.candidate_steps.tolist() == [[2, 0, 0], [6, 6, 6]]
    with pytest.raises(TRMError, match="lead_steps"):
        Sampling(samples=3, lead_steps=0)


def test_the_schedule_benchmark_counts_what_run_runs():
    """benchmarks/candidate_schedule.py counts each schedule's candidate steps from one
    trace; `run` must run exactly that many (lockstep, lead joined part-way, lead to the end)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "candidate_schedule.py"
    spec = importlib.util.spec_from_file_location("candidate_schedule", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    def varied(row, step):  # each view of each puzzle passes at its own step, or never
        when = int(np.dot(row, np.arange(81)) % 9) + 1
        return encode(solve(decode(row)).solution) if step >= when and when < 8 else row

    model, q = Planted(81, 11, varied), _puzzles(6)
    first = bench.trace(model, q, SUDOKU, Sampling(samples=4), steps=6, per_chunk=4)
    assert (first == 0).any() and (first > 0).any() and len(np.unique(first)) > 2
    for lead_steps in (0, 1, 2, 4, 6):
        sampling = Sampling(samples=4, lead=lead_steps > 0, lead_steps=max(lead_steps, 1))
        want = bench.lead_cost(first, lead_steps, 6).tolist()
        for batch_rows in (1, 5, 512):  # a puzzle's candidates start together, room or not
            r = run(model, q, SUDOKU, sampling, batch_rows=batch_rows)
            assert r.candidate_steps.sum(axis=1).tolist() == want, (lead_steps, batch_rows)


def test_inference_batches_are_sized_to_the_device():
    """On a CPU an inference batch keeps the state near the caches (2^18 elements: the
    Sudoku model 25 rows, the maze model 40, a 512-wide one 6); a GPU gets wide batches."""
    from trm.device import CPU_STATE_ELEMENTS, GPU_ROWS, inference_rows

    cpu = torch.device("cpu")
    assert [inference_rows(cpu, 81, 128), inference_rows(cpu, 100, 64)] == [25, 40]
    assert inference_rows(cpu, 81, 512) == 6 and inference_rows(cpu, 900, 512) == 1
    assert inference_rows(cpu, 1, 1) == CPU_STATE_ELEMENTS
    assert inference_rows(torch.device("cuda"), 81, 128) == GPU_ROWS
    # the default changes how many rows run at once, never an answer
    tiny, q = _tiny_trm(), _puzzles(4)
    sampling = Sampling(samples=3, noise=1.0)
    a, b = run(tiny, q, SUDOKU, sampling), run(tiny, q, SUDOKU, sampling, batch_rows=512)
    assert np.array_equal(a.answers, b.answers) and np.array_equal(a.chosen, b.chosen)
