"""`trm import official`: an official TRM checkpoint folder as one of our run folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import err, print_json

app = typer.Typer(help="Bring models made elsewhere into trm run folders.", no_args_is_help=True)


@app.command("official")
def official(
    checkpoint: Annotated[
        Path,
        typer.Argument(
            help="An official checkpoint folder (all_config.yaml "
            "and step_N weights; the latest step is read) or one step_N file."
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run folder to write.")],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="A dataset of the model's task (from `trm data ...`): names the task "
            "and gives the sequence length an attention model's weights do not hold.",
            show_default="needed except for 9x9 Sudoku",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a run already in --out (its own files only).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Import a checkpoint of the official TRM code (SamsungSAILMontreal/TinyRecursiveModels).

    The architecture comes from all_config.yaml, the sizes from the weights' shapes; the
    weights are read with torch.load(weights_only=True) only, and every tensor must be one
    the model needs, with the shape it needs. The run folder works with `trm eval` and
    `trm solve`.

    Examples:
      trm import official checkpoints/sudoku-mlp --out runs/official-sudoku
      trm solve sudoku --checkpoint runs/official-sudoku
      trm import official checkpoints/maze-att --out runs/official-maze --data data/maze-hard
      trm eval runs/official-maze --data data/maze-hard
    """
    from puzzles.training import import_official

    summary = import_official(checkpoint, out_dir, data_dir=data, force=force)
    if as_json:
        print_json(summary)
        return
    m = summary["model"]
    err.print(
        f"imported step {summary['step']} of an official {summary['task']} TRM "
        f"({m['mixer']} mixer, {m['pos_encodings']} positions, hidden {m['hidden_size']}, "
        f"T={m['T']} n={m['n']}, {summary['parameters']:,} parameters + "
        f"{summary['puzzle_embedding']:,} in the puzzle-embedding table) into {summary['out']}",
        highlight=False,
    )
    hint = f" --data {data}" if data is not None else ""
    err.print(f"next: trm eval {out_dir}{hint or ' --data DIR'}", highlight=False)
