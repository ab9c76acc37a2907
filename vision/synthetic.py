"""A generated image set in the CIFAR-10 python format, for tests and CPU benchmarks.

Each class is a (shape, texture) pair: a ``striped_triangle`` is a triangle filled with
stripes. Every image draws its own position, size, rotation (which also turns the
texture), colours (a texture's second tone is a darker or lighter version of the first),
background colour and gradient, and pixel noise, so no single pixel says much about the
class: a linear classifier on raw pixels stays near chance (13% top-1 on 10 classes,
trained on 50,000 images; see ``benchmarks/vision_synthetic.py``), while the class stays
plain to see and a small CNN learns it.

Classes are numbered so that the first ten already mix every shape with several
textures: class ``k`` is shape ``k % 6`` with texture ``(k % 6 + k // 6) % 5``; up to
6 x 5 = 30 classes. Labels are balanced (each class ``n // classes`` or one more times)
and shuffled.

The same seed gives the same bytes (on the same numpy): images are made in fixed chunks,
each with its own random stream. :func:`write_synthetic` writes the official layout:
``data_batch_1`` .. ``data_batch_5`` (the training set cut into five near-equal parts,
in order), ``test_batch`` and ``batches.meta`` (with an extra ``trm_synthetic`` entry
holding the settings, which official readers ignore), through a staged folder renamed
into place at the end.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from trm.errors import SettingError
from vision.cifar import PIXELS, ImageData, ImageSplit, staged_folder, write_cifar10_python

SHAPES = ("circle", "square", "triangle", "cross", "ring", "crescent")
TEXTURES = ("plain", "striped", "checkered", "dotted", "grid")
MAX_CLASSES = len(SHAPES) * len(TEXTURES)
MAX_IMAGES = 2_000_000
SIZE = 32
CHUNK = 1000  # images drawn from one random stream; fixed, so output never depends on speed
SPLIT_IDS = {"train": 0, "test": 1}
FORMAT_VERSION = 1


def class_factors(classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Shape index and texture index of each class, int64 ``(classes,)`` each."""
    k = np.arange(classes)
    return k % len(SHAPES), (k % len(SHAPES) + k // len(SHAPES)) % len(TEXTURES)


def class_names(classes: int) -> list[str]:
    shapes, textures = class_factors(classes)
    return [f"{TEXTURES[t]}_{SHAPES[s]}" for s, t in zip(shapes, textures)]


def _check(classes: int, seed: int) -> None:
    if not 2 <= classes <= MAX_CLASSES:
        raise SettingError(
            f"`classes` {classes}: choose 2 to {MAX_CLASSES} "
            f"({len(SHAPES)} shapes x {len(TEXTURES)} textures)"
        )
    if seed < 0:
        raise SettingError("seed", f"{seed}: must be >= 0")


# --------------------------------------------------------------------------- drawing


def _shape_distance(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (in object radii, negative inside) to the outline of ``shape`` at
    object-frame coordinates ``u``, ``v`` (in object radii)."""
    name = SHAPES[shape]
    if name == "circle":
        return np.hypot(u, v) - 0.95
    if name == "square":
        return np.maximum(np.abs(u), np.abs(v)) - 0.78
    if name == "triangle":  # equilateral, circumradius 1.05
        edges = [
            u * math.cos(a) + v * math.sin(a)
            for a in (math.pi / 2, 7 * math.pi / 6, 11 * math.pi / 6)
        ]
        return np.maximum(np.maximum(edges[0], edges[1]), edges[2]) - 0.525
    if name == "cross":
        au, av = np.abs(u), np.abs(v)
        return np.minimum(np.maximum(au - 1.0, av - 0.32), np.maximum(au - 0.32, av - 1.0))
    if name == "ring":
        return np.abs(np.hypot(u, v) - 0.68) - 0.32
    if name == "crescent":
        return np.maximum(np.hypot(u, v) - 1.0, 0.8 - np.hypot(u - 0.55, v))
    raise AssertionError(name)


def _texture(
    texture: int, u: np.ndarray, v: np.ndarray, period: np.ndarray, phase: np.ndarray
) -> np.ndarray:
    """How much of the second tone (0..1) each pixel shows; ``u``, ``v`` in pixels along
    the object's axes, ``period`` (m, 1, 1) pixels, ``phase`` (m, 2, 1, 1) in periods."""
    name = TEXTURES[texture]
    a = u / period + phase[:, 0]
    b = v / period + phase[:, 1]
    if name == "plain":
        return np.zeros_like(u)
    if name == "striped":
        return np.clip(0.5 + 1.5 * np.sin(2 * np.pi * a), 0, 1)
    if name == "checkered":
        return np.clip(0.5 + 2.5 * np.sin(2 * np.pi * a) * np.sin(2 * np.pi * b), 0, 1)
    fa, fb = (a - np.round(a)) * period, (b - np.round(b)) * period  # pixels to the lattice
    if name == "dotted":
        return np.clip(0.5 + 0.3 * period - np.hypot(fa, fb), 0, 1)
    if name == "grid":
        return np.clip(0.9 - np.minimum(np.abs(fa), np.abs(fb)), 0, 1)
    raise AssertionError(name)


def _colours_apart(rng: np.random.Generator, avoid: np.ndarray, min_dist: float) -> np.ndarray:
    """Random RGB colours (n, 3), each at least ``min_dist`` from its row of ``avoid``."""
    out = rng.uniform(0, 1, avoid.shape).astype(np.float32)
    for _ in range(50):
        bad = np.linalg.norm(out - avoid, axis=1) < min_dist
        if not bad.any():
            break
        out[bad] = rng.uniform(0, 1, (int(bad.sum()), 3))
    return out


def render(labels: np.ndarray, classes: int, rng: np.random.Generator) -> np.ndarray:
    """Images of the given classes, uint8 ``(n, 3, 32, 32)``."""
    n = len(labels)
    shape_of, texture_of = class_factors(classes)
    shapes, textures = shape_of[labels], texture_of[labels]
    f32 = np.float32

    def col(x):  # (n,) -> (n, 1, 1) float32
        return np.asarray(x, f32)[:, None, None]

    # placement: centre, radius (pixels), rotation
    cx, cy = col(rng.uniform(10.5, 21.5, n)), col(rng.uniform(10.5, 21.5, n))
    radius = col(rng.uniform(6.5, 12.0, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    cos, sin = col(np.cos(angle)), col(np.sin(angle))
    grid = np.arange(SIZE, dtype=f32) + f32(0.5)
    dx, dy = grid[None, None, :] - cx, grid[None, :, None] - cy
    u, v = dx * cos + dy * sin, dy * cos - dx * sin  # pixels, object frame

    # texture settings and colours
    period = col(rng.uniform(3.5, 6.0, n))
    phase = rng.uniform(0, 1, (n, 2)).astype(f32)[:, :, None, None]
    first = rng.uniform(0, 1, (n, 3)).astype(f32)
    luma = first @ np.array([0.299, 0.587, 0.114], f32)
    darker = first * rng.uniform(0.15, 0.45, (n, 1)).astype(f32)
    lighter = first + (1 - first) * rng.uniform(0.55, 0.85, (n, 1)).astype(f32)
    second = np.where(luma[:, None] > 0.5, darker, lighter)
    background = _colours_apart(rng, first, 0.45)
    slope = rng.uniform(-0.35, 0.35, n).astype(f32)
    slope_angle = rng.uniform(0, 2 * np.pi, n)
    sigma = rng.uniform(0.01, 0.06, n).astype(f32)

    distance = np.empty((n, SIZE, SIZE), f32)
    tone = np.empty((n, SIZE, SIZE), f32)
    for s in range(len(SHAPES)):
        idx = np.flatnonzero(shapes == s)
        if len(idx):
            distance[idx] = _shape_distance(s, u[idx] / radius[idx], v[idx] / radius[idx])
    for t in range(len(TEXTURES)):
        idx = np.flatnonzero(textures == t)
        if len(idx):
            tone[idx] = _texture(t, u[idx], v[idx], period[idx], phase[idx])
    alpha = np.clip(0.5 - distance * radius, 0, 1)[:, None]  # about one pixel of antialiasing

    ramp = (dx * col(np.cos(slope_angle)) + dy * col(np.sin(slope_angle))) / SIZE * col(slope)
    bg = background[:, :, None, None] + ramp[:, None]
    tone = tone[:, None]
    obj = first[:, :, None, None] * (1 - tone) + second[:, :, None, None] * tone
    image = bg * (1 - alpha) + obj * alpha
    image += rng.standard_normal(image.shape, dtype=f32) * sigma[:, None, None, None]
    return np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)


def make_split(n: int, classes: int, seed: int, split: str, bar: tqdm | None = None) -> ImageSplit:
    """``n`` balanced, shuffled images of split ``split`` ("train" or "test")."""
    sid = SPLIT_IDS[split]
    labels = np.random.default_rng([seed, sid]).permutation(np.arange(n) % classes)
    images = np.empty((n, 3, SIZE, SIZE), np.uint8)
    for k, start in enumerate(range(0, n, CHUNK)):
        stop = min(n, start + CHUNK)
        images[start:stop] = render(
            labels[start:stop], classes, np.random.default_rng([seed, sid, k])
        )
        if bar is not None:
            bar.update(stop - start)
    return ImageSplit(images, labels.astype(np.int64))


def generate(
    train: int, test: int, classes: int = 10, seed: int = 0, progress: bool = False
) -> ImageData:
    """The synthetic dataset in memory (nothing written)."""
    _check(classes, seed)
    for name, n in (("train", train), ("test", test)):
        if n < 1:
            raise SettingError(f"`{name}` {n}: must be at least 1")
    if train + test > MAX_IMAGES:
        raise SettingError(
            f"`train` plus `test` is {train + test:,}: at most {MAX_IMAGES:,} images "
            f"({MAX_IMAGES * PIXELS / 2**30:.0f} GiB of pixels, held in memory)"
        )
    with tqdm(
        total=train + test,
        desc="synthetic images",
        unit="img",
        file=sys.stderr,
        disable=not progress,
        leave=False,
    ) as bar:
        splits = {
            name: make_split(n, classes, seed, name, bar)
            for name, n in (("train", train), ("test", test))
        }
    info = {
        "generator": "trm vision data synthetic",
        "version": FORMAT_VERSION,
        "seed": seed,
        "classes": classes,
        "train": train,
        "test": test,
    }
    return ImageData("synthetic", class_names(classes), splits["train"], splits["test"], info=info)


def write_synthetic(
    out: Path,
    train: int,
    test: int,
    classes: int = 10,
    seed: int = 0,
    *,
    force: bool = False,
    progress: bool = True,
) -> ImageData:
    """Generate the dataset and write it to folder ``out`` in the CIFAR-10 python layout."""
    out = Path(out)
    _check(classes, seed)
    with staged_folder(out, force) as stage:  # refuses a bad --out before any work
        data = generate(train, test, classes, seed, progress)
        write_cifar10_python(
            stage,
            data,
            {
                b"trm_synthetic": {
                    k.encode(): v.encode() if isinstance(v, str) else v
                    for k, v in data.info.items()
                }
            },
        )
    data.path, data.format = out, "python"
    return data
