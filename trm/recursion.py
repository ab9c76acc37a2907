"""TRM's recursion, for any network ``f`` and any embedded question: puzzles and images alike.

``latent_step``: ``n`` latent updates ``z = f(z, y + x)``, then one answer update ``y = f(y, z)``.
``deep_recursion``: ``T - 1`` latent steps without gradients, then one with (so only the
last cycle is back-propagated, whatever ``n`` and ``T``). Deep supervision calls it up to
``n_sup`` times per example, carrying the detached ``(y, z)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Net = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # f(state, injection) -> state


def latent_step(
    net: Net, n: int, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    for _ in range(n):
        z = net(z, y + x)  # refine the latent from question and current answer
    y = net(y, z)  # refine the answer from the latent
    return y, z


def deep_recursion(
    net: Net, n: int, T: int, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One supervision step's recursion: (y, z) after T cycles, gradients through the last."""
    with torch.no_grad():
        for _ in range(T - 1):
            y, z = latent_step(net, n, x, y, z)
    return latent_step(net, n, x, y, z)
