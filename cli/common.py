"""Small helpers shared by the commands: consoles, reading PUZZLE arguments, JSON output."""

from __future__ import annotations

import dataclasses
import io
import sys
from pathlib import Path

import typer
from rich.console import Console

from puzzles import marks
from trm.errors import TRMError, stop_reason, stop_status
from trm.jsonfile import read_bounded, strict_json
from trm.staging import OutputFile

# (their grids' marks: puzzles.marks; the entry point takes NO_COLOR as each command starts)
out = Console(theme=marks.theme())  # what the command produces (grids, tables)
err = Console(stderr=True, soft_wrap=True, theme=marks.theme())  # never re-wrapped


# --max-minutes of the training commands (trm.budget)
MAX_MINUTES_HELP = (
    "Fit the run in this many minutes: it times its first steps, then sizes its schedule "
    "(warm-up, cosine to the floor, evaluations) to end in time. With a length (--steps, "
    "--epochs): whichever comes first. A resumed run keeps the schedule it chose and stops here."
)

# options every model-running command takes
DEVICE = typer.Option("--device", help="auto, cpu, cuda (or cuda:N) or mps.")
PRECISION = typer.Option(
    "--precision",
    help="auto (bf16 where the hardware is fast at it, else fp32), fp32 or bf16.",
    envvar="TRM_PRECISION",
)

# settings whose flag is not --name-with-dashes (the rest are)
FLAGS = {
    "num_layers": "--layers",
    "num_heads": "--heads",
    "T": "--T",
    "router_per_step": "--router-per-step/--shared-router",
    "unique_ends": "--unique-ends/--shared-ends",
}


def flag(setting: str) -> str:
    """The command-line flag of a library setting (a config field or an argument)."""
    return FLAGS.get(setting, "--" + setting.replace("_", "-"))


def given_fields(config_cls, options: dict) -> dict:
    """The options that set fields of the dataclass ``config_cls``, by field name: a
    command's parameters are named as the fields they set (their flags may differ: --layers
    sets num_layers); None means not given."""
    names = (f.name for f in dataclasses.fields(config_cls))
    return {name: options[name] for name in names if options.get(name) is not None}


def refuse_options(message: str, **options) -> None:
    """Refuse options given where they do not apply (None, False or empty: not given):
    ``message`` names them where it says ``{flags}`` (all) or ``{first}``."""
    given = [flag(name) for name, v in options.items() if not (v is None or v is False or v == [])]
    if given:
        raise TRMError(message.format(flags=", ".join(given), first=given[0]))


def given_values(**options) -> dict:
    """The options somebody gave (not None): the rest keep the library's defaults."""
    return {k: v for k, v in options.items() if v is not None}


def stopped(e: KeyboardInterrupt, note: str) -> typer.Exit:
    """Say how the interrupted work goes on (``note``); the exit of the interruption (130
    for Ctrl-C, 128 + N for signal N) to raise."""
    err.print(f"{stop_reason(e)}: {note}", highlight=False)
    return typer.Exit(stop_status(e))


def print_json(obj: object) -> None:
    """Machine-readable output: one JSON document on stdout and nothing else, strict JSON
    (:func:`trm.jsonfile.strict_json`)."""
    sys.stdout.write(strict_json(obj) + "\n")
    sys.stdout.flush()


MAX_PUZZLE_BYTES = 16 << 20  # no puzzle, maze or ARC task comes near this


def read_argument_text(value: str, what: str = "PUZZLE") -> tuple[str, str]:
    """The text behind a PUZZLE argument and a name for messages.

    ``-`` reads standard input, the name of an existing file reads that file, anything
    else is the puzzle itself. At most 16 MiB is read from either.
    """
    if value == "-":
        if sys.stdin is None or sys.stdin.closed:
            raise TRMError(f"{what} is '-' but standard input is closed")
        if sys.stdin.isatty():
            raise TRMError(f"{what} is '-' but nothing was piped to standard input")
        text = sys.stdin.read(MAX_PUZZLE_BYTES + 1)
        if len(text) > MAX_PUZZLE_BYTES:
            raise TRMError(f"standard input: larger than {MAX_PUZZLE_BYTES >> 20} MiB; {TOO_BIG}")
        return text, "stdin"
    path = Path(value)
    if len(value) < 256 and "\n" not in value:
        if path.exists():  # read_bounded refuses a folder, a named pipe or a device
            data = read_bounded(path, MAX_PUZZLE_BYTES, TOO_BIG, f"{what.lower()} file")
            try:
                return data.decode("utf-8"), path.name
            except UnicodeDecodeError:
                raise TRMError(f"{path}: not a text file") from None
        if path.suffix.lower() in {".txt", ".json", ".csv", ".sdk", ".ss"}:
            raise TRMError(f"{path}: no such file")
    return value, what.lower()


TOO_BIG = "a puzzle is far smaller"


RECORD_SUFFIXES = (".svg", ".html", ".htm", ".gif")


def output_file(path: Path | None, setting: str, force: bool, suffixes=()) -> OutputFile | None:
    """A result file the command will write (None: not asked for), checked before any
    work: see :class:`trm.staging.OutputFile` (no overwrite without --force, never inside a
    run's or dataset's own files); ``suffixes``: the names it may end in."""
    if path is None:
        return None
    target = OutputFile(path, force=force, setting=setting)
    if suffixes and path.suffix.lower() not in suffixes:
        raise TRMError(f"{flag(setting)} {path}: the file name must end in {' or '.join(suffixes)}")
    return target


def check_record_path(path: Path | None, force: bool = False) -> OutputFile | None:
    """The --record file, refused before any work if we could not or may not write it."""
    return output_file(path, "record", force, RECORD_SUFFIXES)


# --force of the training commands (trm.runs.RunFolder)
MAX_STEPS = typer.Option(
    "--max-steps",
    min=1,
    show_default="the model's own",
    help="Supervision steps at most, for the one pass and every candidate or view; may exceed "
    "training's (the recursion keeps refining). The model's own: its config.json's max_steps, "
    "else the n_sup it was trained with.",
)
FORCE_RUN = typer.Option(
    "--force",
    help="Start over: the run in --out is replaced (its own files only) when the new one "
    "first saves.",
)

# --force for the commands whose only output on disk is a result file
FORCE_OUTPUT = typer.Option("--force", help="Replace the output file if it already exists.")


class Display:
    """What a command shows people: printed on stdout (unless it prints JSON instead), and
    recorded when asked: as one picture (SVG or HTML) of it all, or as an animated GIF of
    its :attr:`frames` (a solve: one a step, then the answer; else one of it all)."""

    def __init__(
        self,
        *,
        show: bool = True,
        record: OutputFile | None = None,
        no_color: bool = False,
        title: str = "trm",
    ):
        self.console = Console(no_color=True if no_color else None, theme=marks.theme(no_color))
        self.console.soft_wrap = not self.console.is_terminal  # piped: lines whole
        self.show, self.record, self.title, self.no_color = show, record, title, no_color
        self.printed: list = []  # (for a GIF without frames: one frame of it all)
        self.frames: list | None = None  # a GIF's frames, when the command has them
        self.recorder = None
        if record is not None:
            self.recorder = Console(
                record=True,
                file=io.StringIO(),
                width=100,
                force_terminal=True,
                color_system="truecolor",
                no_color=no_color,
                theme=marks.theme(no_color),
            )

    def print(self, *renderables, to_screen: bool = True) -> None:
        for r in renderables:
            if self.show and to_screen:
                self.console.print(r, highlight=False)
            if self.recorder is not None:
                self.recorder.print(r, highlight=False)
                self.printed.append(r)

    def save(self) -> None:
        """Write the recording next to its final name, then rename it into place."""
        if self.recorder is None:
            return
        target = self.record
        if target.path.suffix.lower() == ".gif":
            from rich.console import Group

            from puzzles.animate import write_gif

            frames = self.frames or [Group(*self.printed)]
            target.write(lambda tmp: write_gif(frames, tmp, no_color=self.no_color))
            err.print(f"recorded {len(frames)} frames in {target.path}", highlight=False)
            return
        if target.path.suffix.lower() == ".svg":
            text = self.recorder.export_svg(title=self.title)
        else:
            text = self.recorder.export_html(inline_styles=True)
        target.write_text(text)
        err.print(f"recorded the display in {target.path}", highlight=False)


def sampling(
    samples: int,
    *,
    noise: float | None,
    no_augment: bool,
    select: str,
    seed: int,
    lead: bool | None,
    halting: str | None = None,
):
    """The --samples options of `trm solve` and `trm eval` as one
    :class:`puzzles.scaling.Sampling` (``lead`` and ``halting`` None: the library's;
    ``noise`` None: the checkpoint's own, read when it is loaded)."""
    from puzzles.scaling import Sampling

    given = {"lead": lead, "halting": halting}
    return Sampling(
        samples,
        noise=noise,
        views=not no_augment,
        select=select,
        seed=seed,
        **{k: v for k, v in given.items() if v is not None},
    )
