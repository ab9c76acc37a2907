"""Benchmark: the synthetic image set, how fast it is made and how hard it is.

1. Time to generate N training + M test images in memory (default 50,000 + 10,000, the
   CIFAR-10 sizes), and to write them as CIFAR-10 python batches (`trm vision data
   synthetic`), and read them back with the CIFAR loader.
2. Linear classifiers on raw pixels (train on train, test on test), to show the set is far
   from linearly separable: least squares on one-hot targets (ridge, the penalty chosen on
   the last 10% of the training set), and softmax logistic regression (full-batch Adam).
3. With --cnn: a small 3-layer CNN trained for a few epochs, to show the classes are
   learnable all the same.

    OMP_NUM_THREADS=1 python benchmarks/vision_synthetic.py
    OMP_NUM_THREADS=1 python benchmarks/vision_synthetic.py --train 10000 --test 2000 --cnn
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vision.cifar import load_images
from vision.synthetic import generate, write_synthetic


def pixels(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255


def ridge(x, y, xt, yt, classes: int) -> tuple[float, float]:
    """Least squares on one-hot targets; the penalty is picked on a held-out 10%."""
    n_fit = int(len(x) * 0.9)
    mean = x[:n_fit].mean(0)
    xc, xtc = x - mean, xt - mean
    gram = xc[:n_fit].T.astype(np.float64) @ xc[:n_fit]
    rhs = xc[:n_fit].T.astype(np.float64) @ np.eye(classes)[y[:n_fit]]
    best = None
    for lam in (1.0, 10.0, 100.0, 1000.0, 10000.0):
        w = np.linalg.solve(gram + lam * np.eye(len(gram)), rhs)
        held = float(((xc[n_fit:] @ w).argmax(1) == y[n_fit:]).mean())
        if best is None or held > best[0]:
            best = (held, lam, w)
    _, lam, w = best
    return float(((xtc @ w).argmax(1) == yt).mean()), lam


def logistic(x, y, xt, yt, classes: int, steps: int) -> float:
    """Softmax regression on pixels, full-batch Adam."""
    x, xt = torch.from_numpy(x), torch.from_numpy(xt)
    mean = x.mean(0)
    x, xt = x - mean, xt - mean
    y = torch.from_numpy(y)
    model = torch.nn.Linear(x.shape[1], classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float((model(xt).argmax(1).numpy() == yt).mean())


def cnn(data, epochs: int) -> float:
    torch.manual_seed(0)
    x = torch.from_numpy(data.train.images).float() / 255 - 0.5
    xt = torch.from_numpy(data.test.images).float() / 255 - 0.5
    y = torch.from_numpy(data.train.labels)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(64, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(64, data.num_classes),
    )
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    for epoch in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            b = perm[i : i + 128]
            loss = torch.nn.functional.cross_entropy(net(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc = float(
                torch.cat([net(xt[i : i + 1000]).argmax(1) for i in range(0, len(xt), 1000)])
                .eq(torch.from_numpy(data.test.labels))
                .float()
                .mean()
            )
        print(f"  cnn epoch {epoch + 1}: test top-1 {acc:.3f}", flush=True)
    return acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=50000)
    parser.add_argument("--test", type=int, default=10000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--logistic-steps", type=int, default=200)
    parser.add_argument(
        "--cnn",
        type=int,
        nargs="?",
        const=6,
        default=0,
        metavar="EPOCHS",
        help="also train a small CNN (default 6 epochs)",
    )
    args = parser.parse_args()

    print(
        f"synthetic: {args.train} train + {args.test} test images, {args.classes} classes, "
        f"{torch.get_num_threads()} torch thread(s)"
    )
    start = time.perf_counter()
    data = generate(args.train, args.test, args.classes, args.seed)
    made = time.perf_counter() - start
    print(f"  generate in memory: {made:.1f} s ({(args.train + args.test) / made:,.0f} images/s)")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_synthetic(
            Path(tmp) / "synthetic", args.train, args.test, args.classes, args.seed, progress=False
        )
        written = time.perf_counter() - start
        start = time.perf_counter()
        back = load_images(Path(tmp) / "synthetic")
        read = time.perf_counter() - start
    assert np.array_equal(back.test.images, data.test.images)
    print(f"  generate + write CIFAR-10 python batches: {written:.1f} s; read back: {read:.1f} s")

    x, xt = pixels(data.train.images), pixels(data.test.images)
    y, yt = data.train.labels, data.test.labels
    print(f"chance: {1 / args.classes:.3f}; majority class: {np.bincount(yt).max() / len(yt):.3f}")
    start = time.perf_counter()
    acc, lam = ridge(x, y, xt, yt, args.classes)
    print(
        f"  least squares on raw pixels (ridge {lam:g}): test top-1 {acc:.3f} "
        f"({time.perf_counter() - start:.0f} s)"
    )
    if args.logistic_steps:
        start = time.perf_counter()
        acc = logistic(x, y, xt, yt, args.classes, args.logistic_steps)
        print(
            f"  logistic regression on raw pixels ({args.logistic_steps} Adam steps): "
            f"test top-1 {acc:.3f} ({time.perf_counter() - start:.0f} s)"
        )
    if args.cnn:
        start = time.perf_counter()
        acc = cnn(data, args.cnn)
        print(
            f"  small CNN, {args.cnn} epochs: test top-1 {acc:.3f} "
            f"({time.perf_counter() - start:.0f} s)"
        )


if __name__ == "__main__":
    main()
