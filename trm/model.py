"""The Tiny Recursive Model, read top to bottom like the paper's pseudo-code.

State per example: the embedded question ``x``, the answer state ``y`` and the latent ``z``
(each ``(B, L, D)``). One network ``f`` refines them::

    latent_step(x, y, z):  n times: z = f(z, y + x);  then y = f(y, z)
    deep_step(x, y, z):    latent_step T-1 times without gradients, once with;
                           return detached (y, z), logits = head(y), halt = q(y[:, 0])

``x`` is the embedded question, after ``puzzle_emb_len`` prefix tokens that hold the
learned embedding of the example's puzzle id (zero-padded when it is narrower than the
prefix); the halting head reads position 0, a prefix token when there is a prefix.

Training calls ``deep_step`` up to ``n_sup`` times per example (deep supervision), carrying
the detached ``(y, z)`` from one supervision step to the next.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from trm.config import TRMConfig
from trm.contract import StepOutput
from trm.embedding import PuzzleEmbedding
from trm.layers import BlockSpec, ReasoningNet, init_linear, trunc_normal_
from trm.recursion import deep_recursion, latent_step


def halting_head(width: int, outputs: int = 1) -> nn.Linear:
    """The halting head (Q-head): it starts out "not sure yet" (weight 0, bias -5), so
    every example keeps going until the head has learned when an answer is right."""
    head = nn.Linear(width, outputs)
    nn.init.zeros_(head.weight)
    nn.init.constant_(head.bias, -5.0)
    return head


def fixed_starts(module: nn.Module, y: torch.Tensor, z: torch.Tensor) -> None:
    """Register the starting points of ``y`` and ``z`` (one vector each, broadcast over
    the sequence) as buffers: saved with the model, never trained."""
    module.register_buffer("y_init", y)
    module.register_buffer("z_init", z)


def broadcast_starts(
    module: nn.Module, shape: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed starts, copied to ``shape`` (batch, length, width)."""
    return module.y_init.expand(shape).clone(), module.z_init.expand(shape).clone()


class TRM(nn.Module):
    def __init__(self, config: TRMConfig):
        super().__init__()
        self.config = config.validate()
        # (n, T) for training steps under a depth curriculum (trm.curriculum); None = full
        self.depth: tuple[int, int] | None = None
        c = config
        d = c.hidden_size
        self.embed_scale = math.sqrt(d)
        self.embed = nn.Embedding(c.vocab_size, d)
        trunc_normal_(self.embed.weight, 1.0 / self.embed_scale)
        if c.puzzle_emb_len:
            # one learned vector per puzzle id, starting at zero, laid over the prefix tokens;
            # updated sparsely (trm.embedding), not by the optimizer
            self.puzzle_emb = PuzzleEmbedding(c.num_puzzle_ids, c.puzzle_emb_width)
        if c.pos_encodings == "learned":
            self.pos_embed = nn.Embedding(c.total_len, d)
            trunc_normal_(self.pos_embed.weight, 1.0 / self.embed_scale)
        spec = BlockSpec(
            d,
            c.num_heads,
            c.total_len,
            mixer=c.mixer,
            expansion=c.expansion,
            theta=c.rope_theta,
            eps=c.norm_eps,
            width_multiple=c.width_multiple,
            mixer_norm=c.mixer_norm,
            rope=c.pos_encodings == "rope",
        )
        self.net = ReasoningNet(spec, c.num_layers)
        self.head = init_linear(nn.Linear(d, c.vocab_size, bias=False))
        self.halt_head = halting_head(d, c.halt_outputs)
        fixed_starts(self, trunc_normal_(torch.empty(d), 1.0), trunc_normal_(torch.empty(d), 1.0))

    # ------------------------------------------------------------------ inputs and state

    def embed_input(self, inputs: torch.Tensor, puzzle_ids: torch.Tensor) -> torch.Tensor:
        """Token ids (B, seq_len) -> x (B, puzzle_emb_len + seq_len, D)."""
        c = self.config
        x = self.embed(inputs.long())
        if c.puzzle_emb_len:
            prefix = self.puzzle_emb(puzzle_ids.long())
            room = c.puzzle_emb_len * c.hidden_size
            if prefix.shape[-1] < room:
                prefix = F.pad(prefix, (0, room - prefix.shape[-1]))
            x = torch.cat([prefix.view(inputs.shape[0], c.puzzle_emb_len, -1), x], dim=1)
        if c.pos_encodings == "learned":  # 1/sqrt(2) keeps the sum's scale
            x = 0.707106781 * (x + self.pos_embed.weight)
        return self.embed_scale * x

    def initial_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        return broadcast_starts(self, (batch, self.config.total_len, self.config.hidden_size))

    # ------------------------------------------------------------------ the recursion

    def latent_step(
        self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return latent_step(self.net, self.config.n, x, y, z)

    def deep_step(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> StepOutput:
        # T cycles, only the last carrying gradients (trm.recursion)
        n, T = self.depth or (self.config.n, self.config.T)
        y, z = deep_recursion(self.net, n, T, x, y, z)
        p = self.config.puzzle_emb_len
        logits = self.head(y[:, p:])
        q = self.halt_head(y[:, 0]).float()
        return StepOutput(
            y.detach(),
            z.detach(),
            logits,
            q[:, 0],
            continue_logit=q[:, 1] if q.shape[1] > 1 else None,
        )

    def forward(
        self, inputs: torch.Tensor, puzzle_ids: torch.Tensor, y: torch.Tensor, z: torch.Tensor
    ) -> StepOutput:
        """One supervision step from token ids (what training, compile and DDP wrap)."""
        return self.deep_step(self.embed_input(inputs, puzzle_ids), y, z)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
