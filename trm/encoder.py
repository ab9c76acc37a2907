"""One recursive encoder: a shared network ``f`` applied again and again to one hidden state.

Three configurations of it are the recursive vision variants (``vision.models``):

``mixing="last"`` (bViT)
    ``h <- f(h + e_s)`` for ``s = 1..S``, ``e_s`` an optional learned step embedding; the
    output is the last ``h``.
``mixing="soft"`` (SoftMoR, SR-ViT)
    the same ``R`` steps, every step's output kept; a small router per step scores each
    token's output, a softmax over the steps turns the scores into per-token weights, and
    the output is the weighted sum, so intermediate representations are used.
``routing="expert"`` or ``"token"`` (Mixture-of-Recursions, MoR-ViT)
    only some tokens go through ``f`` again at each step; the rest pass through unchanged.
    Expert choice: at step ``r`` a linear router scores the tokens still active and keeps
    the top ``ceil(capacity[r] * L)`` (the first token, a class token, always), so the set
    shrinks step by step. Token choice: the router gives each token a depth ``1..S`` once,
    from the input, and a token is active while ``r <=`` its depth. Either way the active
    tokens are gathered into a shorter sequence (attention runs among them only, at their
    own positions), so the compute really shrinks, and scattered back. An active token
    moves towards ``f``'s output by its router gate: ``h <- h + g (f(h) - h)``, which keeps
    the router on the gradient path. Auxiliary losses: expert choice trains the router's
    scores towards the selection it made (BCE), token choice balances the depths (as in
    Switch/MoR).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from trm.layers import ReasoningNet, init_linear

MIXINGS = ("last", "soft")
ROUTINGS = ("expert", "token")


@dataclass
class EncoderOutput:
    h: torch.Tensor  # (B, L, D)
    aux_loss: torch.Tensor  # scalar: the router's auxiliary loss (0 without routing)
    depth: torch.Tensor | None = None  # (B, L) passes through f per token (routing)
    step_weights: torch.Tensor | None = None  # (B, L, S) mixture weights (soft mixing)


def linear_capacity(steps: int) -> tuple[float, ...]:
    """The default MoR schedule: all tokens, then one step's share fewer each step
    (3 steps: 1, 2/3, 1/3)."""
    return tuple((steps - r) / steps for r in range(steps))


class RecursiveEncoder(nn.Module):
    def __init__(self, net: ReasoningNet, dim: int, steps: int, *, mixing: str = "last",
                 step_embedding: bool = False, routing: str | None = None,
                 capacity: tuple[float, ...] | None = None):
        super().__init__()
        if steps < 1:
            raise ValueError("steps must be at least 1")
        if mixing not in MIXINGS or (routing is not None and routing not in ROUTINGS):
            raise ValueError(f"mixing must be one of {MIXINGS}, routing None or one of {ROUTINGS}")
        if routing is not None and mixing != "last":
            raise ValueError("routing and soft mixing do not combine")
        self.net, self.steps, self.mixing, self.routing = net, steps, mixing, routing
        # extra parameters, outside the shared network: reported by extra_parameters()
        self.step_emb = nn.Parameter(torch.randn(steps, dim) * 0.02) if step_embedding else None
        self.mix_routers = (nn.ModuleList(init_linear(nn.Linear(dim, 1)) for _ in range(steps))
                            if mixing == "soft" else None)
        if routing == "expert":
            self.capacity = tuple(capacity) if capacity is not None else linear_capacity(steps)
            if len(self.capacity) != steps:
                raise ValueError(f"capacity has {len(self.capacity)} steps, the encoder {steps}")
            self.router = init_linear(nn.Linear(dim, 1))
        elif routing == "token":
            self.router = init_linear(nn.Linear(dim, steps))

    def extra_parameters(self) -> int:
        """Parameters besides the shared network's: step embeddings, mixture and routers."""
        return sum(p.numel() for n, p in self.named_parameters() if not n.startswith("net."))

    def _injection(self, s: int) -> torch.Tensor | float:
        return self.step_emb[s] if self.step_emb is not None else 0.0

    def forward(self, h: torch.Tensor) -> EncoderOutput:
        zero = h.new_zeros((), dtype=torch.float32)
        if self.routing == "expert":
            return self._expert_choice(h, zero)
        if self.routing == "token":
            return self._token_choice(h, zero)
        outs = []
        for s in range(self.steps):
            h = self.net(h, self._injection(s))
            outs.append(h)
        if self.mixing == "last":
            return EncoderOutput(h, zero)
        scores = torch.cat([router(o) for router, o in zip(self.mix_routers, outs)], dim=-1)
        weights = torch.softmax(scores.float(), dim=-1)  # (B, L, S)
        mixed = (torch.stack(outs, dim=-1) * weights.unsqueeze(-2).to(h.dtype)).sum(-1)
        return EncoderOutput(mixed, zero, step_weights=weights)

    # ------------------------------------------------------------------ Mixture-of-Recursions

    def _run_subset(self, h: torch.Tensor, idx: torch.Tensor, gate: torch.Tensor, s: int,
                    key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens ``idx`` (B, K) of ``h`` through f, among themselves; moved by ``gate``."""
        d = h.shape[-1]
        take = idx.unsqueeze(-1).expand(-1, -1, d)
        sub = h.gather(1, take)
        new = self.net(sub, self._injection(s), positions=idx, key_mask=key_mask)
        moved = sub + gate.unsqueeze(-1).to(sub.dtype) * (new - sub)
        if key_mask is not None:  # padding slots write back what they read
            moved = torch.where(key_mask.unsqueeze(-1), moved, sub)
        return h.scatter(1, take, moved)

    def _expert_choice(self, h: torch.Tensor, zero: torch.Tensor) -> EncoderOutput:
        b, length, _ = h.shape
        active = torch.arange(length, device=h.device).expand(b, -1)  # positions still active
        depth = torch.zeros(b, length, dtype=torch.long, device=h.device)
        aux = zero
        for s, share in enumerate(self.capacity):
            k = max(1, min(active.shape[1], math.ceil(share * length)))
            sub = h.gather(1, active.unsqueeze(-1).expand(-1, -1, h.shape[-1]))
            logits = self.router(sub).squeeze(-1).float()  # (B, A)
            rank = logits.masked_fill(active == 0, float("inf"))  # the first token always stays
            keep = rank.topk(k, dim=-1).indices.sort(dim=-1).values  # (B, k), in sequence order
            chosen = torch.zeros_like(logits, dtype=torch.bool).scatter(1, keep, True)
            aux = aux + F.binary_cross_entropy_with_logits(logits, chosen.float())
            active = active.gather(1, keep)
            gate = torch.sigmoid(logits.gather(1, keep))
            h = self._run_subset(h, active, gate, s)
            depth.scatter_add_(1, active, torch.ones_like(active))
        return EncoderOutput(h, aux / len(self.capacity), depth=depth)

    def _token_choice(self, h: torch.Tensor, zero: torch.Tensor) -> EncoderOutput:
        b, length, _ = h.shape
        probs = torch.softmax(self.router(h).float(), dim=-1)  # (B, L, S)
        chosen = probs.argmax(-1)  # depth - 1
        chosen[:, 0] = self.steps - 1  # the first token goes all the way
        gate = probs.gather(-1, chosen.unsqueeze(-1)).squeeze(-1)  # (B, L)
        depth = chosen + 1
        # balance: fraction of tokens per depth times mean probability (Switch-style)
        share = F.one_hot(chosen, self.steps).float().mean(dim=(0, 1))
        aux = self.steps * (share * probs.mean(dim=(0, 1))).sum()
        for s in range(self.steps):
            mask = depth > s  # (B, L) active at this step
            count = int(mask.sum(-1).max())
            if count == 0:
                break
            # active positions first (stable), padded to the batch's largest count
            order = torch.sort((~mask).to(torch.int8), dim=-1, stable=True).indices[:, :count]
            valid = mask.gather(1, order)
            h = self._run_subset(h, order, gate.gather(1, order), s,
                                 key_mask=None if bool(valid.all()) else valid)
        return EncoderOutput(h, aux + zero, depth=depth)
