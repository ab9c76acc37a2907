"""Several processes under ``torchrun``: data-parallel training that means the same as one.

The batch is global: ``batch_size`` slots, of which rank ``r`` holds rows
``r*b : (r+1)*b`` with ``b = batch_size / world``. Every rank runs the same seeded
generators and draws the fresh examples of *all* halted slots in global order, then keeps
its own rows, so a run on 2 processes makes the same choices as a run on 1 (the gradient
is averaged across ranks, i.e. over the global batch). Checkpoints hold the global state,
so a run can be resumed on any number of processes. Outside torchrun nothing changes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

from trm.device import resolve_device
from trm.errors import TRMError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """Concatenate every rank's ``t`` along dim 0, in rank order."""
        if not self.active:
            return t
        parts = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts)

    def sum(self, values: list[float]) -> list[float]:
        if not self.active:
            return values
        t = torch.tensor(
            values, dtype=torch.float64, device="cuda" if dist.get_backend() == "nccl" else "cpu"
        )
        dist.all_reduce(t)
        return t.tolist()

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def shard(self, n: int) -> slice:
        """This rank's share of ``n`` examples to evaluate (every rank all of them when
        there are fewer than ranks)."""
        return slice(self.rank, n, self.world) if n >= self.world else slice(0, n)

    def mean_over(self, result: dict, n: int, weights: dict[str, float] | None = None) -> dict:
        """One evaluation from every rank's ``result`` over its shard of ``n`` examples:
        each number (or list of numbers) averaged over the examples, weighted by
        ``weights[key]`` where given (e.g. the cells a shard scores); ``n`` and the rates
        (``..._per_s``: the ranks run side by side) summed."""
        if not self.active:
            return result
        weights = weights or {}
        keys = [k for k, v in result.items() if isinstance(v, (int, float, list))]
        values: list[float] = []
        for k in keys:
            scale = 1.0 if k == "n" or k.endswith("_per_s") else float(weights.get(k, n))
            items = result[k] if isinstance(result[k], list) else [result[k]]
            values += [scale] + [float(v) * scale for v in items]
        summed = self.sum(values)
        combined, at = dict(result), 0
        for k in keys:
            size = len(result[k]) if isinstance(result[k], list) else 1
            scale, parts = summed[at], summed[at + 1 : at + 1 + size]
            at += 1 + size
            if k == "n" or k.endswith("_per_s"):
                mean = parts
            else:
                mean = [v / scale for v in parts]
            combined[k] = mean if isinstance(result[k], list) else mean[0]
        if "n" in combined:
            combined["n"] = int(combined["n"])
        return combined


def is_first_process() -> bool:
    """Whether this process writes the run (rank 0 under torchrun; a lone process always)."""
    return int(os.environ.get("RANK", "0")) == 0


def setup(device: str) -> tuple[Dist, torch.device]:
    """Join the process group torchrun describes in the environment (or stay single)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), resolve_device(device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    elif dev.type != "cpu":
        raise TRMError(f"distributed training runs on cuda or cpu, not {dev.type}")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, world, local_rank), dev


def teardown(d: Dist) -> None:
    """Leave the process group, without the exit hang gloo can fall into.

    Gloo's worker threads free the tensors of finished collectives, which needs the GIL.
    If the process group is destroyed (by a destructor, holding the GIL) while a worker is
    doing that, each waits for the other forever; seen here at exit after training under
    torchrun (torch 2.13, gloo). So: one last barrier, then a pause that lets the workers
    finish (``time.sleep`` releases the GIL), then the teardown.
    """
    if d.active and dist.is_initialized():
        dist.barrier()
        time.sleep(0.2)
        dist.destroy_process_group()
