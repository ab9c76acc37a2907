"""Benchmark: ViT against ViTRM at an equal wall-clock budget on the synthetic image set.

1. Makes the synthetic set if it is missing (`trm vision data synthetic`, 20,000 train /
   2,000 test, 10 classes, seed 0).
2. `trm vision compare` (vision.compare): each variant trained for --minutes, then measured
   on the whole test split: parameters, FLOPs per image (all supervision steps), top-1,
   top-5, train images/s (rows of the batch through one supervision step, forward and
   backward), eval images/s; for vitrm also adaptive halting (mean steps, images/s, top-1)
   and its speed-up over full steps.
3. bf16 autocast against fp32 on this machine, measured here and now on the same models:
   eval images/s of each trained run in both precisions, and training steps/s of a short
   probe in both precisions (ratios against fp32 in the same run: timings on a shared
   machine are noisy, ratios less so).

    OMP_NUM_THREADS=2 python benchmarks/vision_compare.py --minutes 10
    python benchmarks/vision_compare.py --minutes 1 --out runs/bench-quick   # a smoke run

Prints a table and a Markdown table for the README and writes OUT/benchmark.json.
An interrupted run resumes where it stopped (the compare's runs are resumable).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from trm.device import resolve_device
from vision.cifar import load_images
from vision.compare import compare, probe_steps_per_s
from vision.models import build_model
from vision.training import as_token_data, evaluate_images, load_vision_model, read_stats


def ensure_data(path: Path, train: int, test: int) -> None:
    if (path / "batches.meta").is_file():
        return
    from vision.synthetic import write_synthetic

    print(f"writing the synthetic set to {path} ({train} train, {test} test)")
    write_synthetic(path, train=train, test=test, classes=10, seed=0, progress=True)


def precision_ratios(data_dir: Path, rows: list[dict], device: torch.device, batch: int) -> list[dict]:
    """bf16 vs fp32, eval images/s (each trained model on the test split) and training
    steps/s (a probe of 6 steps), both precisions measured back to back."""
    test = as_token_data(load_images(data_dir).test)
    out = []
    for r in rows:
        model, config = load_vision_model(Path(r["run"]), device)
        stats = read_stats(config)
        line = {"variant": r["variant"]}
        for prec in ("fp32", "bf16"):
            evaluate_images(model, test.head(256), device=device, precision=prec, stats=stats)
            res = evaluate_images(model, test, device=device, precision=prec, stats=stats)
            line[f"eval_{prec}"] = res["images_per_s"]
            line[f"top1_{prec}"] = res["top1"]
            fresh = build_model(r["variant"], "small", **r["config"])
            line[f"train_{prec}"] = probe_steps_per_s(fresh, batch_size=batch, device=device,
                                                      precision=prec, steps=6) * batch
        line["eval_ratio"] = line["eval_bf16"] / line["eval_fp32"]
        line["train_ratio"] = line["train_bf16"] / line["train_fp32"]
        out.append(line)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("data/shapes-bench"))
    p.add_argument("--train", type=int, default=20000)
    p.add_argument("--test", type=int, default=2000)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--out", type=Path, default=Path("runs/vision-compare"))
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--precision", default="auto")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    ensure_data(args.data, args.train, args.test)
    start = time.time()
    result = compare(args.data, args.out, ["vit", "vitrm"], minutes=args.minutes,
                     batch_size=args.batch_size, precision=args.precision, seed=args.seed,
                     log=print)
    rows = result["variants"]
    device = resolve_device("auto")
    ratios = precision_ratios(args.data, rows, device, args.batch_size)
    vit, vitrm = rows
    a = vitrm["adaptive"]
    summary = {
        "machine": f"{os.cpu_count()} CPU threads, torch {torch.__version__}, "
                   f"{torch.get_num_threads()} intra-op threads, device {device}",
        "params_ratio": vit["params"] / vitrm["params"],
        "top1_gap_points": 100 * (vit["top1"] - vitrm["top1"]),
        "adaptive_speedup": a["eval_images_per_s"] / vitrm["eval_images_per_s"],
        "adaptive_top1_change_points": 100 * (a["top1"] - vitrm["top1"]),
        "precision": ratios, "wall_minutes": (time.time() - start) / 60,
    }
    (args.out / "benchmark.json").write_text(json.dumps({**result, "summary": summary}, indent=2))

    print(f"\n{summary['machine']}; data {args.data} ({result['data']['train']} train, "
          f"{result['data']['test']} test); {args.minutes:g} min per variant")
    print("| variant | parameters | MFLOPs / image | train time | steps | top-1 | top-5 | train img/s | eval img/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| `{r['variant']}` | {r['params']:,} | {r['flops'] / 1e6:.1f} | {r['train_minutes']:.1f} min | "
              f"{r['train_steps']} | {100 * r['top1']:.1f}% | {100 * r['top5']:.1f}% | "
              f"{r['train_images_per_s']:.0f} | {r['eval_images_per_s']:.0f} |")
    print(f"| `vitrm`, adaptive halting | | | | | {100 * a['top1']:.1f}% | {100 * a['top5']:.1f}% | | "
          f"{a['eval_images_per_s']:.0f} ({a['mean_steps']:.2f} of {vitrm['config']['n_sup']} steps) |")
    print(f"\nvit / vitrm parameters: {summary['params_ratio']:.1f}x; top-1 gap (vit - vitrm): "
          f"{summary['top1_gap_points']:+.1f} points")
    print(f"adaptive halting: {summary['adaptive_speedup']:.2f}x the eval images/s of full steps, "
          f"top-1 {summary['adaptive_top1_change_points']:+.1f} points")
    for line in ratios:
        print(f"{line['variant']}: bf16 / fp32 eval images/s {line['eval_bf16']:.0f} / {line['eval_fp32']:.0f}"
              f" = {line['eval_ratio']:.2f}x (top-1 {100 * line['top1_bf16']:.1f}% / "
              f"{100 * line['top1_fp32']:.1f}%); train images/s {line['train_bf16']:.0f} / "
              f"{line['train_fp32']:.0f} = {line['train_ratio']:.2f}x")
    print(f"\nwrote {args.out / 'benchmark.json'} ({summary['wall_minutes']:.1f} min in all)")


if __name__ == "__main__":
    main()
