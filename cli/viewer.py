"""Step through a list of frames in the terminal: forward, back, auto-play, quit.

Keys are read one at a time from the terminal (POSIX, cbreak mode; restored on exit) and
the frames are drawn on the alternate screen, so the shell's scrollback is left as it was.
"""

from __future__ import annotations

import os
import select
import sys
from collections.abc import Sequence

from rich.console import Console, Group, RenderableType
from rich.text import Text

KEYS = "→ n space: next · ← p: back · g/G: first/last · a: auto-play · q: quit"
ARROWS = {
    "[C": "right",
    "[D": "left",
    "OC": "right",
    "OD": "left",
    "[H": "home",
    "[F": "end",
    "OH": "home",
    "OF": "end",
}


def open_terminal():
    """A file for reading keys, or None when there is no terminal to talk to."""
    if not sys.stdout.isatty():
        return None
    if sys.stdin.isatty():
        return sys.stdin
    try:  # the puzzle came through a pipe: keys can still come from the terminal
        return open("/dev/tty", "rb", buffering=0)
    except OSError:
        return None


def read_key(fd: int, timeout: float | None) -> str | None:
    """One key press ('right', 'left', 'home', 'end', 'esc' or the character); None on timeout."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return None
    first = os.read(fd, 1)
    if first != b"\x1b":
        return first.decode(errors="ignore")
    rest = b""
    while len(rest) < 8 and select.select([fd], [], [], 0.03)[0]:
        rest += os.read(fd, 1)
    return ARROWS.get(rest.decode(errors="ignore"), "esc")


def next_index(key: str, index: int, count: int, playing: bool) -> tuple[int | None, bool]:
    """The frame to show after ``key`` (None: quit) and whether auto-play is on."""
    if key in ("q", "Q", "esc", "\x04"):
        return None, playing
    if key in ("right", "n", "l", " ", "\r", "\n"):
        return min(index + 1, count - 1), False
    if key in ("left", "p", "h", "b"):
        return max(index - 1, 0), False
    if key in ("home", "g"):
        return 0, False
    if key in ("end", "G"):
        return count - 1, False
    if key in ("a", "A"):
        return (0 if index == count - 1 else index), not playing
    return index, playing


def view(
    console: Console, frames: Sequence[RenderableType], terminal, *, delay: float = 0.6
) -> None:
    """Show ``frames`` one at a time until the user quits."""
    import termios
    import tty

    fd = terminal.fileno()
    saved = termios.tcgetattr(fd)
    index, playing = 0, False
    try:
        tty.setcbreak(fd)
        with console.screen(hide_cursor=True) as screen:
            while True:
                status = Text(
                    f"step {index + 1}/{len(frames)}"
                    + (" · playing" if playing else "")
                    + f"   {KEYS}",
                    style="dim",
                )
                screen.update(Group(frames[index], status))
                key = read_key(fd, delay if playing else None)
                if key == "\x03":  # Ctrl-C read as a key, not sent as a signal
                    raise KeyboardInterrupt
                if key is None:  # auto-play tick
                    index = min(index + 1, len(frames) - 1)
                    playing = index < len(frames) - 1
                    continue
                new, playing = next_index(key, index, len(frames), playing)
                if new is None:
                    break
                index = new
    finally:  # (Ctrl-C goes on up: the command exits 130, as any interrupted one)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        if terminal is not sys.stdin:
            terminal.close()
