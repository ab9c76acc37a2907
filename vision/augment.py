"""Image augmentation on whole batches, in torch, on any device, seeded by a generator.

Images are ``(B, 3, H, W)`` tensors (32 x 32 for CIFAR), either uint8 (0..255) or float in
[0, 1] (not yet normalised); every transform returns the dtype it was given. Labels are
int64 ``(B,)`` class indices; soft targets are float32 ``(B, C)`` rows summing to 1.

Randomness comes only from the ``generator`` argument (a ``torch.Generator``; None uses
torch's global one). Random numbers are drawn on the generator's device and moved to the
images' device, so a CPU generator gives the same augmentation on CPU and GPU.

The usual CIFAR recipe: :func:`random_crop` (pad 4, reflect) and :func:`random_hflip` on
uint8, optionally :func:`rand_augment`; then :func:`normalize`; then optionally
:func:`mixup` / :func:`cutmix` (or :func:`random_mix`) with soft targets. :func:`augment`
does the first part in one call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


# --------------------------------------------------------------------------- helpers


def _rand(
    shape: Sequence[int], generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """Uniform [0, 1) float32 numbers drawn on the generator's device, moved to ``device``."""
    where = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(tuple(shape), generator=generator, device=where).to(device)


def _randint(
    high: int, shape: Sequence[int], generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    where = generator.device if generator is not None else torch.device("cpu")
    return torch.randint(high, tuple(shape), generator=generator, device=where).to(device)


def _randperm(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    where = generator.device if generator is not None else torch.device("cpu")
    return torch.randperm(n, generator=generator, device=where).to(device)


def _beta(alpha: float, generator: torch.Generator | None) -> float:
    """One draw of Beta(alpha, alpha), seeded from ``generator``."""
    seed = int(_randint(2**62, (1,), generator, torch.device("cpu")))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def _check_images(images: torch.Tensor) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images should be (B, 3, H, W), got {tuple(images.shape)}")
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise ValueError(f"images should be uint8 or float, got {images.dtype}")


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float32 in [0, 1]; float images are returned as they are."""
    return images.float().div_(255) if images.dtype == torch.uint8 else images


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float in [0, 1] -> uint8 (rounded, clamped); uint8 images are returned as they are."""
    if images.dtype == torch.uint8:
        return images
    return images.mul(255).round_().clamp_(0, 255).to(torch.uint8)


def _like(result: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Float [0, 1] ``result`` back in the dtype of ``original``."""
    return to_uint8(result) if original.dtype == torch.uint8 else result.to(original.dtype)


def normalize(
    images: torch.Tensor, mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD
) -> torch.Tensor:
    """(B, 3, H, W) uint8 or [0, 1] float -> float32 ``(x - mean) / std`` per channel."""
    x = to_float(images).float()
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def channel_stats(
    images: np.ndarray | torch.Tensor, chunk: int = 10000
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std (in [0, 1] units) of uint8 images (n, 3, H, W), for
    :func:`normalize` on a dataset without published statistics (e.g. the synthetic one)."""
    images = torch.as_tensor(images)
    total = torch.zeros(3, dtype=torch.float64)
    squares = torch.zeros(3, dtype=torch.float64)
    count = 0
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk].to(torch.float64) / 255
        total += x.sum(dim=(0, 2, 3))
        squares += (x * x).sum(dim=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / max(count, 1)
    std = (squares / max(count, 1) - mean**2).clamp_min(0).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())


# --------------------------------------------------------------------------- crop and flip


def _reflect(index: torch.Tensor, n: int) -> torch.Tensor:
    """Indices outside 0..n-1 mirrored back (reflect padding, edge not repeated)."""
    index = index.abs()
    return torch.where(index >= n, 2 * (n - 1) - index, index)


def shift(
    images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, mode: str = "reflect"
) -> torch.Tensor:
    """Move each image by ``dy``, ``dx`` (int (B,)) pixels: output[i, j] = input[i + dy,
    j + dx], the outside filled by reflection ("reflect") or zeros ("zeros"). This is a
    crop of the padded image at offset (pad + dy, pad + dx). Same shape and dtype."""
    _check_images(images)
    if mode not in ("reflect", "zeros"):
        raise ValueError(f"mode {mode!r}: choose reflect or zeros")
    b, _, h, w = images.shape
    dev = images.device
    rows = torch.arange(h, device=dev)[None, :] + dy.to(dev).long()[:, None]  # (B, H)
    cols = torch.arange(w, device=dev)[None, :] + dx.to(dev).long()[:, None]  # (B, W)
    if mode == "reflect":
        if (dy.abs().max() if b else 0) >= h or (dx.abs().max() if b else 0) >= w:
            raise ValueError("a reflect shift must be smaller than the image")
        r, c = _reflect(rows, h), _reflect(cols, w)
    else:
        r, c = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    batch = torch.arange(b, device=dev)[:, None, None]
    out = images[batch, :, r[:, :, None], c[:, None, :]].permute(0, 3, 1, 2)  # (B, C, H, W)
    if mode == "zeros":
        inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
        out = out * inside[:, None].to(out.dtype)
    return out.contiguous()


def random_crop(
    images: torch.Tensor,
    padding: int = 4,
    mode: str = "reflect",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A random H x W crop of each image padded by ``padding`` on every side (reflect or
    zeros): a shift by up to ``padding`` pixels each way. Same shape and dtype."""
    _check_images(images)
    b = images.shape[0]
    offsets = _randint(2 * padding + 1, (2, b), generator, images.device) - padding
    return shift(images, offsets[0], offsets[1], mode)


def random_hflip(
    images: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``. Same shape and dtype."""
    _check_images(images)
    flip = _rand((images.shape[0],), generator, images.device) < p
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


# --------------------------------------------------------------------------- RandAugment
# Ops on float [0, 1] images x (m, 3, H, W), with a per-image signed strength ``level`` in
# [-1, 1] (the magnitude's fraction, with a random sign) where the op has a direction.
# Ranges follow torchvision's RandAugment: magnitude M of 30 is the strongest.

_GRAY = (0.299, 0.587, 0.114)


def _gray(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_GRAY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """other + factor * (x - other), clamped: factor 1 keeps x, 0 gives other."""
    return (other + factor.view(-1, 1, 1, 1) * (x - other)).clamp(0, 1)


def _affine(x: torch.Tensor, theta: torch.Tensor, fill: float) -> torch.Tensor:
    """Resample x through (m, 2, 3) affine maps (output -> input, normalised coordinates);
    pixels from outside the image take the value ``fill``."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return (
        F.grid_sample(x - fill, grid, mode="nearest", padding_mode="zeros", align_corners=False)
        + fill
    )


def _eye(m: int, device: torch.device) -> torch.Tensor:
    return torch.tensor([[1.0, 0, 0], [0, 1.0, 0]], device=device).repeat(m, 1, 1)


def _op_identity(x, level, fill):
    return x


def _op_brightness(x, level, fill):
    return _blend(x, torch.zeros_like(x), 1 + 0.9 * level)


def _op_color(x, level, fill):
    return _blend(x, _gray(x).expand_as(x), 1 + 0.9 * level)


def _op_contrast(x, level, fill):
    mean = _gray(x).mean(dim=(2, 3), keepdim=True)
    return _blend(x, mean.expand_as(x), 1 + 0.9 * level)


def _op_sharpness(x, level, fill):
    kernel = torch.tensor([[1.0, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=x.dtype, device=x.device)
    kernel = (kernel / kernel.sum()).expand(3, 1, 3, 3)
    blurred = x.clone()
    blurred[:, :, 1:-1, 1:-1] = F.conv2d(x, kernel, groups=3)  # the border stays sharp
    return _blend(x, blurred, 1 + 0.9 * level)


def _op_posterize(x, level, fill):
    bits = 8 - (level.abs() * 4).round().to(torch.int64)  # 8 .. 4 bits kept
    mask = (255 - (2 ** (8 - bits) - 1)).to(torch.uint8).view(-1, 1, 1, 1)
    return (to_uint8(x) & mask).float() / 255


def _op_solarize(x, level, fill):
    threshold = ((1 - level.abs()) * 256 / 255).view(-1, 1, 1, 1)  # 0: none, 1: every pixel
    return torch.where(x >= threshold, 1 - x, x)


def _op_autocontrast(x, level, fill):
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    scale = torch.where(hi > lo, 1 / (hi - lo).clamp_min(1e-6), torch.ones_like(hi))
    return torch.where(hi > lo, (x - lo) * scale, x).clamp(0, 1)


def _op_equalize(x, level, fill):
    """Histogram equalisation of each channel (PIL's algorithm, as torchvision's)."""
    m, c, h, w = x.shape
    values = to_uint8(x).view(m * c, h * w).long()
    hist = torch.zeros(m * c, 256, device=x.device, dtype=torch.long)
    hist.scatter_add_(1, values, torch.ones_like(values))
    last = 255 - (hist > 0).flip(1).long().argmax(1, keepdim=True)  # highest value present
    step = (h * w - hist.gather(1, last)) // 255  # (m*c, 1)
    lut = (hist.cumsum(1) + step // 2) // step.clamp_min(1)
    lut = torch.cat([torch.zeros_like(lut[:, :1]), lut[:, :-1]], 1).clamp(0, 255)
    out = torch.where(step > 0, lut.gather(1, values), values)
    return out.view(m, c, h, w).float() / 255


def _op_rotate(x, level, fill):
    a = level * math.radians(30)
    theta = _eye(len(x), x.device)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(a), -torch.sin(a)
    theta[:, 1, 0], theta[:, 1, 1] = torch.sin(a), torch.cos(a)
    return _affine(x, theta, fill)


def _op_shear_x(x, level, fill):
    theta = _eye(len(x), x.device)
    theta[:, 0, 1] = 0.3 * level
    return _affine(x, theta, fill)


def _op_shear_y(x, level, fill):
    theta = _eye(len(x), x.device)
    theta[:, 1, 0] = 0.3 * level
    return _affine(x, theta, fill)


def _op_translate_x(x, level, fill):
    theta = _eye(len(x), x.device)
    theta[:, 0, 2] = 2 * (150 / 331) * level  # up to 45% of the width, as torchvision
    return _affine(x, theta, fill)


def _op_translate_y(x, level, fill):
    theta = _eye(len(x), x.device)
    theta[:, 1, 2] = 2 * (150 / 331) * level
    return _affine(x, theta, fill)


#: name -> op(x float (m,3,H,W) in [0,1], level (m,) in [-1,1], fill) -> same shape
RANDAUGMENT_OPS: dict[str, Callable] = {
    "identity": _op_identity,
    "autocontrast": _op_autocontrast,
    "equalize": _op_equalize,
    "rotate": _op_rotate,
    "solarize": _op_solarize,
    "color": _op_color,
    "posterize": _op_posterize,
    "contrast": _op_contrast,
    "brightness": _op_brightness,
    "sharpness": _op_sharpness,
    "shear_x": _op_shear_x,
    "shear_y": _op_shear_y,
    "translate_x": _op_translate_x,
    "translate_y": _op_translate_y,
}
MAX_MAGNITUDE = 30


def apply_op(
    images: torch.Tensor, name: str, level: float | torch.Tensor, fill: float = 0.5
) -> torch.Tensor:
    """One RandAugment op at signed strength ``level`` in [-1, 1] on every image (for
    inspection and tests). Same shape and dtype."""
    _check_images(images)
    level = torch.as_tensor(level, dtype=torch.float32, device=images.device)
    level = level.expand(images.shape[0]) if level.ndim == 0 else level
    return _like(RANDAUGMENT_OPS[name](to_float(images).float(), level, fill), images)


def rand_augment(
    images: torch.Tensor,
    n: int = 2,
    magnitude: float = 9,
    generator: torch.Generator | None = None,
    fill: float = 0.5,
    ops: Sequence[str] | None = None,
) -> torch.Tensor:
    """RandAugment: each image gets ``n`` ops drawn uniformly (independently per image)
    from ``ops`` (default: all of :data:`RANDAUGMENT_OPS`), each at strength
    ``magnitude / 30`` with a random sign where the op has one. Geometric ops fill with
    grey ``fill``. (B, 3, H, W) uint8 or float -> same shape and dtype."""
    _check_images(images)
    if not 0 <= magnitude <= MAX_MAGNITUDE:
        raise ValueError(f"magnitude {magnitude}: choose 0 to {MAX_MAGNITUDE}")
    names = list(ops or RANDAUGMENT_OPS)
    unknown = [name for name in names if name not in RANDAUGMENT_OPS]
    if unknown:
        raise ValueError(f"unknown RandAugment ops {unknown}: choose from {list(RANDAUGMENT_OPS)}")
    b = images.shape[0]
    x = to_float(images).float().clone()
    for _ in range(n):
        choice = _randint(len(names), (b,), generator, images.device)
        sign = torch.where(_rand((b,), generator, images.device) < 0.5, -1.0, 1.0)
        level = sign * (magnitude / MAX_MAGNITUDE)
        for k, name in enumerate(names):
            idx = (choice == k).nonzero().squeeze(1)
            if len(idx):
                x[idx] = RANDAUGMENT_OPS[name](x[idx], level[idx], fill)
    return _like(x, images)


def augment(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    padding: int = 4,
    mode: str = "reflect",
    flip: bool = True,
    randaugment: tuple[int, float] | None = None,
) -> torch.Tensor:
    """The standard CIFAR training augmentation: random crop (``padding``, ``mode``; 0 for
    none), random horizontal flip, then RandAugment ``(n, magnitude)`` if given.
    (B, 3, H, W) uint8 or float -> same shape and dtype."""
    if padding:
        images = random_crop(images, padding, mode, generator)
    if flip:
        images = random_hflip(images, 0.5, generator)
    if randaugment is not None:
        images = rand_augment(images, randaugment[0], randaugment[1], generator)
    return images


# --------------------------------------------------------------------------- soft targets


def soft_targets(labels: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """Label smoothing: int64 (B,) -> float32 (B, C): 1 - smoothing + smoothing / C on the
    class, smoothing / C elsewhere; each row sums to 1. Soft (B, C) targets given instead
    are smoothed the same way."""
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothing {smoothing}: choose 0 <= smoothing < 1")
    if labels.ndim == 2:
        targets = labels.float()
    else:
        targets = F.one_hot(labels.long(), num_classes).float()
    return targets * (1 - smoothing) + smoothing / num_classes


def mixup(
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    alpha: float = 0.8,
    generator: torch.Generator | None = None,
    smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup: every image is blended with another of the batch (a random permutation),
    ``lam * x + (1 - lam) * x[perm]`` with one ``lam ~ Beta(alpha, alpha)`` per batch; the
    targets are blended the same way. float (B, 3, H, W) (e.g. normalised) and int64 (B,)
    labels (or soft (B, C)) -> (float images of the same shape and dtype, float32 (B, C)
    targets summing to 1)."""
    _check_images(images)
    if not images.is_floating_point():
        raise ValueError("mixup blends pixels: give float images (see to_float / normalize)")
    lam = _beta(alpha, generator)
    perm = _randperm(images.shape[0], generator, images.device)
    targets = soft_targets(labels, num_classes, smoothing).to(images.device)
    return (lam * images + (1 - lam) * images[perm], lam * targets + (1 - lam) * targets[perm])


def cutmix(
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    alpha: float = 1.0,
    generator: torch.Generator | None = None,
    smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix: one random box (area about ``1 - lam``, ``lam ~ Beta(alpha, alpha)``, clipped
    to the image) is pasted into every image from another of the batch; targets are mixed
    by the pasted area. (B, 3, H, W) uint8 or float and int64 (B,) labels (or soft (B, C))
    -> (images of the same shape and dtype, float32 (B, C) targets summing to 1)."""
    _check_images(images)
    b, _, h, w = images.shape
    lam = _beta(alpha, generator)
    perm = _randperm(b, generator, images.device)
    centre = _rand((2,), generator, torch.device("cpu"))
    cut_h, cut_w = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
    cy, cx = int(centre[0] * h), int(centre[1] * w)
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
    mixed = images.clone()
    mixed[:, :, y0:y1, x0:x1] = images[perm, :, y0:y1, x0:x1]
    lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    targets = soft_targets(labels, num_classes, smoothing).to(images.device)
    return mixed, lam * targets + (1 - lam) * targets[perm]


def random_mix(
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    *,
    mixup_alpha: float = 0.8,
    cutmix_alpha: float = 1.0,
    switch_prob: float = 0.5,
    generator: torch.Generator | None = None,
    smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix with probability ``switch_prob``, else mixup, for the whole batch (the DeiT
    recipe). float (B, 3, H, W), labels (B,) -> (images, float32 (B, C) targets)."""
    if float(_rand((1,), generator, torch.device("cpu"))) < switch_prob:
        return cutmix(images, labels, num_classes, cutmix_alpha, generator, smoothing)
    return mixup(images, labels, num_classes, mixup_alpha, generator, smoothing)
