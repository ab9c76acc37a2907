"""Eval throughput of MoR-ViT arms against bViT at the same width, in one process.

Each arm is a `small`-preset model with random weights (expert-choice routing keeps a fixed
share of tokens at each step, so its cost does not depend on the weights), fed the same
batch of random images. The arms run in interleaved rounds; each reports the median time
of a round and its ratio to bViT's, measured in the same run:

    python benchmarks/vision_eval_speed.py                 (patch 8, the small preset's)
    python benchmarks/vision_eval_speed.py --patch 4 --rounds 9 --threads 1

For trained runs, `trm vision eval RUN --data DIR --split train --json` reports
``images_per_s`` the same way a user sees it (data loading and normalisation included).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trm.model import parameter_count
from vision.models import build_model

LINEAR = dict(unique_ends=False, inactive_keys=False)  # shared ends, active tokens only
ARMS = {
    "bvit (6 passes, class token)": ("bvit", {}),
    "bvit --pool mean (6 passes)": ("bvit", dict(pool="mean")),
    "mor-vit (first small: unique ends, 4 steps, inactive keys, class token)": (
        "mor-vit",
        dict(recursions=4, unique_ends=True, inactive_keys=True, pool="cls"),
    ),
    "mor-vit --recursions 6 --shared-ends --no-inactive-keys --pool cls": (
        "mor-vit",
        dict(recursions=6, pool="cls", **LINEAR),
    ),
    "mor-vit --recursions 4 --shared-ends --no-inactive-keys --pool cls": (
        "mor-vit",
        dict(recursions=4, pool="cls", **LINEAR),
    ),
    "mor-vit small (4 steps, shared ends, active tokens only, mean pooling)": ("mor-vit", {}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patch", type=int, default=8)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {
        name: build_model(variant, "small", num_classes=10, patch_size=args.patch, **opts).eval()
        for name, (variant, opts) in ARMS.items()
    }
    images = torch.randn(args.batch, 3, 32, 32)

    def seconds(model) -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            model.classify(images)
        return time.perf_counter() - start

    for model in models.values():  # warm up
        seconds(model)
    times = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            times[name].append(seconds(model))
    base = statistics.median(times["bvit (6 passes, class token)"])
    print(f"patch {args.patch}, batch {args.batch}, {torch.get_num_threads()} threads")
    for name, model in models.items():
        t = statistics.median(times[name])
        params = parameter_count(model)
        print(f"{args.batch / t:8.0f} img/s  x{base / t:.2f} vs bvit  {params:>10,} params  {name}")


if __name__ == "__main__":
    main()
