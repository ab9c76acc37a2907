"""The layers of TRM's one network ``f``: RMSNorm, SwiGLU, RoPE attention, sequence MLP.

A block is token mixing then a SwiGLU MLP, each added back and followed by RMSNorm
(post-norm, as in TRM), or each reading an RMS-normalised copy of the stream and added
back un-normalised (pre-norm, as in ViT and ViTRM). ViT's own block is the pre-norm one
with LayerNorm (learned scale and shift), biases and a GELU MLP (``norm="layer"``,
``mlp="gelu"``, ``bias=True``), its positions added to the patches (``rope=False``). Token
mixing is self-attention with rotary position embeddings (PyTorch SDPA) or, for fixed-size
puzzles, an MLP across the sequence positions. For images, dropout and drop-path
(stochastic depth) on each branch are options (off by default, and always off in
evaluation).

Attention can take its keys and values from a wider ``context`` than its queries: MoR
runs only the tokens still active through a block, while the tokens that stopped stay
visible to them as keys and values.

Two details follow the official code where our first release differed, as options:
SwiGLU widths round up to ``width_multiple`` (official 256, ours 8), and the MLP mixer's
RMSNorm after token mixing normalises over the ``sequence`` axis (official) or the
``hidden`` axis (ours). Weights start from a truncated normal whose standard deviation
really is the one asked for (the official init; ``nn.init.trunc_normal_`` gives less).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def rms_norm(x: torch.Tensor, eps: float, dim: int = -1) -> torch.Tensor:
    """RMSNorm over ``dim`` without a learned scale, in fp32, returned in x's dtype."""
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(dim, keepdim=True) + eps)).to(x.dtype)


# A standard normal cut at +-2 has standard deviation 0.8796; dividing by it makes the
# truncated draw's deviation the one asked for.
_CUT = 2.0
_TRUNCATED_STD = math.sqrt(
    1 - 2 * _CUT * math.exp(-(_CUT**2) / 2) / math.sqrt(2 * math.pi) / math.erf(_CUT / math.sqrt(2))
)


@torch.no_grad()
def trunc_normal_(tensor: torch.Tensor, std: float) -> torch.Tensor:
    """Fill with a normal cut at +-2 deviations whose standard deviation is ``std``
    (sampled by inverting the CDF of uniform draws between the cut points)."""
    if std == 0:
        return tensor.zero_()
    edge = math.erf(_CUT / math.sqrt(2))
    tensor.uniform_(-edge, edge).erfinv_().mul_(math.sqrt(2))  # standard normal in [-2, 2]
    scale = std / _TRUNCATED_STD
    return tensor.mul_(scale).clamp_(-_CUT * scale, _CUT * scale)


def init_linear(layer: nn.Linear) -> nn.Linear:
    """LeCun-style truncated normal (std 1/sqrt(fan_in)), zero bias."""
    trunc_normal_(layer.weight, 1.0 / math.sqrt(layer.in_features))
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def swiglu_width(dim: int, expansion: float, multiple: int = 8) -> int:
    """Inner width: 2/3 of ``expansion x dim`` (SwiGLU has two input projections), rounded
    up to ``multiple`` (the official code: 256; ours: 8, and at least 8)."""
    inner = int(round(expansion * dim * 2 / 3))
    width = -(-inner // multiple) * multiple
    return max(8, width) if multiple == 8 else width


class GatedSiLU(torch.autograd.Function):
    """``silu(gate) * up`` of one projection ``h = [gate, up]``, as the plain ops compute it,
    with a backward that writes the gradient of ``h`` in place of autograd's two halves and
    their concatenation (a full copy of ``h``'s gradient, ~9% of an eager CPU training step
    at the official Sudoku shape), from autograd's own kernels (a product and
    ``silu_backward``), so the gradient is autograd's bit for bit. Saves ``h`` and
    ``silu(gate)``, as autograd would (recomputing the latter costs ~3% of a step)."""

    @staticmethod
    def forward(ctx, h: torch.Tensor) -> torch.Tensor:
        gate, up = h.chunk(2, dim=-1)
        act = F.silu(gate)
        ctx.save_for_backward(h, act)
        return act * up

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        h, act = ctx.saved_tensors
        gate, up = h.chunk(2, dim=-1)
        grad_h = torch.empty_like(h)
        d_gate, d_up = grad_h.chunk(2, dim=-1)
        torch.mul(grad, act, out=d_up)  # d/d up = silu(gate)
        # d/d gate = (grad * up) * silu'(gate)
        torch.ops.aten.silu_backward.grad_input(grad * up, gate, grad_input=d_gate)
        return grad_h


def gated_silu(h: torch.Tensor) -> torch.Tensor:
    """``silu(gate) * up`` for ``h = [gate, up]`` (last axis). Compiled graphs take the plain
    ops (inductor fuses the concatenation away itself)."""
    if torch.compiler.is_compiling() or not torch.is_grad_enabled():
        gate, up = h.chunk(2, dim=-1)
        return F.silu(gate) * up
    return GatedSiLU.apply(h)


class SwiGLU(nn.Module):
    def __init__(self, dim: int, expansion: float, multiple: int = 8):
        super().__init__()
        inner = swiglu_width(dim, expansion, multiple)
        self.gate_up = init_linear(nn.Linear(dim, 2 * inner, bias=False))
        self.down = init_linear(nn.Linear(inner, dim, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(gated_silu(self.gate_up(x)))


class GeluMLP(nn.Module):
    """ViT's MLP: Linear(dim -> expansion x dim), GELU, Linear back, with biases."""

    def __init__(self, dim: int, expansion: float):
        super().__init__()
        inner = max(1, int(round(expansion * dim)))
        self.fc1 = init_linear(nn.Linear(dim, inner))
        self.fc2 = init_linear(nn.Linear(inner, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Rotary(nn.Module):
    """Rotary position embedding tables for ``length`` positions (not saved: recomputable)."""

    def __init__(self, head_dim: int, length: int, theta: float):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        angles = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)  # (L, hd/2)
        angles = torch.cat([angles, angles], dim=-1)  # (L, hd)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, H, L, hd) at positions 0..L-1, or at ``positions`` (B, L) when only some
        tokens of a longer sequence are present (each keeps its own position)."""
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        cos, sin = self.cos, self.sin
        if positions is not None:  # (B, L, hd) -> (B, 1, L, hd): the same for every head
            cos, sin = cos[positions].unsqueeze(1), sin[positions].unsqueeze(1)
        return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


class Attention(nn.Module):
    """Multi-head self-attention; queries and keys rotated by RoPE unless ``rope`` is off;
    biases on the projections as an option (ViT's)."""

    def __init__(
        self, dim: int, heads: int, length: int, theta: float, rope: bool = True, bias: bool = False
    ):
        super().__init__()
        self.heads = heads
        self.qkv = init_linear(nn.Linear(dim, 3 * dim, bias=bias))
        self.out = init_linear(nn.Linear(dim, dim, bias=bias))
        self.rotary = Rotary(dim // heads, length, theta) if rope else None

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x: (B, L, D) queries (and keys and values, without ``context``). ``context``
        (B, Lc, D): the whole sequence at positions 0..Lc-1, whose tokens are the keys and
        values (x's tokens among them, at ``positions``)."""
        if context is None:
            q, k, v = rearrange(
                self.qkv(x), "b l (three h d) -> three b h l d", three=3, h=self.heads
            )
            key_positions = positions
        else:
            d, w, b = x.shape[-1], self.qkv.weight, self.qkv.bias
            q = rearrange(
                F.linear(x, w[:d], None if b is None else b[:d]),
                "b l (h d) -> b h l d",
                h=self.heads,
            )
            k, v = rearrange(
                F.linear(context, w[d:], None if b is None else b[d:]),
                "b l (two h d) -> two b h l d",
                two=2,
                h=self.heads,
            )
            key_positions = None
        if self.rotary is not None:
            q, k = self.rotary(q, positions), self.rotary(k, key_positions)
        mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, L) keys seen
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask
        )  # every position sees every other
        return self.out(rearrange(y, "b h l d -> b l (h d)"))


class SequenceMLP(nn.Module):
    """Token mixing by a SwiGLU across positions (for puzzles of one fixed size)."""

    def __init__(self, length: int, expansion: float, multiple: int = 8):
        super().__init__()
        self.mlp = SwiGLU(length, expansion, multiple)

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if positions is not None or key_mask is not None or context is not None:
            raise ValueError("the sequence MLP mixes a fixed set of positions: no token subsets")
        return self.mlp(x.transpose(1, 2)).transpose(1, 2)


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: in training, each example's branch is dropped with probability
    ``p`` (and kept ones scaled by 1 / (1 - p)); the identity in evaluation."""
    if p <= 0 or not training:
        return x
    keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - p)
    return x * keep / (1 - p)


@dataclass(frozen=True)
class BlockSpec:
    """What every block of a network shares: its shape and its kind. TRM's block (the
    defaults): post-norm RMSNorm without a learned scale, SwiGLU, RoPE; ViT's: pre-norm
    LayerNorm, a GELU MLP with biases, no RoPE (``prenorm``, ``norm="layer"``,
    ``mlp="gelu"``, ``bias``, ``rope=False``)."""

    dim: int
    heads: int
    length: int  # tokens in a sequence (the MLP mixer's width; RoPE's table)
    mixer: str = "attention"  # or "mlp": token mixing by an MLP across positions
    expansion: float = 4.0  # the MLPs' width over ``dim`` (SwiGLU: two thirds of it, rounded)
    theta: float = 10000.0  # RoPE's base
    eps: float = 1e-5  # the norms'
    width_multiple: int = 8  # SwiGLU widths round up to this
    mixer_norm: str = "hidden"  # the MLP mixer's norm: over the hidden axis or "sequence"
    rope: bool = True
    prenorm: bool = False
    dropout: float = 0.0  # on each branch's output
    drop_path: float = 0.0  # stochastic depth per branch
    norm: str = "rms"  # or "layer" (pre-norm only)
    mlp: str = "swiglu"  # or "gelu"
    bias: bool = False  # in the attention's projections


class Block(nn.Module):
    def __init__(self, spec: BlockSpec):
        super().__init__()
        s = spec
        if s.norm == "layer" and not s.prenorm:
            raise ValueError("LayerNorm blocks are pre-norm (ViT's); post-norm uses RMSNorm")
        self.eps, self.prenorm, self.drop_path = s.eps, s.prenorm, s.drop_path
        self.mix = (
            Attention(s.dim, s.heads, s.length, s.theta, s.rope, s.bias)
            if s.mixer == "attention"
            else SequenceMLP(s.length, s.expansion, s.width_multiple)
        )
        # the MLP mixer's norm over positions (official) or over the hidden axis (ours)
        self.mix_norm_dim = 1 if s.mixer == "mlp" and s.mixer_norm == "sequence" else -1
        self.mlp = (
            GeluMLP(s.dim, s.expansion)
            if s.mlp == "gelu"
            else SwiGLU(s.dim, s.expansion, s.width_multiple)
        )
        # LayerNorm with a learned scale and shift before each branch (ViT's), or RMSNorm
        # without one (TRM's); the two LayerNorms: before token mixing, before the MLP
        self.norms = (
            nn.ModuleList(nn.LayerNorm(s.dim, eps=s.eps) for _ in range(2))
            if s.norm == "layer"
            else None
        )
        self.dropout = nn.Dropout(s.dropout)

    def _norm(self, i: int, t: torch.Tensor) -> torch.Tensor:
        return rms_norm(t, self.eps) if self.norms is None else self.norms[i](t)

    def _branch(self, out: torch.Tensor) -> torch.Tensor:
        return drop_path(self.dropout(out), self.drop_path, self.training)

    def forward(
        self,
        h: torch.Tensor,
        positions: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.prenorm:
            ctx = None if context is None else self._norm(0, context)
            h = h + self._branch(self.mix(self._norm(0, h), positions, key_mask, ctx))
            return h + self._branch(self.mlp(self._norm(1, h)))
        h = rms_norm(
            h + self._branch(self.mix(h, positions, key_mask, context)), self.eps, self.mix_norm_dim
        )
        return rms_norm(h + self._branch(self.mlp(h)), self.eps)


class ReasoningNet(nn.Module):
    """TRM's single network ``f``: a few blocks applied to ``state + injection``."""

    def __init__(self, spec: BlockSpec, layers: int):
        super().__init__()
        self.blocks = nn.ModuleList(Block(spec) for _ in range(layers))

    def forward(
        self,
        state: torch.Tensor,
        injection: torch.Tensor | float = 0.0,
        positions: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``positions`` (B, L): the sequence positions of the tokens given, when they are a
        subset (attention then runs among these tokens only); ``key_mask`` (B, L): False for
        padding slots, which no token attends to. ``context`` (B, Lc, D): the whole
        sequence the subset at ``positions`` belongs to: at every block the subset's current
        states are written into it at their positions, and all its tokens are the keys and
        values (the others keep their states: they are seen, not computed; padding slots,
        False in ``key_mask``, write back what they read)."""
        h = state + injection
        if context is None:
            for block in self.blocks:
                h = block(h, positions, key_mask)
            return h
        take = positions.unsqueeze(-1).expand(-1, -1, h.shape[-1])
        for block in self.blocks:  # the keys are the context's: no key mask
            written = h if key_mask is None else torch.where(key_mask.unsqueeze(-1), h, state)
            h = block(h, positions, None, context.scatter(1, take, written.to(context.dtype)))
        return h
