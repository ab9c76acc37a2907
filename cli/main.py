"""The `trm` console script: command groups, --version, and the error contract.

Exit status: 0 success, 1 a failed solve or check, 2 bad usage or bad input (a one-line
message, no traceback), 130 interrupted.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from cli import data, importer, plot, predict, solve, train, vision
from cli.common import err, flag
from trm import __version__
from trm.errors import SettingError, TRMError

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
train.register(app)
app.add_typer(solve.app, name="solve")
app.add_typer(vision.app, name="vision")
app.add_typer(importer.app, name="import")
app.add_typer(predict.app, name="predict")
plot.register(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    pass


def main() -> None:
    """Entry point: run the app with the exit-status contract and one-line errors.

    Click's own usage errors (a missing option, a bad number) are shown on one line too,
    instead of the usual box.
    """
    command = typer.main.get_command(app)
    try:
        status = command.main(prog_name="trm", standalone_mode=False)
    except SettingError as e:  # the library names its setting, we name our flag
        _fail(e.spell(flag), 2)
    except TRMError as e:
        _fail(str(e), 2)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as e:  # click's UsageError and friends carry their own exit code
        if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):
            raise
        message = e.format_message().replace("Value error, ", "")  # (Typer on a bad choice)
        if not message:  # e.g. `trm` alone: the help was printed, nothing to add
            sys.exit(e.exit_code)
        ctx = getattr(e, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _fail(f"{message}{hint}", e.exit_code)
    sys.exit(status if isinstance(status, int) else 0)


def _fail(message: str, status: int) -> None:
    err.print(
        f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True, emoji=False
    )
    sys.exit(status)


if __name__ == "__main__":
    main()
