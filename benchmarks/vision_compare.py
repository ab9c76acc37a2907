"""The vision benchmark of issue 15: `trm vision compare` on the synthetic set at a size
this CPU takes to 20 epochs per variant, an sr-vit sweep over R = 1..4 at the same
settings, and the equal-time table. Prints one JSON summary (and writes it to OUT/summary.json).

    python benchmarks/vision_compare.py --out runs/bench-vision [--train 4000 --test 1000
        --epochs 20 --batch-size B --minutes 3]

Settings are those of `trm vision compare` with its defaults (small presets and their
recipe and batch, seed 0, each variant at the faster of fp32 and bf16 in a timed probe);
rerun the same command after an interruption and it resumes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
from pathlib import Path

import torch

from trm.device import cpu_has_fast_bf16
from vision.compare import compare
from vision.recipes import TRAIN_DEFAULTS
from vision.synthetic import write_synthetic

VARIANTS = ["vit", "vitrm", "bvit", "sr-vit", "mor-vit"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/bench-vision"))
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--epochs", type=float, default=20.0)
    ap.add_argument("--batch-size", type=int, default=TRAIN_DEFAULTS["batch_size"])
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--skip-time", action="store_true", help="no equal-time table")
    args = ap.parse_args()
    data = args.out / "data"
    if not (data / "batches.meta").exists():
        write_synthetic(data, args.train, args.test, 10, 0, progress=False)
    log = lambda m: print(m, flush=True)
    summary = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "avx512_bf16": cpu_has_fast_bf16(),
            "torch": torch.__version__,
        },
        "data": {"train": args.train, "test": args.test, "classes": 10},
        "epochs_each": args.epochs,
        "batch_size": args.batch_size,
    }
    common = dict(batch_size=args.batch_size, log=log)
    epochs = compare(
        data, args.out / "epochs", VARIANTS, budget="epochs", epochs=args.epochs, **common
    )
    summary["epochs"] = _rows(epochs)
    sweep = {4: next(r for r in _rows(epochs) if r["variant"] == "sr-vit")}  # R=4: the default
    for r in (1, 2, 3):
        result = compare(
            data,
            args.out / f"sr-vit-R{r}",
            ["sr-vit"],
            budget="epochs",
            epochs=args.epochs,
            model_overrides={"sr-vit": {"recursions": r}},
            **common,
        )
        sweep[r] = _rows(result)[0]
    summary["sr_vit_recursions"] = sweep
    if not args.skip_time:
        timed = compare(
            data, args.out / "time", VARIANTS, budget="time", minutes=args.minutes, **common
        )
        summary["time"] = _rows(timed)
    summary["targets"] = _targets(summary)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


def _rows(result: dict) -> list[dict]:
    keys = (
        "variant",
        "params",
        "flops",
        "precision",
        "epochs",
        "top1",
        "top1_at_equal_images",
        "top5",
        "train_images_per_s",
        "eval_images_per_s",
        "train_minutes",
    )
    return [{k: r.get(k) for k in keys} for r in result["variants"]]


def _targets(summary: dict) -> dict:
    rows = {r["variant"]: r for r in summary["epochs"]}
    vit, vitrm, bvit, mor = rows["vit"], rows["vitrm"], rows["bvit"], rows["mor-vit"]
    sweep = [summary["sr_vit_recursions"][r]["top1"] for r in (1, 2, 3, 4)]
    return {
        "vitrm_within_1_point_of_vit": vitrm["top1"] >= vit["top1"] - 0.01,
        "vitrm_at_most_a_fifth_of_vit_params": vitrm["params"] * 5 <= vit["params"],
        "sr_vit_top1_non_decreasing_in_R": all(b >= a for a, b in itertools.pairwise(sweep)),
        "mor_vit_1.5x_bvit_eval_images_per_s": mor["eval_images_per_s"]
        >= 1.5 * bvit["eval_images_per_s"],
        "mor_vit_within_1_point_of_bvit": mor["top1"] >= bvit["top1"] - 0.01,
        "sr_vit_top1_by_R": sweep,
    }


if __name__ == "__main__":
    main()
