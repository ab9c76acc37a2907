"""Vision variants side by side at an equal budget (``trm vision compare``).

Each variant trains into its own run folder ``OUT/<variant>/`` with the same data, batch,
seed, optimizer and recipe, for an equal budget of one of three kinds:

``epochs`` (the default)
    the same number of passes over the training images (images seen) for every variant;
``time``
    the same wall-clock minutes (the step count comes from a short timed probe of the
    variant's training step, and the budget is also a hard stop);
``flops``
    the same training FLOPs: what the first variant listed spends on ``epochs`` passes,
    each variant then seeing as many images as that buys it (training ~ 3 x the forward
    FLOPs of all supervision steps per image).

With ``precision="auto"`` each variant runs at the precision that trains it fastest here:
on a GPU bf16 where it is supported; on a CPU without fast bf16 (AVX512-BF16 or AMX: the
flags say so, and emulated bf16 is several times slower) fp32 at once; on a CPU with it,
the faster of the two in a probe of a few training steps each. A variant
whose folder holds an unfinished run resumes; a finished one (its ``result.json``
written) is not trained again. Each finished variant is evaluated on the whole test
split (top-1, top-5, eval images/s; for recursive models with several supervision steps
adaptive halting too) with its parameters and FLOPs per image. Every run evaluates on the
same fixed sample of the test images (the first :data:`CURVE_SAMPLE`) about ten times on the
way: the table's "top-1 at equal
epochs" reads those at the largest number of images every variant has seen, and the
charts show top-1 against images seen and against training FLOPs (with top-1 against
parameters beside them).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from trm.checkpoint import load_checkpoint
from trm.config import TrainConfig, check_seed
from trm.contract import is_single_step
from trm.device import autocast, cpu_has_fast_bf16, resolve_device, resolve_precision
from trm.errors import SettingError, TRMError, about
from trm.files import CHECKPOINT
from trm.jsonfile import read_json_object
from trm.optim import make_optimizer
from trm.plot import plot_compare, read_metrics
from trm.runs import check_max_minutes
from trm.staging import (
    check_not_inside,
    folder_kind,
    locked_folder,
    user_entries,
    write_json,
)
from vision.cifar import load_images
from vision.models import PRESETS, VARIANTS, build_model
from vision.recipes import (
    BUDGETS,
    COMPARE_EPOCHS,
    TRAIN_DEFAULTS,
    check_schedule,
    preset_defaults,
)
from vision.training import (
    ImageObjective,
    evaluate_run,
    flops_per_image,
    load_vision_model,
    train_images,
)

RESULT = "result.json"
TRAIN_FLOPS_PER_FORWARD = 3  # a training step: the forward pass and a backward of twice its cost


def parse_variants(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise SettingError("variants", "is empty: give a comma-separated list, e.g. vit,vitrm")
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SettingError(
            f"`variants`: unknown variant {unknown[0]!r} (choose from {', '.join(VARIANTS)})"
        )
    if len(set(names)) != len(names):
        raise SettingError("variants", "names a variant twice")
    return names


CURVE_SAMPLE = 500  # test images each evaluation on the way reads (the final: all of them)
CURVES = 10  # evaluations on the way


def probe_steps_per_s(
    model, *, batch_size: int, device: torch.device, precision: str, steps: int = 3, warmup: int = 1
) -> float:
    """Optimizer steps per second of ``model``'s training step on random images (a copy of
    the model is trained, so the real run starts from the same weights as without a probe)."""
    model = type(model)(model.config).to(device).train()
    objective = ImageObjective(model.variant, model.config)
    optimizer = make_optimizer(
        model, TrainConfig.from_dict({**TRAIN_DEFAULTS, "batch_size": batch_size})
    )
    size = model.config.image_size
    g = torch.Generator().manual_seed(0)
    images = torch.randint(
        0, 256, (batch_size, model.config.channels, size, size), dtype=torch.uint8, generator=g
    ).to(device)
    labels = torch.randint(0, model.config.num_classes, (batch_size,), generator=g).to(device)
    y = z = None
    if not is_single_step(model):
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


def fastest_precision(
    model, *, batch_size: int, device: torch.device, precision: str
) -> tuple[str, dict[str, float]]:
    """The precision to train ``model`` at: the one asked for; with ``auto`` the flags'
    choice (:func:`trm.device.resolve_precision`), except on a CPU with fast bf16, where
    a model may still train faster in fp32: there the faster of the two in a probe of a
    few steps each (steps/s of each returned)."""
    if precision != "auto" or device.type != "cpu" or not cpu_has_fast_bf16():
        return resolve_precision(precision, device), {}
    rates = {
        p: probe_steps_per_s(model, batch_size=batch_size, device=device, precision=p)
        for p in ("fp32", "bf16")
    }
    return max(rates, key=rates.get), rates


def train_flops_per_image(model) -> int:
    """Training FLOPs per image: ~3 x the forward FLOPs of all its supervision steps."""
    return TRAIN_FLOPS_PER_FORWARD * flops_per_image(model)


def _progress(run: Path) -> tuple[bool, float]:
    """(finished, training minutes so far) of the run in ``run``."""
    ckpt = load_checkpoint(run, train_state=True)
    with about(ckpt.config_path):
        cfg = TrainConfig.from_dict(ckpt.config.get("train"))
    meta = ckpt.train_meta
    done = (
        int(meta.get("images", 0)) >= cfg.images
        if cfg.images
        else int(meta.get("step", 0)) >= cfg.steps
    )
    return done, float(meta.get("elapsed", 0.0)) / 60


def compare_warmup_epochs(
    preset: str, variant: str, *, epochs: float, n_train: int, batch_size: int
) -> float:
    """The warm-up, in epochs, of an equal-epochs run of ``epochs``: the preset's own
    (the variant's, where it has one), as ``trm vision train`` gives it, but at most a
    tenth of the run, so a short comparison still spends most of it at its rate."""
    train, _, schedule = preset_defaults(preset, variant)
    own = schedule.get("warmup_epochs")
    if own is None:  # the preset counts its warm-up in steps
        own = train["warmup"] * batch_size / n_train
    return min(own, epochs / 10)


def train_variant(
    data_dir: Path,
    run: Path,
    variant: str,
    *,
    budget: str = "time",
    epochs: float | None = None,
    minutes: float | None = None,
    preset: str,
    seed: int,
    batch_size: int,
    device: str,
    precision: str,
    model_overrides: dict | None = None,
    progress: bool = True,
    log=lambda msg: None,
) -> dict:
    """Train one variant into ``run`` for ``epochs`` passes (budgets epochs and flops) or
    ``minutes`` (budget time), resuming an unfinished run there; returns how it ran."""
    if (run / CHECKPOINT).is_dir():
        done, spent = _progress(run)
        left = None if budget != "time" else minutes - spent
        if not done and (left is None or left > 0):
            log(
                f"{variant}: resuming {run}" + (f" for the {left:.2f} minutes left" if left else "")
            )
            train_images(
                data_dir,
                run,
                variant=variant,
                resume=True,
                device=device,
                precision=load_checkpoint(run).config.get("precision", precision),
                max_minutes=left,
                progress=progress,
            )
        else:
            log(f"{variant}: {run} already finished its training")
        return {}
    data = load_images(data_dir)
    model = build_model(variant, preset, num_classes=data.num_classes, **(model_overrides or {}))
    dev = resolve_device(device)
    prec, rates = fastest_precision(model, batch_size=batch_size, device=dev, precision=precision)
    if rates:
        log(
            f"{variant}: "
            + ", ".join(f"{p} {r:.2f} steps/s" for p, r in rates.items())
            + f" in a probe -> {prec}"
        )
    elif precision == "auto":
        why = "no fast bf16 on this CPU" if dev.type == "cpu" else f"on {dev.type}"
        log(f"{variant}: precision {prec} (auto: {why}, no probe)")
    if budget == "time":
        rate = rates.get(prec) or probe_steps_per_s(
            model, batch_size=batch_size, device=dev, precision=prec
        )
        # the run sizes its own schedule to the minutes (trm.budget), its warm-up at most a
        # tenth of them whatever the preset; the probe's rate only spaces the evaluations
        steps = max(10, int(rate * minutes * 60))
        log(f"{variant}: about {rate:.2f} steps/s, {minutes:g} minutes")
        sizing = dict(warmup_share=TRAIN_DEFAULTS["warmup_share"])
    else:
        steps = max(1, math.ceil(epochs * len(data.train) / batch_size))
        log(f"{variant}: {epochs:.3g} epochs ({int(round(epochs * len(data.train))):,} images)")
        sizing = {}
    train = dict(
        batch_size=batch_size,
        seed=seed,
        eval_every=max(1, steps // CURVES),
        eval_max=min(CURVE_SAMPLE, TRAIN_DEFAULTS["eval_max"]),
        checkpoint_every=max(1, steps // CURVES),
        log_every=max(1, min(25, steps // 20)),
        **sizing,
    )
    return train_images(
        data_dir,
        run,
        variant=variant,
        preset=preset,
        model_overrides=model_overrides,
        train_overrides=train,
        epochs=None if budget == "time" else epochs,
        warmup_epochs=None
        if budget == "time"
        else compare_warmup_epochs(
            preset, variant, epochs=epochs, n_train=len(data.train), batch_size=batch_size
        ),
        device=device,
        precision=prec,
        max_minutes=minutes if budget == "time" else None,
        progress=progress,
        log=log,
    )


def measure_variant(data_dir: Path, run: Path, *, device: str, batch_size: int = 256) -> dict:
    """A trained run evaluated on the whole test split (at the precision it trained at),
    with its cost: parameters, FLOPs per image, images seen, training FLOPs."""
    precision = load_checkpoint(run).config.get("precision", "fp32")
    full = evaluate_run(
        run, data_dir, halting="full", device=device, precision=precision, batch_size=batch_size
    )
    model, config = load_vision_model(run, resolve_device(device))
    metrics = _train_metrics(run)
    flops = flops_per_image(model)
    n_train = load_images(data_dir).train.images.shape[0]
    row = {
        "variant": full["variant"],
        "params": full["params"],
        "flops": flops,
        "top1": full["top1"],
        "top5": full["top5"],
        "n": full["n"],
        "eval_images_per_s": full["images_per_s"],
        "mean_steps": full["mean_steps"],
        "train_steps": config.get("step"),
        "train_minutes": metrics["minutes"],
        "train_images_per_s": metrics["images_per_s"],
        "images": metrics["images"],
        "epochs": metrics["images"] / n_train,
        "train_flops": TRAIN_FLOPS_PER_FORWARD * flops * metrics["images"],
        "run": str(run),
        "config": config.get("model"),
        "precision": precision,
    }
    for key in ("mean_recursions", "step_weights"):  # mor-vit, sr-vit
        if key in full:
            row[key] = full[key]
    encoder = getattr(model, "encoder", None)
    row["extra_params"] = encoder.extra_parameters() if encoder is not None else 0
    if model.config.n_sup > 1:
        adaptive = evaluate_run(
            run,
            data_dir,
            halting="adaptive",
            device=device,
            precision=precision,
            batch_size=batch_size,
        )
        row["adaptive"] = {
            "top1": adaptive["top1"],
            "top5": adaptive["top5"],
            "mean_steps": adaptive["mean_steps"],
            "eval_images_per_s": adaptive["images_per_s"],
        }
    return row


def _train_metrics(run: Path) -> dict:
    """Training minutes, images seen (fresh images drawn) and images/s (rows of the batch
    through one supervision step, forward and backward, per second of training)."""
    ckpt = load_checkpoint(run, train_state=True)
    seconds = float(ckpt.train_meta.get("elapsed", 0.0))
    steps = int(ckpt.train_meta.get("step", 0))
    batch = int(ckpt.config.get("train", {}).get("batch_size", 0))
    images = int(ckpt.train_meta.get("images", 0)) or steps * batch  # (older runs: one step each)
    return {
        "minutes": seconds / 60,
        "images": images,
        "images_per_s": steps * batch / seconds if seconds > 0 else 0.0,
    }


def eval_curve(row: dict) -> list[tuple[int, float]]:
    """(images seen, top-1) of a run's periodic evaluations (on up to 1,000 test images)."""
    _, evals = read_metrics(Path(row["run"]))
    return sorted(
        (e["images"], float(e["eval"]["top1"]))
        for e in evals
        if isinstance(e.get("images"), int) and isinstance(e["eval"].get("top1"), (int, float))
    )


def top1_at_equal_images(rows: list[dict]) -> tuple[int, list[float | None]]:
    """The largest number of images every variant has seen, and each one's top-1 at its
    last periodic evaluation within it (None where it had none)."""
    common = min(r.get("images", 0) for r in rows)
    out = []
    for r in rows:
        within = [top1 for images, top1 in eval_curve(r) if images <= common]
        out.append(within[-1] if within else None)
    return common, out


def check_budget(budget: str, epochs: float | None, minutes: float | None) -> float | None:
    """The budget's settings checked; its epochs (``COMPARE_EPOCHS`` if not given, None for
    a time budget)."""
    if budget not in BUDGETS:
        raise SettingError("budget", f"must be epochs, time or flops, got {budget!r}")
    if budget == "time":
        if minutes is None:
            raise SettingError("`budget` time needs `max_minutes` (the minutes per variant)")
        check_max_minutes(minutes)
        return None
    if minutes is not None:
        raise SettingError(f"`max_minutes` is the time budget's; `budget` {budget} counts epochs")
    epochs = COMPARE_EPOCHS if epochs is None else epochs
    check_schedule(epochs, None, None)
    return epochs


def compare(
    data_dir: Path,
    out: Path,
    variants: list[str],
    *,
    budget: str = "epochs",
    epochs: float | None = None,
    minutes: float | None = None,
    preset: str = "small",
    seed: int = 0,
    batch_size: int = TRAIN_DEFAULTS["batch_size"],
    device: str = "auto",
    precision: str = "auto",
    model_overrides: dict[str, dict] | None = None,
    progress: bool = True,
    log=lambda msg: None,
) -> dict:
    """Train (or resume) each variant at an equal ``budget`` in turn (``epochs`` passes,
    ``minutes``, or the FLOPs the first variant spends on ``epochs`` passes), measure it,
    write ``compare.json`` and the charts."""
    epochs = check_budget(budget, epochs, minutes)
    check_seed(seed)  # before any folder is made or model probed
    for v in variants:
        if preset not in PRESETS[v]:
            raise TRMError(
                f"unknown preset {preset!r} for {v}: choose one of {', '.join(PRESETS[v])}"
            )
    data = load_images(data_dir)  # bad data fails here, before any training
    out = Path(out)
    check_compare_folder(out)
    with locked_folder(out):  # one comparison writes here at a time
        per_image = {}
        if budget == "flops":  # every variant gets the first one's FLOPs for `epochs` passes
            per_image = {
                v: train_flops_per_image(
                    build_model(
                        v,
                        preset,
                        num_classes=data.num_classes,
                        **(model_overrides or {}).get(v, {}),
                    )
                )
                for v in variants
            }
            total = per_image[variants[0]] * epochs * len(data.train)
            log(f"budget: {total / 1e12:.3g} TFLOPs each ({variants[0]}'s for {epochs:g} epochs)")
        rows = []
        for v in variants:
            run = out / v
            done = run / RESULT
            if done.is_file():
                log(f"{v}: done before, reading {done}")
                rows.append(read_json_object(done))
                continue
            passes = total / (per_image[v] * len(data.train)) if budget == "flops" else epochs
            train_variant(
                data_dir,
                run,
                v,
                budget=budget,
                epochs=passes,
                minutes=minutes,
                preset=preset,
                seed=seed,
                batch_size=batch_size,
                device=device,
                precision=precision,
                model_overrides=(model_overrides or {}).get(v),
                progress=progress,
                log=log,
            )
            row = measure_variant(data_dir, run, device=device)
            write_json(done, row)
            rows.append(row)
        common, at_common = top1_at_equal_images(rows)
        for r, top1 in zip(rows, at_common):
            r["top1_at_equal_images"] = top1
        result = {
            "data": {
                "path": str(data_dir),
                "name": data.name,
                "classes": data.num_classes,
                "train": len(data.train),
                "test": len(data.test),
            },
            "budget": budget,
            "epochs": epochs,
            "minutes": minutes,
            "equal_images": common,
            "equal_epochs": common / len(data.train),
            "preset": preset,
            "seed": seed,
            "batch_size": batch_size,
            "variants": rows,
        }
        result["plots"] = [str(p) for p in plot_compare(result, out)]
        write_json(out / COMPARE_FILE, result)
        return result


def check_compare_folder(out: Path) -> None:
    """A comparison goes into a new or empty folder, or one of its own (to resume it): not
    a file, not inside a run or dataset, not a folder holding other things."""
    if out.exists() and not out.is_dir():
        raise TRMError(f"{out} is a file, not a folder")
    check_not_inside(out, "the comparison")
    kind = folder_kind(out)
    if kind is not None:
        raise TRMError(f"{out} is {kind}, not a comparison: choose another folder")
    others = [
        p.name
        for p in user_entries(out)
        if not (p.name in VARIANTS or p.name == COMPARE_FILE or p.suffix == ".png")
    ]
    if others:
        raise SettingError(
            f"{out} holds other things than a comparison ({others[0]}, ...): "
            "choose another `out` (or an empty folder)"
        )


COMPARE_FILE = "compare.json"


# the table's columns, as it shows them
COLUMNS = (
    "variant",
    "parameters",
    "MFLOPs / image",
    "precision",
    "epochs seen",
    "top-1",
    "top-1 at equal epochs",
    "top-5",
    "train img/s",
    "eval img/s",
    "adaptive: top-1, steps, img/s",
)
# and the most telling first: a narrow terminal keeps a prefix of them
PRIORITY = (
    "variant",
    "top-1",
    "parameters",
    "top-1 at equal epochs",
    "MFLOPs / image",
    "epochs seen",
    "top-5",
    "train img/s",
    "eval img/s",
    "precision",
    "adaptive: top-1, steps, img/s",
)


def result_table(result: dict, width: int | None = None):
    """The comparison as a rich table (what `trm vision compare` prints). With ``width``
    (the terminal's columns), the least telling columns are left out until the table fits
    without cutting a figure short (a caption names them; compare.json has them all)."""
    import io

    from rich.console import Console

    rows = [_row(r) for r in result["variants"]]
    names = list(PRIORITY)
    while True:
        table = _table(result, rows, names)
        if width is None or len(names) <= 2:
            break
        trial = Console(width=width, file=io.StringIO(), color_system=None)
        trial.print(table)
        if "…" not in trial.file.getvalue():  # (rich cuts what does not fit short so)
            break
        names.pop()
    left_out = [n for n in PRIORITY if n not in names]
    if left_out:
        table.caption = (
            f"(left out at {width} columns: {', '.join(left_out)}; all in {COMPARE_FILE})"
        )
    return table


def _row(r: dict) -> dict[str, str]:
    a = r.get("adaptive")
    at_equal = r.get("top1_at_equal_images")
    return {
        "variant": r["variant"],
        "parameters": f"{r['params']:,}",
        "MFLOPs / image": f"{r['flops'] / 1e6:.1f}",
        "precision": r.get("precision", "-"),
        "epochs seen": f"{r.get('epochs', 0):.2f}",
        "top-1": f"{r['top1']:.3f}",
        "top-1 at equal epochs": "-" if at_equal is None else f"{at_equal:.3f}",
        "top-5": f"{r['top5']:.3f}",
        "train img/s": f"{r['train_images_per_s']:.0f}",
        "eval img/s": f"{r['eval_images_per_s']:.0f}",
        "adaptive: top-1, steps, img/s": (
            f"{a['top1']:.3f}, {a['mean_steps']:.2f}, {a['eval_images_per_s']:.0f}" if a else "-"
        ),
    }


def _table(result: dict, rows: list[dict[str, str]], names: list[str]):
    """The table of ``rows`` with the columns ``names`` (in the table's own order)."""
    from rich.table import Table

    d = result["data"]
    budget = result.get("budget", "time")
    if budget == "time":
        what = f"{result.get('minutes') or 0:g} min each"
    elif budget == "flops":
        what = (
            f"equal training FLOPs ({result['variants'][0]['variant']}'s for "
            f"{result['epochs']:g} epochs)"
        )
    else:
        what = f"{result['epochs']:g} epochs each"
    table = Table(
        title=f"{d['name']} ({d['classes']} classes, {d['train']} train / {d['test']} test), {what}"
    )
    equal = result.get("equal_epochs")
    order = [n for n in COLUMNS if n in names]
    for name in order:
        header = name
        if name == "top-1 at equal epochs" and equal is not None:
            header = f"top-1 at {equal:.3g} epochs"
        table.add_column(header, justify="left" if name in ("variant", "precision") else "right")
    for row in rows:
        table.add_row(*(row[name] for name in order))
    return table
