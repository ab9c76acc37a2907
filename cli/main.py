"""The `trm` console script: command groups, --version, and the error contract.

Exit status: 0 success, 1 a failed solve or check, 2 bad usage or bad input (a one-line
message, no traceback), 130 interrupted.
"""

from __future__ import annotations

import sys

import typer

from cli import data, pending, solve
from cli.common import err
from trm import __version__
from trm.errors import TRMError

app = typer.Typer(
    name="trm",
    help="Tiny recursive reasoning models: make puzzle data, train, evaluate, and watch a model "
    "solve, offline, on a laptop CPU or a GPU.\n\nExample: trm solve sudoku --exact",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data.app, name="data")
pending.register(app, ["train", "eval"])
app.add_typer(solve.app, name="solve")
pending.register(app, ["vision"])


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    pass


def main() -> None:
    """Entry point: run the app, turning TRMError into a one-line message and exit 2."""
    try:
        app()
    except TRMError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted", highlight=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
