"""`trm predict arc`: a Kaggle ARC Prize submission.json from a trained model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.choices import Precision
from cli.common import DEVICE, FORCE_OUTPUT, PRECISION, err, output_file

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
    force: Annotated[bool, FORCE_OUTPUT] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Answer every test input of an ARC dataset in the Kaggle ARC Prize format: for each
    task id, one {"attempt_1", "attempt_2"} per test input, the two best-voted grids.

    Example:
      trm predict arc runs/arc --data data/arc-kaggle --out submission.json --views 8
    """
    from puzzles.arc.views import submission
    from puzzles.training import predict_run_views

    target = output_file(out_file, "out", force)
    predicted = predict_run_views(
        run,
        data,
        views,
        split=split,
        device=device,
        precision=precision,
        batch_size=batch_size,
        progress=not quiet,
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
