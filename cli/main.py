"""The `trm` console script: command groups, --version, and the error contract.

Exit status: 0 success, 1 a failed solve or check, 2 bad usage or bad input (a one-line
message, no traceback; standard output that cannot be written counts), 130 interrupted
(Ctrl-C), 128 + N stopped by signal N (143: SIGTERM, 129: SIGHUP), handled as Ctrl-C.
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import io
import os
import shutil
import signal
import sys
from typing import Annotated

import click
import typer
import typer.core
from rich.console import Console
from rich.markup import escape

from cli import adapt, data, importer, plot, predict, solve, train, vision
from cli.common import err, flag, out
from trm import __version__
from trm.errors import SettingError, Stopped, TRMError, stop_reason, stop_status

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
adapt.register(app)
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
    _standard_streams()
    Console.on_broken_pipe = _broken_pipe  # rich would exit 1, the failed-solve status
    previous = _handle_stop_signals()
    try:
        try:
            os.getcwd()  # (torch cannot even load without one)
        except FileNotFoundError:
            _fail("the working folder no longer exists: cd to one that does", 2)
        with _help_style() as command, _marks():
            _run(command)
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)


RICH_HELP_COLUMNS = 100  # narrower (80 columns, or piped): the plain help, wrapped to fit


@contextlib.contextmanager
def _help_style():
    """The command, with rich's boxed help where the terminal is wide enough for its
    columns, and click's plain help where it is not: the boxes would cut option names and
    squeeze the help into a few words a line (and hard-wrap piped text mid-line). The plain
    help keeps each example on its own line."""
    command = typer.main.get_command(app)
    _name_arguments(command)
    narrow = shutil.get_terminal_size().columns < RICH_HELP_COLUMNS
    rich = typer.core.HAS_RICH
    if narrow:
        typer.core.HAS_RICH = False
        _keep_examples(command)
    try:
        yield command
    finally:
        typer.core.HAS_RICH = rich


@contextlib.contextmanager
def _marks():
    """The grids' marks as ``NO_COLOR`` says now (the consoles were made at import), and
    the output's lines whole when it is piped."""
    from puzzles import marks

    out.soft_wrap = not out.is_terminal  # piped: whole lines, never re-wrapped mid-line
    with out.use_theme(marks.theme()), err.use_theme(marks.theme()):
        yield


def _commands(command):
    """``command`` and every command under it."""
    yield command
    for sub in getattr(command, "commands", {}).values():
        yield from _commands(sub)


def _keep_examples(command) -> None:
    """Mark each indented block of a help text (the examples) for click to keep as it is
    (a line of its own holding ``\\b`` before it), in ``command`` and those under it."""
    for each in _commands(command):
        if each.help:
            each.help = literal_blocks(each.help)


def _name_arguments(command) -> None:
    """Name every positional argument in capitals (``{RUN}``, ``[PUZZLE]``: required in
    braces, optional in brackets) and no value for a flag, in ``command`` and those under
    it."""
    for each in _commands(command):
        for param in each.params:
            if param.param_type_name == "argument" and param.metavar is None:
                param.metavar = param.name.upper()
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""  # (a flag takes no value: no `<bool>`)
        help_option = each.get_help_option(click.Context(each))  # (made once, then kept)
        if help_option is not None:
            help_option.metavar = ""


def literal_blocks(text: str) -> str:
    """``text`` with ``\\b`` before each run of indented lines, a blank line before that."""
    lines: list[str] = []
    for line in inspect.cleandoc(text).splitlines():
        starts = line.startswith(" ") and line.strip() and not (lines and lines[-1][:1] == " ")
        if starts:
            if lines and lines[-1].strip():
                lines.append("")
            lines.append("\b")
        lines.append(line)
    return "\n".join(lines)


class _Escaped(BaseException):
    """Carries Ctrl-C, a signal or a failed write to standard output past Typer, which would
    turn them into a silent exit 130 or 1, to :func:`_run`."""

    def __init__(self, error: BaseException):
        super().__init__(error)
        self.error = error


def _escaping(method):
    def call(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except (KeyboardInterrupt, OSError) as e:
            raise _Escaped(e) from None

    return call


def _run(command) -> None:
    # parsing (where --help prints) and running: where Typer would catch these
    command.make_context = _escaping(command.make_context)
    command.invoke = _escaping(command.invoke)
    try:
        try:
            status = command.main(prog_name="trm", standalone_mode=False)
            sys.stdout.flush()
        except _Escaped as escaped:
            raise escaped.error from None
    except SettingError as e:  # the library names its setting, we name our flag
        _fail(e.spell(flag), 2)
    except TRMError as e:
        _fail(str(e), 2)
    except KeyboardInterrupt as e:
        _fail(stop_reason(e), stop_status(e))
    except _OutputFailed as e:
        _drop_stdout()
        _fail(f"cannot write to standard output ({e.strerror})", 2)
    except OSError as e:  # a path the system refuses (too long, ...) met outside any check
        if not e.filename:
            raise
        _fail(f"{e.filename}: {e.strerror or e}", 2)
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


def _standard_streams() -> None:
    """Standard streams a program can always write: a closed descriptor 0-2 is opened on
    /dev/null (so that no file trm opens lands on it and gets the output), a failed write to
    standard output (closed, full, its reader gone) is one line and exit 2, and characters
    the terminal's encoding lacks become '?' rather than an error."""
    if sys.stdout is not sys.__stdout__:  # in a test: leave its streams alone
        return
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # takes the lowest free descriptor: this one
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="replace")
    sys.stdout = _Output(sys.stdout)


class _OutputFailed(OSError):
    """A write to standard output failed."""


class _Output(io.TextIOBase):
    """Standard output whose failures are told apart from any other (:class:`_OutputFailed`);
    ``None`` (closed before trm started) fails on the first write."""

    def __init__(self, stream):
        self.stream = stream

    def _fail(self, e: OSError):
        why = "its reader has gone" if isinstance(e, BrokenPipeError) else e.strerror or str(e)
        return _OutputFailed(e.errno, why)

    def write(self, text: str) -> int:
        if self.stream is None:
            raise _OutputFailed(errno.EBADF, "it is closed")
        try:
            return self.stream.write(text)
        except OSError as e:
            raise self._fail(e) from None

    def flush(self) -> None:
        if self.stream is not None:
            try:
                self.stream.flush()
            except OSError as e:
                raise self._fail(e) from None

    def isatty(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def fileno(self) -> int:
        if self.stream is None:
            raise io.UnsupportedOperation("standard output is closed")
        return self.stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str:
        return getattr(self.stream, "errors", None) or "replace"


def _broken_pipe(console) -> None:
    raise _OutputFailed(errno.EPIPE, "its reader has gone")


def _drop_stdout() -> None:
    """Send what is left for standard output nowhere, so exiting does not fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.__stdout__.fileno())


def _handle_stop_signals() -> dict:
    """SIGTERM and SIGHUP stop trm as Ctrl-C does (:class:`trm.errors.Stopped`); once
    stopping, repeats are ignored so that the final checkpoint or clean-up is not cut
    short. Returns the handlers replaced (restored by the caller)."""
    stopping = []

    def stop(signum, frame):
        if not stopping:
            stopping.append(signum)
            raise Stopped(signum)

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            with contextlib.suppress(ValueError):  # not the main thread
                previous[name] = signal.signal(getattr(signal, name), stop)
    return previous


def _fail(message: str, status: int) -> None:
    err.print(
        f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True, emoji=False
    )
    sys.exit(status)


if __name__ == "__main__":
    main()
