"""Evaluation with all supervision steps, or with adaptive halting that really saves work.

``full``: every example runs ``n_sup`` deep steps; the answer is the last step's.
``adaptive``: after each deep step, the examples whose halting head says "halt" keep that
step's answer and leave the batch; only the rest run the next step (the batch shrinks).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from trm.data import TokenData
from trm.device import autocast
from trm.errors import TRMError
from trm.losses import PAD
from trm.model import TRM

HALTING = ("full", "adaptive")


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

    def summary(self) -> dict:
        return {"exact_accuracy": self.exact_accuracy, "cell_accuracy": self.cell_accuracy,
                "mean_steps": self.mean_steps, "n": self.n, "examples_per_s": self.examples_per_s}


@torch.no_grad()
def run_with_halting(model, x: torch.Tensor, n_sup: int, halting: str
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits each row ends with, and the supervision steps it used (B,).

    ``model`` is any recursive model with ``initial_state(batch)`` and
    ``deep_step(x, y, z) -> StepOutput`` (a TRM, or a vision model on the same core); ``x``
    is the embedded question. With ``adaptive`` halting, rows whose halting head says "halt"
    keep that step's logits and leave the batch, so the remaining work really shrinks.
    """
    b = x.shape[0]
    device = x.device
    final = None
    steps = torch.full((b,), n_sup, dtype=torch.long, device=device)
    active = torch.arange(b, device=device)  # rows still running
    y, z = model.initial_state(b)
    for step in range(1, n_sup + 1):
        out = model.deep_step(x, y, z)
        if final is None:
            final = torch.zeros((b, *out.logits.shape[1:]), dtype=out.logits.dtype, device=device)
        if step == n_sup:
            done = torch.ones_like(active, dtype=torch.bool)
        elif halting == "full":
            done = torch.zeros_like(active, dtype=torch.bool)
        else:
            done = out.halt_logit > 0
        if done.any():
            final[active[done]] = out.logits[done]
            steps[active[done]] = step
        if done.all():
            break
        if done.any():  # halted rows leave the batch: no more work for them
            keep = ~done
            active, x, y, z = active[keep], x[keep], out.y[keep], out.z[keep]
        else:
            y, z = out.y, out.z
    return final, steps


@torch.no_grad()
def predict_batch(model: TRM, inputs: torch.Tensor, puzzle_ids: torch.Tensor, halting: str,
                  precision: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted tokens (B, L) and supervision steps used (B,) for one batch."""
    with autocast(inputs.device, precision):
        x = model.embed_input(inputs, puzzle_ids)
        logits, steps = run_with_halting(model, x, model.config.n_sup, halting)
    return logits.argmax(-1), steps


@torch.no_grad()
def predict_all_steps(model: TRM, data: TokenData, *, batch_size: int = 256,
                      device: torch.device | None = None, precision: str = "fp32",
                      progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Predicted tokens after all ``n_sup`` steps (as the official evaluation runs) and the
    halting probability of that last step, per example: ``(n, L)`` uint8 and ``(n,)``."""
    from tqdm import tqdm

    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    preds, confidence = [], []
    for i in tqdm(range(0, len(data), batch_size), desc="predict", unit="batch",
                  disable=not progress, dynamic_ncols=True, mininterval=0.5):
        inputs = torch.from_numpy(data.inputs[i:i + batch_size]).to(device)
        ids = torch.from_numpy(data.puzzle_ids[i:i + batch_size]).to(device)
        with autocast(device, precision):
            x = model.embed_input(inputs, ids)
            y, z = model.initial_state(len(inputs))
            for _ in range(model.config.n_sup):
                out = model.deep_step(x, y, z)
                y, z = out.y, out.z
        preds.append(out.logits.argmax(-1).to(torch.uint8).cpu())
        confidence.append(torch.sigmoid(out.halt_logit.double()).cpu())
    model.train(was_training)
    return torch.cat(preds).numpy(), torch.cat(confidence).numpy()


def evaluate(model: TRM, data: TokenData, *, batch_size: int = 256, device: torch.device | None = None,
             precision: str = "fp32", halting: str = "full") -> EvalResult:
    if halting not in HALTING:
        raise TRMError(f"unknown halting {halting!r}: choose full or adaptive")
    if len(data) == 0:
        raise TRMError("nothing to evaluate: the split is empty")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    preds, steps = [], []
    start = time.perf_counter()
    for i in range(0, len(data), batch_size):
        inputs = torch.from_numpy(data.inputs[i:i + batch_size]).to(device)
        pids = torch.from_numpy(data.puzzle_ids[i:i + batch_size]).to(device)
        p, s = predict_batch(model, inputs, pids, halting, precision)
        preds.append(p.cpu())
        steps.append(s.cpu())
    seconds = time.perf_counter() - start
    model.train(was_training)
    pred = torch.cat(preds).numpy()
    used = torch.cat(steps).numpy()
    labels = data.labels.astype(np.int64)
    mask = labels != PAD
    right = (pred == labels) & mask
    correct = right.sum(1) == mask.sum(1)
    return EvalResult(
        exact_accuracy=float(correct.mean()),
        cell_accuracy=float(right.sum() / max(1, mask.sum())),
        mean_steps=float(used.mean()),
        n=len(data),
        examples_per_s=len(data) / seconds if seconds > 0 else float("inf"),
        predictions=pred.astype(np.uint8),
        steps=used,
        correct=correct,
    )
