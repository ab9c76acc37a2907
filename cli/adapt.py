"""`trm adapt`: teach an ARC model tasks it never saw, from their demonstration pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.choices import AdaptInit, Precision, Trainable
from cli.common import DEVICE, FORCE_RUN, MAX_MINUTES_HELP, PRECISION, err, stopped
from trm.config import ADAPT_LR_DIVISOR, ADAPT_STEPS


def adapt(
    run: Annotated[Path, typer.Argument(help="Run folder (or checkpoint folder) of an ARC model.")],
    data: Annotated[
        Path, typer.Option("--data", help="ARC dataset (trm data arc) holding the new tasks.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder of the adapted model.")],
    trainable: Annotated[
        Trainable,
        typer.Option(
            "--train",
            help="What learns: embeddings (the new tasks' puzzle ids, network frozen: the "
            "known tasks answer exactly as before) or all (the network too, at --lr).",
        ),
    ] = "embeddings",
    steps: Annotated[
        int | None,
        typer.Option(
            help="Optimizer steps.", show_default=f"{ADAPT_STEPS}, or what --max-minutes fits"
        ),
    ] = None,
    max_minutes: Annotated[float | None, typer.Option(help=MAX_MINUTES_HELP)] = None,
    patience: Annotated[
        int,
        typer.Option(
            help="Stop when the held-out score has not improved for this many evaluations, "
            "or is perfect (0: never stop early)."
        ),
    ] = 0,
    holdout: Annotated[
        bool,
        typer.Option(
            "--holdout/--no-holdout",
            help="Hold the last demonstration of each task (with two or more) out of "
            "training and score the run by predicting it (views, vote): no test output "
            "is ever read.",
        ),
    ] = True,
    views: Annotated[int, typer.Option(help="Augmented views per held-out demo, voted.")] = 8,
    eval_every: Annotated[int, typer.Option(help="Steps between held-out scores.")] = 100,
    init: Annotated[
        AdaptInit, typer.Option(help="New puzzle ids start at the mean of the known ones, or zero.")
    ] = "mean",
    emb_lr: Annotated[
        float | None,
        typer.Option(help="Learning rate of the new embeddings.", show_default="the run's"),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            help="Learning rate of the network (--train all).",
            show_default=f"the run's / {ADAPT_LR_DIVISOR}",
        ),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Examples per step.", show_default="the run's")
    ] = None,
    all_tasks: Annotated[
        bool,
        typer.Option("--all-tasks", help="Learn new ids for every task, also those the run knows."),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the draws and augmentations.")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue the adaptation in --out.")] = False,
    force: Annotated[bool, FORCE_RUN] = False,
    device: Annotated[str, DEVICE] = "auto",
    precision: Annotated[Precision, PRECISION] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Adapt an ARC model to the tasks of a dataset it has no puzzle ids for: each such task
    gets new ids (one per augmentation, appended: the known ids keep their rows), learned
    from its demonstration pairs only. The test outputs are never read. The adapted run
    answers the new tasks with trm eval / trm predict arc, and the old ones as before.

    Example:
      trm data arc --source my_tasks/ --out data/new --augment 64
      trm adapt runs/arc --data data/new --out runs/arc-new --max-minutes 10 --patience 5
      trm predict arc runs/arc-new --data data/new --out submission.json
    """
    from puzzles.arc.adapt import adapt_run

    if steps is not None and steps < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--steps")
    try:
        summary = adapt_run(
            run,
            data,
            out,
            trainable=trainable,
            steps=steps,
            max_minutes=max_minutes,
            patience=patience,
            views=views,
            holdout=holdout,
            init=init,
            lr=lr,
            emb_lr=emb_lr,
            batch_size=batch_size,
            eval_every=eval_every,
            seed=seed,
            all_tasks=all_tasks,
            resume=resume,
            force=force,
            device=device,
            precision=precision,
            progress=not quiet,
            log=lambda message: err.print(message, highlight=False),
        )
    except KeyboardInterrupt as e:
        raise stopped(
            e,
            f"checkpoint saved; continue with: trm adapt {run} --data {data} --out {out} --resume",
        ) from None
    err.print(adapted_line(summary), highlight=False)
    err.print(
        f"predict: trm predict arc {out} --data {data} --out submission.json", highlight=False
    )


def adapted_line(summary: dict) -> str:
    ev = summary.get("eval") or {}
    how = "stopped early" if summary.get("stopped_early") else f"of {summary['steps']}"
    line = (
        f"step {summary['step']} ({how}) in {summary['elapsed'] / 60:.1f} min on "
        f"{summary['device']}: {summary['new_tasks']} task(s) learned from "
        f"{summary['trained_demos']} demos"
    )
    if ev:
        line += (
            f"; held-out demos ({summary['held_out']}): pass@1 {ev['exact_accuracy']:.3f}, "
            f"pass@2 {ev['pass@2']:.3f}"
        )
    return line + f"; saved in {summary['out']}"


def register(app: typer.Typer) -> None:
    app.command("adapt")(adapt)
