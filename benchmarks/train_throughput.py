"""Benchmark: training throughput (examples x supervision steps per second) on this CPU.

For the sudoku and maze presets (the official models: see README "Parity with the official
code"), one process times ``Trainer.train_step`` several ways, taking turns step by step so
that the ratios hold even when something else loads the machine:

1. fp32, eager (our baseline);
2. fp32, ``torch.compile`` (inductor; compilation happens in the untimed warm-up);
3. bf16 autocast, eager, and 4. bf16 autocast, compiled: only where the CPU does bf16 fast
   (AVX512-BF16 or AMX; on an AVX2-only CPU bf16 is emulated and several times slower than
   fp32, so these are skipped unless ``--bf16``);
5. with ``--official PATH`` (a checkout of SamsungSAILMontreal/TinyRecursiveModels; nothing
   of it is part of trm), the official code's own training step on the same configuration
   and batch, eager: its model in its loss head, ``(loss / batch).backward()``, an
   adam-atan2 step, as its ``pretrain.py`` does (``DISABLE_COMPILE``, CPU), in fp32, and in
   bf16 (its ``forward_dtype`` default) when the bf16 variants are timed. Each of our rows
   is compared with the official row of its own precision.

One optimizer step trains ``batch`` examples for one supervision step, so throughput is
batch / (median seconds per step). The presets' batch (768) would take minutes per step
here, so the benchmark keeps the presets' model shapes and uses a small batch of random
tokens: throughput does not depend on the values. Achieved GFLOP/s come from an analytic
count of the matrix products (checked against torch's FlopCounterMode at batch 1).

    python benchmarks/train_throughput.py [--quick] [--presets sudoku maze] [--batch N]
        [--hidden D] [--steps N] [--warmup N] [--no-compile] [--bf16] [--official PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from trm.config import TrainConfig, TRMConfig, build_configs
from trm.data import TokenData
from trm.device import cpu_has_fast_bf16
from trm.layers import swiglu_width
from trm.model import TRM
from trm.train import Trainer

# preset -> (seq_len, vocab_size, default batch): Sudoku 9x9 tokens, maze 30x30 tokens; the
# CPU recipes at their own batch (maze-cpu on its 10x10 mazes)
SHAPES = {
    "sudoku": (81, 11, 16),
    "maze": (900, 6, 2),
    "sudoku-small": (81, 11, 64),
    "maze-cpu": (100, 6, 64),
}
VARIANTS = (
    ("fp32 eager", "fp32", False),
    ("fp32 compiled", "fp32", True),
    ("bf16 eager", "bf16", False),
    ("bf16 compiled", "bf16", True),
)
OFFICIAL = "official"  # its rows: "official fp32", "official bf16"


# ---------------------------------------------------------------------- configs and data


def configs(
    name: str, batch: int, hidden: int | None, width_multiple: int | None = None
) -> tuple[TRMConfig, TrainConfig]:
    """The preset's model shape with this task's lengths, and its training setup at ``batch``,
    every step at full depth (a depth curriculum's shallow steps would time less work)."""
    seq_len, vocab, _ = SHAPES[name]
    return build_configs(
        name,
        {"seq_len": seq_len, "vocab_size": vocab},
        {"hidden_size": hidden, "width_multiple": width_multiple},
        {"batch_size": batch, "depth_curriculum": 0.0},
    )


def random_data(cfg: TRMConfig, n: int, seed: int) -> TokenData:
    """Random inputs and labels in 1..vocab-1 (no PAD): enough rows for every refill."""
    rng = np.random.default_rng(seed)
    shape = (n, cfg.seq_len)
    return TokenData(
        rng.integers(1, cfg.vocab_size, shape, dtype=np.uint8),
        rng.integers(1, cfg.vocab_size, shape, dtype=np.uint8),
        np.zeros(n, dtype=np.int32),
    )


# ---------------------------------------------------------------------- analytic FLOPs
#
# A matrix product (m x k) @ (k x n) costs 2*m*n*k. With L = total_len, D = hidden size:
#   SwiGLU(dim, inner) on R rows  = 2*R*dim*(2*inner) + 2*R*inner*dim = 6*R*dim*inner
#   f, per block: MLP mixer   = SwiGLU(L, width(L)) on B*D rows (mixing across positions)
#                 attention   = qkv 2*B*L*D*3D + out 2*B*L*D*D + QK^T and AV 2 * 2*B*L*L*D
#                 plus the MLP  SwiGLU(D, width(D)) on B*L rows
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
    mlp = swiglu_flops(tokens, d, swiglu_width(d, c.expansion, c.width_multiple))
    if c.mixer == "mlp":
        mix = swiglu_flops(batch * d, length, swiglu_width(length, c.expansion, c.width_multiple))
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
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: lambda q, k, v, *args, **kwargs: (
        sdpa_flop_count(q, k, v)
    ),
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: lambda grad, q, k, v, *args, **kwargs: (
        sdpa_backward_flop_count(grad, q, k, v)
    ),
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


def make_trainer(
    model_cfg: TRMConfig, train_cfg: TrainConfig, precision: str, compiled: bool, out: Path
) -> Trainer:
    torch.manual_seed(0)
    if compiled:
        torch._dynamo.reset()  # no shapes or guards left over from another preset
    data = random_data(model_cfg, 4 * train_cfg.batch_size, seed=0)
    return Trainer(
        model_cfg,
        train_cfg,
        data,
        None,
        out,
        device=torch.device("cpu"),
        precision=precision,
        compile=compiled,
    )


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


class OfficialStep:
    """The official code's training step (its ``pretrain.train_batch`` without the data
    loader and logging), on the same configuration, batch and kind of data, in its forward
    dtype: float32, or bfloat16 (its own default) where this CPU is fast at it."""

    def __init__(
        self, path: Path, c: TRMConfig, train: TrainConfig, seed: int = 0, dtype: str = "float32"
    ):
        sys.path.insert(0, str(path))  # its packages: models/, utils/
        from adam_atan2_pytorch import AdamAtan2
        from models.losses import ACTLossHead
        from models.recursive_reasoning.trm import TinyRecursiveReasoningModel_ACTV1

        torch.manual_seed(seed)
        arch = dict(
            batch_size=train.batch_size,
            seq_len=c.seq_len,
            vocab_size=c.vocab_size,
            num_puzzle_identifiers=c.num_puzzle_ids,
            puzzle_emb_ndim=c.puzzle_emb_width,
            puzzle_emb_len=c.puzzle_emb_len,
            H_cycles=c.T,
            L_cycles=c.n,
            H_layers=0,
            L_layers=c.num_layers,
            hidden_size=c.hidden_size,
            expansion=c.expansion,
            num_heads=c.num_heads,
            pos_encodings=c.pos_encodings,
            halt_max_steps=c.n_sup,
            halt_exploration_prob=c.halt_exploration,
            forward_dtype=dtype,
            mlp_t=c.mixer == "mlp",
            no_ACT_continue=True,
        )
        self.model = ACTLossHead(
            TinyRecursiveReasoningModel_ACTV1(arch), loss_type="stablemax_cross_entropy"
        )
        self.model.train()
        # adam-atan2 (the official package is CUDA-only; this one with a=1 is the same rule)
        self.optimizer = AdamAtan2(
            self.model.parameters(),
            lr=train.lr,
            a=1.0,
            betas=(train.beta1, train.beta2),
            weight_decay=train.weight_decay,
        )
        data = random_data(c, train.batch_size, seed)
        self.batch = {
            "inputs": torch.from_numpy(data.inputs).int(),
            "labels": torch.from_numpy(data.labels).long(),
            "puzzle_identifiers": torch.from_numpy(data.puzzle_ids).int(),
        }
        self.carry = self.model.initial_carry(self.batch)
        self.batch_size = train.batch_size

    def train_step(self) -> None:
        self.carry, loss, _, _, _ = self.model(carry=self.carry, batch=self.batch, return_keys=[])
        (loss / self.batch_size).backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        loss.item()


# ---------------------------------------------------------------------- report


def describe(name: str, c: TRMConfig, batch: int) -> None:
    fwd, full = counted_flops(c)
    print(
        f"\n{name}: mixer {c.mixer}, seq_len {c.seq_len} + {c.puzzle_emb_len} prefix, vocab "
        f"{c.vocab_size}, hidden {c.hidden_size}, heads {c.num_heads}, layers {c.num_layers}, "
        f"n {c.n}, T {c.T}; batch {batch}"
    )
    print(
        f"  analytic matmul FLOPs per step: {step_flops(c, batch) / 1e9:.1f} G "
        f"(forward {forward_flops(c, batch) / 1e9:.1f} G)"
    )
    print(
        f"  FlopCounterMode at batch 1 / analytic: forward {fwd / forward_flops(c, 1):.3f}, "
        f"forward + backward {full / step_flops(c, 1):.3f}"
    )


def chosen_variants(args) -> list[tuple[str, str, bool]]:
    bf16 = args.bf16 or cpu_has_fast_bf16()
    if not bf16:
        print(
            "this CPU has no AVX512-BF16/AMX: bf16 is emulated and slower than fp32, so the "
            "bf16 variants are skipped (--bf16 to time them anyway)"
        )
    return [v for v in VARIANTS if (bf16 or v[1] == "fp32") and not (v[2] and args.no_compile)]


def bench_preset(name: str, batch: int, args, out: Path) -> list[tuple]:
    model_cfg, train_cfg = configs(name, batch, args.hidden, args.width_multiple)
    describe(name, model_cfg, batch)
    flops = step_flops(model_cfg, batch)
    variants, trainers, warm = [], [], []
    for label, precision, compiled in chosen_variants(args):
        try:
            trainer = make_trainer(model_cfg, train_cfg, precision, compiled, out)
            seconds = warm_up(trainer, args.warmup)
        except Exception as e:
            if not compiled:
                raise
            print(f"  {label}: failed ({short_reason(e)})")
            continue
        print(f"  {label:<14} warm-up {seconds:6.1f} s", flush=True)
        variants.append((label, precision))
        trainers.append(trainer)
        warm.append(seconds)
    for precision in sorted({p for _, p in variants}, reverse=True) if args.official else []:
        dtype = {"fp32": "float32", "bf16": "bfloat16"}[precision]
        trainer = OfficialStep(args.official, model_cfg, train_cfg, dtype=dtype)
        seconds = warm_up(trainer, args.warmup)
        label = f"{OFFICIAL} {precision}"
        print(f"  {label:<14} warm-up {seconds:6.1f} s", flush=True)
        variants.append((label, precision))
        trainers.append(trainer)
        warm.append(seconds)
    times = time_rounds(trainers, args.steps)
    return [
        (name, label, precision, batch, statistics.median(t), w, flops)
        for (label, precision), t, w in zip(variants, times, warm)
    ]


# The official code on the official Sudoku configuration, batch 16, fp32, as measured on a
# machine of this kind by the session that filed the parity issue (CPU flags not recorded)
OFFICIAL_SUDOKU_16_SECONDS = 10.6


def print_table(rows: list[tuple]) -> None:
    print(
        f"\n{'preset':<7} {'variant':<15}{'batch':>6}{'ms/step':>9}{'ex*steps/s':>12}"
        f"{'vs fp32':>9}{'vs official':>12}{'GFLOP/s':>9}{'warm-up s':>10}"
    )
    base, official = {}, {}
    for name, label, precision, _, seconds, _, _ in rows:
        base.setdefault(name, seconds)  # fp32 eager comes first
        if label.startswith(OFFICIAL):
            official[name, precision] = seconds
    for name, label, precision, batch, seconds, warm, flops in rows:
        theirs = official.get((name, precision))
        vs = f"{theirs / seconds:>11.2f}x" if theirs else f"{'-':>12}"
        print(
            f"{name:<7} {label:<15}{batch:>6}{1000 * seconds:>9.0f}{batch / seconds:>12.2f}"
            f"{base[name] / seconds:>8.2f}x{vs}{flops / seconds / 1e9:>9.1f}{warm:>10.1f}"
        )
    print(
        "(median of the timed steps; 'vs official': the official code's step time in this "
        "run, in the same precision, over ours; target: >= 1.3x at a CPU recipe's shape)"
    )
    for name, label, _, batch, seconds, _, _ in rows:
        if name == "sudoku" and batch == 16 and not official and not label.startswith(OFFICIAL):
            print(
                f"  sudoku {label}: {OFFICIAL_SUDOKU_16_SECONDS / seconds:.2f}x the official "
                f"code's {OFFICIAL_SUDOKU_16_SECONDS} s/step measured elsewhere (no --official)"
            )


def load() -> str:
    """Other work on these 2 cores slows every step a lot (threads wait on each other)."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="hidden 256, 2 warm-up + 3 timed steps")
    p.add_argument("--presets", nargs="+", choices=sorted(SHAPES), default=["sudoku", "maze"])
    p.add_argument("--batch", type=int, help="batch for every preset (default: sudoku 16, maze 2)")
    p.add_argument(
        "--hidden", type=int, help="hidden size (default: the preset's; 256 with --quick)"
    )
    p.add_argument(
        "--width-multiple",
        type=int,
        help="round SwiGLU widths to this (the official code can only do 256; ours: the preset's)",
    )
    p.add_argument("--steps", type=int, help="timed steps per variant (default 5, 3 with --quick)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (compilation)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    p.add_argument("--bf16", action="store_true", help="time bf16 even on a CPU without fast bf16")
    p.add_argument(
        "--official",
        type=Path,
        help="a checkout of the official TRM code: time its training step in the same run",
    )
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
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch "
        + ", ".join(f"{name} {b}" for name, b in batches.items())
        + f"; {args.warmup} warm-up + {args.steps} timed steps per variant; {load()}"
    )
    start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.presets:
            rows += bench_preset(name, batches[name], args, Path(tmp))
    print_table(rows)
    print(f"total {time.perf_counter() - start:.0f} s; {load()}")


if __name__ == "__main__":
    main()
