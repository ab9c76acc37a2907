"""A schedule sized to a time budget: how many steps fit in the minutes a run has.

A run with ``--max-minutes`` measures itself over its first steps (the seconds a training
step takes, and what an evaluation costs, timed on a few test examples and scaled to the
whole evaluation), then fixes its step count so that warm-up, the cosine annealing, the
evaluations on the way and the final evaluation and checkpoint all end inside the budget.
It looks again at a quarter, half, three quarters of the way and more often near the end,
and corrects the count by what it has measured since (a machine can slow down), so the
learning rate reaches its floor at the end of the minutes, not wherever a hard stop would
cut it off. A depth curriculum's steps are timed at each depth (:class:`StepCosts`), and the
count corrected soon after each change of depth. The time limit still stops the run as a
last resort.

Everything here is arithmetic on measured seconds; :class:`trm.train.Trainer` does the
measuring.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass

from trm.errors import SettingError

PROBE_STEPS = 12  # timed steps before the count is fixed (after two that warm caches up)
PROBE_SHARE = 0.04  # ... or fewer, once they have taken this share of the budget
UNTIMED_STEPS = 2  # (and after each change of depth: they cost what changing it costs)
MIN_TIMED = 4  # steps at a depth that replace what was known of it
RESERVE = 0.03  # of the budget, kept for what is not measured (logging, the last save)
# of the way from the fit to the end: measure again, more often near the end (a machine
# that slows down late would otherwise be stopped by the limit before the annealing ends)
REFITS = (0.25, 0.5, 0.75, 0.875, 0.94, 0.97)
MARGIN = 1.05  # on the measured seconds of a step, for the noise of a shared machine
MAX_FITTED_STEPS = 10**9
# torch.compile on a CPU (trm.device.resolve_compile): measured on a 2-core AVX2 CPU
# (benchmarks/train_throughput.py), the training step runs 1.25x faster at sudoku-small's
# shape and 1.17x at the official Sudoku shape, after 30-90 s of compiling (once, and again
# whenever a depth curriculum changes the depth): a budget of this many minutes or more gains
AUTO_COMPILE_MINUTES = 10.0


@dataclass
class Fit:
    """What a run chose for its budget (printed at its start, saved in its checkpoint)."""

    minutes: float
    steps: int  # the schedule's length, in optimizer steps
    step_seconds: float
    eval_seconds: float  # one evaluation (as many examples as the run evaluates)
    at_step: int  # the step at which it was fixed (or last corrected)
    # how far through the schedule the run was at ``at_step`` (0 to 1): a correction keeps
    # it, and the steps left then cover the rest, so the learning rate and a depth
    # curriculum only move forward (None: a run fitted before this was kept, once)
    progress: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self, warmup: int) -> str:
        return (
            f"budget {self.minutes:g} min: {self.step_seconds:.3g} s a step, "
            f"{self.eval_seconds:.3g} s an evaluation, so {self.steps:,} steps "
            f"(warm-up {min(warmup, self.steps):,}, then cosine to the floor)"
        )


class StepCosts:
    """Seconds of a training step at each depth a run has trained at, as measured.

    A depth curriculum's steps do not all cost the same, and not in proportion to their
    depth: each step has a part that does not recurse (data, optimizer, heads), and a
    compiled model compiles again at each new depth. So each depth is timed as it runs;
    its first :data:`UNTIMED_STEPS` steps are kept apart, as the price of changing depth.
    A depth not run yet is priced from those that were: along the straight line through
    their seconds against their :func:`trm.curriculum.relative_cost` once two are known
    (the part that does not recurse is where it meets zero depth), in proportion to one
    before (which overprices a deeper one: the schedule starts short and is corrected).
    Measurements since the last fit replace older ones of the same depth (a machine can
    slow down). ``relative(depth)``: that analytic cost; depth None is a run without a
    curriculum (every step at full depth)."""

    def __init__(self, relative: Callable[[Hashable], float]) -> None:
        self.relative = relative
        self.window: dict[Hashable, list[float]] = {}  # depth -> [seconds, steps] since the fit
        self.known: dict[Hashable, float] = {}  # depth -> seconds a step, latest measured
        self.fresh: dict[Hashable, list[float]] = {}  # depth -> its first steps' seconds
        self.switch = 0.0  # seconds a change of depth costs beyond its steps

    def add(self, depth: Hashable, seconds: float, fresh: bool = False) -> None:
        """One step at ``depth`` took ``seconds``; ``fresh``: one of its first steps."""
        if fresh:
            self.fresh.setdefault(depth, []).append(seconds)
            return
        window = self.window.setdefault(depth, [0.0, 0])
        window[0] += seconds
        window[1] += 1

    def settle(self) -> None:
        """Take the measurements since the last fit (called by each fit)."""
        for depth, (seconds, count) in list(self.window.items()):
            # (too few steps to replace what is known: the window waits for more)
            if count >= MIN_TIMED or depth not in self.known:
                self.known[depth] = seconds / count
                del self.window[depth]
        for depth, first in self.fresh.items():
            if depth in self.known:
                extra = sum(first) - len(first) * self.known[depth]
                self.switch = max(self.switch, extra)

    def seconds(self, depth: Hashable) -> float:
        """Seconds of a step at ``depth``: measured, or priced from the depths that were."""
        if depth in self.known:
            return self.known[depth]
        if not self.known:
            raise ValueError("no step has been timed yet")
        points = [(self.relative(d), s) for d, s in self.known.items()]
        r = self.relative(depth)
        if len(points) >= 2:
            mean_r = sum(p for p, _ in points) / len(points)
            mean_s = sum(s for _, s in points) / len(points)
            var = sum((p - mean_r) ** 2 for p, _ in points)
            if var > 0:
                slope = sum((p - mean_r) * (s - mean_s) for p, s in points) / var
                fixed = mean_s - slope * mean_r
                if slope > 0 and fixed >= 0:
                    return fixed + slope * r
        nearest_r, nearest_s = min(points, key=lambda point: abs(point[0] - r))
        return nearest_s * r / nearest_r


def evaluations_between(first: int, last: int, every: int) -> int:
    """Evaluations the loop runs after step ``first`` up to ``last`` (every ``every`` steps,
    not at the end: the final one is counted apart)."""
    if last <= first:
        return 0
    return (last - 1) // every - first // every


def fit_steps(
    *,
    seconds_left: float,
    step_seconds: float,
    eval_seconds: float,
    done: int,
    eval_every: int,
    cap: int,
    work: Callable[[int, int], float] | None = None,
) -> int:
    """The most steps in all (``done`` of them behind) whose training and evaluations, plus
    the final evaluation, fit in ``seconds_left``; at most ``cap``. ``work(done, total)``:
    the steps still to run in a ``total``-step schedule counted in steps of
    ``step_seconds`` (a depth curriculum's shallow steps count less); default
    ``total - done``."""
    room = seconds_left - eval_seconds  # the final evaluation

    def fits(total: int) -> bool:
        ahead = total - done if work is None else work(done, total)
        used = ahead * step_seconds
        return used + evaluations_between(done, total, eval_every) * eval_seconds <= room

    low, high = done, max(done, cap)  # the cost grows with the steps: search for the last fit
    if room < 0:
        return done
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def step_cap(max_minutes: float | None, resume: bool, length: int | None) -> int | None:
    """The most steps a time budget may size a run to: the ``length`` given in steps
    (whichever comes first), else no limit; None: no sizing (no budget, or a resumed run,
    which keeps the schedule it chose)."""
    if not max_minutes or resume:
        return None
    return length or MAX_FITTED_STEPS


def check_fit(fit: Fit, warmup: int, has_evaluation: bool) -> None:
    """Refuse a budget too small for the run's warm-up or one evaluation, in one line."""
    if fit.steps <= warmup:
        raise SettingError(
            "max_minutes",
            f"{fit.minutes:g} leaves time for {fit.steps:,} steps at "
            f"{fit.step_seconds:.3g} s each, not enough to finish the warm-up of {warmup:,} "
            "steps: give more minutes or a shorter `warmup`",
        )
    if has_evaluation and fit.eval_seconds >= fit.minutes * 60 * (1 - RESERVE):
        raise SettingError(
            "max_minutes",
            f"{fit.minutes:g} is less than one evaluation takes ({fit.eval_seconds:.3g} s): "
            "give more minutes or a smaller `eval_max`",
        )


def refit_points(start: int, steps: int) -> list[int]:
    """The steps at which to measure again (:data:`REFITS` of the way)."""
    return sorted({start + math.ceil((steps - start) * f) for f in REFITS} - {start, steps})
