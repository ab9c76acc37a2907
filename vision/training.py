"""Train and evaluate the vision models with trm's own loop (:class:`trm.train.Trainer`).

Images travel as uint8 ``(3, 32, 32)`` rows, like puzzle tokens: the loop's slots hold
them, the fresh images of a step are augmented together when they enter their slots
(random crop with padding, horizontal flip, RandAugment, then mixup or CutMix among them,
as the run's :class:`Recipe` says), and they are normalised on the device just before the
model. With mixing, every slot holds its image's soft target (a row of class weights), so
an image mixed once keeps the same target through all its supervision steps. For a
``vitrm`` with ``n_sup > 1`` an image stays in its slot over up to ``n_sup`` steps with its
carried (y, z), exactly as a puzzle does; with one step (every other variant, and
ViTRM's released configs) every step draws a fresh batch (plain training). The loss is
cross-entropy (label smoothing as an option) plus, with ``n_sup > 1``, the halting head's
BCE of "the current class is right". ``epochs`` count passes over the training images
(fresh images drawn), whatever the number of steps each takes.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from trm.budget import step_cap
from trm.checkpoint import load_checkpoint, resolve_checkpoint
from trm.config import TrainConfig
from trm.contract import Objective, StepOutput, is_single_step
from trm.data import TokenData
from trm.device import autocast, resolve_device, resolve_precision
from trm.distributed import is_first_process, setup, teardown
from trm.errors import SettingError, TRMError, about
from trm.evaluate import run_with_halting
from trm.files import CONFIG_FILE
from trm.losses import HALT_WEIGHT, LossOutput
from trm.model import parameter_count
from trm.runs import RunFolder, check_max_minutes, check_resume, load_run_model
from trm.train import Trainer
from vision.augment import augment, cutmix, mixup
from vision.cifar import ImageData, ImageSplit, load_images
from vision.models import PRESETS, VARIANTS, build_model, model_from_config
from vision.recipes import (
    Recipe,
    check_schedule,
    flip_keeps_classes,
    preset_defaults,
    schedule_settings,
)

# CIFAR-10's channel statistics: what every run made before per-dataset statistics used
CIFAR10_STATS = {"mean": [0.4914, 0.4822, 0.4465], "std": [0.2470, 0.2435, 0.2616]}


def channel_stats(images: np.ndarray, chunk: int = 4096) -> dict[str, list[float]]:
    """Mean and standard deviation of each channel of uint8 (N, C, H, W) images, in [0, 1]
    units: what a run's images are standardised by (computed from its training split)."""
    if len(images) == 0:
        raise TRMError("no training images to take channel statistics from")
    channels = images.shape[1]
    total, squares = np.zeros(channels), np.zeros(channels)
    for i in range(0, len(images), chunk):
        part = images[i : i + chunk].astype(np.float64) / 255.0
        total += part.sum(axis=(0, 2, 3))
        squares += (part * part).sum(axis=(0, 2, 3))
    count = images.size / channels
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
    std = np.where(std > 1e-6, std, 1.0)  # a constant channel: leave its scale alone
    return {"mean": [round(float(m), 6) for m in mean], "std": [round(float(s), 6) for s in std]}


def read_stats(config: dict) -> dict[str, list[float]]:
    """The channel statistics a run's config.json records (CIFAR-10's for runs made before
    they were recorded), checked."""
    stats = config.get("normalisation", CIFAR10_STATS)
    ok = isinstance(stats, dict) and all(
        isinstance(stats.get(k), list)
        and len(stats[k]) == 3
        and all(type(v) in (int, float) and math.isfinite(v) for v in stats[k])
        for k in ("mean", "std")
    )
    if not ok or min(stats["std"]) <= 0:
        raise TRMError(
            "field 'normalisation' must hold three finite means and three positive "
            "standard deviations"
        )
    return stats


def normalise(images: torch.Tensor, stats: dict[str, list[float]] = CIFAR10_STATS) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float, per-channel standardised by ``stats``."""
    mean = torch.tensor(stats["mean"], device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(stats["std"], device=images.device).view(1, -1, 1, 1)
    return (images.float() / 255.0 - mean) / std


def image_augmenter(recipe: Recipe | None = None, num_classes: int = 10):
    """The loop's augmenter for images (numpy uint8 rows in and out, see trm.data.Augmenter):
    :func:`vision.augment.augment` (random crop after reflect padding of ``recipe.crop``
    pixels, horizontal flip unless ``recipe.flip`` is off, RandAugment if the recipe has
    it), then, if it mixes, mixup or CutMix among the step's fresh images with their soft
    targets (labels are (k, classes) rows then); all seeded from the loop's generator.
    Mixup blends pixels in [0, 255] and rounds back to uint8 (at most half a grey level
    from the exact blend); CutMix moves pixels only."""
    recipe = recipe or Recipe()

    def run(
        images: np.ndarray, labels: np.ndarray, puzzle_ids: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        out = augment(
            torch.from_numpy(np.ascontiguousarray(images)),
            generator,
            padding=recipe.crop,
            flip=recipe.flip,
            randaugment=recipe.randaugment,
        )
        if recipe.mixing and len(out) > 1 and rng.random() < recipe.mix_prob:
            targets = torch.from_numpy(np.ascontiguousarray(labels)).float()
            use_cutmix = recipe.cutmix > 0 and (
                recipe.mixup == 0 or rng.random() < recipe.switch_prob
            )
            if use_cutmix:
                out, targets = cutmix(out, targets, num_classes, recipe.cutmix, generator)
            else:
                mixed, targets = mixup(out.float(), targets, num_classes, recipe.mixup, generator)
                out = mixed.round().clamp(0, 255).to(torch.uint8)
            labels = targets.numpy().astype(np.float32)
        return out.numpy(), labels, puzzle_ids

    return run


def image_loss(
    out, labels: torch.Tensor, *, halting: bool, smoothing: float = 0.0, earlier: float = 0.0
) -> LossOutput:
    """Cross-entropy against class labels (B,) or soft targets (B, classes) (mixed images;
    "right" is then the class with the largest weight), label smoothing as asked; plus the
    halting head's BCE, the model's auxiliary loss, and ``earlier`` times the mean
    cross-entropy of the earlier answers the model trains (``aux_logits``)."""
    logits = out.logits.float()
    soft = labels.dim() == 2
    target = labels.float() if soft else labels.long()
    answer = F.cross_entropy(logits, target, label_smoothing=smoothing)
    with torch.no_grad():
        correct = logits.argmax(-1) == (target.argmax(-1) if soft else target)
    if halting:  # the halting head learns whether the current class is right
        halt = F.binary_cross_entropy_with_logits(out.halt_logit, correct.float())
    else:
        halt = torch.zeros((), device=logits.device)
    total = answer + HALT_WEIGHT * halt
    if out.aux_loss is not None:  # e.g. MoR's router loss, weighted by the model
        total = total + out.aux_loss.float()
    if out.aux_logits and earlier:  # e.g. SR-ViT's every recursion, each read by the head
        losses = [
            F.cross_entropy(a.float(), target, label_smoothing=smoothing) for a in out.aux_logits
        ]
        total = total + earlier * torch.stack(losses).mean()
    return LossOutput(total, answer, halt, correct)


@torch.no_grad()
def evaluate_images(
    model,
    data: TokenData,
    *,
    batch_size: int = 256,
    device=None,
    precision: str = "fp32",
    halting: str = "full",
    stats: dict[str, list[float]] = CIFAR10_STATS,
) -> dict:
    """top-1, top-5, mean supervision steps and images/s over ``data`` (standardised by
    ``stats``, the run's channel statistics)."""
    if len(data) == 0:
        raise TRMError("nothing to evaluate: the split is empty")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    n_sup = model.config.n_sup
    top1 = top5 = steps_sum = 0
    measured: dict[str, torch.Tensor] = {}  # per-image measurements some models report, summed
    start = time.perf_counter()
    for i in range(0, len(data), batch_size):
        images = normalise(torch.from_numpy(data.inputs[i : i + batch_size]).to(device), stats)
        labels = torch.from_numpy(data.labels[i : i + batch_size]).to(device).long()
        with autocast(device, precision):
            if is_single_step(model):  # one step: no halting to decide, its statistics kept
                out = model(images)
                logits, steps = out.logits, torch.ones(images.shape[0], dtype=torch.long)
                for k, v in (out.stats or {}).items():
                    measured[k] = measured.get(k, 0) + v.float().sum(0).cpu()
            else:
                logits, steps, _ = run_with_halting(
                    model, model.embed_input(images), n_sup, halting
                )
        best = logits.float().topk(min(5, logits.shape[-1]), dim=-1).indices
        top1 += int((best[:, 0] == labels).sum())
        top5 += int((best == labels[:, None]).any(-1).sum())
        steps_sum += int(steps.sum())
    seconds = time.perf_counter() - start
    model.train(was_training)
    n = len(data)
    result = {
        "top1": top1 / n,
        "top5": top5 / n,
        "n": n,
        "mean_steps": steps_sum / n,
        "images_per_s": n / seconds if seconds > 0 else float("inf"),
    }
    for k, v in measured.items():  # means over the images: a number, or a list (one per step)
        mean = v / n
        result[k] = float(mean) if mean.dim() == 0 else [float(x) for x in mean]
    return result


class ImageObjective(Objective):
    """Images: a vision variant, cross-entropy on the class (soft targets when mixed), the
    halting head's BCE for a recursive model, the model's own auxiliary loss."""

    def __init__(
        self,
        variant: str,
        config,
        smoothing: float = 0.0,
        stats: dict[str, list[float]] = CIFAR10_STATS,
    ):
        self.variant, self.config, self.smoothing, self.stats = variant, config, smoothing, stats

    def make_model(self) -> torch.nn.Module:
        return model_from_config(self.variant, self.config.to_dict())

    def step(self, model, slots) -> StepOutput:
        images = normalise(slots.inputs, self.stats)
        if slots.y is None:  # a single-step model
            return model(images)
        # fresh slots (no step done yet) start from the model's own, perhaps learned, starts
        return model(images, slots.y, slots.z, fresh=slots.steps == 0)

    def loss(self, out: StepOutput, labels: torch.Tensor) -> LossOutput:
        halting = out.halt_logit is not None and self.config.n_sup > 1
        return image_loss(
            out,
            labels,
            halting=halting,
            smoothing=self.smoothing,
            earlier=getattr(self.config, "recursion_loss", 0.0),
        )

    def evaluate(self, model, data: TokenData, **kw) -> dict:
        return evaluate_images(model, data, stats=self.stats, **kw)


def as_token_data(split: ImageSplit, soft_classes: int = 0) -> TokenData:
    """The split as the loop's examples: labels are class indices, or one-hot rows of
    ``soft_classes`` weights (float32) when training mixes images and their targets."""
    labels = split.labels.astype(np.int64)
    if soft_classes:
        labels = np.eye(soft_classes, dtype=np.float32)[labels]
    return TokenData(split.images, labels, np.zeros(len(split), np.int32))


def data_info(data: ImageData) -> dict:
    return {
        "task": "vision",
        "data": {
            "name": data.name,
            "classes": data.classes,
            "path": str(data.path) if data.path else None,
        },
    }


def train_images(
    data_dir: Path,
    out: Path,
    *,
    variant: str | None,
    preset: str = "small",
    model_overrides: dict | None = None,
    train_overrides: dict | None = None,
    recipe: dict | None = None,
    epochs: float | None = None,
    warmup_epochs: float | None = None,
    min_lr: float | None = None,
    resume: bool = False,
    force: bool = False,
    device: str = "auto",
    precision: str = "auto",
    compile: bool = False,
    max_minutes: float | None = None,
    progress: bool = True,
    log=None,
) -> dict:
    """Train ``variant`` on the images in ``data_dir`` into the run folder ``out``.

    ``recipe``: :class:`Recipe` fields to change (None values: not given); ``epochs``
    passes over the training images (the run's length; without it ``steps``), with
    ``warmup_epochs`` of warmup and a cosine ending at ``min_lr``. A preset brings its
    defaults (:func:`preset_defaults`). On ``resume`` the saved settings stand: a changed
    one is refused (one line), only the run's length and bookkeeping may change; ``variant``
    None takes the run's. A new run with ``max_minutes`` sizes its schedule to them
    (:mod:`trm.budget`; at most the ``steps`` or ``epochs`` given); ``log`` hears what it
    chose.
    """
    out = Path(out)
    check_max_minutes(max_minutes)
    check_schedule(epochs, warmup_epochs, min_lr)
    given = {k: v for k, v in (recipe or {}).items() if v is not None}
    given_train = {k: v for k, v in (train_overrides or {}).items() if v is not None}
    if given:
        replace(Recipe(), **given).check()
    data = load_images(data_dir)
    run = RunFolder(out, resume=resume, force=force, write=is_first_process())
    if resume:
        saved_ckpt = load_checkpoint(out)
        saved = saved_ckpt.config
        if saved.get("task") != "vision" or variant not in (None, saved.get("variant")):
            raise TRMError(
                f"{out} holds a {saved.get('variant') or saved.get('task')} run, "
                f"not {variant or 'a vision one'}"
            )
        variant = saved.get("variant")
        with about(saved_ckpt.config_path):
            model = model_from_config(variant, saved.get("model"))
            train = TrainConfig.from_dict(saved.get("train")).to_dict()
            stats = read_stats(saved)
            run_recipe = Recipe.from_run(saved)
        asked = {
            **given_train,
            **schedule_settings(train, len(data.train), epochs, warmup_epochs, min_lr),
        }
        _check_resume(saved, data, model_overrides, asked, train, given, run_recipe)
        if train.get("images") and "steps" in asked and "images" not in asked:
            raise SettingError(
                "this run counts epochs (passes over the images): lengthen it with "
                "`epochs`, not `steps`"
            )
        if not train.get("images") and asked.get("images"):
            raise SettingError(
                "this run counts optimizer steps: lengthen it with `steps`, not `epochs`"
            )
        train.update(asked)
    else:
        model = build_model(
            variant, preset, num_classes=data.num_classes, **(model_overrides or {})
        )
        train, run_recipe, schedule = preset_defaults(preset, variant)
        train.update(given_train)
        if "warmup" in given_train or warmup_epochs is not None:  # a warm-up asked for is kept
            train["warmup_share"] = 0.0
        run_recipe = replace(run_recipe, **given).check()
        for key, replaces in (
            ("steps", "epochs"),
            ("warmup", "warmup_epochs"),
            ("min_lr_ratio", "min_lr"),
        ):  # steps given replace a preset's epochs
            if key in given_train:
                schedule.pop(replaces, None)
        schedule.update(
            {
                k: v
                for k, v in (
                    ("epochs", epochs),
                    ("warmup_epochs", warmup_epochs),
                    ("min_lr", min_lr),
                )
                if v is not None
            }
        )
        train.update(
            schedule_settings(
                train,
                len(data.train),
                schedule.get("epochs"),
                schedule.get("warmup_epochs"),
                schedule.get("min_lr"),
            )
        )
        stats = channel_stats(data.train.images)
    train_cfg = TrainConfig.from_dict(train)
    soft = data.num_classes if run_recipe.mixing else 0
    resolve_device(device)  # a bad --device is refused before anything is written
    if run_recipe.flip is None:  # auto (a new run): decided from the training images
        keep, plain, mirrored = flip_keeps_classes(data.train.images, data.train.labels)
        run_recipe = replace(run_recipe, flip=keep)
        if log:
            log(
                f"flips {'on' if keep else 'off'} (auto): class means classify "
                f"{plain:.0%} of the training images, {mirrored:.0%} of their mirror images"
            )
    group, dev = setup(device)
    try:
        prec = resolve_precision(precision, dev)
        with run:
            trainer = Trainer(
                model.config,
                train_cfg,
                as_token_data(data.train, soft),
                as_token_data(data.test),
                run,
                device=dev,
                precision=prec,
                compile=compile,
                augment=image_augmenter(run_recipe, data.num_classes),
                run_info={
                    **data_info(data),
                    "variant": variant,
                    "precision": prec,
                    "recipe": run_recipe.to_dict(),
                    "normalisation": stats,
                },
                dist=group,
                objective=ImageObjective(variant, model.config, run_recipe.smoothing, stats),
            )
            if resume:
                trainer.restore()
            summary = trainer.fit(
                max_minutes=max_minutes,
                progress=progress,
                fit_to=step_cap(max_minutes, resume, _given_length(train_cfg, given_train, epochs)),
                log=log,
            )
    finally:
        teardown(group)
    return {**summary, "device": str(dev), "precision": prec, "out": str(out), "variant": variant}


def _given_length(train_cfg: TrainConfig, given_train: dict, epochs) -> int | None:
    """The run's length in steps when ``steps`` or ``epochs`` was given (for a time budget:
    whichever comes first, :func:`trm.budget.step_cap`), else None."""
    if "steps" not in given_train and epochs is None:
        return None
    if train_cfg.images:
        return math.ceil(train_cfg.images / train_cfg.batch_size)
    return train_cfg.steps


# what a resumed run may change: its length and bookkeeping


def _check_resume(
    saved: dict,
    data: ImageData,
    model_overrides: dict | None,
    asked: dict,
    train: dict,
    given: dict,
    recipe: Recipe,
) -> None:
    """The run rule (trm.runs.check_resume) over the training settings and the recipe,
    and the same images."""
    check_resume(
        {**train, **recipe.to_dict()},
        {**asked, **replace(recipe, **given).to_dict()},
        model_options=[k for k, v in (model_overrides or {}).items() if v is not None],
    )
    saved_data = saved.get("data", {})
    if (
        saved_data.get("name") not in (None, data.name)
        or len(saved_data.get("classes") or data.classes) != data.num_classes
    ):
        raise SettingError(
            f"`resume` on other images: the run was trained on "
            f"{saved_data.get('name')}, {data.path} holds {data.name}"
        )


def load_vision_model(run: Path, device: torch.device):
    """A vision run's model for evaluation and its config.json (:func:`trm.runs.load_run_model`)."""
    return load_run_model(
        run,
        device,
        lambda config: model_from_config(config.get("variant"), config.get("model")),
        kind="vision",
        accepts=lambda task: task == "vision",
    )


def evaluate_run(
    run: Path,
    data_dir: Path,
    *,
    split: str = "test",
    halting: str = "full",
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = 256,
) -> dict:
    if split not in ("train", "test"):
        raise SettingError("split", f"must be train or test, got {split!r}")
    if halting not in ("full", "adaptive"):
        raise SettingError("halting", f"must be full or adaptive, got {halting!r}")
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    model, config = load_vision_model(run, dev)
    data = load_images(data_dir)
    if data.num_classes != model.config.num_classes:
        raise TRMError(
            f"{data_dir} has {data.num_classes} classes, {run} was trained on "
            f"{model.config.num_classes}"
        )
    with about(resolve_checkpoint(run) / CONFIG_FILE):
        stats = read_stats(config)
    result = evaluate_images(
        model,
        as_token_data(getattr(data, split)),
        batch_size=batch_size,
        device=dev,
        precision=prec,
        halting=halting,
        stats=stats,
    )
    return {
        **result,
        "params": parameter_count(model),
        "variant": config.get("variant"),
    }


def flops_per_image(model) -> int:
    """FLOPs for one image through every supervision step, counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    size = model.config.image_size
    image = torch.zeros(
        1, model.config.channels, size, size, device=next(model.parameters()).device
    )
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        if is_single_step(model):
            model(image)
        else:
            run_with_halting(model, model.embed_input(image), model.config.n_sup, "full")
    model.train(was_training)
    return int(counter.get_total_flops())


def describe_variants() -> list[dict]:
    """Each variant at its presets: parameters and FLOPs per image (all steps)."""
    rows = []
    for variant in VARIANTS:
        for preset in PRESETS[variant]:
            model = build_model(variant, preset)
            encoder = getattr(model, "encoder", None)
            rows.append(
                {
                    "variant": variant,
                    "preset": preset,
                    "params": parameter_count(model),
                    "extra_params": encoder.extra_parameters() if encoder is not None else 0,
                    "flops": flops_per_image(model),
                    "shape": model.config.describe(),
                    "config": model.config.to_dict(),
                }
            )
    return rows
