"""TRM's recursion, for any network ``f`` and any embedded question: puzzles and images alike.

``latent_step``: ``n`` latent updates ``z = f(z, y + x)``, then one answer update ``y = f(y, z)``.
``concat_step``: the same cycle in the ViTRM paper's layout, where ``f`` reads its inputs
side by side: ``z = f([x; y; z])`` (z's part), then ``y = f([y; z])`` (y's part).
``deep_recursion``: ``T - 1`` such cycles without gradients, then one with (so only the
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


def concat_step(
    net: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    x: torch.Tensor,
    y: torch.Tensor,
    z: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The cycle on concatenated tokens: ``f`` maps a sequence to one of the same length."""
    for _ in range(n):
        z = net(torch.cat([x, y, z], dim=1))[:, x.shape[1] + y.shape[1] :]
    y = net(torch.cat([y, z], dim=1))[:, : y.shape[1]]
    return y, z


Cycle = Callable[..., tuple[torch.Tensor, torch.Tensor]]  # (net, n, x, y, z) -> (y, z)


def deep_recursion(
    net: Net,
    n: int,
    T: int,
    x: torch.Tensor,
    y: torch.Tensor,
    z: torch.Tensor,
    cycle: Cycle = latent_step,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One supervision step's recursion: (y, z) after T cycles, gradients through the last."""
    with torch.no_grad():
        for _ in range(T - 1):
            y, z = cycle(net, n, x, y, z)
    return cycle(net, n, x, y, z)
