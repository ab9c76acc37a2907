"""`trm solve ...`: solve one puzzle and show it."""

from __future__ import annotations

import time

import typer

from cli.common import err, out, print_json, read_argument_text

app = typer.Typer(help="Solve one puzzle and show the answer.", no_args_is_help=True)

EXAMPLE_SUDOKU = (
    "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
)


@app.command("sudoku")
def sudoku(
    puzzle: str = typer.Argument(
        EXAMPLE_SUDOKU, show_default="a built-in example",
        help="81 characters ('.' or '0' for blanks; 16/36 for 4x4/6x6), a grid text, a file, "
             "or - for stdin."),
    exact: bool = typer.Option(False, "--exact", help="Use the exact solver (no model)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Solve a Sudoku and show the solution, whether it is unique, and its difficulty rating.

    Examples:
      trm solve sudoku --exact
      trm solve sudoku puzzle.txt --exact
      cat puzzle.txt | trm solve sudoku - --exact --json
    """
    from puzzles.sudoku.grid import parse_puzzle, to_string
    from puzzles.sudoku.render import render_grid
    from puzzles.sudoku.solver import solve
    from trm.errors import TRMError

    if not exact:
        raise TRMError("solving with a trained model is not built yet: use --exact for the exact solver")
    text, where = read_argument_text(puzzle)
    grid = parse_puzzle(text, where)
    start = time.perf_counter()
    result = solve(grid)
    seconds = time.perf_counter() - start
    if result.solution is None:
        raise TRMError(f"{where}: the puzzle has no solution")
    rating = result.rating.to_dict() if result.rating else None
    if as_json:
        print_json({"solution": to_string(result.solution), "unique": result.unique, "rating": rating})
    else:
        out.print(render_grid(result.solution, grid))
        if rating:
            out.print(f"unique solution · {rating['tier']} · {rating['clues']} clues, "
                      f"{rating['guesses']} guesses, {rating['backtracks']} backtracks · "
                      f"{seconds * 1000:.1f} ms", highlight=False)
        else:
            out.print(f"one of several solutions (not rated) · {seconds * 1000:.1f} ms",
                      highlight=False)
    if not result.unique:
        err.print("warning: the puzzle has more than one solution; this is one of them",
                  highlight=False)
