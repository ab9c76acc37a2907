"""`trm plot`: learning curves of runs as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import FORCE_OUTPUT, err, output_file


def register(app: typer.Typer) -> None:
    app.command("plot")(plot)


def plot(
    runs: Annotated[
        list[Path], typer.Argument(help="Run folders (or metrics.jsonl files): puzzle or vision.")
    ],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")] = Path(
        "curves.png"
    ),
    force: Annotated[bool, FORCE_OUTPUT] = False,
) -> None:
    """Draw learning curves (training loss, accuracy with the periodic evaluations, supervision steps at halt) of one or more runs into one PNG.

    Examples:
      trm plot runs/default-sudoku --out docs/sudoku-curves.png
      trm plot runs/compare/vit runs/compare/vitrm --out curves.png
    """
    from trm.plot import plot_runs

    path = plot_runs(runs, output_file(out_file, "out", force, (".png",)))
    err.print(f"wrote {path} ({len(runs)} run{'s' if len(runs) != 1 else ''})", highlight=False)
