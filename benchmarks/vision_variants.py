"""Benchmark: the five vision variants at an equal wall-clock budget, and SR-ViT's depth sweep.

1. `trm vision compare` (vision.compare) on the synthetic set (made if missing: 20,000
   train / 2,000 test, 10 classes, seed 0): vit, vitrm, bvit, sr-vit, mor-vit, each
   trained for --minutes, then measured on the whole test split (parameters, FLOPs per
   image, top-1, top-5, train and eval images/s); the two PNG charts are copied to --docs.
2. MoR-ViT against bViT at the same width and steps (the `small` presets): eval images/s
   ratio and top-1 gap, from the same run.
3. SR-ViT with R = 1, 2, 3, 4 recursion steps, each trained for --sweep-minutes (the same
   seed, data and batch): does top-1 grow with R, as the SoftMoR paper reports?

    OMP_NUM_THREADS=2 python benchmarks/vision_variants.py --minutes 10 --sweep-minutes 5

Resumable: run it again after an interruption (each compare keeps its finished variants).
Prints Markdown tables for the README and writes OUT/variants.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from vision.compare import compare
from vision_compare import ensure_data  # benchmarks/ is on the path when run as a script

VARIANTS = ["vit", "vitrm", "bvit", "sr-vit", "mor-vit"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("data/shapes-bench"))
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--sweep-minutes", type=float, default=5.0, help="0: no SR-ViT sweep")
    p.add_argument("--out", type=Path, default=Path("runs/vision-variants"))
    p.add_argument("--docs", type=Path, default=Path("docs"))
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    ensure_data(args.data, 20000, 2000)
    start = time.time()
    result = compare(args.data, args.out, VARIANTS, minutes=args.minutes,
                     batch_size=args.batch_size, seed=args.seed, log=print)
    rows = {r["variant"]: r for r in result["variants"]}
    args.docs.mkdir(parents=True, exist_ok=True)
    for plot in result["plots"]:
        shutil.copy(plot, args.docs / Path(plot).name)

    sweep = []
    if args.sweep_minutes > 0:
        for r in (1, 2, 3, 4):
            res = compare(args.data, args.out / "sr-sweep" / f"R{r}", ["sr-vit"],
                          minutes=args.sweep_minutes, batch_size=args.batch_size, seed=args.seed,
                          model_overrides={"sr-vit": {"recursions": r}}, log=print)
            sweep.append({"recursions": r, **{k: res["variants"][0][k] for k in
                                              ("params", "extra_params", "flops", "top1", "top5",
                                               "step_weights", "train_steps")}})

    mor, bvit = rows["mor-vit"], rows["bvit"]
    summary = {"mor_vs_bvit_eval_speed": mor["eval_images_per_s"] / bvit["eval_images_per_s"],
               "mor_vs_bvit_flops": bvit["flops"] / mor["flops"],
               "mor_minus_bvit_top1_points": 100 * (mor["top1"] - bvit["top1"]),
               "wall_minutes": (time.time() - start) / 60}
    (args.out / "variants.json").write_text(json.dumps({**result, "sr_sweep": sweep,
                                                         "summary": summary}, indent=2))

    print(f"\n{args.minutes:g} min per variant on {args.data} ({result['data']['train']} train, "
          f"{result['data']['test']} test)")
    print("| variant | parameters (extra) | MFLOPs / image | steps | top-1 | top-5 | train img/s | eval img/s | notes |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for v in VARIANTS:
        r = rows[v]
        notes = []
        if "adaptive" in r:
            a = r["adaptive"]
            notes.append(f"adaptive halting: {100 * a['top1']:.1f}% at {a['mean_steps']:.2f} steps, "
                         f"{a['eval_images_per_s']:.0f} img/s")
        if "mean_recursions" in r:
            notes.append(f"{r['mean_recursions']:.2f} recursions per token")
        if "step_weights" in r:
            notes.append("step weights " + ", ".join(f"{w:.2f}" for w in r["step_weights"]))
        print(f"| `{v}` | {r['params']:,} ({r['extra_params']:,}) | {r['flops'] / 1e6:.0f} | "
              f"{r['train_steps']} | {100 * r['top1']:.1f}% | {100 * r['top5']:.1f}% | "
              f"{r['train_images_per_s']:.0f} | {r['eval_images_per_s']:.0f} | {'; '.join(notes)} |")
    print(f"\nmor-vit vs bvit (width {bvit['config']['hidden_size']}, {bvit['config']['recursions']} "
          f"steps): {summary['mor_vs_bvit_eval_speed']:.2f}x the eval images/s, "
          f"{summary['mor_vs_bvit_flops']:.2f}x fewer FLOPs, top-1 "
          f"{summary['mor_minus_bvit_top1_points']:+.1f} points")
    if sweep:
        print(f"\nSR-ViT, {args.sweep_minutes:g} min each:")
        print("| R | parameters (mixture) | MFLOPs / image | steps | top-1 | top-5 | mean step weights |")
        print("|---:|---:|---:|---:|---:|---:|---|")
        for s in sweep:
            print(f"| {s['recursions']} | {s['params']:,} ({s['extra_params']:,}) | {s['flops'] / 1e6:.0f} | "
                  f"{s['train_steps']} | {100 * s['top1']:.1f}% | {100 * s['top5']:.1f}% | "
                  f"{', '.join(f'{w:.2f}' for w in s['step_weights'])} |")
    print(f"\nwrote {args.out / 'variants.json'} and {args.docs}/*.png "
          f"({summary['wall_minutes']:.1f} min in all)")


if __name__ == "__main__":
    main()
