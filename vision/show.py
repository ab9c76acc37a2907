"""See an image set: a PNG grid of a few images of each class (``trm vision data show``).

One row per class (its name on the left, its count in the split beside it), ``per_class``
images in each, drawn at random (seeded) from the split; each image scaled up by a whole
number with nearest-neighbour sampling, so pixels stay pixels. With many classes (CIFAR-100)
only the first ``max_classes`` rows are drawn, and the caption says so.
"""

from __future__ import annotations

import numpy as np

from vision.cifar import ImageData

GAP = 2  # pixels between images
LABEL_CHARS = 18  # a class name is cut to this many characters
CHAR_WIDTH, LINE_HEIGHT = 6, 11  # Pillow's built-in bitmap font
BACKGROUND, INK = (255, 255, 255), (20, 20, 20)


def class_counts(data: ImageData, split: str) -> np.ndarray:
    """Images of each class in ``split`` (the label histogram)."""
    labels = getattr(data, split).labels
    return np.bincount(labels, minlength=data.num_classes)


def pick(labels: np.ndarray, classes: int, per_class: int, seed: int) -> list[np.ndarray]:
    """Up to ``per_class`` indices of each class, drawn at random without repeats."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(classes):
        where = np.flatnonzero(labels == c)
        take = min(per_class, len(where))
        chosen.append(np.sort(rng.choice(where, size=take, replace=False)) if take else where)
    return chosen


def grid(
    data: ImageData,
    *,
    split: str = "train",
    per_class: int = 8,
    scale: int = 2,
    seed: int = 0,
    max_classes: int = 20,
):
    """The grid as a PIL image (RGB)."""
    from PIL import Image, ImageDraw

    part = getattr(data, split)
    counts = class_counts(data, split)
    rows = min(data.num_classes, max_classes)
    chosen = pick(part.labels, rows, per_class, seed)
    size = part.images.shape[-1] * scale
    label_w = (LABEL_CHARS + 9) * CHAR_WIDTH
    caption = f"{data.name} {split}: {len(part):,} images, {data.num_classes} classes"
    if rows < data.num_classes:
        caption += f" (the first {rows} shown)"
    top = LINE_HEIGHT + 2 * GAP
    width = max(label_w + per_class * (size + GAP) + GAP, len(caption) * CHAR_WIDTH + 2 * GAP)
    height = top + rows * (size + GAP) + GAP
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    pen = ImageDraw.Draw(canvas)
    pen.text((GAP, GAP), caption, fill=INK)
    for r, indices in enumerate(chosen):
        y = top + r * (size + GAP)
        name = data.classes[r][:LABEL_CHARS]
        pen.text((GAP, y + (size - LINE_HEIGHT) // 2), f"{name} ({counts[r]:,})", fill=INK)
        for k, i in enumerate(indices):
            pixels = np.ascontiguousarray(part.images[i].transpose(1, 2, 0))  # (H, W, RGB)
            tile = Image.fromarray(pixels, "RGB").resize((size, size), Image.NEAREST)
            canvas.paste(tile, (label_w + k * (size + GAP), y))
    return canvas
