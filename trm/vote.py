"""Voting among the candidate answers of one question (its views or trajectories).

Each candidate is an answer (identified by a key: equal answers have equal keys) with a
confidence, the model's halting probability for it. :func:`rank` orders the distinct
answers as the official TRM evaluation does: most votes first, ties broken by the mean
confidence of their votes (and, after that, by which answer was seen first). Task
independent: ARC votes over augmented views mapped back; a task with a checker can pick
the first verified candidate instead and keep the vote as a fallback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Ranked:
    key: bytes
    votes: int
    confidence: float  # mean over the votes


def rank(votes: Iterable[tuple[bytes, float]]) -> list[Ranked]:
    """The distinct answers among ``(key, confidence)`` votes, best first."""
    tally: dict[bytes, list[float]] = {}
    for key, confidence in votes:
        count_sum = tally.setdefault(key, [0, 0.0])
        count_sum[0] += 1
        count_sum[1] += float(confidence)
    ranked = [Ranked(key, int(n), total / n) for key, (n, total) in tally.items()]
    # sorted() is stable with reverse=True too: exact ties keep the order first seen
    return sorted(ranked, key=lambda r: (r.votes, r.confidence), reverse=True)


def hit_within(ranked: list[Ranked], key: bytes, k: int) -> bool:
    """Is the answer ``key`` among the first ``k`` (pass@k for this question)?"""
    return any(r.key == key for r in ranked[:k])
