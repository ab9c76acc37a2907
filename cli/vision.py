"""`trm vision ...`: image datasets (and, with the vision models, training and evaluation)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from cli.choices import (
    BlockKind,
    Budget,
    Cifar,
    InitKind,
    Layout,
    Pool,
    Precision,
    SoftMixer,
    Split,
    Variant,
    VisionPreset,
)
from cli.common import (
    DEVICE,
    FORCE_OUTPUT,
    FORCE_RUN,
    MAX_MINUTES_HELP,
    PRECISION,
    err,
    flag,
    given_fields,
    output_file,
    stopped,
)
from cli.defaults import common_else, each_preset, shown, switch
from vision.configs import CONFIGS, field_defaults
from vision.recipes import COMPARE_EPOCHS, TRAIN_DEFAULTS, VARIANT_TRAIN, preset_settings


def _train_default(name: str) -> str:
    """A training setting's default, from the presets (vision/recipes.py), with the
    variants that have their own ("small 0.002 (bvit, sr-vit 0.0005)")."""

    def value(preset: str, variant: str | None = None):
        v = preset_settings(preset, variant)[name]
        return _OFF.get(name) if v is None else v

    def with_own(preset: str):
        base = shown(value(preset))
        by_value: dict = {}  # variants with their own value, those sharing one together
        for variant, settings in VARIANT_TRAIN.get(preset, {}).items():
            v = shown(value(preset, variant)) if name in settings else base
            if v != base:
                by_value.setdefault(v, []).append(variant)
        extra = [f"{', '.join(names)} {v}" for v, names in by_value.items()]
        return f"{base} ({'; '.join(extra)})" if extra else base

    return each_preset(VisionPreset, with_own)


_OFF = {"randaugment": "off"}  # settings whose None is a value: "no RandAugment"


def _warmup(preset: str):
    s = preset_settings(preset)
    return s["warmup_epochs"] if s["warmup_epochs"] is not None else f"{s['warmup']} steps"


def _floor(preset: str):
    s = preset_settings(preset)
    return s["min_lr"] if s["min_lr"] is not None else f"lr x {s['min_lr_ratio']:g}"


def _flip_default(value: bool | None) -> str:
    return "auto" if value is None else switch("flip", value)


def _model_default(name: str) -> str:
    """A model field's default, from the configs and presets (vision/configs.py): one value,
    or the common one with its exceptions ("vitrm cifar 0.1, else 0"); a switch by its flag."""
    values = field_defaults(name)
    return common_else(
        {k: switch(name, v) if isinstance(v, bool) else v for k, v in values.items()}
    )


INIT_HELP = (
    "vit, bvit, sr-vit, mor-vit: the ViT block's weights: vit (truncated normal of std 0.02, "
    "as ViT and DeiT) or fan-in (std 1/sqrt(fan-in): narrow models learn from the first steps)."
)
INIT_DEFAULT = each_preset(VisionPreset, lambda p: field_defaults("init")["vit", p])
BLOCK_HELP = (
    "vit, bvit, sr-vit, mor-vit: vit (the papers' ViT block: pre-norm LayerNorm, GELU MLP, "
    "learned positions, a final norm before the head) or trm (post-norm RMSNorm, SwiGLU, "
    "RoPE: trm's puzzle block, our first release)."
)


app = typer.Typer(
    help="Recursive vision models (ViTRM and relatives) on CIFAR-10/100 and a synthetic image set.",
    no_args_is_help=True,
)
data_app = typer.Typer(
    help="Make or fetch image datasets in the CIFAR format.", no_args_is_help=True
)
app.add_typer(data_app, name="data")


def _summary(path: Path, data, seconds: float) -> None:
    err.print(
        f"wrote {path} ({data.name}, {data.num_classes} classes, train {len(data.train)}, "
        f"test {len(data.test)}) in {seconds:.1f} s",
        highlight=False,
    )


@data_app.command("synthetic")
def synthetic(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Folder to write (CIFAR-10 python "
            "layout: data_batch_1..5, test_batch, batches.meta).",
        ),
    ],
    train: Annotated[int, typer.Option(help="Training images.")] = 50000,
    test: Annotated[int, typer.Option(help="Test images.")] = 10000,
    classes: Annotated[int, typer.Option(help="Classes (shape x texture pairs), 2 to 30.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Replace CIFAR data already in --out.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Generate a synthetic 32x32 image set (shapes filled with textures, random colours,
    placement, rotation, background and noise) in the CIFAR-10 python format.

    Examples:
      trm vision data synthetic --out data/synthetic --train 50000 --test 10000 --seed 0
      trm vision data synthetic --out data/synth20 --classes 20 --train 5000 --test 1000
    """
    from vision.synthetic import write_synthetic

    start = time.perf_counter()
    data = write_synthetic(out_dir, train, test, classes, seed, force=force, progress=not quiet)
    _summary(out_dir, data, time.perf_counter() - start)


@data_app.command("cifar")
def cifar(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Folder to fetch into (the archive extracts to a folder inside it)."
        ),
    ],
    name: Annotated[Cifar, typer.Option("--name", "-n", help="cifar10 or cifar100.")] = "cifar10",
    url: Annotated[
        str | None,
        typer.Option(
            help="Fetch from here instead of the official "
            "address: a mirror, file:// URL or local path of the "
            "official archive (its MD5 is still checked)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Fetch again over CIFAR data in --out.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Download CIFAR-10 or CIFAR-100 (python version), check its published MD5, and
    extract it; nothing is left behind if any step fails.

    Examples:
      trm vision data cifar --out data/cifar10
      trm vision data cifar --out data/cifar100 --name cifar100
      trm vision data cifar --out data/cifar10 --url ~/Downloads/cifar-10-python.tar.gz
    """
    from vision.download import archive_for, download, present

    archive_for(name)
    start = time.perf_counter()
    if present(name, out_dir) and not force:
        err.print(
            f"{out_dir} already holds {name} (pass --force to fetch it again)", highlight=False
        )
        return
    download(name, out_dir, url, force=force, progress=not quiet)
    err.print(
        f"fetched {name} into {out_dir / archive_for(name).folder} (MD5 checked, every "
        f"batch read back) in {time.perf_counter() - start:.1f} s",
        highlight=False,
    )


@data_app.command("show")
def show(
    data: Annotated[
        Path, typer.Argument(help="Image folder in the CIFAR format.", show_default=False)
    ],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")] = Path(
        "images.png"
    ),
    split: Annotated[Split, typer.Option(help="train or test.")] = "train",
    per_class: Annotated[int, typer.Option(help="Images of each class, drawn at random.")] = 8,
    scale: Annotated[int, typer.Option(help="Each pixel drawn as SCALE x SCALE.")] = 2,
    max_classes: Annotated[int, typer.Option(help="At most this many classes (rows).")] = 20,
    seed: Annotated[int, typer.Option(help="Random seed: which images are drawn.")] = 0,
    force: Annotated[bool, FORCE_OUTPUT] = False,
) -> None:
    """Write a PNG grid of a few images of each class (one row a class, with its count), and print the label histogram.

    Examples:
      trm vision data show data/shapes --out shapes.png
      trm vision data show data/cifar100 --split test --per-class 4 --max-classes 100 --out c100.png
    """
    from trm.errors import SettingError
    from vision.cifar import load_images
    from vision.show import class_counts, grid

    for name, value, top in (("per_class", per_class, 64), ("scale", scale, 16)):
        if not 1 <= value <= top:
            raise SettingError(name, f"must be from 1 to {top}, got {value}")
    if max_classes < 1:
        raise SettingError("max_classes", f"must be at least 1, got {max_classes}")
    target = output_file(out_file, "out", force, (".png",))
    images = load_images(data)
    picture = grid(
        images, split=split, per_class=per_class, scale=scale, seed=seed, max_classes=max_classes
    )
    path = target.write(lambda tmp: picture.save(tmp, format="PNG"))
    counts = class_counts(images, split)
    most = counts.max() / max(1, counts.sum())
    err.print(
        f"wrote {path}: {images.name} {split}, {len(getattr(images, split)):,} images; per class "
        f"{counts.min():,} to {counts.max():,} (always guessing the commonest: {most:.1%})",
        highlight=False,
    )


@app.command("train")
def train(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Image folder in the CIFAR format (CIFAR-10, "
            "CIFAR-100 or `trm vision data synthetic`).",
        ),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Run folder: checkpoint and metrics.jsonl.")
    ],
    variant: Annotated[
        Variant | None,
        typer.Option(
            "--variant",
            help="vit, vitrm, bvit, sr-vit or mor-vit (a new run needs it; --resume takes "
            "the run's).",
        ),
    ] = None,
    download: Annotated[
        str | None,
        typer.Option(
            "--download",
            help="cifar10 or cifar100: fetch "
            "it into --data first if it is not there (MD5-checked).",
        ),
    ] = None,
    download_url: Annotated[
        str | None,
        typer.Option(
            help="With --download: a mirror, file:// URL or local path of the official archive."
        ),
    ] = None,
    preset: Annotated[
        VisionPreset,
        typer.Option(
            help="cifar (the papers' model and recipe: 1000 epochs, "
            "RandAugment, mixup/CutMix...) or small (minutes on a CPU)."
        ),
    ] = "small",
    epochs: Annotated[
        float | None,
        typer.Option(
            help="Passes over the training images (images drawn, however many steps each takes).",
            show_default=_train_default("epochs"),
        ),
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(
            help="Optimizer steps (without --epochs).", show_default=_train_default("steps")
        ),
    ] = None,
    max_minutes: Annotated[float | None, typer.Option(help=MAX_MINUTES_HELP)] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(help="Images in flight per step.", show_default=_train_default("batch_size")),
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help="Peak learning rate.", show_default=_train_default("lr"))
    ] = None,
    warmup_epochs: Annotated[
        float | None,
        typer.Option(
            help="Linear warmup, in epochs. Without it, a --max-minutes run of the small "
            "preset warms up for at most a tenth of the steps it fits.",
            show_default=each_preset(VisionPreset, _warmup),
        ),
    ] = None,
    min_lr: Annotated[
        float | None,
        typer.Option(
            help="The cosine schedule's floor.", show_default=each_preset(VisionPreset, _floor)
        ),
    ] = None,
    weight_decay: Annotated[
        float | None,
        typer.Option(help="AdamW weight decay.", show_default=_train_default("weight_decay")),
    ] = None,
    betas: Annotated[
        str | None,
        typer.Option(help="AdamW betas B1,B2.", show_default=_train_default("betas")),
    ] = None,
    mixup: Annotated[
        float | None,
        typer.Option(
            help="Mixup's Beta(a, a) parameter; 0 = off.", show_default=_train_default("mixup")
        ),
    ] = None,
    cutmix: Annotated[
        float | None,
        typer.Option(
            help="CutMix's Beta(a, a) parameter; 0 = off.", show_default=_train_default("cutmix")
        ),
    ] = None,
    mix_prob: Annotated[
        float | None,
        typer.Option(
            help="Chance a step's fresh images are mixed.", show_default=_train_default("mix_prob")
        ),
    ] = None,
    switch_prob: Annotated[
        float | None,
        typer.Option(
            help="With mixup and CutMix both on: chance of CutMix.",
            show_default=_train_default("switch_prob"),
        ),
    ] = None,
    dropout: Annotated[
        float | None,
        typer.Option(
            help="Dropout on each block's outputs.", show_default=_model_default("dropout")
        ),
    ] = None,
    drop_path: Annotated[
        float | None,
        typer.Option(help="Stochastic depth per block.", show_default=_model_default("drop_path")),
    ] = None,
    layout: Annotated[
        Layout | None,
        typer.Option(
            help="vitrm: vitrm (the paper's: [x; y; z] "
            "concatenated, one answer token, learned starts) or "
            "trm (the puzzle TRM's additive layout).",
            show_default=_model_default("layout"),
        ),
    ] = None,
    block: Annotated[
        BlockKind | None, typer.Option(help=BLOCK_HELP, show_default=_model_default("block"))
    ] = None,
    init: Annotated[
        InitKind | None, typer.Option(help=INIT_HELP, show_default=INIT_DEFAULT)
    ] = None,
    hidden_size: Annotated[int | None, typer.Option(help="Model width.")] = None,
    num_heads: Annotated[int | None, typer.Option("--heads", help="Attention heads.")] = None,
    depth: Annotated[int | None, typer.Option(help="vit: independent layers.")] = None,
    num_layers: Annotated[
        int | None,
        typer.Option(
            "--layers", help="vitrm, bvit, sr-vit, mor-vit: layers of the one shared network (k)."
        ),
    ] = None,
    recursions: Annotated[
        int | None,
        typer.Option(
            help="bvit: steps S; sr-vit: recursion steps R (up to 8); mor-vit: recursion steps "
            "(each the preset's by default)."
        ),
    ] = None,
    step_embedding: Annotated[
        bool | None,
        typer.Option(
            "--step-embedding/--no-step-embedding",
            help="bvit, sr-vit, mor-vit: add a learned embedding of the step at each step.",
        ),
    ] = None,
    capacity: Annotated[
        str | None,
        typer.Option(
            help="mor-vit: share of tokens per step, "
            "non-increasing, e.g. 1,0.67,0.33 (default: linear)."
        ),
    ] = None,
    routing: Annotated[
        str | None,
        typer.Option(
            help="mor-vit: expert (top-k tokens per step) or token (each token picks its depth)."
        ),
    ] = None,
    n: Annotated[int | None, typer.Option(help="vitrm: latent updates per cycle.")] = None,
    T: Annotated[
        int | None, typer.Option("--T", help="vitrm: cycles per supervision step.")
    ] = None,
    n_sup: Annotated[int | None, typer.Option(help="vitrm: supervision steps at most.")] = None,
    patch_size: Annotated[
        int | None,
        typer.Option(
            help="Patch size (8: 16 patches of a 32x32 image; 4: 64).",
            show_default=each_preset(
                VisionPreset, lambda p: field_defaults("patch_size")["vitrm", p]
            ),
        ),
    ] = None,
    pool: Annotated[
        Pool | None,
        typer.Option(
            help="What the head reads: cls (a class token) or mean (the mean of the tokens).",
            show_default=_model_default("pool"),
        ),
    ] = None,
    mixer: Annotated[
        SoftMixer | None,
        typer.Option(
            help="sr-vit: mlp (a token-wise MLP over all "
            "recursions' outputs) or linear (one scorer a step).",
            show_default=_model_default("mixer"),
        ),
    ] = None,
    mixer_hidden: Annotated[
        int | None,
        typer.Option(
            help="sr-vit: the MLP mixer's width (0: the model width).",
            show_default=_model_default("mixer_hidden"),
        ),
    ] = None,
    mixer_norm: Annotated[
        bool | None,
        typer.Option(
            "--mixer-norm/--no-mixer-norm",
            help="sr-vit: the mixer reads each recursion's output LayerNormed.",
            show_default=_model_default("mixer_norm"),
        ),
    ] = None,
    uniform_start: Annotated[
        bool | None,
        typer.Option(
            "--uniform-start/--no-uniform-start",
            help="sr-vit: the mixture starts even (1/R on each recursion).",
            show_default=_model_default("uniform_start"),
        ),
    ] = None,
    balance: Annotated[
        float | None,
        typer.Option(
            help="sr-vit: weight of a loss against an uneven mean mixture (log R minus its "
            "entropy).",
            show_default=_model_default("balance"),
        ),
    ] = None,
    recursion_loss: Annotated[
        float | None,
        typer.Option(
            help="sr-vit: weight of the loss of every recursion's own answer (each read by "
            "the head).",
            show_default=_model_default("recursion_loss"),
        ),
    ] = None,
    router_per_step: Annotated[
        bool | None,
        typer.Option(
            "--router-per-step/--shared-router",
            help="mor-vit: one router per recursion step (MoR) or one for all.",
            show_default=_model_default("router_per_step"),
        ),
    ] = None,
    inactive_keys: Annotated[
        bool | None,
        typer.Option(
            "--inactive-keys/--no-inactive-keys",
            help="mor-vit: tokens that stopped stay visible as keys and values.",
            show_default=_model_default("inactive_keys"),
        ),
    ] = None,
    unique_ends: Annotated[
        bool | None,
        typer.Option(
            "--unique-ends/--shared-ends",
            help="mor-vit: a first and last block of their "
            "own around the recursion (MoR's Middle-Cycle).",
            show_default=_model_default("unique_ends"),
        ),
    ] = None,
    smoothing: Annotated[
        float | None,
        typer.Option(help="Label smoothing.", show_default=_train_default("smoothing")),
    ] = None,
    crop: Annotated[
        int | None,
        typer.Option(
            help="Random crop after padding each side by this many pixels (0: none).",
            show_default=_train_default("crop"),
        ),
    ] = None,
    flip: Annotated[
        bool | None,
        typer.Option(
            "--flip/--no-flip",
            help="Random horizontal flips. Auto: off when the training images' mirror images "
            "are told apart worse by their class means (digits, text), else on.",
            show_default=each_preset(
                VisionPreset, lambda p: _flip_default(preset_settings(p)["flip"])
            ),
        ),
    ] = None,
    randaugment: Annotated[
        str | None,
        typer.Option(
            help="RandAugment N,M (e.g. 2,9); 0,0 = off.",
            show_default=_train_default("randaugment"),
        ),
    ] = None,
    device: Annotated[str, DEVICE] = "auto",
    precision: Annotated[Precision, PRECISION] = "auto",
    compile: Annotated[
        bool, typer.Option("--compile/--no-compile", help="torch.compile the model.")
    ] = False,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    force: Annotated[bool, FORCE_RUN] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train a vision model with trm's loop: deep supervision and halting for vitrm, EMA, periodic evaluation, atomic checkpoints, resume.

    CIFAR-10 or CIFAR-100 is told from the folder's files.

    Examples:
      trm vision data synthetic --out data/shapes --train 20000 --test 2000
      trm vision train --data data/shapes --variant vitrm --out runs/vitrm --max-minutes 10
      trm vision train --data data/cifar10 --variant vitrm --preset cifar --out runs/vitrm-paper --device cuda
      trm vision train --data data/shapes --variant vitrm --layout trm --n-sup 4 --T 2 --out runs/vitrm-trm --epochs 20
      trm vision train --data data/shapes --variant vit --out runs/vit --epochs 20 --mixup 0.2 --cutmix 1.0
      trm vision train --data data/shapes --out runs/vitrm --resume
      trm vision train --data data/cifar10 --download cifar10 --variant vitrm --out runs/c10
    """
    from trm.config import TrainConfig
    from trm.errors import TRMError
    from vision.recipes import Recipe
    from vision.training import train_images

    options = dict(locals())  # the parameters are named as the fields they set
    options["randaugment"] = parse_randaugment(randaugment)
    options["capacity"] = parse_capacity(capacity)
    if betas:
        options["beta1"], options["beta2"] = parse_pair(betas, "--betas", "B1,B2 (e.g. 0.9,0.999)")
    model = {k: v for config in CONFIGS.values() for k, v in given_fields(config, options).items()}
    if variant is None and not resume:
        raise TRMError("a new run needs --variant: vit, vitrm, bvit, sr-vit or mor-vit")
    if variant is not None:
        check_options(variant, model)
    if download_url and not download:
        raise TRMError("--download-url needs --download cifar10|cifar100")
    if download:
        from vision.download import download as fetch

        fetch(download, data, download_url, progress=not quiet)
    try:
        summary = train_images(
            data,
            out_dir,
            variant=variant,
            preset=preset,
            model_overrides=model,
            train_overrides=given_fields(TrainConfig, options),
            recipe=given_fields(Recipe, options),
            epochs=epochs,
            warmup_epochs=warmup_epochs,
            min_lr=min_lr,
            resume=resume,
            force=force,
            device=device,
            precision=precision,
            compile=compile,
            max_minutes=max_minutes,
            progress=not quiet,
            log=lambda message: err.print(message, highlight=False),
        )
    except KeyboardInterrupt as e:
        raise stopped(
            e,
            "checkpoint saved; continue with: "
            f"trm vision train --data {data} --out {out_dir} --resume",
        ) from None
    ev = summary.get("eval") or {}
    line = (
        f"step {summary['step']} in {summary['elapsed'] / 60:.1f} min on {summary['device']} "
        f"({summary['precision']}), {summary['parameters']:,} parameters"
    )
    if ev:
        line += f"; test top-1 {ev['top1']:.3f}, top-5 {ev['top5']:.3f}"
    err.print(line + f"; saved in {summary['out']}", highlight=False)


def block_overrides(
    names: list[str], block: str | None, init: str | None = None
) -> dict[str, dict] | None:
    """``--block`` and ``--init`` for each compared variant built of ViT or trm blocks (vitrm
    has its own)."""
    from dataclasses import fields

    given = {k: v for k, v in (("block", block), ("init", init)) if v is not None}
    if not given:
        return None
    return {v: given for v in names if "block" in {f.name for f in fields(CONFIGS[v])}}


def check_options(variant: str, model: dict) -> None:
    """Refuse options the variant's config does not have."""
    from dataclasses import fields

    from trm.errors import TRMError

    takes = {f.name for f in fields(CONFIGS[variant])}  # the variant's config fields
    foreign = [k for k in model if k not in takes]
    if foreign:
        raise TRMError(f"{variant} has no {', '.join(flag(k) for k in foreign)} option")


def parse_randaugment(text: str | None) -> tuple[int, float] | None:
    """--randaugment N,M: a whole number of operations and a magnitude."""
    from trm.errors import TRMError

    if not text:
        return None
    count, magnitude = parse_pair(text, "--randaugment", "N,M (e.g. 2,9)")
    if count != int(count):
        raise TRMError(f"--randaugment wants a whole number of operations, got {text!r}")
    return int(count), magnitude


def parse_pair(text: str, option: str, want: str) -> tuple[float, float]:
    """Two numbers separated by a comma, e.g. "2,9"."""
    from trm.errors import TRMError

    try:
        first, second = (float(v) for v in text.split(","))
    except ValueError:
        raise TRMError(f"{option} wants {want}, got {text!r}") from None
    return first, second


def parse_capacity(text: str | None) -> list[float] | None:
    from trm.errors import TRMError

    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise TRMError(
            f"--capacity wants numbers separated by commas, e.g. 1,0.67,0.33; got {text!r}"
        ) from None
    return values  # ranges and order are checked by the model's config


@app.command("eval")
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder (or checkpoint folder).")],
    data: Annotated[Path, typer.Option("--data", help="Image folder in the CIFAR format.")],
    split: Annotated[str, typer.Option(help="train or test.")] = "test",
    halting: Annotated[
        str, typer.Option(help="full (all steps) or adaptive (vitrm: halt per image).")
    ] = "full",
    device: Annotated[str, DEVICE] = "auto",
    precision: Annotated[Precision, PRECISION] = "auto",
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 256,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Evaluate a vision run: top-1, top-5, parameters, mean supervision steps, images/s.

    Examples:
      trm vision eval runs/vitrm --data data/shapes
      trm vision eval runs/vitrm --data data/shapes --halting adaptive --json
    """
    from cli.common import out, print_json
    from trm.errors import TRMError
    from vision.training import evaluate_run

    if batch_size < 1:
        raise TRMError("--batch-size must be at least 1")
    result = evaluate_run(
        run,
        data,
        split=split,
        halting=halting,
        device=device,
        precision=precision,
        batch_size=batch_size,
    )
    if as_json:
        print_json(result)
        return
    out.print(
        f"{result['variant']} · top-1 {result['top1']:.4f} · top-5 {result['top5']:.4f} · "
        f"{result['params']:,} parameters · mean steps {result['mean_steps']:.2f} · "
        f"{result['n']} images · {result['images_per_s']:.1f} images/s ({halting} halting)",
        highlight=False,
    )


@app.command("info")
def info(as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False) -> None:
    """Each variant's parameters and FLOPs per image (all supervision steps) at its presets.

    Example: trm vision info
    """
    from rich.table import Table

    from cli.common import out, print_json
    from vision.training import describe_variants

    rows = describe_variants()
    if as_json:
        print_json(rows)
        return
    table = Table(
        title="vision variants (CIFAR-10 shape: 32x32, patch 4, 10 classes); "
        "extra: parameters outside the shared network"
    )
    for col in ("variant", "preset", "parameters", "extra", "GFLOPs / image", "shape"):
        table.add_column(
            col, justify="right" if col in ("parameters", "extra", "GFLOPs / image") else "left"
        )
    for r in rows:
        shape = r["shape"]
        table.add_row(
            r["variant"],
            r["preset"],
            f"{r['params']:,}",
            f"{r['extra_params']:,}",
            f"{r['flops'] / 1e9:.2f}",
            shape,
        )
    out.print(table)


@app.command("compare")
def compare(
    *,
    data: Annotated[Path, typer.Option("--data", help="Image folder in the CIFAR format.")],
    variants: Annotated[
        str, typer.Option(help="Comma-separated variants to train in turn.")
    ] = "vit,vitrm",
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Folder: one run per variant (OUT/<variant>/) and compare.json."
        ),
    ],
    budget: Annotated[
        Budget,
        typer.Option(
            help="What every variant gets the same of: epochs "
            "(images seen), time (--max-minutes) or flops (the first "
            "variant's training FLOPs for --epochs)."
        ),
    ] = "epochs",
    epochs: Annotated[
        float | None,
        typer.Option(
            help="Passes over the training images (budgets epochs and flops).",
            show_default=shown(COMPARE_EPOCHS),
        ),
    ] = None,
    max_minutes: Annotated[
        float | None,
        typer.Option("--max-minutes", help="Training minutes per variant (budget time)."),
    ] = None,
    preset: Annotated[
        VisionPreset,
        typer.Option(help="cifar (the papers' scale and recipe) or small (minutes on a CPU)."),
    ] = "small",
    batch_size: Annotated[int, typer.Option(help="Images in flight per step.")] = TRAIN_DEFAULTS[
        "batch_size"
    ],
    block: Annotated[
        BlockKind | None, typer.Option(help=BLOCK_HELP, show_default=_model_default("block"))
    ] = None,
    init: Annotated[
        InitKind | None, typer.Option(help=INIT_HELP, show_default=INIT_DEFAULT)
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (the same for every variant).")] = 0,
    device: Annotated[str, DEVICE] = "auto",
    precision: Annotated[
        Precision,
        typer.Option(
            help="auto (fp32 on a CPU without fast bf16, bf16 on a GPU; on a CPU with "
            "AVX512-BF16 or AMX, the faster of the two in a probe of a few steps), fp32 or bf16."
        ),
    ] = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print compare.json on stdout only.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Train variants at an equal budget, then compare them: parameters, FLOPs per image, images seen, top-1 (final, and at equal epochs), top-5, train and eval images/s.

    Each variant gets its own run in OUT/<variant>/; run the command again after an interruption and it resumes where it stopped (finished variants are kept). Charts: top-1 against images seen, against training FLOPs, against parameters.

    Examples:
      trm vision compare --data data/shapes --variants vit,vitrm,bvit,sr-vit,mor-vit --epochs 20 --out runs/compare
      trm vision compare --data data/shapes --variants vit,vitrm --budget time --max-minutes 10 --out runs/compare-time
      trm vision compare --data data/shapes --variants vit,vitrm --budget flops --epochs 20 --out runs/compare-flops
    """
    from cli.common import out, print_json
    from trm.errors import TRMError
    from vision.compare import compare as run_compare
    from vision.compare import parse_variants, result_table

    names = parse_variants(variants)
    if batch_size < 1:
        raise TRMError("--batch-size must be at least 1")
    try:
        result = run_compare(
            data,
            out_dir,
            names,
            budget=budget,
            epochs=epochs,
            minutes=max_minutes,
            preset=preset,
            seed=seed,
            batch_size=batch_size,
            device=device,
            precision=precision,
            model_overrides=block_overrides(names, block, init),
            progress=not quiet,
            log=lambda m: err.print(m, highlight=False),
        )
    except KeyboardInterrupt as e:
        raise stopped(e, f"run the same command again to resume ({out_dir})") from None
    if as_json:
        print_json(result)
        return
    out.print(result_table(result, width=out.width))
    err.print(f"wrote {out_dir / 'compare.json'}", highlight=False)
