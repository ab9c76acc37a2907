"""Training that fits its time budget (issue 33, part 1): the schedule is sized to the
minutes, so that the learning rate reaches its floor and the final evaluation and checkpoint
land inside them; resume keeps what was chosen; a budget that cannot hold the run is one
line, and nothing is written."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import FAST, assert_one_line_error, cmd, run_trm, trm_ok
from trm.budget import MARGIN, evaluations_between, fit_steps


def test_evaluations_between_counts_the_periodic_ones_only():
    assert evaluations_between(0, 100, 10) == 9  # 10..90 (the one at 100 is the final)
    assert evaluations_between(0, 101, 10) == 10
    assert evaluations_between(15, 40, 10) == 2  # 20, 30
    assert evaluations_between(40, 40, 10) == 0


@given(
    seconds=st.floats(0.0, 10_000),
    step=st.floats(1e-4, 5.0),
    evaluation=st.floats(0.0, 60.0),
    done=st.integers(0, 1000),
    every=st.integers(1, 500),
    cap=st.integers(1, 10**7),
)
def test_fitted_steps_fit_and_one_more_would_not(seconds, step, evaluation, done, every, cap):
    n = fit_steps(
        seconds_left=seconds,
        step_seconds=step,
        eval_seconds=evaluation,
        done=done,
        eval_every=every,
        cap=max(cap, done),
    )

    def cost(total: int) -> float:
        return (total - done) * step + evaluations_between(done, total, every) * evaluation

    assert done <= n <= max(cap, done)
    if n > done:
        assert cost(n) + evaluation <= seconds * (1 + 1e-9)
    if n < max(cap, done):  # short of the cap: one step more would not have fitted
        assert cost(n + 1) + evaluation > seconds * (1 - 1e-9)


def test_a_curriculums_cheaper_steps_buy_more_of_them():
    from trm.curriculum import work

    plain = fit_steps(
        seconds_left=600, step_seconds=1.0, eval_seconds=5, done=0, eval_every=100, cap=10**6
    )
    curriculum = fit_steps(
        seconds_left=600,
        step_seconds=1.0,
        eval_seconds=5,
        done=0,
        eval_every=100,
        cap=10**6,
        work=lambda done, total: work(done, total, total, 6, 3, 0.6),
    )
    assert curriculum > plain
    assert work(0, curriculum, curriculum, 6, 3, 0.6) <= 600
    assert work(0, curriculum + 1, curriculum + 1, 6, 3, 0.6) + 5 * (curriculum // 100) > 595


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("curriculum", ["", "--depth-curriculum 0.6"])
def test_a_time_budget_anneals_to_the_floor_inside_its_minutes(tmp_path, curriculum):
    """(With a depth curriculum the early steps are cheaper: the budget prices them so.)"""
    data, run = tmp_path / "s4", tmp_path / "run"
    trm_ok("data sudoku --out", data, "--size 4 --train 64 --test 16 --workers 1 --quiet")
    result = run_trm(
        *cmd("train --data", data, "--out", run, "--max-minutes 0.15", curriculum, FAST)
    )
    assert result.returncode == 0, result.stderr
    assert "budget 0.15 min:" in result.stderr and "steps (warm-up" in result.stderr
    records = _records(run)
    fits = [r["budget"] for r in records if "budget" in r]
    trained = [r for r in records if "loss" in r]
    config = json.loads((run / "checkpoint" / "config.json").read_text())
    assert config["train"]["steps"] == fits[-1]["steps"]
    # the annealing ended (a run the limit cut off would end far above the floor; a shared
    # machine that slows down in the last few steps may cut off the very end)
    assert trained[-1]["step"] >= 0.97 * config["train"]["steps"]
    lr, floor = config["train"]["lr"], config["train"]["lr"] * config["train"]["min_lr_ratio"]
    assert trained[-1]["lr"] - floor < 0.01 * (lr - floor)
    assert trained[-1]["elapsed"] <= 0.15 * 60 and "eval" in records[-1]
    meta = json.loads((run / "checkpoint" / "train_state.json").read_text())
    assert meta["budget"] == fits[-1]

    # resume keeps the chosen schedule: a longer one is asked with --steps, as ever
    steps = config["train"]["steps"]
    trm_ok("train --data", data, "--out", run, "--resume --max-minutes 0.05 --quiet")
    assert json.loads((run / "checkpoint" / "config.json").read_text())["train"]["steps"] == steps


def test_steps_and_minutes_together_mean_whichever_comes_first(tmp_path):
    data, run = tmp_path / "s4", tmp_path / "run"
    trm_ok("data sudoku --out", data, "--size 4 --train 32 --test 8 --workers 1 --quiet")
    trm_ok("train --data", data, "--out", run, "--max-minutes 5 --steps 40", FAST)
    config = json.loads((run / "checkpoint" / "config.json").read_text())
    assert config["train"]["steps"] == 40


def test_a_budget_that_cannot_hold_the_run_is_one_line_and_writes_nothing(tmp_path):
    data = tmp_path / "s4"
    trm_ok("data sudoku --out", data, "--size 4 --train 32 --test 8 --workers 1 --quiet")
    for extra, fragment in (
        ("--max-minutes 0.0005", "--max-minutes 0.0005 "),  # (timing cut short, or warm-up)
        ("--max-minutes 0.03 --warmup 100000", "not enough to finish the warm-up"),
    ):
        result = run_trm(*cmd("train --data", data, "--out", tmp_path / "run", extra, FAST))
        assert_one_line_error(result, fragment)
        assert not (tmp_path / "run").exists()


def _sizing(tmp_path, monkeypatch, minutes=10.0, n=4, T=3, share=0.6, **train):
    """A trainer with a fake clock (``clock[0]`` seconds), sized to ``minutes``."""
    import torch

    from tests.helpers import sudoku_tokens, tiny_config
    from trm import train as train_module
    from trm.config import TrainConfig

    train = {"warmup": 1, **train}
    cfg = TrainConfig(
        steps=100, batch_size=8, depth_curriculum=share, eval_every=10**6, **train
    ).validate()
    trainer = train_module.Trainer(
        tiny_config(n=n, T=T), cfg, sudoku_tokens(4, 16), None, tmp_path, device=torch.device("cpu")
    )
    clock = [0.0]
    monkeypatch.setattr(train_module.time, "monotonic", lambda: clock[0])
    return trainer, train_module._Sizing(trainer, minutes, 10**9, None), clock


def _step(trainer, sizing, clock, seconds) -> bool:
    """One simulated training step of ``seconds(depth)``; whether the sizing is due."""
    depth = trainer.step_depth()
    clock[0] += seconds(depth)
    trainer.state.step += 1
    return sizing.due(trainer.state.step, depth)


def test_a_correction_keeps_the_learning_rate_and_the_depth_where_they_were(tmp_path, monkeypatch):
    """A correction that found room for more steps once moved the run back in its schedule:
    the learning rate went up again (3.3e-4 -> 5.3e-4 in a 60-minute Sudoku run) and a depth
    curriculum went back a stage. The run's progress is kept; the steps left cover the rest."""
    import io

    from trm.optim import lr_factor

    trainer, sizing, clock = _sizing(tmp_path, monkeypatch)
    speed = [1.0]  # seconds of a full-depth step

    def seconds(depth):
        return speed[0] * trainer.relative_cost(depth)

    while not _step(trainer, sizing, clock, seconds):
        pass
    sizing.fit(trainer.state.step, 600.0, io.StringIO())
    fitted = trainer.cfg.steps
    speed[0] = 0.5  # the machine got twice as fast
    while not _step(trainer, sizing, clock, seconds):  # to a quarter of the way
        pass
    assert trainer.depth() == trainer.step_depth() != trainer.full_depth()  # (still shallow)
    before = lr_factor(trainer.progress() * fitted, trainer.cfg), trainer.depth()
    sizing.fit(trainer.state.step, 600.0, io.StringIO())
    assert trainer.cfg.steps > fitted * 1.5  # room for more steps
    after = lr_factor(trainer.progress() * trainer.cfg.steps, trainer.cfg), trainer.depth()
    # (the warm-up is counted in steps, so the cosine's share moves by a hair)
    assert after[0] == pytest.approx(before[0], rel=1e-2) and after[1] == before[1]
    # and from there on, forward only, to the end of the new schedule
    later = trainer.state.step
    factors = [
        lr_factor(trainer.progress(s) * trainer.cfg.steps, trainer.cfg)
        for s in range(later, trainer.cfg.steps + 1)
    ]
    assert all(a >= b for a, b in pairwise(factors))
    assert trainer.progress(trainer.cfg.steps) == 1.0


def test_step_costs_price_a_depth_not_run_yet_from_those_that_were():
    from trm.budget import MIN_TIMED, StepCosts

    relative = {"a": 0.25, "b": 0.5, "c": 1.0}.__getitem__
    costs = StepCosts(relative)
    for _ in range(MIN_TIMED):
        costs.add("a", 1.0)
    costs.settle()
    assert costs.seconds("a") == 1.0
    assert costs.seconds("c") == pytest.approx(4.0)  # in proportion: an overprice, at most
    for _ in range(MIN_TIMED):
        costs.add("b", 1.5)  # 0.5 s a step does not recurse, 2 s a full recursion
    costs.settle()
    assert costs.seconds("c") == pytest.approx(2.5)
    costs.add("a", 9.0)  # one slow step does not replace what MIN_TIMED steps measured...
    costs.settle()
    assert costs.seconds("a") == 1.0
    for _ in range(MIN_TIMED - 1):
        costs.add("a", 2.0)  # ...but with enough of them, the latest measurements count
    costs.settle()
    assert costs.seconds("a") == pytest.approx((9.0 + 2.0 * (MIN_TIMED - 1)) / MIN_TIMED)
    # a depth's first steps are the price of changing to it (compiling again, say)
    costs.add("c", 12.5, fresh=True)
    for _ in range(MIN_TIMED):
        costs.add("c", 2.5)
    costs.settle()
    assert costs.switch == pytest.approx(10.0)


@pytest.mark.parametrize("compiles", [0.0, 15.0])
def test_a_curriculum_with_a_fixed_cost_and_recompiles_fills_its_budget(
    tmp_path, monkeypatch, compiles
):
    """The model's arithmetic says a shallow step costs a third of a full one; a real step
    also has a part that does not recurse, and a compiled model compiles again at each new
    depth (20-50 s on a CPU). Timed at each depth, the schedule ends inside the budget and
    uses it, and the count chosen once the second depth was timed holds to the end."""
    import io

    trainer, sizing, clock = _sizing(tmp_path, monkeypatch, minutes=10)
    seen = set()

    def seconds(depth):
        extra = 0.0 if depth in seen else compiles
        seen.add(depth)
        return extra + 0.4 + 0.6 * trainer.relative_cost(depth)

    counts = []
    while not trainer.finished():
        assert clock[0] < 600, "stopped by the limit"
        if _step(trainer, sizing, clock, seconds):
            sizing.fit(trainer.state.step, 600.0, io.StringIO())
            counts.append((trainer.state.step, trainer.depth(), trainer.cfg.steps))
    assert 0.9 * 600 < clock[0] <= 600
    first_at_middle = next(c for s, d, c in counts if d == (3, 2) and s > counts[0][0])
    # (later looks find the room of the margin kept on each step's seconds, no more)
    assert first_at_middle <= trainer.cfg.steps <= first_at_middle * MARGIN


def test_a_machine_that_slows_down_late_is_met_by_a_look_in_time(tmp_path, monkeypatch):
    """A 10-minute run slowed threefold after its half-way look (another job took the
    cores): its next look was due at three quarters of the steps, which it reached only
    after the limit, so it stopped at step 1,069 of 1,306 with the learning rate far from
    its floor. Looks are due by the clock too."""
    import io

    trainer, sizing, clock = _sizing(tmp_path, monkeypatch, minutes=10, share=0.0)
    speed = [0.4]

    def seconds(depth):
        return speed[0]

    fits = 0
    while not trainer.finished():
        assert clock[0] < 600, f"stopped by the limit at step {trainer.state.step}"
        if _step(trainer, sizing, clock, seconds):
            sizing.fit(trainer.state.step, 600.0, io.StringIO())
            fits += 1
            if fits == 3:  # the half-way look: from here on, three times slower
                speed[0] = 1.2
    assert trainer.progress() == 1.0 and clock[0] > 0.8 * 600


def test_a_warmup_share_keeps_a_short_budgets_warmup_to_its_share_of_the_steps(
    tmp_path, monkeypatch
):
    """Vision's small preset warms up for 200 steps; 6 minutes on a CPU may fit fewer steps
    than that. With ``warmup_share`` the warm-up is cut to that share of what the budget
    fits (and saved so); without it such a budget is refused, as before."""
    import io

    from trm.errors import SettingError

    for share, budget in ((0.1, 1.0), (0.0, 1.0)):
        trainer, sizing, clock = _sizing(
            tmp_path / str(share),
            monkeypatch,
            minutes=budget,
            share=0.0,
            warmup=200,
            warmup_share=share,
        )
        while not _step(trainer, sizing, clock, lambda depth: 0.5):  # 0.5 s a step
            pass
        if share == 0.0:
            with pytest.raises(SettingError, match="warm-up of 200"):
                sizing.fit(trainer.state.step, 60.0, io.StringIO())
            continue
        sizing.fit(trainer.state.step, 60.0, io.StringIO())
        assert 50 < trainer.cfg.steps < 120  # a minute of 0.5 s steps, less its reserve
        assert trainer.cfg.warmup == int(0.1 * trainer.cfg.steps)
        assert trainer.state.budget["steps"] == trainer.cfg.steps
