"""`trm train` and `trm eval`: thin wrappers over puzzles.training and puzzles.evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.choices import (
    ExplorationDraw,
    Loss,
    Mixer,
    MixerNorm,
    Optimizer,
    PosEncodings,
    Precision,
    Preset,
    Schedule,
)
from cli.common import (
    DEVICE,
    FORCE_RUN,
    MAX_MINUTES_HELP,
    MAX_STEPS,
    PRECISION,
    err,
    given_fields,
    out,
    output_file,
    print_json,
    sampling,
    stopped,
)
from cli.defaults import show_preset_defaults
from trm.budget import AUTO_COMPILE_MINUTES
from trm.staging import OutputFile


def train(
    data: Annotated[Path, typer.Option("--data", help="Dataset folder (from `trm data ...`).")],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Run folder: checkpoint and metrics.jsonl.")
    ],
    preset: Annotated[
        Preset | None,
        typer.Option(
            help="sudoku, maze, arc (the official models and recipes), sudoku-small, maze-cpu "
            "(the CPU recipes) or tiny.",
            show_default="on a CPU the task's CPU recipe (sudoku-small, maze-cpu), else the "
            "official one",
        ),
    ] = None,
    device: Annotated[str, DEVICE] = "auto",
    precision: Annotated[Precision, PRECISION] = "auto",
    compile: Annotated[
        bool | None,
        typer.Option(
            "--compile/--no-compile",
            help="torch.compile the training step (1.2x faster on a CPU, after 30-90 s).",
            show_default=f"auto: on CUDA, and on a CPU for --max-minutes "
            f"{AUTO_COMPILE_MINUTES:g} or more",
        ),
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(help="Optimizer steps (the LR schedule spans them)."),
    ] = None,
    max_minutes: Annotated[
        float | None,
        typer.Option(help=MAX_MINUTES_HELP),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    force: Annotated[bool, FORCE_RUN] = False,
    init: Annotated[
        Path | None,
        typer.Option(
            "--init",
            help="Start from this checkpoint's model and weights (a run, checkpoint or "
            "model folder): fine-tuning, with a fresh optimizer, schedule and step count.",
        ),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Examples in flight per step.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    warmup: Annotated[int | None, typer.Option(help="Warmup steps.")] = None,
    schedule: Annotated[Schedule | None, typer.Option(help="cosine or constant.")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="Weight decay.")] = None,
    optimizer: Annotated[
        Optimizer | None,
        typer.Option(
            help="adam-atan2, adamw, or muon (Muon for the network's weight matrices, adam-atan2 for the rest)."
        ),
    ] = None,
    puzzle_emb_lr: Annotated[
        float | None, typer.Option(help="Learning rate of puzzle embeddings.")
    ] = None,
    puzzle_emb_weight_decay: Annotated[
        float | None, typer.Option(help="Weight decay of puzzle embeddings.")
    ] = None,
    min_lr_ratio: Annotated[
        float | None,
        typer.Option(help="Cosine schedule's end, as a share of the peak learning rate."),
    ] = None,
    grad_clip: Annotated[float | None, typer.Option(help="Max gradient norm (0: none).")] = None,
    atan2_scale: Annotated[
        float | None,
        typer.Option(help="a in adam-atan2's a*atan2(m, sqrt(v)) (1: the official adam-atan2)."),
    ] = None,
    ema: Annotated[float | None, typer.Option(help="EMA decay (0: no EMA).")] = None,
    ema_warmup: Annotated[
        bool | None,
        typer.Option(
            "--ema-warmup/--no-ema-warmup",
            help="Lower EMA decay early in a run (off: the official constant decay).",
        ),
    ] = None,
    exploration_draw: Annotated[
        ExplorationDraw | None,
        typer.Option(
            help="Halting exploration's minimum steps: once per example, or every-step (official)."
        ),
    ] = None,
    augment: Annotated[
        bool | None, typer.Option("--augment/--no-augment", help="On-the-fly augmentation.")
    ] = None,
    depth_curriculum: Annotated[
        float | None,
        typer.Option(
            help="Share of the run recursing shallower (CGAR: 0.6): its first half at a third "
            "of --n and --T, its second at two thirds, then full depth; 0: off."
        ),
    ] = None,
    eval_every: Annotated[int | None, typer.Option(help="Steps between evaluations.")] = None,
    eval_max: Annotated[
        int | None, typer.Option(help="Test examples per evaluation (0: all).")
    ] = None,
    checkpoint_every: Annotated[int | None, typer.Option(help="Steps between checkpoints.")] = None,
    log_every: Annotated[int | None, typer.Option(help="Steps between metrics lines.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    hidden_size: Annotated[int | None, typer.Option(help="Model width.")] = None,
    num_heads: Annotated[int | None, typer.Option("--heads", help="Attention heads.")] = None,
    num_layers: Annotated[
        int | None, typer.Option("--layers", help="Layers of the network f.")
    ] = None,
    mixer: Annotated[Mixer | None, typer.Option(help="attention or mlp.")] = None,
    n: Annotated[int | None, typer.Option("--n", help="Latent updates per cycle.")] = None,
    T: Annotated[int | None, typer.Option("--T", help="Cycles per supervision step.")] = None,
    n_sup: Annotated[int | None, typer.Option(help="Supervision steps at most.")] = None,
    loss: Annotated[Loss | None, typer.Option(help="softmax or stablemax.")] = None,
    puzzle_emb_len: Annotated[
        int | None, typer.Option(help="Puzzle-embedding prefix tokens.")
    ] = None,
    puzzle_emb_ndim: Annotated[
        int | None,
        typer.Option(
            help="Learned floats per puzzle id, zero-padded over the prefix (official: hidden size).",
            show_default="the whole prefix",
        ),
    ] = None,
    pos_encodings: Annotated[
        PosEncodings | None, typer.Option(help="Attention positions: rope, learned or none.")
    ] = None,
    width_multiple: Annotated[
        int | None,
        typer.Option(help="Round SwiGLU widths up to a multiple of this (official 256, ours 8)."),
    ] = None,
    mixer_norm: Annotated[
        MixerNorm | None,
        typer.Option(
            help="MLP mixer's norm after token mixing: over the sequence (official) or hidden axis."
        ),
    ] = None,
    halt_outputs: Annotated[
        int | None,
        typer.Option(help="Halting head outputs: 1, or 2 (halt and continue logits, official)."),
    ] = None,
    halt_exploration: Annotated[
        float | None, typer.Option(help="Halting exploration probability.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train a TRM with deep supervision, adaptive halting and EMA.

    Options override the preset. Ctrl-C saves a checkpoint; --resume goes on from it.

    Examples:
      trm train --data data/sudoku4 --out runs/s4 --preset tiny --steps 500
      trm train --data data/sudoku-medium --out runs/small --preset sudoku-small --max-minutes 30
      trm train --data data/sudoku-medium --out runs/small --resume
      trm train --data data/sudoku-extreme --out runs/tuned --preset sudoku-small --init puzzles/sudoku/default_model --lr 3e-4
      torchrun --standalone --nproc_per_node 2 -m cli.main train --data data/sudoku4 --out runs/ddp
    """
    from puzzles.training import train_on_dataset
    from trm.config import TrainConfig, TRMConfig

    options = locals()  # the parameters are named as the config fields they set
    model, train_opts = given_fields(TRMConfig, options), given_fields(TrainConfig, options)
    try:
        summary = train_on_dataset(
            data,
            out_dir,
            preset=preset,
            model_overrides=model,
            train_overrides=train_opts,
            resume=resume,
            force=force,
            device=device,
            precision=precision,
            compile=compile,
            max_minutes=max_minutes,
            progress=not quiet,
            init=init,
            log=lambda message: err.print(message, highlight=False),
        )
    except KeyboardInterrupt as e:
        raise stopped(
            e, f"checkpoint saved; continue with: trm train --data {data} --out {out_dir} --resume"
        ) from None
    if not summary["main"]:
        return  # under torchrun, one process reports
    ev = summary.get("eval") or {}
    where = summary["device"] + (f" x{summary['processes']}" if summary["processes"] > 1 else "")
    step = f"step {summary['step']}"
    if not summary["finished"]:  # stopped by --max-minutes before the schedule's end
        step += f" of {summary['steps']}"
    line = (
        f"{step} in {summary['elapsed'] / 60:.1f} min on {where} "
        f"({summary['precision']}), {summary['parameters']:,} parameters"
    )
    if ev:
        line += f"; test exact {ev['exact_accuracy']:.3f}, cell {ev['cell_accuracy']:.3f}"
    err.print(line + f"; saved in {summary['out']}", highlight=False)
    err.print(next_steps(summary, data), highlight=False)


def next_steps(summary: dict, data: Path) -> str:
    """What to run after `trm train`: go on with a stopped run, evaluate, solve with it."""
    run = summary["out"]
    lines = []
    if not summary["finished"]:
        lines.append(
            f"stopped by the time limit; continue with: trm train --data {data} --out {run} --resume"
        )
    lines.append(f"evaluate: trm eval {run} --data {data}")
    if summary["task"] == "arc":  # (an ARC solve needs the task, by id or file)
        lines.append(f"solve one: trm solve arc TASK -c {run}  (TASK: a task id or JSON file)")
    else:
        lines.append(f"solve one: trm solve {summary['task']} -c {run}")
    return "\n".join(lines)


def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder (or checkpoint folder).")],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="Dataset folder.", show_default="the one the run was trained on"
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="Split to evaluate.")] = "test",
    halting: Annotated[
        str | None,
        typer.Option(
            help="full (all steps), adaptive (an example stops when its halting head says "
            "halt and its answer is the step before's) or head (the head alone, as training "
            "halts); with --samples: verified (a puzzle stops at its first candidate that "
            "passes the checker) or full.",
            show_default="full; verified with --samples",
        ),
    ] = None,
    device: Annotated[str, DEVICE] = "auto",
    precision: Annotated[Precision, PRECISION] = "auto",
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Examples per batch (candidate rows with --samples).",
            show_default="sized to the device (on a CPU: a batch whose state stays near "
            "its caches)",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="Evaluate only the first N examples (0: all).")] = 0,
    views: Annotated[
        int | None,
        typer.Option(
            "--views",
            help="ARC: run K augmented views of each test input (the task's own "
            "list, identity first), map them back and vote; report pass@k.",
        ),
    ] = None,
    per_task: Annotated[
        Path | None,
        typer.Option(
            "--per-task",
            help="With --views: write each task's results (votes, candidates) to this JSON file.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the --per-task file if it already exists.")
    ] = False,
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples",
            "-k",
            help="Sudoku, mazes: run K candidates per puzzle (augmented "
            "views, identity first, and/or noisy starts) and pick the one that passes the task's "
            "checker; reports the model alone and with the checker, on the same puzzles.",
        ),
    ] = None,
    noise: Annotated[
        float | None,
        typer.Option(
            "--noise",
            show_default="the checkpoint's own, else none",
            help="With --samples: standard deviation of "
            "the noise added to the starting state of candidates 2..K.",
        ),
    ] = None,
    no_augment: Annotated[
        bool,
        typer.Option(
            "--no-augment",
            help="With --samples: every "
            "candidate sees the puzzle as given (noise tells them apart).",
        ),
    ] = False,
    select: Annotated[
        str,
        typer.Option(
            "--select",
            help="With --samples: checker (first "
            "verified, else the vote), vote, or confidence (no checker).",
        ),
    ] = "checker",
    seed: Annotated[
        int, typer.Option("--seed", help="With --samples: seed of the views and noise.")
    ] = 0,
    lead: Annotated[
        bool | None,
        typer.Option(
            "--lead/--lockstep",
            show_default="lead",
            help="With --samples and verified halting: the puzzle as given runs alone first, "
            "the other candidates only for the puzzles it does not solve (lead), or all of "
            "them together (lockstep). The same answers; lead is faster where one pass solves "
            "many.",
        ),
    ] = None,
    skip_empty: Annotated[
        bool,
        typer.Option(
            "--skip-empty",
            help="With --views: a view whose canvas holds no grid does not "
            "vote (ours). Default: it votes for the empty answer, as the official evaluator counts "
            "it (never right, but it can take one of the first places).",
        ),
    ] = False,
    max_steps: Annotated[int | None, MAX_STEPS] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Evaluate a trained TRM: accuracy, supervision steps, speed; ARC pass@k with --views.

    Reports exact and cell accuracy, the supervision steps used and examples/s; on ARC,
    --views K votes over K augmented views of each test input and reports pass@1, pass@2, ...

    Examples:
      trm eval runs/s4                       (on the data it was trained on)
      trm eval runs/s4 --data data/sudoku4
      trm eval runs/small --data data/top95 --halting adaptive --json
      trm eval runs/arc --data data/arc1 --views 8 --per-task runs/arc/per_task.json
      trm eval runs/official-arc --data data/official-arc --views 1001
      trm eval runs/small --data data/top95 --samples 16
      trm eval runs/small --data data/top95 --max-steps 32 --halting adaptive
    """
    from puzzles.evaluation import evaluate_run, recorded_dataset
    from trm.errors import TRMError

    if data is None:
        data = recorded_dataset(run)
        err.print(f"data: {data} (the run's own)", highlight=False)
    if limit < 0:
        raise TRMError("--limit must be >= 0")
    if (per_task is not None or skip_empty) and views is None:
        raise TRMError(
            f"{'--per-task' if per_task is not None else '--skip-empty'} goes with --views"
        )
    if samples is None and (noise or no_augment or select != "checker" or seed or lead is not None):
        raise TRMError(
            "--noise, --no-augment, --select, --seed and --lead/--lockstep go with --samples K"
        )
    if views is not None and halting is not None:
        raise TRMError("--halting does not go with --views (every view runs all its steps)")
    if samples is not None:
        if views is not None:
            raise TRMError("--samples (Sudoku, mazes) and --views (ARC) do not go together")
        options = dict(noise=noise, no_augment=no_augment, select=select, seed=seed, lead=lead)
        _evaluate_samples(
            run,
            data,
            sampling(samples, halting=halting, **options),
            split=split,
            device=device,
            precision=precision,
            batch_size=batch_size,
            limit=limit,
            as_json=as_json,
            max_steps=max_steps,
        )
        return
    halting = halting or "full"
    if views is not None:
        _evaluate_views(
            run,
            data,
            views,
            split=split,
            device=device,
            precision=precision,
            batch_size=batch_size,
            limit=limit,
            per_task=output_file(per_task, "per_task", force),
            as_json=as_json,
            skip_empty=skip_empty,
            max_steps=max_steps,
        )
        return
    result = evaluate_run(
        run,
        data,
        split=split,
        halting=halting,
        device=device,
        precision=precision,
        batch_size=batch_size,
        limit=limit,
        max_steps=max_steps,
    )
    summary = result.summary()
    if as_json:
        print_json(summary)
        return
    out.print(
        f"exact accuracy {summary['exact_accuracy']:.4f} · cell accuracy "
        f"{summary['cell_accuracy']:.4f} · mean steps {summary['mean_steps']:.2f} of "
        f"{summary['max_steps']} · "
        f"{summary['n']} examples · {summary['examples_per_s']:.1f} examples/s "
        f"({halting} halting)",
        highlight=False,
    )


def _evaluate_samples(
    run: Path,
    data: Path,
    chosen,
    *,
    split: str,
    device: str,
    precision: str,
    batch_size: int | None,
    limit: int,
    as_json: bool,
    max_steps: int | None,
) -> None:
    """`trm eval --samples`: ``chosen`` (a :class:`puzzles.scaling.Sampling`) on the run."""
    from puzzles.evaluation import evaluate_run_samples
    from puzzles.scaling import describe

    r = evaluate_run_samples(
        run,
        data,
        chosen,
        split=split,
        device=device,
        precision=precision,
        batch_size=batch_size,
        limit=limit,
        max_steps=max_steps,
    )
    if as_json:
        print_json(r)
        return
    one, s = r["one_pass"], r["scaled"]
    kind = describe(s["views"], s["noise"])
    out.print(
        f"model alone (one pass): exact {one['exact_accuracy']:.4f}"
        + (f" · passes the checker {one['checker_passed']:.4f}" if "checker_passed" in one else "")
        + f" · {one['puzzles_per_s']:.1f} puzzles/s",
        highlight=False,
    )
    out.print(
        f"with {chosen.samples} candidates ({kind}; select {s['select']}, {s['halting']} halting"
        f"{', lead' if s['lead'] else ''}): "
        f"exact {s['exact_accuracy']:.4f}"
        + (f" · verified {s['verified']:.4f}" if "verified" in s else "")
        + f" · mean steps per candidate {s['mean_steps']:.2f} of {r['max_steps']} · "
        f"{s['candidates']} candidates · {s['puzzles_per_s']:.2f} puzzles/s "
        f"({r['n']} puzzles)",
        highlight=False,
    )


def _evaluate_views(
    run: Path,
    data: Path,
    views: int,
    *,
    split: str,
    device: str,
    precision: str,
    batch_size: int | None,
    limit: int,
    per_task: OutputFile | None,
    as_json: bool,
    skip_empty: bool,
    max_steps: int | None,
) -> None:
    from puzzles.evaluation import evaluate_run_views

    result = evaluate_run_views(
        run,
        data,
        views,
        split=split,
        device=device,
        precision=precision,
        batch_size=batch_size,
        limit=limit,
        progress=not as_json,
        skip_empty=skip_empty,
        max_steps=max_steps,
    )
    if per_task is not None:
        per_task.write_json({"summary": result.summary(), "tasks": result.per_task})
    summary = result.summary()
    if as_json:
        print_json(summary)
        return
    scores = " · ".join(f"pass@{k} {v:.4f}" for k, v in result.pass_at.items())
    out.print(
        f"{scores} · {summary['tasks']} tasks, {summary['test_inputs']} test inputs, "
        f"{summary['views']} views each" + (", views without a grid skipped" if skip_empty else ""),
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    # each option a preset sets shows the presets' values (puzzle_emb_ndim: its own words)
    app.command("train")(show_preset_defaults(train, keep=("puzzle_emb_ndim",)))
    app.command("eval")(evaluate)


__all__ = ["register"]
