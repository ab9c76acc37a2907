"""The layers of TRM's one network ``f``: RMSNorm, SwiGLU, RoPE attention, sequence MLP.

A block is token mixing then a SwiGLU MLP, each added back and followed by RMSNorm
(post-norm, as in TRM). Token mixing is self-attention with rotary position embeddings
(PyTorch SDPA) or, for fixed-size puzzles, an MLP across the sequence positions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm without a learned scale, computed in fp32 and returned in x's dtype."""
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def init_linear(layer: nn.Linear) -> nn.Linear:
    """LeCun-style truncated normal (std 1/sqrt(fan_in)), zero bias."""
    std = 1.0 / math.sqrt(layer.in_features)
    nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def _width(dim: int, expansion: float) -> int:
    inner = int(round(expansion * dim * 2 / 3))  # 2/3: SwiGLU has two input projections
    return max(8, -(-inner // 8) * 8)


class SwiGLU(nn.Module):
    def __init__(self, dim: int, expansion: float):
        super().__init__()
        inner = _width(dim, expansion)
        self.gate_up = init_linear(nn.Linear(dim, 2 * inner, bias=False))
        self.down = init_linear(nn.Linear(inner, dim, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


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
    def __init__(self, dim: int, heads: int, length: int, theta: float):
        super().__init__()
        self.heads = heads
        self.qkv = init_linear(nn.Linear(dim, 3 * dim, bias=False))
        self.out = init_linear(nn.Linear(dim, dim, bias=False))
        self.rotary = Rotary(dim // heads, length, theta)

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None,
                key_mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = rearrange(self.qkv(x), "b l (three h d) -> three b h l d", three=3, h=self.heads)
        q, k = self.rotary(q, positions), self.rotary(k, positions)
        mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, L) keys seen
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # every position sees every other
        return self.out(rearrange(y, "b h l d -> b l (h d)"))


class SequenceMLP(nn.Module):
    """Token mixing by a SwiGLU across positions (for puzzles of one fixed size)."""

    def __init__(self, length: int, expansion: float):
        super().__init__()
        self.mlp = SwiGLU(length, expansion)

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None,
                key_mask: torch.Tensor | None = None) -> torch.Tensor:
        if positions is not None or key_mask is not None:
            raise ValueError("the sequence MLP mixes a fixed set of positions: no token subsets")
        return self.mlp(x.transpose(1, 2)).transpose(1, 2)


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, length: int, mixer: str, expansion: float,
                 theta: float, eps: float):
        super().__init__()
        self.eps = eps
        self.mix = (Attention(dim, heads, length, theta) if mixer == "attention"
                    else SequenceMLP(length, expansion))
        self.mlp = SwiGLU(dim, expansion)

    def forward(self, h: torch.Tensor, positions: torch.Tensor | None = None,
                key_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = rms_norm(h + self.mix(h, positions, key_mask), self.eps)
        return rms_norm(h + self.mlp(h), self.eps)


class ReasoningNet(nn.Module):
    """TRM's single network ``f``: a few blocks applied to ``state + injection``."""

    def __init__(self, dim: int, heads: int, length: int, layers: int, mixer: str,
                 expansion: float, theta: float, eps: float):
        super().__init__()
        self.blocks = nn.ModuleList(
            Block(dim, heads, length, mixer, expansion, theta, eps) for _ in range(layers))

    def forward(self, state: torch.Tensor, injection: torch.Tensor | float = 0.0,
                positions: torch.Tensor | None = None, key_mask: torch.Tensor | None = None
                ) -> torch.Tensor:
        """``positions`` (B, L): the sequence positions of the tokens given, when they are a
        subset (attention then runs among these tokens only); ``key_mask`` (B, L): False for
        padding slots, which no token attends to."""
        h = state + injection
        for block in self.blocks:
            h = block(h, positions, key_mask)
        return h
