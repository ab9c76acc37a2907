"""A curriculum over recursion depth (CGAR's progressive depth, arXiv 2511.08653).

The first part of a run recurses shallower: with ``share`` = 0.6 (CGAR's schedule), the
first 30% of the steps run a third of the model's ``n`` latent updates and ``T`` cycles
(rounded up: 6, 3 -> 2, 1), the next 30% two thirds (4, 2), the rest the full depth. Early
steps are cheaper and, by CGAR's ablations, no worse for it; evaluation always recurses at
full depth. ``share`` 0 is off.

:func:`work` counts a stretch of steps in full-depth steps, so a time budget
(:mod:`trm.budget`) can price a schedule whose steps do not all cost the same: by the
seconds it measured at each depth, or before it has, by :func:`relative_cost`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from trm.errors import SettingError

STAGES = 3  # shallow, medium, full


def depth_at(progress: float, n: int, T: int, share: float) -> tuple[int, int]:
    """``(n, T)`` at ``progress`` (0 to 1) through the run's schedule."""
    if share <= 0 or progress >= share:
        return n, T
    stage = int(progress / share * (STAGES - 1)) + 1  # 1 or 2 of 3
    return max(1, math.ceil(n * stage / STAGES)), max(1, math.ceil(T * stage / STAGES))


def relative_cost(depth: tuple[int, int], n: int, T: int) -> float:
    """One step at ``depth`` against one at full depth: ``n + 1`` calls of the network per
    cycle, the ``T - 1`` cycles without gradients once, the last about three times
    (forward and backward)."""
    d_n, d_T = depth
    return (d_n + 1) * (d_T + 2) / ((n + 1) * (T + 2))


def work(
    first: float,
    last: float,
    total: float,
    n: int,
    T: int,
    share: float,
    cost: Callable[[tuple[int, int]], float] | None = None,
) -> float:
    """Steps ``first`` to ``last`` of a ``total``-step schedule, in full-depth steps: a step
    at depth ``d`` counts ``cost(d)`` (default :func:`relative_cost`)."""
    if last <= first:
        return 0.0
    if share <= 0:
        return last - first
    cost = cost or (lambda depth: relative_cost(depth, n, T))
    edges = [total * share * k / (STAGES - 1) for k in range(STAGES)]  # 0, share/2, share
    spent = 0.0
    for k in range(STAGES - 1):  # the two shallow stages
        overlap = min(last, edges[k + 1]) - max(first, edges[k])
        if overlap > 0:
            progress = (edges[k] + edges[k + 1]) / 2 / total
            spent += overlap * cost(depth_at(progress, n, T, share))
    return spent + max(0.0, last - max(first, edges[-1]))


def changes_ahead(progress: float, n: int, T: int, share: float) -> int:
    """How many times the depth still changes after ``progress`` (each change recompiles a
    compiled model)."""
    if share <= 0:
        return 0
    depth, changes = depth_at(progress, n, T, share), 0
    for k in range(1, STAGES):
        start = share * k / (STAGES - 1)
        if start > progress and depth_at(start, n, T, share) != depth:
            depth, changes = depth_at(start, n, T, share), changes + 1
    return changes


def check_curriculum(share: float) -> float:
    if not 0 <= share < 1:
        raise SettingError(
            "depth_curriculum",
            f"is the share of the run at reduced depth: from 0 (off) to below 1 (the run "
            f"must end at full depth), got {share}",
        )
    return share
