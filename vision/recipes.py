"""How the vision variants train, written once: the presets' settings and recipes.

``small`` trains in minutes on a CPU; ``cifar`` is the papers' recipe (ViTRM's released
configs, DeiT's, which the others follow). :mod:`vision.training` runs them and `trm vision
--help` shows their defaults from here: nothing in this module imports torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from trm.config import TrainConfig, check_field_types
from trm.errors import SettingError, TRMError

MAX_CROP = 16  # pixels of padding before the random crop, at most
BUDGETS = ("epochs", "time", "flops")  # what `trm vision compare` gives every variant alike
COMPARE_EPOCHS = 20.0  # its epochs budget when none is given

# training defaults for images (the model's shape comes from the vision presets)
# (small: many small steps at a high rate, chosen on real digits: docs/results.md)
TRAIN_DEFAULTS = dict(
    batch_size=32,
    lr=2e-3,
    weight_decay=0.05,
    warmup=200,
    warmup_share=0.1,  # a time budget's run warms up for at most a tenth of its steps
    steps=8000,
    eval_every=1000,
    eval_max=1000,
    checkpoint_every=1000,
    log_every=25,
    optimizer="adamw",
    ema=0.999,
    grad_clip=1.0,
)


# where a variant of a preset trains best at other settings than the preset's others (measured:
# docs/results.md). The recursed ones of small apply one block (a stack for sr-vit) R times,
# so one update moves the answer about R times as far: sr-vit at the shared 2e-3 trained
# worse at R=4 than at R=2 on 12,000 shapes, at 5e-4 top-1 rose with every R; bvit and
# mor-vit gained about 20 points on the 4,000 shapes at 5e-4 (3 seeds each)
RECURSED_LR = 5e-4
VARIANT_TRAIN: dict[str, dict[str, dict]] = {
    "small": {v: dict(lr=RECURSED_LR) for v in ("bvit", "sr-vit", "mor-vit")},
}


@dataclass(frozen=True)
class Recipe:
    """What is done to the training images and their targets; saved in the run."""

    smoothing: float = 0.0  # label smoothing
    crop: int = 4  # random crop after padding each side by this many pixels; 0 = none
    # random horizontal flip; None ("auto", the small preset's): decided from the training
    # images by :func:`flip_keeps_classes` when the run starts (off for digits, text)
    flip: bool | None = True
    randaugment: tuple | None = None  # (n, magnitude), or None
    mixup: float = 0.0  # mixup's Beta(alpha, alpha); 0 = off
    cutmix: float = 0.0  # CutMix's Beta(alpha, alpha); 0 = off
    mix_prob: float = 1.0  # chance that a step's fresh images are mixed (mixup or CutMix on)
    switch_prob: float = 0.5  # both on: chance of CutMix rather than mixup

    def __post_init__(self):
        if self.randaugment is not None:
            object.__setattr__(self, "randaugment", tuple(self.randaugment))

    @property
    def mixing(self) -> bool:
        return self.mixup > 0 or self.cutmix > 0

    def check(self) -> Recipe:
        """Values in range, each named by its option (one line, TRMError)."""
        if not 0 <= self.smoothing < 1:
            raise SettingError("smoothing", f"must be in [0, 1), got {self.smoothing}")
        if not 0 <= self.crop <= MAX_CROP:
            raise SettingError("crop", f"must be from 0 to {MAX_CROP} pixels, got {self.crop}")
        for name in ("mixup", "cutmix"):
            if not 0 <= getattr(self, name) <= 100:
                raise SettingError(
                    f"`{name}` is a Beta(alpha, alpha) parameter: 0 (off) to 100, "
                    f"got {getattr(self, name)}"
                )
        for name in ("mix_prob", "switch_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise SettingError(f"`{name}` is a probability: 0 to 1, got {getattr(self, name)}")
        if self.flip not in (True, False, None):
            raise SettingError("flip", f"must be on, off or auto, got {self.flip!r}")
        if self.randaugment is not None:
            from vision.augment import MAX_MAGNITUDE, RANDAUGMENT_OPS

            n, magnitude = self.randaugment
            if not 0 <= n <= len(RANDAUGMENT_OPS) or not 0 <= magnitude <= MAX_MAGNITUDE:
                raise SettingError(
                    f"`randaugment` N,M wants N in 0-{len(RANDAUGMENT_OPS)} and M in "
                    f"0-{MAX_MAGNITUDE}, got {n},{magnitude}"
                )
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["randaugment"] = list(self.randaugment) if self.randaugment else None
        return d

    @classmethod
    def from_run(cls, config: dict) -> Recipe:
        """The recipe a run's config.json records (runs made before recipes: their
        smoothing and RandAugment, no mixing), checked."""
        saved = config.get("recipe")
        if saved is None:
            saved = {
                "smoothing": config.get("smoothing") or 0.0,
                "randaugment": config.get("randaugment"),
            }
        if not isinstance(saved, dict) or set(saved) - {f.name for f in fields(cls)}:
            raise TRMError("field 'recipe' must be an object with the recipe's fields")
        check_field_types(cls, {k: v for k, v in saved.items() if k != "randaugment"}, "recipe")
        aug = saved.get("randaugment")
        if aug is not None and not (
            isinstance(aug, list)
            and len(aug) == 2
            and all(type(v) in (int, float) and math.isfinite(v) for v in aug)
        ):
            raise TRMError("field 'recipe' randaugment must be [n, magnitude] or null")
        return cls(**saved).check()


# the papers' CIFAR recipe (ViTRM's released configs; DeiT's, which the others follow):
# AdamW 3e-4, weight decay 0.05, betas (0.9, 0.999), batch 256, 30 warmup epochs, cosine
# to 1e-6, EMA 0.999, RandAugment(2, 9), mixup 0.2 or CutMix 1.0 on every batch
PAPER_TRAIN = dict(
    warmup_share=0.0,  # its warm-up is in epochs, whatever the budget
    batch_size=256,
    lr=3e-4,
    weight_decay=0.05,
    beta1=0.9,
    beta2=0.999,
    optimizer="adamw",
    ema=0.999,
    grad_clip=0.0,
)
PAPER_RECIPE = Recipe(randaugment=(2, 9), mixup=0.2, cutmix=1.0)
PAPER_SCHEDULE = dict(epochs=1000, warmup_epochs=30, min_lr=1e-6)


def check_schedule(epochs: float | None, warmup_epochs: float | None, min_lr: float | None) -> None:
    if epochs is not None and not 0 < epochs <= 10**6:
        raise SettingError(
            "epochs", f"must be a positive number of passes (at most 1e6), got {epochs}"
        )
    if warmup_epochs is not None and not 0 <= warmup_epochs <= 10**6:
        raise SettingError("warmup_epochs", f"must be between 0 and 1e6, got {warmup_epochs}")
    if min_lr is not None and not 0 <= min_lr < math.inf:
        raise SettingError("min_lr", f"must be a learning rate >= 0, got {min_lr}")


def preset_defaults(preset: str, variant: str | None = None) -> tuple[dict, Recipe, dict]:
    """Training settings, recipe and schedule (epochs, warmup epochs, floor) a preset
    starts from: the papers' for ``cifar``, minutes on a CPU for the others (their flip
    decided from the data); with ``variant``, its own settings where it has some
    (:data:`VARIANT_TRAIN`)."""
    own = VARIANT_TRAIN.get(preset, {}).get(variant, {})
    if preset == "cifar":
        return {**TRAIN_DEFAULTS, **PAPER_TRAIN, **own}, PAPER_RECIPE, dict(PAPER_SCHEDULE)
    return {**TRAIN_DEFAULTS, **own}, Recipe(flip=None), {}


FLIP_HURTS = 0.05  # a mirror image classified this much worse (nearest class mean): no flips
FLIP_SAMPLE = 10_000  # training images the decision looks at, at most


def flip_keeps_classes(images, labels, seed: int = 0) -> tuple[bool, float, float]:
    """Whether a horizontal flip keeps an image's class, judged from the training images:
    classify each image (up to :data:`FLIP_SAMPLE` of them) and its mirror image by the
    nearest class-mean image. Where the class means are their own mirror images (photos:
    CIFAR's horses face both ways) both score alike; where a mirror image is another
    shape (digits, letters) it scores far worse. Returns (keep, accuracy, mirrored
    accuracy); keep is False when the mirrored accuracy is more than :data:`FLIP_HURTS`
    lower. ``images``: (n, C, H, W) uint8, ``labels``: (n,) ints."""
    import numpy as np

    n = len(labels)
    pick = np.sort(np.random.default_rng(seed).permutation(n)[:FLIP_SAMPLE])
    x = np.asarray(images[pick], dtype=np.float32)
    y = np.asarray(labels[pick])
    classes = np.unique(y)
    means = np.stack([x[y == c].mean(0) for c in classes]).reshape(len(classes), -1)

    def accuracy(batch: np.ndarray) -> float:
        flat = batch.reshape(len(batch), -1)
        distance = (means**2).sum(1) - 2 * flat @ means.T  # + |x|^2, the same for every class
        return float((classes[distance.argmin(1)] == y).mean())

    plain, mirrored = accuracy(x), accuracy(x[..., ::-1])
    return plain - mirrored <= FLIP_HURTS, plain, mirrored


def schedule_settings(
    train: dict,
    n_train: int,
    epochs: float | None,
    warmup_epochs: float | None,
    min_lr: float | None,
) -> dict:
    """Epochs (passes over the training images) as the loop's ``images`` budget and its
    schedule's ``steps``; warmup epochs as warmup steps; a floor LR as ``min_lr_ratio``."""
    batch = train["batch_size"]
    out = {}
    if epochs is not None:
        out["images"] = max(1, int(round(epochs * n_train)))
        out["steps"] = max(1, math.ceil(out["images"] / batch))
    if warmup_epochs is not None:
        out["warmup"] = int(round(warmup_epochs * n_train / batch))
    if min_lr is not None:
        if min_lr > train["lr"]:
            raise SettingError("min_lr", f"{min_lr:g} is above the learning rate {train['lr']:g}")
        out["min_lr_ratio"] = min_lr / train["lr"]
    return out


def preset_settings(preset: str, variant: str | None = None) -> dict:
    """Every training setting a preset (for ``variant``, if given) starts from, by its
    option's name: the loop's (:class:`trm.config.TrainConfig` under the preset's own), the
    recipe's and the schedule's (``epochs``, ``warmup_epochs``, ``min_lr``; None where the
    preset counts steps instead: ``warmup``, ``min_lr_ratio``)."""
    train, recipe, schedule = preset_defaults(preset, variant)
    values = {**asdict(TrainConfig()), **train, **recipe.to_dict()}
    values["betas"] = (values["beta1"], values["beta2"])
    for name in ("epochs", "warmup_epochs", "min_lr"):
        values[name] = schedule.get(name)
    if values["epochs"] is not None:
        values["steps"] = None  # the run's length is its epochs
    return values
