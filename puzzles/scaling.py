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
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from puzzles.tasks import Task, Views
from trm.config import MAX_SEED
from trm.device import autocast
from trm.errors import SettingError, TRMError
from trm.evaluate import steps_to_run
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
    # with early verification: candidate 0 (the puzzle as it is) runs alone first, and the
    # other K-1 only for the puzzles it does not solve (the same accuracy in less time:
    # 0.72x on 17-clue puzzles, even on top95; benchmarks/lead_candidate.py)
    lead: bool = True

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
    batch_rows: int = 512,
    precision: str = "fp32",
    puzzle_ids: np.ndarray | None = None,
    max_steps: int | None = None,
) -> Scaled:
    """K = ``sampling.samples`` candidates for every puzzle of ``questions`` (P, L) tokens,
    each running ``max_steps`` supervision steps at most (None: the model's ``n_sup``)."""
    sampling.check_task(task)
    cfg, k = model.config, sampling.samples
    steps = steps_to_run(model, max_steps)
    if sampling.views:
        views = task.views(k, cfg.seq_len, cfg.vocab_size, np.random.default_rng(sampling.seed))
    else:
        views = Views.identity(k, cfg.seq_len, cfg.vocab_size)
    questions = np.asarray(questions)
    p_total = len(questions)
    pids = np.zeros(p_total, np.int64) if puzzle_ids is None else np.asarray(puzzle_ids, np.int64)
    start = time.perf_counter()

    def candidates(which: np.ndarray, sampling: Sampling, views: Views) -> Scaled:
        """Run ``sampling``'s candidates for the puzzles ``which``, in chunks."""
        per_chunk = max(1, batch_rows // sampling.samples)
        parts = []
        for lo in range(0, len(which), per_chunk):
            chunk = which[lo : lo + per_chunk]
            stopped = _run_candidates(
                model, questions[chunk], pids[chunk], views, task, sampling, steps, precision, chunk
            )
            parts.append(_select(questions[chunk], stopped, task, sampling))
        return _joined(parts)

    everyone = np.arange(p_total)
    if not sampling.leads:
        out = candidates(everyone, sampling, views)
    else:  # candidate 0 alone; then all K for the puzzles it did not solve
        alone = replace(sampling, samples=1)
        first = candidates(everyone, alone, Views(views.perms[:1], views.tables[:1]))
        rest = np.flatnonzero(~first.verified)
        others = candidates(rest, sampling, views) if len(rest) else None
        out = _lead_then_rest(first, others, rest, k)
    out.seconds = time.perf_counter() - start
    return out


SCALED_FIELDS = ("answers", "verified", "chosen", "step", "votes", "n_verified", "candidate_steps")


def _joined(parts: list[Scaled]) -> Scaled:
    return Scaled(*(np.concatenate([getattr(p, f) for p in parts]) for f in SCALED_FIELDS))


def _lead_then_rest(first: Scaled, rest: Scaled | None, which: np.ndarray, k: int) -> Scaled:
    """The puzzles candidate 0 solved alone (the others never ran: 0 steps), with the
    outcome of all K candidates on the puzzles ``which`` it did not."""
    steps = np.zeros((len(first.answers), k), np.int64)
    steps[:, :1] = first.candidate_steps
    out = replace(first, candidate_steps=steps)
    if len(which):
        for f in SCALED_FIELDS:
            getattr(out, f)[which] = getattr(rest, f)
        out.candidate_steps[which, 0] += first.candidate_steps[which, 0]  # it ran twice
    return out


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
) -> Candidates:
    """Run the K candidates of the puzzles numbered ``puzzles`` (their rows of the whole
    set: the noise's seeds) together, step by step; with early verification a puzzle's
    candidates stop once one of them passes."""
    device = next(model.parameters()).device
    k, noise, seed = sampling.samples, sampling.noise, sampling.seed
    back = views.inverse()
    p = len(questions)
    which = np.tile(np.arange(k), p)  # row r: puzzle r // k, candidate r % k
    puzzle = np.repeat(np.arange(p), k)
    inputs = views.apply(np.repeat(questions, k, axis=0), which)
    rows = p * k
    c = Candidates(
        final=np.zeros((rows, questions.shape[1]), np.int64),
        confidence=np.zeros(rows),
        ran=np.full(rows, max_steps, np.int64),
        verified_row=np.full(p, -1),
        verified_at=np.zeros(p, np.int64),
        n_verified=np.zeros(p, np.int64),
    )
    was_training = model.training
    model.eval()
    with autocast(device, precision):
        x = model.embed_input(
            torch.from_numpy(inputs).to(device), torch.from_numpy(pids[puzzle]).to(device)
        )
        y, z = model.initial_state(rows)
        if noise > 0 and k > 1:
            mask = torch.from_numpy(which != 0).to(device)[:, None, None]
            for i, s in enumerate((y, z)):
                draw = _noise(tuple(s.shape), k, 2 * seed + i, puzzles)
                s.add_(mask * noise * draw.to(device, s.dtype))
        active = np.arange(rows)
        for step in range(1, max_steps + 1):
            out = model.deep_step(x, y, z)
            tokens = out.logits.argmax(-1).cpu().numpy()
            answers = back.apply(tokens, which[active])  # in the puzzle's own frame
            done = np.full(len(active), step == max_steps)
            if sampling.verify_early:
                ok = task.check(questions[puzzle[active]], answers)
                for i in np.flatnonzero(ok):  # first verified candidate of each puzzle wins
                    q = puzzle[active[i]]
                    c.n_verified[q] += 1
                    if c.verified_row[q] < 0:
                        c.verified_row[q], c.verified_at[q] = active[i], step
                done |= c.verified_row[puzzle[active]] >= 0
            if done.any():
                rows_done = active[done]
                c.final[rows_done] = answers[done]
                c.confidence[rows_done] = torch.sigmoid(out.halt_logit.float()).cpu().numpy()[done]
                c.ran[rows_done] = step
            if done.all():
                break
            keep = torch.from_numpy(~done).to(device)
            active = active[~done]
            x, y, z = x[keep], out.y[keep], out.z[keep]
    model.train(was_training)
    return c


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
    batch_rows: int = 512,
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
