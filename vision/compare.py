"""Vision variants side by side at an equal wall-clock budget (``trm vision compare``).

Each variant trains into its own run folder ``OUT/<variant>/`` for the same number of
minutes, with the same data, batch, seed and optimizer. The learning-rate schedule has to
end when the budget does, so the number of steps is estimated first from a short timed
probe of the variant's training step (the budget is also a hard stop). A variant whose
folder holds an unfinished run resumes for the minutes it has left; a finished one (its
``result.json`` written) is not trained again. Each finished variant is then evaluated on
the whole test split: top-1, top-5, eval images/s (all supervision steps, and for
recursive models adaptive halting too), with parameters and FLOPs per image. Each run
evaluates on (up to 1,000 of) the test images five times on the way, for the chart of
top-1 against training time (``top1_vs_time.png``; ``top1_vs_params.png`` beside it).
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import torch

from trm.checkpoint import load_checkpoint
from trm.config import TrainConfig
from trm.device import autocast, resolve_device, resolve_precision
from trm.errors import TRMError, about
from trm.jsonfile import read_json_object
from trm.plot import plot_compare
from trm.staging import write_json
from trm.train import check_max_minutes
from trm.optim import make_optimizer
from vision.cifar import load_images
from vision.models import PRESETS, VARIANTS, build_model
from vision.training import (TRAIN_DEFAULTS, evaluate_run, flops_per_image, image_objective,
                             load_vision_model, train_images)

RESULT = "result.json"


def parse_variants(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise TRMError("--variants is empty: give a comma-separated list, e.g. vit,vitrm")
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise TRMError(f"--variants: unknown variant {unknown[0]!r} (choose from {', '.join(VARIANTS)})")
    if len(set(names)) != len(names):
        raise TRMError("--variants names a variant twice")
    return names


def probe_steps_per_s(model, *, batch_size: int, device: torch.device, precision: str,
                      steps: int = 6, warmup: int = 3) -> float:
    """Optimizer steps per second of ``model``'s training step on random images (a copy of
    the model is trained, so the real run starts from the same weights as without a probe)."""
    model = type(model)(model.config).to(device).train()
    objective = image_objective(model.variant, model.config)
    optimizer = make_optimizer(model, TrainConfig.from_dict({**TRAIN_DEFAULTS, "batch_size": batch_size}))
    size = model.config.image_size
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, model.config.channels, size, size),
                           dtype=torch.uint8, generator=g).to(device)
    labels = torch.randint(0, model.config.num_classes, (batch_size,), generator=g).to(device)
    y, z = model.initial_state(batch_size)
    slots = SimpleNamespace(inputs=images, y=y, z=z, steps=torch.zeros(batch_size, device=device))
    start = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
        with autocast(device, precision):
            out = objective.step(model, slots)
            loss = objective.loss(out, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.loss.backward()
        optimizer.step()
        slots.y, slots.z = out.y, out.z
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps / (time.perf_counter() - start)


def train_variant(data_dir: Path, run: Path, variant: str, *, minutes: float, preset: str,
                  seed: int, batch_size: int, device: str, precision: str,
                  model_overrides: dict | None = None, progress: bool = True,
                  log=lambda msg: None) -> dict:
    """Train one variant for ``minutes`` into ``run`` (resuming an unfinished run there)."""
    if (run / "checkpoint").is_dir():
        ckpt = load_checkpoint(run, train_state=True)
        with about(ckpt.config_path):
            steps = TrainConfig.from_dict(ckpt.config.get("train")).steps
        step = int(ckpt.train_meta.get("step", 0))
        left = minutes - float(ckpt.train_meta.get("elapsed", 0.0)) / 60
        if step < steps and left > 0:
            log(f"{variant}: resuming {run} at step {step} of {steps} for the {left:.2f} minutes left")
            return train_images(data_dir, run, variant=variant, resume=True, device=device,
                                precision=precision, max_minutes=left, progress=progress)
        log(f"{variant}: {run} already finished its training ({step} steps)")
        return {}
    data = load_images(data_dir)
    model = build_model(variant, preset, num_classes=data.num_classes, **(model_overrides or {}))
    dev = resolve_device(device)
    rate = probe_steps_per_s(model, batch_size=batch_size, device=dev,
                             precision=resolve_precision(precision, dev))
    steps = max(10, int(rate * minutes * 60 * 0.95))  # a little short: evaluation and saving
    log(f"{variant}: {rate:.2f} steps/s in a probe -> {steps} steps in {minutes:g} minutes")
    train = dict(steps=steps, batch_size=batch_size, seed=seed, warmup=min(TRAIN_DEFAULTS["warmup"], steps // 10),
                 eval_every=max(1, steps // 5), checkpoint_every=max(1, steps // 10), log_every=max(1, min(25, steps // 20)))
    return train_images(data_dir, run, variant=variant, preset=preset,
                        model_overrides=model_overrides, train_overrides=train, device=device,
                        precision=precision, max_minutes=minutes, progress=progress)


def measure_variant(data_dir: Path, run: Path, *, device: str, precision: str,
                    batch_size: int = 256) -> dict:
    """A trained run evaluated on the whole test split, with its cost."""
    full = evaluate_run(run, data_dir, halting="full", device=device, precision=precision,
                        batch_size=batch_size)
    model, config = load_vision_model(run, resolve_device(device))
    metrics = _train_metrics(run)
    row = {"variant": full["variant"], "params": full["params"], "flops": flops_per_image(model),
           "top1": full["top1"], "top5": full["top5"], "n": full["n"],
           "eval_images_per_s": full["images_per_s"], "mean_steps": full["mean_steps"],
           "train_steps": config.get("step"), "train_minutes": metrics["minutes"],
           "train_images_per_s": metrics["images_per_s"], "run": str(run),
           "config": config.get("model"), "precision": resolve_precision(precision, resolve_device(device))}
    for key in ("mean_recursions", "step_weights"):  # mor-vit, sr-vit
        if key in full:
            row[key] = full[key]
    encoder = getattr(model, "encoder", None)
    row["extra_params"] = encoder.extra_parameters() if encoder is not None else 0
    if model.config.n_sup > 1:
        adaptive = evaluate_run(run, data_dir, halting="adaptive", device=device,
                                precision=precision, batch_size=batch_size)
        row["adaptive"] = {"top1": adaptive["top1"], "top5": adaptive["top5"],
                           "mean_steps": adaptive["mean_steps"],
                           "eval_images_per_s": adaptive["images_per_s"]}
    return row


def _train_metrics(run: Path) -> dict:
    """Training minutes and images/s (rows of the batch through one supervision step, forward
    and backward, per second of training) from the run's checkpoint and config."""
    ckpt = load_checkpoint(run, train_state=True)
    seconds = float(ckpt.train_meta.get("elapsed", 0.0))
    steps = int(ckpt.train_meta.get("step", 0))
    batch = int(ckpt.config.get("train", {}).get("batch_size", 0))
    return {"minutes": seconds / 60, "images_per_s": steps * batch / seconds if seconds > 0 else 0.0}


def compare(data_dir: Path, out: Path, variants: list[str], *, minutes: float,
            preset: str = "small", seed: int = 0, batch_size: int = 128, device: str = "auto",
            precision: str = "auto", model_overrides: dict[str, dict] | None = None,
            progress: bool = True, log=lambda msg: None) -> dict:
    """Train (or resume) each variant for ``minutes`` in turn, measure it, write ``compare.json``."""
    check_max_minutes(minutes)
    for v in variants:
        if preset not in PRESETS[v]:
            raise TRMError(f"unknown preset {preset!r} for {v}: choose one of {', '.join(PRESETS[v])}")
    data = load_images(data_dir)  # bad data fails here, before any training
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TRMError(f"{out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for v in variants:
        run = out / v
        done = run / RESULT
        if done.is_file():
            log(f"{v}: done before, reading {done}")
            rows.append(read_json_object(done))
            continue
        train_variant(data_dir, run, v, minutes=minutes, preset=preset, seed=seed,
                      batch_size=batch_size, device=device, precision=precision,
                      model_overrides=(model_overrides or {}).get(v), progress=progress, log=log)
        row = measure_variant(data_dir, run, device=device, precision=precision)
        write_json(done, row)
        rows.append(row)
    result = {"data": {"path": str(data_dir), "name": data.name, "classes": data.num_classes,
                       "train": len(data.train), "test": len(data.test)},
              "minutes": minutes, "preset": preset, "seed": seed, "batch_size": batch_size,
              "variants": rows}
    result["plots"] = [str(p) for p in plot_compare(result, out)]
    write_json(out / "compare.json", result)
    return result
