"""`trm predict arc`: a Kaggle ARC Prize submission.json from a trained model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.choices import Precision
from cli.common import DEVICE, PRECISION, check_output_folder, err

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
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Answer every test input of an ARC dataset in the Kaggle ARC Prize format: for each
    task id, one {"attempt_1", "attempt_2"} per test input, the two best-voted grids.

    Example:
      trm predict arc runs/arc --data data/arc-kaggle --out submission.json --views 8
    """
    from puzzles.arc.views import submission
    from puzzles.training import predict_run_views
    from trm.staging import write_json

    check_output_folder(out_file, "--out")
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
    write_json(out_file, result)
    inputs = sum(len(v) for v in result.values())
    err.print(
        f"wrote {out_file}: {len(result)} tasks, {inputs} test inputs, 2 attempts each "
        f"({views} views voted per input)",
        highlight=False,
    )
