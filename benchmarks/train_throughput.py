"""Benchmark: training throughput (examples x supervision steps per second) on this CPU.

For the sudoku and maze presets, one process times ``Trainer.train_step`` three ways, taking
turns step by step so that the ratios hold even when something else loads the machine:

1. fp32, eager (the baseline);
2. bf16 autocast, eager;
3. bf16 autocast, ``torch.compile`` (inductor; compilation happens in the untimed warm-up).

One optimizer step trains ``batch`` examples for one supervision step, so throughput is
batch / (median seconds per step). The target: bf16 at least 2x fp32 eager. The presets' batch sizes
(768, 256) would take minutes per step here, so the benchmark keeps the presets' model shapes
(hidden size, heads, layers, n, T, mixer, sequence length) and uses a small batch of random
tokens: throughput does not depend on the values. Achieved GFLOP/s come from an analytic
count of the matrix products (checked against torch's FlopCounterMode at batch 1), printed
as a fraction of what this CPU's matrix products reach: about 145 GFLOP/s in fp32 and 380 in
bf16 (AVX512-BF16).

    python benchmarks/train_throughput.py [--quick] [--presets sudoku maze] [--batch N]
        [--hidden D] [--steps N] [--warmup N] [--no-compile]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from trm.config import TrainConfig, TRMConfig, preset
from trm.data import TokenData
from trm.layers import _width
from trm.model import TRM
from trm.train import Trainer

# preset -> (seq_len, vocab_size, default batch): Sudoku 9x9 tokens, maze 30x30 tokens
SHAPES = {"sudoku": (81, 11, 16), "maze": (900, 6, 2)}
PEAK_GFLOPS = {"fp32": 145.0, "bf16": 380.0}  # this CPU's matrix products, measured apart
VARIANTS = (("fp32 eager", "fp32", False), ("bf16 eager", "bf16", False),
            ("bf16 compiled", "bf16", True))


# ---------------------------------------------------------------------- configs and data

def configs(name: str, batch: int, hidden: int | None) -> tuple[TRMConfig, TrainConfig]:
    """The preset's model shape with this task's lengths, and its training setup at ``batch``."""
    model, train = preset(name)
    seq_len, vocab, _ = SHAPES[name]
    model.update(seq_len=seq_len, vocab_size=vocab)
    if hidden is not None:
        model["hidden_size"] = hidden
    train["batch_size"] = batch
    return TRMConfig(**model).validate(), TrainConfig(**train).validate()


def random_data(cfg: TRMConfig, n: int, seed: int) -> TokenData:
    """Random inputs and labels in 1..vocab-1 (no PAD): enough rows for every refill."""
    rng = np.random.default_rng(seed)
    shape = (n, cfg.seq_len)
    return TokenData(rng.integers(1, cfg.vocab_size, shape, dtype=np.uint8),
                     rng.integers(1, cfg.vocab_size, shape, dtype=np.uint8),
                     np.zeros(n, dtype=np.int32))


# ---------------------------------------------------------------------- analytic FLOPs
#
# A matrix product (m x k) @ (k x n) costs 2*m*n*k. With L = total_len, D = hidden size:
#   SwiGLU(dim, inner) on R rows  = 2*R*dim*(2*inner) + 2*R*inner*dim = 6*R*dim*inner
#   f, per block: MLP mixer   = SwiGLU(L, _width(L)) on B*D rows (mixing across positions)
#                 attention   = qkv 2*B*L*D*3D + out 2*B*L*D*D + QK^T and AV 2 * 2*B*L*L*D
#                 plus the MLP  SwiGLU(D, _width(D)) on B*L rows
#   f             = num_layers * (mixer + MLP)
#   head          = 2*B*seq_len*D*vocab (the 1-wide halting head is left out)
# deep_step runs T*(n+1) applications of f forward; only the last cycle (n+1 applications and
# the head) is backpropagated, at about 2x its forward cost (input and weight gradients):
#   step FLOPs = [T*(n+1)*f + head] + 2*[(n+1)*f + head]

def swiglu_flops(rows: int, dim: int, inner: int) -> int:
    return 6 * rows * dim * inner


def f_flops(c: TRMConfig, batch: int) -> int:
    """Matrix-product FLOPs of one application of the network f."""
    length, d = c.total_len, c.hidden_size
    tokens = batch * length
    mlp = swiglu_flops(tokens, d, _width(d, c.expansion))
    if c.mixer == "mlp":
        mix = swiglu_flops(batch * d, length, _width(length, c.expansion))
    else:
        mix = 2 * tokens * d * 3 * d + 2 * tokens * d * d + 2 * (2 * batch * length * length * d)
    return c.num_layers * (mix + mlp)


def head_flops(c: TRMConfig, batch: int) -> int:
    return 2 * batch * c.seq_len * c.hidden_size * c.vocab_size


def forward_flops(c: TRMConfig, batch: int) -> int:
    return c.T * (c.n + 1) * f_flops(c, batch) + head_flops(c, batch)


def step_flops(c: TRMConfig, batch: int) -> int:
    backward = 2 * ((c.n + 1) * f_flops(c, batch) + head_flops(c, batch))
    return forward_flops(c, batch) + backward


# FlopCounterMode has no formula for the CPU flash-attention kernels (it counts them as 0):
# give it the same ones it uses for the GPU kernels. The backward one counts the recomputed
# scores QK^T too (5 products against the forward's 2), which the analytic count leaves out.
CPU_SDPA_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu:
        lambda q, k, v, *args, **kwargs: sdpa_flop_count(q, k, v),
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward:
        lambda grad, q, k, v, *args, **kwargs: sdpa_backward_flop_count(grad, q, k, v),
}


def counted_flops(cfg: TRMConfig, batch: int = 1) -> tuple[int, int]:
    """(forward, forward + backward) FLOPs of one deep_step, as torch counts them (fp32)."""
    torch.manual_seed(0)
    model = TRM(cfg)
    inputs = torch.randint(1, cfg.vocab_size, (batch, cfg.seq_len))
    y, z = model.initial_state(batch)
    with FlopCounterMode(display=False, custom_mapping=CPU_SDPA_FLOPS) as forward:
        out = model.deep_step(model.embed_input(inputs, torch.zeros(batch, dtype=torch.long)), y, z)
    with FlopCounterMode(display=False, custom_mapping=CPU_SDPA_FLOPS) as backward:
        (out.logits.float().logsumexp(-1).mean() + out.halt_logit.mean()).backward()
    fwd = forward.get_total_flops()
    return fwd, fwd + backward.get_total_flops()


# ---------------------------------------------------------------------- timing

def make_trainer(model_cfg: TRMConfig, train_cfg: TrainConfig, precision: str, compiled: bool,
                 out: Path) -> Trainer:
    torch.manual_seed(0)
    if compiled:
        torch._dynamo.reset()  # no shapes or guards left over from another preset
    data = random_data(model_cfg, 4 * train_cfg.batch_size, seed=0)
    return Trainer(model_cfg, train_cfg, data, None, out, device=torch.device("cpu"),
                   precision=precision, compile=compiled)


def warm_up(trainer: Trainer, steps: int) -> float:
    """Seconds of the untimed first steps (with compilation, for a compiled model)."""
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return time.perf_counter() - start


def time_rounds(trainers: list[Trainer], steps: int) -> list[list[float]]:
    """Seconds of each step, per trainer, taking turns: a load that comes and goes while
    we measure slows every variant alike, so their ratios hold."""
    times: list[list[float]] = [[] for _ in trainers]
    for _ in range(steps):
        for trainer, record in zip(trainers, times):
            start = time.perf_counter()
            trainer.train_step()  # ends in .item(): the step is done when it returns
            record.append(time.perf_counter() - start)
    return times


def short_reason(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    text = f"{type(e).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= 120 else text[:117] + "..."


# ---------------------------------------------------------------------- report

def describe(name: str, c: TRMConfig, batch: int) -> None:
    fwd, full = counted_flops(c)
    print(f"\n{name}: mixer {c.mixer}, seq_len {c.seq_len}, vocab {c.vocab_size}, "
          f"hidden {c.hidden_size}, heads {c.num_heads}, layers {c.num_layers}, n {c.n}, T {c.T}; "
          f"batch {batch}")
    print(f"  analytic matmul FLOPs per step: {step_flops(c, batch) / 1e9:.1f} G "
          f"(forward {forward_flops(c, batch) / 1e9:.1f} G)")
    print(f"  FlopCounterMode at batch 1 / analytic: forward {fwd / forward_flops(c, 1):.3f}, "
          f"forward + backward {full / step_flops(c, 1):.3f}")


def bench_preset(name: str, batch: int, args, out: Path) -> list[tuple]:
    model_cfg, train_cfg = configs(name, batch, args.hidden)
    describe(name, model_cfg, batch)
    flops = step_flops(model_cfg, batch)
    variants, trainers, warm = [], [], []
    for label, precision, compiled in VARIANTS:
        if compiled and args.no_compile:
            continue
        try:
            trainer = make_trainer(model_cfg, train_cfg, precision, compiled, out)
            seconds = warm_up(trainer, args.warmup)
        except Exception as e:  # noqa: BLE001 - inductor needs a working C++ toolchain
            if not compiled:
                raise
            print(f"  compile: failed ({short_reason(e)})")
            continue
        print(f"  {label:<14} warm-up {seconds:6.1f} s", flush=True)
        variants.append((label, precision))
        trainers.append(trainer)
        warm.append(seconds)
    times = time_rounds(trainers, args.steps)
    return [(name, label, precision, batch, statistics.median(t), w, flops)
            for (label, precision), t, w in zip(variants, times, warm)]


def print_table(rows: list[tuple]) -> None:
    print(f"\n{'preset':<7} {'variant':<14}{'batch':>6}{'ms/step':>9}{'ex*steps/s':>12}"
          f"{'speed-up':>9}{'GFLOP/s':>9}{'of peak':>9}{'warm-up s':>10}")
    base = {}
    for name, label, precision, batch, seconds, warm, flops in rows:
        base.setdefault(name, seconds)  # fp32 eager comes first
        gflops = flops / seconds / 1e9
        print(f"{name:<7} {label:<14}{batch:>6}{1000 * seconds:>9.0f}{batch / seconds:>12.2f}"
              f"{base[name] / seconds:>8.2f}x{gflops:>9.1f}"
              f"{gflops / PEAK_GFLOPS[precision]:>8.0%}{warm:>10.1f}")
    print(f"(median of the timed steps; peak: {PEAK_GFLOPS['fp32']:.0f} GFLOP/s fp32, "
          f"{PEAK_GFLOPS['bf16']:.0f} bf16; target: 2x over fp32 eager)")


def load() -> str:
    """Other work on these 2 cores slows every step a lot (threads wait on each other)."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="hidden 256, 2 warm-up + 3 timed steps")
    p.add_argument("--presets", nargs="+", choices=sorted(SHAPES), default=["sudoku", "maze"])
    p.add_argument("--batch", type=int, help="batch for every preset (default: sudoku 16, maze 2)")
    p.add_argument("--hidden", type=int,
                   help="hidden size (default: the preset's; 256 with --quick)")
    p.add_argument("--steps", type=int, help="timed steps per variant (default 5, 3 with --quick)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (compilation)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    args = p.parse_args()
    if args.quick and args.hidden is None:
        args.hidden = 256
    if args.steps is None:
        args.steps = 3 if args.quick else 5
    return args


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    batches = {name: args.batch or SHAPES[name][2] for name in args.presets}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch "
          + ", ".join(f"{name} {b}" for name, b in batches.items())
          + f"; {args.warmup} warm-up + {args.steps} timed steps per variant; {load()}")
    start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.presets:
            rows += bench_preset(name, batches[name], args, Path(tmp))
    print_table(rows)
    print(f"total {time.perf_counter() - start:.0f} s; {load()}")


if __name__ == "__main__":
    main()
