"""`trm predict arc`: a Kaggle ARC Prize submission.json from a trained model."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from cli.choices import Precision
from cli.common import (
    DEVICE,
    FORCE_OUTPUT,
    MAX_MINUTES_HELP,
    MAX_STEPS,
    PRECISION,
    err,
    output_file,
    refuse_options,
)
from trm.config import ADAPT_STEPS

app = typer.Typer(help="Write a model's answers in a competition's format.", no_args_is_help=True)


@app.command("arc")
def arc(
    run: Annotated[Path, typer.Argument(help="Run folder (or checkpoint folder) of an ARC model.")],
    data: Annotated[Path, typer.Option("--data", help="The ARC dataset it was trained on.")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="submission.json to write.")],
    views: Annotated[
        int, typer.Option("--views", help="Augmented views per test input, voted.")
    ] = 8,
    split: Annotated[
        str | None,
        typer.Option(
            help="Split to answer.", show_default="predict if the dataset has it, else test"
        ),
    ] = None,
    device: Annotated[str, DEVICE] = "auto",
    precision: Annotated[Precision, PRECISION] = "auto",
    batch_size: Annotated[int, typer.Option(help="Views per batch.")] = 256,
    max_steps: Annotated[int | None, MAX_STEPS] = None,
    force: Annotated[bool, FORCE_OUTPUT] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    adapt: Annotated[
        bool,
        typer.Option(
            "--adapt",
            help="First learn puzzle ids for the tasks the run never saw, from their "
            "demonstration pairs (trm adapt, network frozen); known tasks keep theirs.",
        ),
    ] = False,
    max_minutes: Annotated[float | None, typer.Option(help="--adapt: " + MAX_MINUTES_HELP)] = None,
    adapt_steps: Annotated[
        int | None, typer.Option(help="--adapt: optimizer steps.", show_default=str(ADAPT_STEPS))
    ] = None,
    patience: Annotated[
        int,
        typer.Option(help="--adapt: stop when the held-out demos' score stalls this many times."),
    ] = 0,
    adapt_out: Annotated[
        Path | None,
        typer.Option(
            help="--adapt: keep the adapted run in this folder (resumable; reused by later "
            "predictions).",
            show_default="a temporary folder, removed",
        ),
    ] = None,
) -> None:
    """Answer every test input of an ARC dataset in the Kaggle ARC Prize format: for each
    task id, one {"attempt_1", "attempt_2"} per test input, the two best-voted grids.
    With --adapt, tasks the model never saw are learned from their demonstrations first
    (their test outputs are never read).

    Example:
      trm predict arc runs/arc --data data/arc-kaggle --out submission.json --views 8
      trm predict arc runs/arc --data data/hidden --adapt --max-minutes 30 --out submission.json
    """
    from puzzles.arc.views import submission
    from puzzles.evaluation import predict_run_views

    target = output_file(out_file, "out", force)
    if not adapt:
        refuse_options(
            "{flags}: goes with --adapt",
            max_minutes=max_minutes,
            adapt_steps=adapt_steps,
            patience=patience or None,
            adapt_out=adapt_out,
        )
    with _adapted(
        run, data, adapt, adapt_out, max_minutes, adapt_steps, patience, device, precision, quiet
    ) as run:
        predicted = predict_run_views(
            run,
            data,
            views,
            split=split,
            device=device,
            precision=precision,
            batch_size=batch_size,
            progress=not quiet,
            max_steps=max_steps,
        )
    result = submission(predicted)
    target.write_json(result)
    inputs = sum(len(v) for v in result.values())
    voted = predicted.views.k  # fewer than asked when the tasks have no more augmentations
    fewer = f": the dataset holds no more; --views asked {views:,}" if voted < views else ""
    err.print(
        f"wrote {out_file}: {len(result)} tasks, {inputs} test inputs, 2 attempts each "
        f"({voted} view{'s' * (voted != 1)} voted per input{fewer})",
        highlight=False,
    )


@contextlib.contextmanager
def _adapted(run, data, adapt, adapt_out, max_minutes, steps, patience, device, precision, quiet):
    """The run to predict with: ``run``, or with ``adapt`` the run adapted to ``data``'s new
    tasks (:func:`puzzles.arc.adapt.adapted_to`)."""
    if not adapt:
        yield run
        return
    from puzzles.arc.adapt import adapted_to

    log = lambda message: err.print(message, highlight=False)
    with adapted_to(
        run,
        data,
        keep=adapt_out,
        steps=steps,
        max_minutes=max_minutes,
        patience=patience,
        device=device,
        precision=precision,
        progress=not quiet,
        log=log,
    ) as (folder, summary):
        if summary is None:
            log(f"{run} knows every task of {data}: nothing to adapt")
        yield folder
