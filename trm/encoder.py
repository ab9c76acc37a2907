"""Recursive encoders: a shared network ``f`` applied again and again to one hidden state.

Three small classes on one base (:class:`RecursiveEncoder`), each built as its paper builds
it; ``vision.models`` configures them as the recursive vision variants:

:class:`RepeatEncoder` (bViT)
    ``h <- f(h + e_s)`` for ``s = 1..S``, ``e_s`` an optional learned step embedding; the
    output is the last ``h``.
:class:`SoftMixEncoder` (SoftMoR, SR-ViT)
    ``f`` is a whole ViT stack, recursed ``R`` times, and every recursion's output is kept.
    A token-wise mixer reads a token's ``R`` outputs and gives ``R`` weights (a softmax over
    the recursions); the token's output is their weighted sum, so the intermediate
    representations are used. ``mixer="mlp"`` (the paper's): Linear(R d -> m), GELU,
    Linear(m -> R) on the concatenated outputs; ``mixer="linear"`` (our first release): a
    Linear(d -> 1) scorer per recursion. With ``R = 1`` the MLP mixer does not exist: the
    encoder is the plain stack. Against the mixture collapsing onto one recursion, three
    options: ``normed`` (the mixer reads each output LayerNormed), ``uniform_start`` (the
    scores start at 0: every recursion weighs 1/R) and an auxiliary loss, :func:`imbalance`
    of the batch's mean weights (weighted by the model).
:class:`RoutedEncoder` (Mixture-of-Recursions, MoR-ViT)
    Middle-Cycle sharing: optional unique first and last blocks (``ends``) run on all
    tokens, around the shared middle stack ``f``, recursed ``S`` times, where only some
    tokens go through ``f`` again at each step and the rest pass through unchanged. Expert
    choice: at step ``r`` a linear router (one per step, or one shared by all steps) scores
    the tokens still active and keeps the top ``ceil(capacity[r] * L)`` (the first token, a
    class token, always), so the set shrinks step by step. Token choice: one router gives
    each token a depth ``1..S`` once, from its state entering the recursion, and a token is
    active while ``r <=`` its depth. Either way only the active tokens are computed
    (gathered into a shorter sequence at their own positions, and scattered back), so the
    compute really shrinks; with ``inactive_keys`` the tokens that stopped stay visible to
    them as keys and values (:class:`trm.layers.ReasoningNet`'s ``context``), without it
    attention runs among the active tokens only. An active token moves towards ``f``'s
    output by its router gate: ``h <- h + g (f(h) - h)``, which keeps the router on the
    gradient path. Auxiliary losses: expert choice trains each step's scores towards the
    selection it made (BCE), token choice balances the depths (as in Switch/MoR).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from trm.config import ROUTINGS, SOFT_MIXERS
from trm.layers import ReasoningNet, init_linear


@dataclass
class EncoderOutput:
    h: torch.Tensor  # (B, L, D)
    aux_loss: torch.Tensor  # scalar: the router's auxiliary loss (0 without routing)
    depth: torch.Tensor | None = None  # (B, L) passes through f per token (routing)
    step_weights: torch.Tensor | None = None  # (B, L, S) mixture weights (soft mixing)
    outputs: list[torch.Tensor] | None = None  # each recursion's own output (soft mixing)


def linear_capacity(steps: int) -> tuple[float, ...]:
    """The default MoR schedule: all tokens, then one step's share fewer each step
    (3 steps: 1, 2/3, 1/3)."""
    return tuple((steps - r) / steps for r in range(steps))


class RecursiveEncoder(nn.Module):
    """The base: the shared network ``net`` recursed ``steps`` times, with an optional
    learned step embedding added to its input at each step. Subclasses define
    ``forward(h) -> EncoderOutput``."""

    def __init__(self, net: ReasoningNet, dim: int, steps: int, *, step_embedding: bool = False):
        super().__init__()
        if steps < 1:
            raise ValueError("steps must be at least 1")
        self.net, self.steps = net, steps
        self.step_emb = nn.Parameter(torch.randn(steps, dim) * 0.02) if step_embedding else None

    def extra_parameters(self) -> int:
        """Parameters outside the shared network: step embeddings, the mixer, routers, and
        MoR's unique first and last blocks."""
        return sum(p.numel() for n, p in self.named_parameters() if not n.startswith("net."))

    def _injection(self, s: int) -> torch.Tensor | float:
        return self.step_emb[s] if self.step_emb is not None else 0.0

    def _recurse(self, h: torch.Tensor) -> list[torch.Tensor]:
        """Every step's output of ``h <- f(h + e_s)``, s = 1..steps."""
        outs = []
        for s in range(self.steps):
            h = self.net(h, self._injection(s))
            outs.append(h)
        return outs


class RepeatEncoder(RecursiveEncoder):
    """bViT: the last of ``steps`` applications of ``f``."""

    def forward(self, h: torch.Tensor) -> EncoderOutput:
        return EncoderOutput(self._recurse(h)[-1], h.new_zeros((), dtype=torch.float32))


class SoftMixEncoder(RecursiveEncoder):
    """SoftMoR: the outputs of all ``steps`` recursions, mixed per token by learned softmax
    weights (kept in ``EncoderOutput.step_weights``, shape (B, L, steps))."""

    def __init__(
        self,
        net: ReasoningNet,
        dim: int,
        steps: int,
        *,
        mixer: str = "mlp",
        mixer_hidden: int = 0,
        step_embedding: bool = False,
        normed: bool = False,
        uniform_start: bool = False,
    ):
        super().__init__(net, dim, steps, step_embedding=step_embedding)
        # the mixer reads each output LayerNormed (no scale or shift): a later recursion's
        # larger stream (pre-norm blocks add to it) does not sway the scores by its size
        self.normed = normed
        if mixer not in SOFT_MIXERS:
            raise ValueError(f"mixer must be one of {SOFT_MIXERS}, got {mixer!r}")
        if mixer_hidden < 0:
            raise ValueError(f"mixer_hidden must be >= 0 (0: dim), got {mixer_hidden}")
        # one of the two, or neither (the MLP mixer at one step); these names are the
        # saved parameters' names
        self.mixer = self.mix_routers = None
        if mixer == "mlp" and steps > 1:
            width = mixer_hidden or dim
            self.mixer = nn.Sequential(
                init_linear(nn.Linear(steps * dim, width)),
                nn.GELU(),
                init_linear(nn.Linear(width, steps)),
            )
        elif mixer == "linear":
            self.mix_routers = nn.ModuleList(init_linear(nn.Linear(dim, 1)) for _ in range(steps))
        if uniform_start:  # every recursion weighs 1/R at the start: the scores' layer at 0
            last = [self.mixer[-1]] if self.mixer is not None else list(self.mix_routers or [])
            for layer in last:
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, h: torch.Tensor) -> EncoderOutput:
        zero = h.new_zeros((), dtype=torch.float32)
        outs = self._recurse(h)
        read = [F.layer_norm(o, o.shape[-1:]) for o in outs] if self.normed else outs
        if self.mixer is not None:  # a token's R outputs, side by side -> R scores
            scores = self.mixer(torch.cat(read, dim=-1))
        elif self.mix_routers is not None:  # each output scored on its own
            scores = torch.cat([router(o) for router, o in zip(self.mix_routers, read)], dim=-1)
        else:  # one recursion, no mixer: the plain stack
            return EncoderOutput(
                outs[0],
                zero,
                step_weights=outs[0].new_ones((*outs[0].shape[:2], 1), dtype=torch.float32),
            )
        weights = torch.softmax(scores.float(), dim=-1)  # (B, L, R)
        mixed = (torch.stack(outs, dim=-1) * weights.unsqueeze(-2).to(h.dtype)).sum(-1)
        return EncoderOutput(mixed, imbalance(weights), step_weights=weights, outputs=outs)


def imbalance(weights: torch.Tensor) -> torch.Tensor:
    """How far the batch's mean mixture (over images and tokens) is from using every
    recursion alike: log R minus its entropy (0 when even, log R when all on one). A
    token may still lean on one recursion; the batch as a whole may not."""
    mean = weights.reshape(-1, weights.shape[-1]).mean(0)
    return math.log(weights.shape[-1]) + (mean * mean.clamp_min(1e-12).log()).sum()


class RoutedEncoder(RecursiveEncoder):
    """Mixture-of-Recursions: fewer tokens through ``f`` at each step, chosen by routers;
    ``ends`` (first, last): unique blocks before and after the recursion, on all tokens.
    ``keep_first``: the first token (a class token the head reads) runs every step."""

    def __init__(
        self,
        net: ReasoningNet,
        dim: int,
        steps: int,
        *,
        routing: str = "expert",
        capacity: tuple[float, ...] | None = None,
        router_per_step: bool = True,
        inactive_keys: bool = True,
        ends: tuple[nn.Module, nn.Module] | None = None,
        step_embedding: bool = False,
        keep_first: bool = True,
    ):
        super().__init__(net, dim, steps, step_embedding=step_embedding)
        self.keep_first = keep_first
        if routing not in ROUTINGS:
            raise ValueError(f"routing must be one of {ROUTINGS}, got {routing!r}")
        self.routing, self.inactive_keys = routing, inactive_keys
        self.first, self.last = ends if ends is not None else (None, None)
        self.router = self.routers = None
        if routing == "expert":
            self.capacity = tuple(capacity) if capacity is not None else linear_capacity(steps)
            if len(self.capacity) != steps:
                raise ValueError(f"capacity has {len(self.capacity)} steps, the encoder {steps}")
            if router_per_step:  # as in the MoR code: step r's scores are its own router's
                self.routers = nn.ModuleList(init_linear(nn.Linear(dim, 1)) for _ in range(steps))
            else:
                self.router = init_linear(nn.Linear(dim, 1))
        else:  # token choice: one router assigns every token its depth, once
            if capacity is not None:
                raise ValueError("capacity applies to expert routing only")
            self.router = init_linear(nn.Linear(dim, steps))

    def forward(self, h: torch.Tensor) -> EncoderOutput:
        if self.first is not None:
            h = self.first(h)
        out = self._expert_choice(h) if self.routing == "expert" else self._token_choice(h)
        if self.last is not None:
            out.h = self.last(out.h)
        return out

    def _run_subset(
        self,
        h: torch.Tensor,
        idx: torch.Tensor,
        gate: torch.Tensor,
        s: int,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Tokens ``idx`` (B, K) of ``h`` through f, moved by ``gate``; they attend over all
        of ``h`` (``inactive_keys``) or among themselves. ``key_mask`` False: padding slots."""
        d = h.shape[-1]
        take = idx.unsqueeze(-1).expand(-1, -1, d)
        sub = h.gather(1, take)
        new = self.net(
            sub,
            self._injection(s),
            positions=idx,
            key_mask=key_mask,
            context=h if self.inactive_keys else None,
        )
        moved = sub + gate.unsqueeze(-1).to(sub.dtype) * (new - sub)
        if key_mask is not None:  # padding slots write back what they read
            moved = torch.where(key_mask.unsqueeze(-1), moved, sub)
        return h.scatter(1, take, moved)

    def _expert_choice(self, h: torch.Tensor) -> EncoderOutput:
        b, length, _ = h.shape
        active = torch.arange(length, device=h.device).expand(b, -1)  # positions still active
        depth = torch.zeros(b, length, dtype=torch.long, device=h.device)
        aux = h.new_zeros((), dtype=torch.float32)
        for s, share in enumerate(self.capacity):
            router = self.routers[s] if self.routers is not None else self.router
            k = max(1, min(active.shape[1], math.ceil(share * length)))
            sub = h.gather(1, active.unsqueeze(-1).expand(-1, -1, h.shape[-1]))
            logits = router(sub).squeeze(-1).float()  # (B, A)
            rank = logits.masked_fill(active == 0, float("inf")) if self.keep_first else logits
            keep = rank.topk(k, dim=-1).indices.sort(dim=-1).values  # (B, k), in sequence order
            chosen = torch.zeros_like(logits, dtype=torch.bool).scatter(1, keep, True)
            aux = aux + F.binary_cross_entropy_with_logits(logits, chosen.float())
            active = active.gather(1, keep)
            gate = torch.sigmoid(logits.gather(1, keep))
            h = self._run_subset(h, active, gate, s)
            depth.scatter_add_(1, active, torch.ones_like(active))
        return EncoderOutput(h, aux / len(self.capacity), depth=depth)

    def _token_choice(self, h: torch.Tensor) -> EncoderOutput:
        _b, _length, _ = h.shape
        probs = torch.softmax(self.router(h).float(), dim=-1)  # (B, L, S)
        chosen = probs.argmax(-1)  # depth - 1
        if self.keep_first:  # the first token goes all the way
            chosen[:, 0] = self.steps - 1
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
            # active positions first (stable), padded to the batch's largest count; the
            # padding slots are inactive tokens, computed and then discarded
            order = torch.sort((~mask).to(torch.int8), dim=-1, stable=True).indices[:, :count]
            valid = mask.gather(1, order)
            h = self._run_subset(
                h, order, gate.gather(1, order), s, key_mask=None if bool(valid.all()) else valid
            )
        return EncoderOutput(h, aux, depth=depth)
