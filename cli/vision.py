"""`trm vision ...`: image datasets (and, with the vision models, training and evaluation)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from cli.common import err

app = typer.Typer(help="Recursive vision models (ViTRM and relatives) on CIFAR-10/100 and a "
                  "synthetic image set.", no_args_is_help=True)
data_app = typer.Typer(help="Make or fetch image datasets in the CIFAR format.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


def _summary(path: Path, data, seconds: float) -> None:
    err.print(f"wrote {path} ({data.name}, {data.num_classes} classes, train {len(data.train)}, "
              f"test {len(data.test)}) in {seconds:.1f} s", highlight=False)


@data_app.command("synthetic")
def synthetic(
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder to write (CIFAR-10 python "
                                 "layout: data_batch_1..5, test_batch, batches.meta)."),
    train: int = typer.Option(50000, help="Training images."),
    test: int = typer.Option(10000, help="Test images."),
    classes: int = typer.Option(10, help="Classes (shape x texture pairs), 2 to 30."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same files."),
    force: bool = typer.Option(False, "--force", help="Replace CIFAR data already in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
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
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder to fetch into (the archive "
                                 "extracts to a folder inside it)."),
    name: str = typer.Option("cifar10", "--name", "-n", help="cifar10 or cifar100."),
    url: Optional[str] = typer.Option(None, help="Fetch from here instead of the official "
                                      "address: a mirror, file:// URL or local path of the "
                                      "official archive (its MD5 is still checked)."),
    force: bool = typer.Option(False, "--force", help="Fetch again over CIFAR data in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
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
        err.print(f"{out_dir} already holds {name} (pass --force to fetch it again)",
                  highlight=False)
        return
    download(name, out_dir, url, force=force, progress=not quiet)
    err.print(f"fetched {name} into {out_dir / archive_for(name).folder} (MD5 checked, every "
              f"batch read back) in {time.perf_counter() - start:.1f} s", highlight=False)


@app.command("train")
def train(
    data: Path = typer.Option(..., "--data", help="Image folder in the CIFAR format (CIFAR-10, "
                              "CIFAR-100 or `trm vision data synthetic`)."),
    variant: str = typer.Option(..., "--variant", help="vit, vitrm, bvit, sr-vit or mor-vit."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Run folder: checkpoint and metrics.jsonl."),
    download: Optional[str] = typer.Option(None, "--download", help="cifar10 or cifar100: fetch "
                                           "it into --data first if it is not there (MD5-checked)."),
    download_url: Optional[str] = typer.Option(None, help="With --download: a mirror, file:// "
                                               "URL or local path of the official archive."),
    preset: str = typer.Option("small", help="cifar (the papers' model and recipe: 1000 epochs, "
                               "RandAugment, mixup/CutMix...) or small (minutes on a CPU)."),
    epochs: Optional[float] = typer.Option(None, help="Passes over the training images (images "
                                           "drawn, however many steps each takes).",
                                           show_default="cifar: 1000"),
    steps: Optional[int] = typer.Option(None, help="Optimizer steps (without --epochs).",
                                        show_default="small: 2000"),
    max_minutes: Optional[float] = typer.Option(None, help="Stop (and checkpoint) after this long."),
    batch_size: Optional[int] = typer.Option(None, help="Images in flight per step.",
                                             show_default="small 128, cifar 256"),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate.", show_default="3e-4"),
    warmup_epochs: Optional[float] = typer.Option(None, help="Linear warmup, in epochs.",
                                                  show_default="cifar: 30; small: 200 steps"),
    min_lr: Optional[float] = typer.Option(None, help="The cosine schedule's floor.",
                                           show_default="cifar: 1e-6; small: lr/10"),
    weight_decay: Optional[float] = typer.Option(None, help="AdamW weight decay.",
                                                 show_default="0.05"),
    betas: Optional[str] = typer.Option(None, help="AdamW betas B1,B2.",
                                        show_default="cifar 0.9,0.999; small 0.9,0.95"),
    mixup: Optional[float] = typer.Option(None, help="Mixup's Beta(a, a) parameter; 0 = off.",
                                          show_default="cifar 0.2, small 0"),
    cutmix: Optional[float] = typer.Option(None, help="CutMix's Beta(a, a) parameter; 0 = off.",
                                           show_default="cifar 1.0, small 0"),
    mix_prob: Optional[float] = typer.Option(None, help="Chance a step's fresh images are mixed.",
                                             show_default="1"),
    switch_prob: Optional[float] = typer.Option(None, help="With mixup and CutMix both on: "
                                                "chance of CutMix.", show_default="0.5"),
    dropout: Optional[float] = typer.Option(None, help="Dropout on each block's outputs.",
                                            show_default="vitrm cifar 0.1, else 0"),
    drop_path: Optional[float] = typer.Option(None, help="Stochastic depth per block.",
                                              show_default="0"),
    layout: Optional[str] = typer.Option(None, help="vitrm: vitrm (the paper's: [x; y; z] "
                                         "concatenated, one answer token, learned starts) or "
                                         "trm (the puzzle TRM's additive layout).",
                                         show_default="vitrm"),
    hidden_size: Optional[int] = typer.Option(None, help="Model width."),
    heads: Optional[int] = typer.Option(None, help="Attention heads."),
    depth: Optional[int] = typer.Option(None, help="vit: independent layers."),
    layers: Optional[int] = typer.Option(None, help="vitrm, bvit, sr-vit, mor-vit: layers of the "
                                         "one shared network (k)."),
    recursions: Optional[int] = typer.Option(None, help="bvit: steps S (12); sr-vit: recursion "
                                             "steps R, 1 to 4; mor-vit: recursion steps."),
    step_embedding: Optional[bool] = typer.Option(None, "--step-embedding/--no-step-embedding",
                                                  help="bvit, sr-vit, mor-vit: add a learned "
                                                  "embedding of the step at each step."),
    capacity: Optional[str] = typer.Option(None, help="mor-vit: share of tokens per step, "
                                           "non-increasing, e.g. 1,0.67,0.33 (default: linear)."),
    routing: Optional[str] = typer.Option(None, help="mor-vit: expert (top-k tokens per step) "
                                          "or token (each token picks its depth)."),
    n: Optional[int] = typer.Option(None, help="vitrm: latent updates per cycle."),
    cycles: Optional[int] = typer.Option(None, "--T", help="vitrm: cycles per supervision step."),
    n_sup: Optional[int] = typer.Option(None, help="vitrm: supervision steps at most."),
    patch_size: Optional[int] = typer.Option(None, help="Patch size (4: 64 patches of a 32x32 image)."),
    pool: Optional[str] = typer.Option(None, help="cls or mean."),
    mixer: Optional[str] = typer.Option(None, help="sr-vit: mlp (a token-wise MLP over all "
                                        "recursions' outputs) or linear (one scorer a step).",
                                        show_default="mlp"),
    mixer_hidden: Optional[int] = typer.Option(None, help="sr-vit: the MLP mixer's width "
                                               "(0: the model width).", show_default="0"),
    router_per_step: Optional[bool] = typer.Option(None, "--router-per-step/--shared-router",
                                                   help="mor-vit: one router per recursion "
                                                   "step (MoR) or one for all.",
                                                   show_default="per step"),
    inactive_keys: Optional[bool] = typer.Option(None, "--inactive-keys/--no-inactive-keys",
                                                 help="mor-vit: tokens that stopped stay "
                                                 "visible as keys and values.",
                                                 show_default="on"),
    unique_ends: Optional[bool] = typer.Option(None, "--unique-ends/--shared-ends",
                                               help="mor-vit: a first and last block of their "
                                               "own around the recursion (MoR's Middle-Cycle).",
                                               show_default="unique"),
    smoothing: Optional[float] = typer.Option(None, help="Label smoothing.", show_default="0"),
    randaugment: Optional[str] = typer.Option(None, help="RandAugment N,M (e.g. 2,9); 0,0 = off.",
                                              show_default="cifar 2,9; small off"),
    device: str = typer.Option("auto", help="auto, cpu, cuda (or cuda:N) or mps."),
    precision: str = typer.Option("auto", help="auto (bf16 where fast), fp32 or bf16."),
    compile: bool = typer.Option(False, "--compile/--no-compile", help="torch.compile the model."),
    seed: Optional[int] = typer.Option(None, help="Random seed."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
    force: bool = typer.Option(False, "--force", help="Start over, deleting the run in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a vision model with trm's loop: deep supervision and halting for vitrm, EMA, periodic evaluation, atomic checkpoints, resume.

    CIFAR-10 or CIFAR-100 is told from the folder's files.

    Examples:
      trm vision data synthetic --out data/shapes --train 20000 --test 2000
      trm vision train --data data/shapes --variant vitrm --out runs/vitrm --max-minutes 10
      trm vision train --data data/cifar10 --variant vitrm --preset cifar --out runs/vitrm-paper --device cuda
      trm vision train --data data/shapes --variant vitrm --layout trm --n-sup 4 --T 2 --out runs/vitrm-trm --epochs 20
      trm vision train --data data/shapes --variant vit --out runs/vit --epochs 20 --mixup 0.2 --cutmix 1.0
      trm vision train --data data/shapes --variant vitrm --out runs/vitrm --resume
      trm vision train --data data/cifar10 --download cifar10 --variant vitrm --out runs/c10
    """
    from trm.errors import TRMError
    from vision.training import train_images

    aug = None
    if randaugment:
        count, magnitude = parse_pair(randaugment, "--randaugment", "N,M (e.g. 2,9)")
        if count != int(count):
            raise TRMError(f"--randaugment wants a whole number of operations, got {randaugment!r}")
        aug = (int(count), magnitude)
    beta1, beta2 = parse_pair(betas, "--betas", "B1,B2 (e.g. 0.9,0.999)") if betas else (None, None)
    model = dict(hidden_size=hidden_size, num_heads=heads, depth=depth, num_layers=layers, n=n,
                 T=cycles, n_sup=n_sup, patch_size=patch_size, pool=pool, recursions=recursions,
                 step_embedding=step_embedding, capacity=parse_capacity(capacity), routing=routing,
                 layout=layout, dropout=dropout, drop_path=drop_path, mixer=mixer,
                 mixer_hidden=mixer_hidden, router_per_step=router_per_step,
                 inactive_keys=inactive_keys, unique_ends=unique_ends)
    check_options(variant, model)
    if download_url and not download:
        raise TRMError("--download-url needs --download cifar10|cifar100")
    if download:
        from vision.download import download as fetch

        fetch(download, data, download_url, progress=not quiet)
    try:
        summary = train_images(
            data, out_dir, variant=variant, preset=preset, model_overrides=model,
            train_overrides=dict(steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                                 weight_decay=weight_decay, beta1=beta1, beta2=beta2),
            recipe=dict(smoothing=smoothing, randaugment=aug, mixup=mixup, cutmix=cutmix,
                        mix_prob=mix_prob, switch_prob=switch_prob),
            epochs=epochs, warmup_epochs=warmup_epochs, min_lr=min_lr, resume=resume,
            force=force, device=device, precision=precision, compile=compile,
            max_minutes=max_minutes, progress=not quiet)
    except KeyboardInterrupt:
        err.print(f"interrupted: checkpoint saved; continue with: trm vision train --data {data} "
                  f"--variant {variant} --out {out_dir} --resume", highlight=False)
        raise typer.Exit(130) from None
    ev = summary.get("eval") or {}
    line = (f"step {summary['step']} in {summary['elapsed'] / 60:.1f} min on {summary['device']} "
            f"({summary['precision']}), {summary['parameters']:,} parameters")
    if ev:
        line += f"; test top-1 {ev['top1']:.3f}, top-5 {ev['top5']:.3f}"
    err.print(line + f"; saved in {summary['out']}", highlight=False)


# the model options each variant takes, besides width, heads, patch size and pooling
VARIANT_OPTIONS = {
    "vit": ("depth",), "vitrm": ("num_layers", "n", "T", "n_sup", "layout"),
    "bvit": ("num_layers", "recursions", "step_embedding"),
    "sr-vit": ("num_layers", "recursions", "step_embedding", "mixer", "mixer_hidden"),
    "mor-vit": ("num_layers", "recursions", "step_embedding", "capacity", "routing",
                "router_per_step", "inactive_keys", "unique_ends"),
}
OPTION_NAMES = {"num_layers": "--layers", "T": "--T", "n_sup": "--n-sup", "step_embedding":
                "--step-embedding", "router_per_step": "--router-per-step/--shared-router",
                "inactive_keys": "--inactive-keys", "unique_ends": "--unique-ends/--shared-ends"}


def check_options(variant: str, model: dict) -> None:
    """Drop the options nobody gave; refuse options the variant does not have."""
    from trm.errors import TRMError
    from vision.models import VARIANTS

    if variant not in VARIANTS:
        raise TRMError(f"unknown variant {variant!r}: choose one of {', '.join(VARIANTS)}")
    common = ("hidden_size", "num_heads", "patch_size", "pool", "dropout", "drop_path")
    given = [k for k, v in model.items() if v is not None]
    foreign = [k for k in given if k not in common and k not in VARIANT_OPTIONS[variant]]
    if foreign:
        names = ", ".join(OPTION_NAMES.get(k, "--" + k.replace("_", "-")) for k in foreign)
        raise TRMError(f"{variant} has no {names} option")
    for k in [k for k, v in model.items() if v is None]:
        del model[k]


def parse_pair(text: str, option: str, want: str) -> tuple[float, float]:
    """Two numbers separated by a comma, e.g. "2,9"."""
    from trm.errors import TRMError

    try:
        first, second = (float(v) for v in text.split(","))
    except ValueError:
        raise TRMError(f"{option} wants {want}, got {text!r}") from None
    return first, second


def parse_capacity(text: Optional[str]) -> Optional[list[float]]:
    from trm.errors import TRMError

    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise TRMError(f"--capacity wants numbers separated by commas, e.g. 1,0.67,0.33; "
                       f"got {text!r}") from None
    return values  # ranges and order are checked by the model's config


@app.command("eval")
def evaluate(
    run: Path = typer.Argument(..., help="Run folder (or checkpoint folder)."),
    data: Path = typer.Option(..., "--data", help="Image folder in the CIFAR format."),
    split: str = typer.Option("test", help="train or test."),
    halting: str = typer.Option("full", help="full (all steps) or adaptive (vitrm: halt per image)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda (or cuda:N) or mps."),
    precision: str = typer.Option("auto", help="auto, fp32 or bf16."),
    batch_size: int = typer.Option(256, help="Images per batch."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
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
    result = evaluate_run(run, data, split=split, halting=halting, device=device,
                          precision=precision, batch_size=batch_size)
    if as_json:
        print_json(result)
        return
    out.print(f"{result['variant']} · top-1 {result['top1']:.4f} · top-5 {result['top5']:.4f} · "
              f"{result['params']:,} parameters · mean steps {result['mean_steps']:.2f} · "
              f"{result['n']} images · {result['images_per_s']:.1f} images/s ({halting} halting)",
              highlight=False)


@app.command("info")
def info(as_json: bool = typer.Option(False, "--json", help="Print JSON only.")) -> None:
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
    table = Table(title="vision variants (CIFAR-10 shape: 32x32, patch 4, 10 classes); "
                        "extra: parameters outside the shared network")
    for col in ("variant", "preset", "parameters", "extra", "GFLOPs / image", "shape"):
        table.add_column(col, justify="right" if col in ("parameters", "extra", "GFLOPs / image")
                         else "left")
    for r in rows:
        c = r["config"]
        shape = shape_text(r["variant"], c)
        table.add_row(r["variant"], r["preset"], f"{r['params']:,}", f"{r['extra_params']:,}",
                      f"{r['flops'] / 1e9:.2f}", shape)
    out.print(table)


@app.command("compare")
def compare(
    data: Path = typer.Option(..., "--data", help="Image folder in the CIFAR format."),
    variants: str = typer.Option("vit,vitrm", help="Comma-separated variants to train in turn."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder: one run per variant "
                                 "(OUT/<variant>/) and compare.json."),
    budget: str = typer.Option("epochs", help="What every variant gets the same of: epochs "
                               "(images seen), time (--max-minutes) or flops (the first "
                               "variant's training FLOPs for --epochs)."),
    epochs: Optional[float] = typer.Option(None, help="Passes over the training images "
                                           "(budgets epochs and flops).", show_default="20"),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes",
                                                help="Training minutes per variant (budget time)."),
    preset: str = typer.Option("small", help="cifar (the papers' scale and recipe) or small "
                               "(minutes on a CPU)."),
    batch_size: int = typer.Option(128, help="Images in flight per step."),
    seed: int = typer.Option(0, help="Random seed (the same for every variant)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda (or cuda:N) or mps."),
    precision: str = typer.Option("auto", help="auto (each variant at the faster of fp32 and "
                                  "bf16 in a timed probe), fp32 or bf16."),
    as_json: bool = typer.Option(False, "--json", help="Print compare.json on stdout only."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
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
    from vision.compare import check_budget, parse_variants
    from vision.compare import compare as run_compare

    names = parse_variants(variants)
    if batch_size < 1:
        raise TRMError("--batch-size must be at least 1")
    if epochs is None and budget != "time":
        epochs = 20.0
    check_budget(budget, epochs, max_minutes)
    try:
        result = run_compare(data, out_dir, names, budget=budget, epochs=epochs,
                             minutes=max_minutes, preset=preset, seed=seed,
                             batch_size=batch_size, device=device, precision=precision,
                             progress=not quiet, log=lambda m: err.print(m, highlight=False))
    except KeyboardInterrupt:
        err.print(f"interrupted: run the same command again to resume ({out_dir})", highlight=False)
        raise typer.Exit(130) from None
    if as_json:
        print_json(result)
        return
    out.print(comparison_table(result))
    err.print(f"wrote {out_dir / 'compare.json'}", highlight=False)


def shape_text(variant: str, c: dict) -> str:
    head = f"width {c['hidden_size']}, "
    if variant == "vit":
        return head + f"depth {c['depth']}"
    if variant == "vitrm":
        return head + (f"k={c['num_layers']}, n={c['n']}, T={c['T']}, n_sup={c['n_sup']}, "
                       f"{c.get('layout', 'trm')} layout")
    text = head + f"k={c['num_layers']}, {c['recursions']} recursions"
    if c.get("step_embedding"):
        text += ", step embedding"
    if variant == "sr-vit":
        text += f", {c.get('mixer', 'linear')} mixer"
    if variant == "mor-vit":
        cap = c.get("capacity")
        text += f", {c['routing']} routing" + (
            f", capacity {','.join(f'{v:g}' for v in cap)}" if cap else ", linear capacity")
        if c.get("unique_ends"):
            text += ", unique first/last blocks"
    return text


def comparison_table(result: dict):
    from rich.table import Table

    d = result["data"]
    budget = result.get("budget", "time")
    if budget == "time":
        what = f"{result.get('minutes') or 0:g} min each"
    elif budget == "flops":
        what = (f"equal training FLOPs ({result['variants'][0]['variant']}'s for "
                f"{result['epochs']:g} epochs)")
    else:
        what = f"{result['epochs']:g} epochs each"
    table = Table(title=f"{d['name']} ({d['classes']} classes, {d['train']} train / {d['test']} "
                        f"test), {what}")
    equal = result.get("equal_epochs")
    columns = ("variant", "parameters", "MFLOPs / image", "precision", "epochs seen", "top-1",
               f"top-1 at {equal:.3g} epochs" if equal is not None else "top-1 at equal epochs",
               "top-5", "train img/s", "eval img/s", "adaptive: top-1, steps, img/s")
    for col in columns:
        table.add_column(col, justify="left" if col in ("variant", "precision") else "right")
    for r in result["variants"]:
        a = r.get("adaptive")
        adaptive = (f"{a['top1']:.3f}, {a['mean_steps']:.2f}, {a['eval_images_per_s']:.0f}"
                    if a else "-")
        at_equal = r.get("top1_at_equal_images")
        table.add_row(r["variant"], f"{r['params']:,}", f"{r['flops'] / 1e6:.1f}",
                      r.get("precision", "-"), f"{r.get('epochs', 0):.2f}", f"{r['top1']:.3f}",
                      "-" if at_equal is None else f"{at_equal:.3f}", f"{r['top5']:.3f}",
                      f"{r['train_images_per_s']:.0f}", f"{r['eval_images_per_s']:.0f}", adaptive)
    return table
