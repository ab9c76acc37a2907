"""Evaluation with all supervision steps, or with adaptive halting that really saves work.

``full``: every example runs ``n_sup`` deep steps; the answer is the last step's.
``adaptive``: after each deep step, the examples whose halting head says "halt" *and* whose
answer is the one the step before gave (a confirmed answer) keep it and leave the batch; only
the rest run the next step (the batch shrinks).

``head``: the halting head alone, as training halts (for measurements: the head is sure
too early on unseen examples, e.g. 94.9% against 98.7% with all steps for the 4x4 tiny
model, where the confirmed rule gets 99.2% in 2.1 of 4 steps; docs/results.md).

Steps at test time: ``max_steps`` (None: the model's ``n_sup``) may go past the steps a model
was trained with, and the recursion keeps refining (the shipped Sudoku model: 47.6% of the
17-clue set in 8 steps, 56.9% in 32; docs/results.md). A checkpoint may record the count its
evaluation and solve take by default (``max_steps`` in its config.json:
:func:`default_max_steps`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from trm.config import MAX_SIZES, PAD
from trm.data import TokenData
from trm.device import autocast, inference_rows
from trm.errors import SettingError, TRMError
from trm.model import TRM

HALTING = ("full", "adaptive", "head")
MAX_STEPS = MAX_SIZES["n_sup"]  # steps at test time: as many as a model may train with
STEPS_KEY = "max_steps"  # config.json: the test-time steps a checkpoint is evaluated with


def check_max_steps(max_steps: int) -> int:
    if isinstance(max_steps, bool) or not isinstance(max_steps, int):
        raise SettingError("max_steps", f"must be a whole number, got {max_steps!r}")
    if not 1 <= max_steps <= MAX_STEPS:
        raise SettingError("max_steps", f"must be from 1 to {MAX_STEPS:,}, got {max_steps:,}")
    return max_steps


def steps_to_run(model, max_steps: int | None) -> int:
    """``max_steps``, checked, else the ``n_sup`` the model was trained with."""
    return check_max_steps(model.config.n_sup if max_steps is None else max_steps)


def default_max_steps(config: dict, n_sup: int, asked: int | None = None) -> int:
    """The supervision steps to run: ``asked`` where given, else the checkpoint's own: its
    config.json's ``max_steps`` (chosen by measurement, e.g. the shipped Sudoku model's),
    else the ``n_sup`` it was trained with."""
    if asked is not None:
        return check_max_steps(asked)
    if config.get(STEPS_KEY) is None:
        return n_sup
    return check_max_steps(config[STEPS_KEY])


def check_halting(halting: str) -> None:
    if halting not in HALTING:
        raise TRMError(f"unknown halting {halting!r}: choose one of {', '.join(HALTING)}")


def halts_now(
    halting: str,
    halt_logit: torch.Tensor,
    answer: torch.Tensor | None = None,
    previous: torch.Tensor | None = None,
) -> torch.Tensor:
    """Which rows stop after this step (B,) bool. ``answer`` is this step's argmax (B, ...),
    ``previous`` the step before's for the same rows (None at the first step); only
    ``adaptive`` reads them."""
    if halting == "full":
        return torch.zeros(halt_logit.shape[0], dtype=torch.bool, device=halt_logit.device)
    head = halt_logit > 0
    if halting == "head":
        return head
    if previous is None:  # nothing to confirm the first answer against
        return torch.zeros_like(head)
    same = (answer == previous).reshape(answer.shape[0], -1).all(-1)
    return head & same


@dataclass
class EvalResult:
    exact_accuracy: float  # whole answer right
    cell_accuracy: float  # labelled positions right
    mean_steps: float  # supervision steps used per example
    n: int
    examples_per_s: float
    predictions: np.ndarray  # (n, L) predicted tokens
    steps: np.ndarray  # (n,) supervision steps used
    correct: np.ndarray  # (n,) bool
    max_steps: int  # the supervision steps an example could run

    def summary(self) -> dict:
        return {
            "exact_accuracy": self.exact_accuracy,
            "cell_accuracy": self.cell_accuracy,
            "mean_steps": self.mean_steps,
            "max_steps": self.max_steps,
            "n": self.n,
            "examples_per_s": self.examples_per_s,
        }


@torch.no_grad()
def run_with_halting(
    model, x: torch.Tensor, n_sup: int, halting: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The logits each row ends with, the supervision steps it used (B,) and the halting
    logit of that step (B,).

    ``model`` is any recursive model with ``initial_state(batch)`` and
    ``deep_step(x, y, z) -> StepOutput`` (a TRM, or a vision model on the same core); ``x``
    is the embedded question. With ``adaptive`` (or ``head``) halting, rows that stop
    (:func:`halts_now`) keep that step's logits and leave the batch, so the remaining work
    really shrinks.
    """
    b = x.shape[0]
    device = x.device
    final = None
    steps = torch.full((b,), n_sup, dtype=torch.long, device=device)
    halt = torch.zeros(b, dtype=torch.float32, device=device)
    active = torch.arange(b, device=device)  # rows still running
    y, z = model.initial_state(b)
    previous = None  # the answer of the step before, for the rows still running
    for step in range(1, n_sup + 1):
        out = model.deep_step(x, y, z)
        if final is None:
            final = torch.zeros((b, *out.logits.shape[1:]), dtype=out.logits.dtype, device=device)
        if step == n_sup:
            done = torch.ones_like(active, dtype=torch.bool)
        else:
            answer = out.logits.argmax(-1) if halting == "adaptive" else None
            done = halts_now(halting, out.halt_logit, answer, previous)
            previous = answer
        if done.any():
            final[active[done]] = out.logits[done]
            steps[active[done]] = step
            halt[active[done]] = out.halt_logit[done].float()
        if done.all():
            break
        if done.any():  # halted rows leave the batch: no more work for them
            keep = ~done
            active, x, y, z = active[keep], x[keep], out.y[keep], out.z[keep]
            previous = previous[keep] if previous is not None else None
        else:
            y, z = out.y, out.z
    return final, steps, halt


@torch.no_grad()
def predict_batch(
    model: TRM,
    inputs: torch.Tensor,
    puzzle_ids: torch.Tensor,
    halting: str,
    precision: str,
    max_steps: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Predicted tokens (B, L), supervision steps used (B,) and the halting logit of the
    step answered from (B,), for one batch (``max_steps`` steps at most; None: n_sup)."""
    with autocast(inputs.device, precision):
        x = model.embed_input(inputs, puzzle_ids)
        logits, steps, halt = run_with_halting(model, x, steps_to_run(model, max_steps), halting)
    return logits.argmax(-1), steps, halt


def inference_batch(model, device: torch.device | None = None) -> int:
    """Examples per inference batch for ``model`` on ``device`` (None: the model's own):
    :func:`trm.device.inference_rows` of its state's length and width."""
    device = device or next(model.parameters()).device
    return inference_rows(device, model.config.total_len, model.config.hidden_size)


def predict(
    model: TRM,
    data: TokenData,
    *,
    batch_size: int | None = None,
    device: torch.device | None = None,
    precision: str = "fp32",
    halting: str = "full",
    progress: bool = False,
    max_steps: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every example's predicted tokens ``(n, L)`` uint8, supervision steps used ``(n,)``
    and halting probability at the step it answered from ``(n,)``, in batches
    (``max_steps`` supervision steps at most; None: the model's ``n_sup``; ``batch_size``
    None: :func:`inference_batch`)."""
    from tqdm import tqdm

    check_halting(halting)
    max_steps = steps_to_run(model, max_steps)
    device = device or next(model.parameters()).device
    if batch_size is None:
        batch_size = inference_batch(model, device)
    was_training = model.training
    model.eval()
    preds, steps, halts = [], [], []
    for i in tqdm(
        range(0, len(data), batch_size),
        desc="predict",
        unit="batch",
        disable=not progress,
        dynamic_ncols=True,
        mininterval=0.5,
    ):
        inputs = torch.from_numpy(data.inputs[i : i + batch_size]).to(device)
        pids = torch.from_numpy(data.puzzle_ids[i : i + batch_size]).to(device)
        p, s, h = predict_batch(model, inputs, pids, halting, precision, max_steps)
        preds.append(p.to(torch.uint8).cpu())
        steps.append(s.cpu())
        halts.append(h.cpu())
    model.train(was_training)
    confidence = torch.sigmoid(torch.cat(halts).double())
    return torch.cat(preds).numpy(), torch.cat(steps).numpy(), confidence.numpy()


def check_scorable(labels: np.ndarray) -> None:
    """Refuse labels with an example whose every token is padding: nothing says what its
    answer should be, and :func:`exact_match` would count it right (an all-padding split
    would report an exact accuracy of 1)."""
    empty = int(np.sum(~np.any(np.asarray(labels) != PAD, axis=1)))
    if empty == len(labels) and empty:
        raise TRMError("every label is padding: nothing to score")
    if empty:
        raise TRMError(
            f"{empty} of {len(labels)} examples have every label padding: nothing to score them on"
        )


def exact_match(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per row: every labelled (non-PAD) position predicted right."""
    labels = np.asarray(labels).astype(np.int64)
    return np.all((np.asarray(pred).astype(np.int64) == labels) | (labels == PAD), axis=1)


def evaluate(
    model: TRM,
    data: TokenData,
    *,
    batch_size: int | None = None,
    device: torch.device | None = None,
    precision: str = "fp32",
    halting: str = "full",
    max_steps: int | None = None,
) -> EvalResult:
    check_halting(halting)
    if len(data) == 0:
        raise TRMError("nothing to evaluate: the split is empty")
    check_scorable(data.labels)
    start = time.perf_counter()
    pred, used, _ = predict(
        model,
        data,
        batch_size=batch_size,
        device=device,
        precision=precision,
        halting=halting,
        max_steps=max_steps,
    )
    seconds = time.perf_counter() - start
    labels = data.labels.astype(np.int64)
    mask = labels != PAD
    right = (pred == labels) & mask
    correct = exact_match(pred, labels)
    return EvalResult(
        exact_accuracy=float(correct.mean()),
        cell_accuracy=float(right.sum() / max(1, mask.sum())),
        mean_steps=float(used.mean()),
        n=len(data),
        examples_per_s=len(data) / seconds if seconds > 0 else float("inf"),
        predictions=pred,
        steps=used,
        correct=correct,
        max_steps=steps_to_run(model, max_steps),
    )
