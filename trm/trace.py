"""Watch the recursion: one example's answer after every supervision step.

``trace`` runs the same deep steps as evaluation (:func:`trm.evaluate.predict_batch`) on
one example and keeps, after each step, the answer read from ``y`` (argmax tokens), how
sure the model is of each token (its softmax probability) and the halting probability.
With ``halting="adaptive"`` it stops at the first step whose halting head says "halt" and
whose answer is the step before's (:func:`trm.evaluate.halts_now`), exactly where
evaluation would take that example's answer; with ``"full"`` it runs every
step. ``max_steps`` may go past the ``n_sup`` steps the model was trained with: the
recursion can keep refining (the answer is then the last step's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from trm.device import autocast
from trm.errors import TRMError
from trm.evaluate import check_halting, halts_now, steps_to_run
from trm.model import TRM


@dataclass
class TraceStep:
    step: int  # 1-based supervision step
    tokens: np.ndarray  # (seq_len,) the answer after this step (argmax)
    confidence: np.ndarray  # (seq_len,) probability the model gives each chosen token
    halt_prob: float  # sigmoid of the halting head: "my answer is exactly right"
    halts: bool = False  # adaptive halting stops here (trm.evaluate.halts_now, as evaluation)


@torch.no_grad()
def trace(
    model: TRM,
    inputs: np.ndarray,
    puzzle_id: int = 0,
    *,
    halting: str = "adaptive",
    max_steps: int | None = None,
    precision: str = "fp32",
) -> list[TraceStep]:
    """The answer after each supervision step for one example (token ids ``(seq_len,)``)."""
    check_halting(halting)
    limit = steps_to_run(model, max_steps)
    inputs = np.asarray(inputs)
    if inputs.shape != (model.config.seq_len,):
        raise TRMError(
            f"the model reads {model.config.seq_len} tokens, this example has {inputs.size}"
        )
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    tokens = torch.from_numpy(inputs.astype(np.int64))[None].to(device)
    pid = torch.tensor([puzzle_id], dtype=torch.long, device=device)
    steps = []
    with autocast(device, precision):
        x = model.embed_input(tokens, pid)
        y, z = model.initial_state(1)
        previous = None  # the step before's answer (1, seq_len)
        for step in range(1, limit + 1):
            out = model.deep_step(x, y, z)
            probs = out.logits[0].float().softmax(-1)
            confidence, answer = probs.max(-1)
            adaptive = bool(halts_now("adaptive", out.halt_logit, answer[None], previous)[0])
            steps.append(
                TraceStep(
                    step,
                    answer.cpu().numpy(),
                    confidence.cpu().numpy(),
                    float(torch.sigmoid(out.halt_logit[0])),
                    halts=adaptive,
                )
            )
            if adaptive if halting == "adaptive" else halts_now(halting, out.halt_logit)[0]:
                break
            y, z, previous = out.y, out.z, answer[None]
    model.train(was_training)
    return steps
