"""Small helpers shared by the commands: consoles, reading PUZZLE arguments, JSON output."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console

from trm.errors import TRMError

out = Console()  # what the command produces (grids, tables)
err = Console(stderr=True, soft_wrap=True)  # progress, notes, warnings: never re-wrapped


def print_json(obj: object) -> None:
    """Machine-readable output: one JSON document on stdout and nothing else."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def read_argument_text(value: str, what: str = "PUZZLE") -> tuple[str, str]:
    """The text behind a PUZZLE argument and a name for messages.

    ``-`` reads standard input, the name of an existing file reads that file, anything
    else is the puzzle itself.
    """
    if value == "-":
        if sys.stdin.isatty():
            raise TRMError(f"{what} is '-' but nothing was piped to standard input")
        return sys.stdin.read(), "stdin"
    path = Path(value)
    if len(value) < 256 and path.is_file():
        try:
            return path.read_text(), path.name
        except UnicodeDecodeError:
            raise TRMError(f"{path}: not a text file") from None
    return value, what.lower()
