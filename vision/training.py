"""Train and evaluate the vision models with trm's own loop (:class:`trm.train.Trainer`).

Images travel as uint8 ``(3, 32, 32)`` rows, like puzzle tokens: the loop's slots hold
them, a fresh image is augmented (random crop with padding, horizontal flip, RandAugment as an option) when it
enters a slot, and it is normalised on the device just before the model. For ``vitrm``
an image stays in its slot over up to ``n_sup`` supervision steps with its carried
(y, z), exactly as a puzzle does; ``vit`` halts after its single step, so every step
draws a fresh batch (plain training). The loss is cross-entropy (label smoothing as an
option) plus, for ``vitrm``, the halting head's BCE of "the current class is right".
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from trm.checkpoint import load_checkpoint, resolve_checkpoint
from trm.config import TrainConfig
from trm.data import TokenData
from trm.device import autocast, resolve_device, resolve_precision
from trm.distributed import setup, teardown
from trm.errors import TRMError, about
from trm.evaluate import run_with_halting
from trm.losses import HALT_WEIGHT, LossOutput
from trm.train import Objective, Trainer, check_max_minutes, prepare_run_dir
from vision.augment import MAX_MAGNITUDE, RANDAUGMENT_OPS, augment
from vision.cifar import ImageData, ImageSplit, load_images
from vision.models import PRESETS, VARIANTS, build_model, model_from_config

# CIFAR-10's channel statistics: what every run made before per-dataset statistics used
CIFAR10_STATS = {"mean": [0.4914, 0.4822, 0.4465], "std": [0.2470, 0.2435, 0.2616]}

# training defaults for images (the model's shape comes from the vision presets)
TRAIN_DEFAULTS = dict(batch_size=128, lr=3e-4, weight_decay=0.05, warmup=200, steps=2000,
                      eval_every=500, eval_max=1000, checkpoint_every=500, log_every=25,
                      optimizer="adamw", ema=0.999, grad_clip=1.0)


def channel_stats(images: np.ndarray, chunk: int = 4096) -> dict[str, list[float]]:
    """Mean and standard deviation of each channel of uint8 (N, C, H, W) images, in [0, 1]
    units: what a run's images are standardised by (computed from its training split)."""
    if len(images) == 0:
        raise TRMError("no training images to take channel statistics from")
    channels = images.shape[1]
    total, squares = np.zeros(channels), np.zeros(channels)
    for i in range(0, len(images), chunk):
        part = images[i:i + chunk].astype(np.float64) / 255.0
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
        isinstance(stats.get(k), list) and len(stats[k]) == 3
        and all(type(v) in (int, float) and math.isfinite(v) for v in stats[k]) for k in ("mean", "std"))
    if not ok or min(stats["std"]) <= 0:
        raise TRMError("field 'normalisation' must hold three finite means and three positive "
                       "standard deviations")
    return stats


def normalise(images: torch.Tensor, stats: dict[str, list[float]] = CIFAR10_STATS) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float, per-channel standardised by ``stats``."""
    mean = torch.tensor(stats["mean"], device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(stats["std"], device=images.device).view(1, -1, 1, 1)
    return (images.float() / 255.0 - mean) / std


def image_augmenter(randaugment: tuple[int, float] | None = None):
    """The loop's augmenter for images (numpy uint8 rows in and out, see trm.data.Augmenter):
    :func:`vision.augment.augment` (random crop with 4 pixels of reflect padding, horizontal
    flip, RandAugment ``(n, magnitude)`` if given), seeded from the loop's generator."""
    def run(images: np.ndarray, labels: np.ndarray, puzzle_ids: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        out = augment(torch.from_numpy(np.ascontiguousarray(images)), generator,
                      randaugment=randaugment)
        return out.numpy(), labels, puzzle_ids
    return run


def image_loss(out, labels: torch.Tensor, *, halting: bool, smoothing: float = 0.0) -> LossOutput:
    logits = out.logits.float()
    target = labels.long()
    answer = F.cross_entropy(logits, target, label_smoothing=smoothing)
    with torch.no_grad():
        correct = logits.argmax(-1) == target
    if halting:  # the halting head learns whether the current class is right
        halt = F.binary_cross_entropy_with_logits(out.halt_logit, correct.float())
    else:
        halt = torch.zeros((), device=logits.device)
    ones = torch.ones_like(target)
    total = answer + HALT_WEIGHT * halt
    if out.aux_loss is not None:  # e.g. MoR's router loss, weighted by the model
        total = total + out.aux_loss.float()
    return LossOutput(total, answer, halt, correct, correct.long(), ones)


@torch.no_grad()
def evaluate_images(model, data: TokenData, *, batch_size: int = 256, device=None,
                    precision: str = "fp32", halting: str = "full",
                    stats: dict[str, list[float]] = CIFAR10_STATS) -> dict:
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
        images = normalise(torch.from_numpy(data.inputs[i:i + batch_size]).to(device), stats)
        labels = torch.from_numpy(data.labels[i:i + batch_size]).to(device).long()
        with autocast(device, precision):
            if n_sup == 1:  # one step: no halting to decide, and the step's statistics kept
                x = model.embed_input(images)
                out = model.deep_step(x, *model.initial_state(x.shape[0]))
                logits, steps = out.logits, torch.ones(x.shape[0], dtype=torch.long)
                for k, v in (out.stats or {}).items():
                    measured[k] = measured.get(k, 0) + v.float().sum(0).cpu()
            else:
                logits, steps, _ = run_with_halting(model, model.embed_input(images), n_sup, halting)
        best = logits.float().topk(min(5, logits.shape[-1]), dim=-1).indices
        top1 += int((best[:, 0] == labels).sum())
        top5 += int((best == labels[:, None]).any(-1).sum())
        steps_sum += int(steps.sum())
    seconds = time.perf_counter() - start
    model.train(was_training)
    n = len(data)
    result = {"top1": top1 / n, "top5": top5 / n, "n": n, "mean_steps": steps_sum / n,
              "images_per_s": n / seconds if seconds > 0 else float("inf")}
    for k, v in measured.items():  # means over the images: a number, or a list (one per step)
        mean = v / n
        result[k] = float(mean) if mean.dim() == 0 else [float(x) for x in mean]
    return result


def image_objective(variant: str, config, smoothing: float = 0.0,
                    stats: dict[str, list[float]] = CIFAR10_STATS) -> Objective:
    halting = config.n_sup > 1
    return Objective(
        make_model=lambda: model_from_config(variant, config.to_dict()),
        step=lambda model, s: model(normalise(s.inputs, stats), s.y, s.z),
        loss=lambda out, labels: image_loss(out, labels, halting=halting, smoothing=smoothing),
        evaluate=functools.partial(evaluate_images, stats=stats),
    )


def as_token_data(split: ImageSplit) -> TokenData:
    return TokenData(split.images, split.labels.astype(np.int64), np.zeros(len(split), np.int32))


def data_info(data: ImageData) -> dict:
    return {"task": "vision", "data": {"name": data.name, "classes": data.classes,
                                       "path": str(data.path) if data.path else None}}


def check_recipe(epochs: float | None, smoothing: float | None,
                 randaugment: tuple[int, float] | None) -> None:
    if epochs is not None and not 0 < epochs < math.inf:
        raise TRMError(f"--epochs must be a positive number of passes, got {epochs}")
    if smoothing is not None and not 0 <= smoothing < 1:
        raise TRMError(f"--smoothing must be in [0, 1), got {smoothing}")
    if randaugment is not None:
        n, magnitude = randaugment
        if not 0 <= n <= len(RANDAUGMENT_OPS) or not 0 <= magnitude <= MAX_MAGNITUDE:
            raise TRMError(f"--randaugment N,M wants N in 0-{len(RANDAUGMENT_OPS)} and M in "
                           f"0-{MAX_MAGNITUDE}, got {n},{magnitude}")


def train_images(data_dir: Path, out: Path, *, variant: str, preset: str = "small",
                 model_overrides: dict | None = None, train_overrides: dict | None = None,
                 epochs: float | None = None, smoothing: float | None = None,
                 randaugment: tuple[int, float] | None = None, resume: bool = False,
                 force: bool = False, device: str = "auto", precision: str = "auto",
                 compile: bool = False, max_minutes: float | None = None,
                 progress: bool = True) -> dict:
    out = Path(out)
    check_max_minutes(max_minutes)
    check_recipe(epochs, smoothing, randaugment)
    data = load_images(data_dir)
    prepare_run_dir(out, resume=resume, force=force)
    if resume:
        saved_ckpt = load_checkpoint(out)
        saved = saved_ckpt.config
        if saved.get("task") != "vision" or saved.get("variant") != variant:
            raise TRMError(f"{out} holds a {saved.get('variant') or saved.get('task')} run, "
                           f"not {variant}")
        with about(saved_ckpt.config_path):
            model = model_from_config(variant, saved.get("model"))
            train = TrainConfig.from_dict(saved.get("train")).to_dict()
            stats = read_stats(saved)
        smoothing, randaugment = _resumed_recipe(saved, data, model_overrides, train_overrides,
                                                 train, smoothing, randaugment)
        train.update({k: v for k, v in (train_overrides or {}).items() if v is not None})
    else:
        model = build_model(variant, preset, num_classes=data.num_classes,
                            **(model_overrides or {}))
        train = {**TRAIN_DEFAULTS, **{k: v for k, v in (train_overrides or {}).items()
                                      if v is not None}}
        stats = channel_stats(data.train.images)
        smoothing = smoothing or 0.0
    if epochs is not None:  # an epoch: as many optimizer steps as batches in the train set
        train["steps"] = max(1, int(round(epochs * len(data.train) / train["batch_size"])))
    train_cfg = TrainConfig.from_dict(train)
    group, dev = setup(device)
    try:
        prec = resolve_precision(precision, dev)
        trainer = Trainer(model.config, train_cfg, as_token_data(data.train),
                          as_token_data(data.test), out, device=dev, precision=prec,
                          compile=compile, augment=image_augmenter(randaugment),
                          run_info={**data_info(data), "variant": variant, "precision": prec,
                                    "smoothing": smoothing, "normalisation": stats,
                                    "randaugment": list(randaugment) if randaugment else None},
                          dist=group,
                          objective=image_objective(variant, model.config, smoothing, stats))
        if resume:
            trainer.restore()
        summary = trainer.fit(max_minutes=max_minutes, progress=progress)
    finally:
        teardown(group)
    return {**summary, "device": str(dev), "precision": prec, "out": str(out), "variant": variant}


RESUMABLE = ("steps", "eval_every", "eval_max", "checkpoint_every", "log_every")


def _resumed_recipe(saved: dict, data: ImageData, model_overrides: dict | None,
                    train_overrides: dict | None, train: dict, smoothing: float | None,
                    randaugment: tuple[int, float] | None) -> tuple[float, tuple | None]:
    """The puzzle trainer's rule: a resumed run keeps its settings; only its length and
    bookkeeping may change. Returns the saved smoothing and RandAugment (or the same ones
    given again)."""
    fixed = sorted(k for k, v in (model_overrides or {}).items() if v is not None)
    if fixed:
        raise TRMError(f"--resume continues the saved model; drop the options for "
                       f"{', '.join(fixed)}")
    changed = sorted(k for k, v in (train_overrides or {}).items()
                     if v is not None and k not in RESUMABLE and v != train.get(k))
    saved_aug = tuple(saved["randaugment"]) if saved.get("randaugment") else None
    saved_smoothing = float(saved.get("smoothing") or 0.0)
    if smoothing is not None and smoothing != saved_smoothing:
        changed.append("smoothing")
    if randaugment is not None and tuple(randaugment) != saved_aug:
        changed.append("randaugment")
    if changed:
        raise TRMError(f"--resume cannot change {', '.join(changed)} (the run has "
                       f"{', '.join(f'{k} {_saved_value(k, train, saved)}' for k in changed)}); "
                       "start a new run to change them")
    saved_data = saved.get("data", {})
    if saved_data.get("name") not in (None, data.name) or \
            len(saved_data.get("classes") or data.classes) != data.num_classes:
        raise TRMError(f"--resume on other images: the run was trained on "
                       f"{saved_data.get('name')}, {data.path} holds {data.name}")
    return saved_smoothing, saved_aug


def _saved_value(key: str, train: dict, saved: dict):
    return train[key] if key in train else saved.get(key)


def load_vision_model(run: Path, device: torch.device):
    ckpt = load_checkpoint(run)
    config = ckpt.config
    if config.get("task") != "vision":
        raise TRMError(f"{resolve_checkpoint(run)} is a {config.get('task')!r} model, not a vision one")
    with about(ckpt.config_path):
        model = model_from_config(config.get("variant"), config.get("model"))
    try:
        model.load_state_dict(ckpt.model_state)
    except RuntimeError as e:
        first = str(e).splitlines()[0] if str(e) else "mismatch"
        raise TRMError(f"{resolve_checkpoint(run)}: weights do not match the config ({first})") from None
    return model.to(device).eval(), config


def evaluate_run(run: Path, data_dir: Path, *, split: str = "test", halting: str = "full",
                 device: str = "auto", precision: str = "auto", batch_size: int = 256) -> dict:
    if split not in ("train", "test"):
        raise TRMError(f"--split must be train or test, got {split!r}")
    if halting not in ("full", "adaptive"):
        raise TRMError(f"--halting must be full or adaptive, got {halting!r}")
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    model, config = load_vision_model(run, dev)
    data = load_images(data_dir)
    if data.num_classes != model.config.num_classes:
        raise TRMError(f"{data_dir} has {data.num_classes} classes, {run} was trained on "
                       f"{model.config.num_classes}")
    with about(resolve_checkpoint(run) / "config.json"):
        stats = read_stats(config)
    result = evaluate_images(model, as_token_data(getattr(data, split)), batch_size=batch_size,
                             device=dev, precision=prec, halting=halting, stats=stats)
    return {**result, "params": sum(p.numel() for p in model.parameters()),
            "variant": config.get("variant")}


def flops_per_image(model) -> int:
    """FLOPs for one image through every supervision step, counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    size = model.config.image_size
    image = torch.zeros(1, model.config.channels, size, size, device=next(model.parameters()).device)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
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
            rows.append({"variant": variant, "preset": preset,
                         "params": sum(p.numel() for p in model.parameters()),
                         "extra_params": encoder.extra_parameters() if encoder is not None else 0,
                         "flops": flops_per_image(model), "config": model.config.to_dict()})
    return rows
