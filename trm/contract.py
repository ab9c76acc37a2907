"""The contract between the training loop (and evaluation) and what it trains.

A *recursive model* (a TRM, ViTRM) keeps a state ``(y, z)`` per example across supervision
steps: it gives its starting state, embeds a question, and runs one supervision step,
which returns the new state (detached), the answer's logits and the halting logit. A
*single-step model* (a plain ViT, and the recursive-depth ViTs, whose recursion is inside
one forward) has no state to carry and nothing to halt: one call, one answer. The loop
tells them apart by :func:`is_single_step` and handles each by name.

A task (puzzles, images) supplies an :class:`Objective`: how to build its model, run one
step on the examples in flight, score it, and evaluate.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch

if TYPE_CHECKING:
    from trm.data import TokenData
    from trm.losses import LossOutput


@dataclass
class StepOutput:
    """One supervision step's result. A single-step model leaves ``y``, ``z`` and
    ``halt_logit`` as None: no state to carry, always done after its one step."""

    y: torch.Tensor | None  # (B, L', D) detached answer state to carry
    z: torch.Tensor | None  # (B, L', D) detached latent to carry
    logits: torch.Tensor  # (B, seq_len, vocab) or (B, classes): this step's answer
    halt_logit: torch.Tensor | None  # (B,) > 0 means "my answer is exactly right, stop"
    aux_loss: torch.Tensor | None = None  # a model's own extra loss, weighted (e.g. MoR's router)
    stats: dict | None = None  # per-example measurements to report (e.g. recursions per token)
    continue_logit: torch.Tensor | None = None  # (B,) a two-output halting head's second output
    # earlier answers trained beside ``logits`` (SR-ViT's every recursion), in training only
    aux_logits: tuple[torch.Tensor, ...] | None = None


class ModelConfig(Protocol):
    """What the loop reads of a model's config (the dataclass saved in its checkpoint)."""

    n_sup: int  # supervision steps at most (1: a single-step model)
    halt_exploration: float  # share of examples made to run a random number of steps

    def to_dict(self) -> dict: ...


class RecursiveModel(Protocol):
    """A model with deep supervision: state carried from step to step, a halting head."""

    config: ModelConfig

    def initial_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The starting ``(y, z)`` of ``batch`` examples."""
        ...

    def embed_input(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The question ``x`` the steps read."""
        ...

    def deep_step(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> StepOutput:
        """One supervision step from ``(y, z)``."""
        ...


class SingleStepModel(Protocol):
    """A model without deep supervision: ``forward(inputs)`` gives the answer in one step."""

    config: ModelConfig

    def __call__(self, inputs: torch.Tensor) -> StepOutput: ...


def is_single_step(model: Any) -> bool:
    """True for a :class:`SingleStepModel` (no ``initial_state``: nothing to carry). Takes
    the model itself, not a DDP or compiled wrapper (the loop keeps both)."""
    return not hasattr(model, "initial_state")


class Objective(ABC):
    """A task's side of the loop: its model, one step on the slots, its loss, evaluation."""

    @abstractmethod
    def make_model(self) -> torch.nn.Module:
        """A fresh model from the task's model config."""

    @abstractmethod
    def step(self, model: torch.nn.Module, slots: Any) -> StepOutput:
        """One supervision step on the examples in flight (``slots``: inputs, labels,
        puzzle ids, the carried ``y``, ``z`` and each example's ``steps`` done)."""

    @abstractmethod
    def loss(self, out: StepOutput, labels: torch.Tensor) -> LossOutput:
        """This step's losses and whether each answer is right."""

    @abstractmethod
    def evaluate(self, model: torch.nn.Module, data: TokenData, **kw) -> dict:
        """A summary over ``data`` (``batch_size=``, ``device=``, ``precision=``)."""

    def start_state(self, model: torch.nn.Module, batch: int) -> tuple:
        """The carried ``(y, z)`` fresh examples start from: the model's own starts, or
        ``(None, None)`` for a single-step model (nothing to carry)."""
        return (None, None) if is_single_step(model) else model.initial_state(batch)

    def eval_weights(self, data: TokenData) -> dict[str, float]:
        """Metrics of :meth:`evaluate` that are means over something other than examples,
        with their weight in ``data`` (to join several processes' results)."""
        return {}

    def step_counts(self, loss: LossOutput) -> dict[str, torch.Tensor]:
        """This objective's own counts of a training step (beside the loop's losses and
        halting counts), summed over a log window and over processes."""
        return {}

    def window_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        """This objective's own training metrics, from a window's summed counts."""
        return {}
