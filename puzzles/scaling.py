"""Test-time scaling with a checker: K candidates per puzzle, verified, then voted.

For each puzzle, K candidates run together (batched across puzzles):

* **views**: candidate ``k`` sees the puzzle through one of the task's augmentations
  (candidate 0 through the identity), and its answer is mapped back through the exact
  inverse. Every Sudoku and maze augmentation is a move of the cells and a relabelling of
  the tokens, ``view = table[x[perm]]``, so one gather does a whole batch both ways;
* **noise** (the PTRM idea): candidates other than 0 start from the model's starting
  state plus Gaussian noise of standard deviation ``noise`` (seeded).

Selection, in this order where the task has a checker (Sudoku: the rules and the clues;
maze: a wall-free, connected S-G path of the shortest length): a candidate whose answer
passes the checker; else the vote of the candidates' answers (most candidates, ties by mean
halting confidence: :func:`trm.vote.rank`); else the most confident candidate.
``select="vote"`` and ``"confidence"`` skip the checker (the model alone).

Verified halting (``halting="verified"``, with the checker): after every supervision step
the active candidates' answers are checked; a puzzle stops the moment one of its candidates
passes (that answer is the one reported), and unverified puzzles run to ``max_steps`` (by
default the model's ``n_sup``). No answer
is called verified unless it passed the checker; the others are the vote's best, marked so.

Scheduling (the compute only, never the answers): every candidate runs its own steps from its
own start, at most ``batch_rows`` rows a step; a row that stops gives its place to a waiting
one at once. With ``lead``, a puzzle's candidate 0 starts alone and the others join it after
``lead_steps`` steps only if it has not passed by then.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, replace

import numpy as np
import torch

from puzzles.tasks import Task, Views
from trm.config import MAX_SEED
from trm.device import autocast
from trm.errors import SettingError, TRMError
from trm.evaluate import inference_batch, steps_to_run
from trm.vote import rank

SELECT = ("checker", "vote", "confidence")
CANDIDATE_HALTING = ("verified", "full")
NOISE_KEY = "noise"  # config.json: the noise a checkpoint's candidates start with by default


def check_noise(noise) -> float:
    """A noise level: a finite number >= 0 (as a float)."""
    if isinstance(noise, bool) or not isinstance(noise, (int, float)):
        raise SettingError("noise", f"must be a number, got {noise!r}")
    if not (noise >= 0 and math.isfinite(noise)):
        raise SettingError("noise", f"must be a finite number >= 0, got {noise}")
    return float(noise)


def default_noise(config: dict) -> float:
    """The noise a checkpoint's candidates start with unless told otherwise: its
    config.json's ``noise`` (chosen on held-out puzzles, recorded by
    benchmarks/record_max_steps.py), else none. (A noise asked for wins:
    :meth:`Sampling.for_checkpoint`.)"""
    if config.get(NOISE_KEY) is None:
        return 0.0
    return check_noise(config[NOISE_KEY])


def describe(views: bool, noise: float) -> str:
    """What the candidates differ by, for people: "views", "noise 0.5", "views + noise 1.0"."""
    return (
        " + ".join(k for k, on in (("views", views), (f"noise {noise}", noise > 0)) if on)
        or "identical candidates"
    )


@dataclass
class Scaled:
    """The outcome for every puzzle of a batch (tokens in the puzzle's own frame)."""

    answers: np.ndarray  # (P, L) the selected answer
    verified: np.ndarray  # (P,) bool: it passed the checker
    chosen: np.ndarray  # (P,) the candidate selected
    step: np.ndarray  # (P,) the supervision step it was verified at (0: not verified)
    votes: np.ndarray  # (P,) candidates that gave the selected answer
    n_verified: np.ndarray  # (P,) candidates that passed the checker when the puzzle stopped
    candidate_steps: np.ndarray  # (P, K) supervision steps each candidate ran
    seconds: float = 0.0

    @property
    def mean_steps(self) -> float:
        return float(self.candidate_steps.mean())


# candidate 0's steps alone before the others join it: 6 to 12 ran the fewest candidate steps
# on 200 held-out deep puzzles (benchmarks/candidate_schedule.py, data/sel-deep)
LEAD_STEPS = 8
PUZZLES_PER_PART = 4096  # puzzles whose candidates' answers are held at once
MAX_SAMPLES = 4096  # candidates per puzzle: far past where the checker's gains level off


@dataclass(frozen=True)
class Sampling:
    """How each puzzle's K candidates are made and one of them chosen (what `--samples`,
    `--noise`, `--no-augment`, `--select`, `--halting` and `--seed` set): checked when made,
    then passed whole."""

    samples: int  # K candidates per puzzle
    # std of the Gaussian noise on the starting state of candidates 1..K-1; None: the
    # checkpoint's own (default_noise), set by for_checkpoint before the candidates run
    noise: float | None = 0.0
    views: bool = True  # candidate k sees the puzzle through the task's view k
    select: str = "checker"  # see SELECT
    halting: str = "verified"  # see CANDIDATE_HALTING (with the checker only)
    seed: int = 0  # of the views and the noise
    # with early verification: candidate 0 (the puzzle as it is) starts alone, and the other
    # K-1 join it only where it has not passed after ``lead_steps`` steps (the same answers
    # in less time: benchmarks/lead_candidate.py times it, benchmarks/candidate_schedule.py
    # counts it; LEAD_STEPS was chosen there on held-out puzzles)
    lead: bool = True
    lead_steps: int = LEAD_STEPS

    def __post_init__(self):
        if not 1 <= self.samples <= MAX_SAMPLES:
            raise SettingError("samples", f"must be from 1 to {MAX_SAMPLES}, got {self.samples}")
        if not 0 <= self.seed <= MAX_SEED:  # the noise's seeds are made from it: see MAX_SEED
            raise TRMError(
                "the seed of the views and noise must be >= 0 and at most "
                f"{MAX_SEED:,}, got {self.seed}"
            )
        if self.noise is not None:
            check_noise(self.noise)
        if isinstance(self.lead_steps, bool) or not (
            isinstance(self.lead_steps, int) and self.lead_steps >= 1
        ):
            raise SettingError(
                "lead_steps", f"must be a whole number >= 1, got {self.lead_steps!r}"
            )
        if self.select not in SELECT:
            raise SettingError("select", f"must be one of {', '.join(SELECT)}, got {self.select!r}")
        if self.halting not in CANDIDATE_HALTING:
            raise SettingError(
                f"halting with `samples` must be one of {', '.join(CANDIDATE_HALTING)}, "
                f"got {self.halting!r}"
            )

    @property
    def use_checker(self) -> bool:
        return self.select == "checker"

    @property
    def verify_early(self) -> bool:
        """A puzzle stops at the first step where one of its candidates passes."""
        return self.use_checker and self.halting == "verified"

    def for_checkpoint(self, config: dict) -> Sampling:
        """These settings, the noise left to the checkpoint (None) taken from its
        config.json (:func:`default_noise`)."""
        if self.noise is not None:
            return self
        return replace(self, noise=default_noise(config))

    def check_task(self, task: Task) -> None:
        """Refuse what cannot run: a checker or views ``task`` lacks, a noise still left
        to a checkpoint (:meth:`for_checkpoint` first)."""
        if self.noise is None:
            raise SettingError(
                "noise", "None (the checkpoint's own) is read with Sampling.for_checkpoint first"
            )
        if self.use_checker and task.check is None:
            raise SettingError(
                "select", f"checker: {task.name} has no checker; use vote or confidence"
            )
        if self.views and task.views is None:
            raise SettingError("views", f"{task.name} has no views; run without them")

    def report(self) -> dict:
        """The settings as reports give them (the halting that applied)."""
        return {
            "samples": self.samples,
            "noise": self.noise,
            "views": self.views,
            "select": self.select,
            "halting": self.halting if self.use_checker else "full",
            "seed": self.seed,
            "lead": self.leads,
            "lead_steps": self.lead_steps if self.leads else None,
        }

    @property
    def leads(self) -> bool:
        """Candidate 0 runs alone first (where that can change nothing but the compute)."""
        return self.lead and self.verify_early and self.samples > 1


@dataclass
class Candidates:
    """Every candidate of a batch once it stopped (row r: puzzle r // K, candidate r % K),
    and what the checker said per puzzle."""

    final: np.ndarray  # (P*K, L) each candidate's answer, in the puzzle's own frame
    confidence: np.ndarray  # (P*K,) its halting probability at its last step
    ran: np.ndarray  # (P*K,) supervision steps it ran
    verified_row: np.ndarray  # (P,) the first candidate that passed the checker (-1: none)
    verified_at: np.ndarray  # (P,) the step it passed at (0: none)
    n_verified: np.ndarray  # (P,) candidates that passed


@torch.no_grad()
def run(
    model,
    questions: np.ndarray,
    task: Task,
    sampling: Sampling,
    *,
    batch_rows: int | None = None,
    precision: str = "fp32",
    puzzle_ids: np.ndarray | None = None,
    max_steps: int | None = None,
) -> Scaled:
    """K = ``sampling.samples`` candidates for every puzzle of ``questions`` (P, L) tokens,
    each running ``max_steps`` supervision steps at most (None: the model's ``n_sup``),
    ``batch_rows`` candidate rows a step (None: :func:`trm.evaluate.inference_batch`)."""
    sampling.check_task(task)
    cfg, k = model.config, sampling.samples
    steps = steps_to_run(model, max_steps)
    if batch_rows is None:
        batch_rows = inference_batch(model)
    if sampling.views:
        views = task.views(k, cfg.seq_len, cfg.vocab_size, np.random.default_rng(sampling.seed))
    else:
        views = Views.identity(k, cfg.seq_len, cfg.vocab_size)
    questions = np.asarray(questions)
    p_total = len(questions)
    pids = np.zeros(p_total, np.int64) if puzzle_ids is None else np.asarray(puzzle_ids, np.int64)
    start = time.perf_counter()
    parts = []
    for lo in range(0, p_total, PUZZLES_PER_PART):
        part = np.arange(lo, min(lo + PUZZLES_PER_PART, p_total))
        stopped = _run_candidates(
            model,
            questions[part],
            pids[part],
            views,
            task,
            sampling,
            steps,
            precision,
            part,
            batch_rows=batch_rows,
        )
        parts.append(_select(questions[part], stopped, task, sampling))
    out = Scaled(*(np.concatenate([getattr(p, f) for p in parts]) for f in SCALED_FIELDS))
    out.seconds = time.perf_counter() - start
    return out


SCALED_FIELDS = ("answers", "verified", "chosen", "step", "votes", "n_verified", "candidate_steps")


def _noise(shape: tuple[int, ...], k: int, seed: int, puzzles) -> torch.Tensor:
    """Unit Gaussian noise for the rows of the puzzles numbered ``puzzles`` (``k`` rows
    each): each puzzle's from its own seed, so the batch size does not change the draws."""
    per = (k, *shape[1:])
    return torch.cat(
        [
            torch.randn(per, generator=torch.Generator().manual_seed(seed * 1_000_003 + int(q)))
            for q in puzzles
        ]
    )


def _run_candidates(
    model,
    questions: np.ndarray,
    pids: np.ndarray,
    views: Views,
    task: Task,
    sampling: Sampling,
    max_steps: int,
    precision: str,
    puzzles: np.ndarray,
    *,
    batch_rows: int,
) -> Candidates:
    """Run the K candidates of the puzzles numbered ``puzzles`` (their rows of the whole
    set: the noise's seeds), at most ``batch_rows`` rows a step. A row leaves the batch when
    it has run ``max_steps`` steps or (with early verification) its puzzle has passed the
    checker, and waiting rows take its place at once (joining candidates first).

    A puzzle's rows start together, except with ``sampling.leads``: candidate 0 starts
    alone, and the other K-1 join it (candidate 0 going on where it is) only if it has not
    passed the checker after ``sampling.lead_steps`` steps; it leaves the batch until there
    is room for all of them, so the steps each candidate runs do not depend on
    ``batch_rows``. Every candidate runs its own steps from its own start, so which
    candidates pass, and their answers, are the same either way: only the compute differs."""
    device = next(model.parameters()).device
    k = sampling.samples
    back = views.inverse()
    p = len(questions)
    c = Candidates(
        final=np.zeros((p * k, questions.shape[1]), np.int64),
        confidence=np.zeros(p * k),
        ran=np.zeros(p * k, np.int64),
        verified_row=np.full(p, -1),
        verified_at=np.zeros(p, np.int64),
        n_verified=np.zeros(p, np.int64),
    )
    join_at = min(sampling.lead_steps, max_steps) if sampling.leads and k > 1 else 0
    fresh = deque(range(p))  # puzzles not started
    # candidates of started puzzles that start together: (rows, the state candidate 0
    # carries after its join_at steps, None where it has finished)
    joins: deque[tuple[np.ndarray, tuple | None]] = deque()
    rows = np.zeros(0, np.int64)  # the rows in the batch (row r: candidate r % k of puzzle
    ran = np.zeros(0, np.int64)  # r // k) and the steps each has run
    x = y = z = None
    was_training = model.training
    model.eval()
    with autocast(device, precision):
        while True:
            carried, starting, room = [], [], batch_rows - len(rows)
            while joins or fresh:  # joins first; a group starts whole, or waits for room
                size = len(joins[0][0]) if joins else (1 if join_at else k)
                if size > room and (len(rows) or carried or starting):
                    break
                room -= size
                if joins:
                    members, state = joins.popleft()
                    if state is None:
                        starting.extend(members)
                    else:
                        carried.append((members[0], state))
                        starting.extend(members[1:])
                else:
                    q = fresh.popleft()
                    starting.extend([q * k] if join_at else range(q * k, q * k + k))
            if carried or starting:
                parts = [] if x is None else [(x, y, z)]
                parts += [state for _, state in carried]
                if starting:
                    new = np.asarray(starting, np.int64)
                    parts.append(
                        _starting_rows(model, questions, pids, views, sampling, puzzles, new)
                    )
                x, y, z = (torch.cat(t) for t in zip(*parts))
                rows = np.concatenate([rows, [r for r, _ in carried], starting]).astype(np.int64)
                ran = np.concatenate([ran, np.full(len(carried), join_at), np.zeros(len(starting))])
                ran = ran.astype(np.int64)
            if not len(rows):
                break
            out = model.deep_step(x, y, z)
            ran += 1
            puzzle = rows // k
            answers = back.apply(out.logits.argmax(-1).cpu().numpy(), rows % k)
            done = ran >= max_steps
            if sampling.verify_early:
                ok = task.check(questions[puzzle], answers)
                for i in np.flatnonzero(ok):  # first verified candidate of each puzzle wins
                    q = puzzle[i]
                    c.n_verified[q] += 1
                    if c.verified_row[q] < 0:
                        c.verified_row[q], c.verified_at[q] = rows[i], ran[i]
                done |= c.verified_row[puzzle] >= 0
            # candidate 0 has not passed after join_at steps: it leaves the batch to wait for
            # the others, and starts again beside them
            pause = np.zeros(len(rows), bool)
            for i in np.flatnonzero((rows % k == 0) & (ran == join_at)) if join_at else []:
                q = puzzle[i]
                if c.verified_row[q] >= 0:
                    continue
                others = np.arange(q * k + 1, q * k + k)
                if done[i]:  # it has run all its steps: the others start by themselves
                    joins.append((others, None))
                else:
                    pause[i] = True
                    state = (x[i : i + 1], out.y[i : i + 1], out.z[i : i + 1])
                    members = np.concatenate([[q * k], others])
                    joins.append((members, state))
            if done.any():
                gone = rows[done]
                c.final[gone] = answers[done]
                c.confidence[gone] = torch.sigmoid(out.halt_logit.float()).cpu().numpy()[done]
                c.ran[gone] = ran[done]
            stay = ~(done | pause)
            keep = torch.from_numpy(stay).to(device)
            x, y, z = x[keep], out.y[keep], out.z[keep]
            rows, ran = rows[stay], ran[stay]
    model.train(was_training)
    return c


def _starting_rows(model, questions, pids, views, sampling, puzzles, rows):
    """The input and the starting state of the candidate rows ``rows`` (row r: candidate
    r % K of puzzle r // K); candidates other than 0 start from the noised state."""
    device = next(model.parameters()).device
    k, noise = sampling.samples, sampling.noise
    puzzle, which = rows // k, rows % k
    inputs = views.apply(questions[puzzle], which)
    x = model.embed_input(
        torch.from_numpy(inputs).to(device), torch.from_numpy(pids[puzzle]).to(device)
    )
    y, z = model.initial_state(len(rows))
    if noise > 0 and k > 1 and (which != 0).any():
        mask = torch.from_numpy(which != 0).to(device)[:, None, None]
        for i, s in enumerate((y, z)):
            draws = {}  # each puzzle's K draws come from its own seed: see _noise
            for q in np.unique(puzzle):
                draws[q] = _noise(tuple(s.shape), k, 2 * sampling.seed + i, [puzzles[q]])
            draw = torch.stack([draws[q][j] for q, j in zip(puzzle, which)])
            s.add_(mask * noise * draw.to(device, s.dtype))
    return x, y, z


def _select(questions: np.ndarray, c: Candidates, task: Task, sampling: Sampling) -> Scaled:
    """Each puzzle's answer: a candidate that passed the checker, else the vote's (or the
    most confident candidate's)."""
    p, k = len(questions), sampling.samples
    if sampling.use_checker and not sampling.verify_early:  # checked at the end: all steps ran
        ok = task.check(np.repeat(questions, k, axis=0), c.final)
        for q in range(p):
            hits = np.flatnonzero(ok[q * k : (q + 1) * k])
            c.n_verified[q] = len(hits)
            if len(hits):
                c.verified_row[q], c.verified_at[q] = q * k + hits[0], c.ran[q * k + hits[0]]
    answers = np.zeros_like(questions, dtype=np.int64)
    chosen = np.zeros(p, np.int64)
    votes = np.zeros(p, np.int64)
    for q in range(p):
        block = range(q * k, (q + 1) * k)
        if c.verified_row[q] >= 0:
            r = int(c.verified_row[q])
        elif sampling.select == "confidence":
            r = max(block, key=lambda i: c.confidence[i])
        else:  # the vote (unverified puzzles: every candidate ran every step)
            ranked = rank((c.final[i].tobytes(), c.confidence[i]) for i in block)
            r = next(i for i in block if c.final[i].tobytes() == ranked[0].key)
        answers[q], chosen[q] = c.final[r], r - q * k
        votes[q] = sum(np.array_equal(c.final[i], c.final[r]) for i in block)
    return Scaled(
        answers,
        c.verified_row >= 0,
        chosen,
        c.verified_at,
        votes,
        c.n_verified,
        c.ran.reshape(p, k),
    )


def evaluate_samples(
    model,
    data,
    task: Task,
    sampling: Sampling,
    *,
    batch_rows: int | None = None,
    precision: str = "fp32",
    device=None,
    max_steps: int | None = None,
) -> dict:
    """The model alone (one pass, all steps) and with ``sampling``'s candidates, on the same
    puzzles (``data``: a :class:`trm.data.TokenData`): exact accuracy against the labels,
    the share whose answer passes the checker, steps and speed, kept apart."""
    from trm.evaluate import evaluate, exact_match

    if len(data) == 0:
        raise TRMError("nothing to evaluate: the split is empty")
    sampling.check_task(task)
    one = evaluate(
        model,
        data,
        batch_size=batch_rows,
        device=device,
        precision=precision,
        halting="full",
        max_steps=max_steps,
    )
    one_pass = {
        "exact_accuracy": one.exact_accuracy,
        "mean_steps": one.mean_steps,
        "puzzles_per_s": one.examples_per_s,
    }
    if task.check is not None:
        one_pass["checker_passed"] = float(task.check(data.inputs, one.predictions).mean())
    r = run(
        model,
        data.inputs,
        task,
        sampling,
        batch_rows=batch_rows,
        precision=precision,
        puzzle_ids=data.puzzle_ids,
        max_steps=max_steps,
    )
    scaled = {
        **sampling.report(),
        "exact_accuracy": float(exact_match(r.answers, data.labels).mean()),
        "mean_steps": r.mean_steps,
        "candidates": int(r.candidate_steps.size),
        "puzzles_per_s": len(data) / r.seconds if r.seconds > 0 else float("inf"),
        "seconds": r.seconds,
    }
    if task.check is not None:
        scaled["verified"] = float(r.verified.mean())
        scaled["mean_verified_step"] = (
            float(r.step[r.verified].mean()) if r.verified.any() else None
        )
    return {
        "n": len(data),
        "n_sup": model.config.n_sup,
        "max_steps": steps_to_run(model, max_steps),
        "one_pass": one_pass,
        "scaled": scaled,
    }


def solve_one(
    model,
    question: np.ndarray,
    task: Task,
    sampling: Sampling,
    *,
    precision: str = "fp32",
    max_steps: int | None = None,
) -> tuple[np.ndarray, dict]:
    """`trm solve --samples`: the selected answer (tokens) for one puzzle and how it was
    found (a puzzle stops at its first verified candidate, whatever ``sampling.halting``)."""
    sampling = replace(sampling, halting="verified")
    r = run(
        model, np.asarray(question)[None], task, sampling, precision=precision, max_steps=max_steps
    )
    report = sampling.report()
    info = {
        **{key: report[key] for key in ("samples", "noise", "views", "select", "seed")},
        "chosen": int(r.chosen[0]),
        "ran": int((r.candidate_steps[0] > 0).sum()),  # candidates that ran (lead: maybe 1)
        "votes": int(r.votes[0]),
        "verified": bool(r.verified[0])
        if task.check is not None and sampling.use_checker
        else None,
        "verified_candidates": int(r.n_verified[0]),
        "verified_at_step": int(r.step[0]),
        "mean_steps": r.mean_steps,
        "max_steps": steps_to_run(model, max_steps),
        "seconds": r.seconds,
    }
    return r.answers[0], info
