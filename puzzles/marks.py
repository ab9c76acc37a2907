"""How a grid marks its cells on a terminal: in colour, and with colour off.

Renderers name a mark (``mark.clue``, ``mark.changed``...) and the console's theme draws
it. In colour a mark is mostly a colour; with colour off (``--no-color``, ``NO_COLOR``)
rich would drop the colours and leave clue, changed and broken cells all plain bold, so
the plain theme draws each mark by attributes alone, each its own: bold, reverse,
underline, struck through.
"""

from __future__ import annotations

import os

from rich.theme import Theme

COLOUR = {
    "mark.clue": "bold",
    "mark.filled": "cyan",
    "mark.blank": "dim",
    "mark.changed": "bold black on yellow",  # since the last step
    "mark.unsure": "underline magenta",  # the model gave its choice little probability
    "mark.broken": "bold red",  # breaks a rule, or differs from the answer
    "mark.moved": "on dark_orange3",  # a maze cell changed since the last step
    "mark.off-path": "bold red on grey23",  # a maze cell that breaks the path
    "mark.wall": "grey50",  # (dim without colour: apart from a reversed, changed cell)
}
PLAIN = {
    "mark.clue": "bold",
    "mark.filled": "none",
    "mark.blank": "dim",
    "mark.changed": "reverse",
    "mark.unsure": "underline",
    "mark.broken": "bold strike",
    "mark.moved": "reverse",
    "mark.off-path": "bold strike",
    "mark.wall": "dim",
}
assert COLOUR.keys() == PLAIN.keys()


def colour_off(no_color: bool = False) -> bool:
    """Whether to draw without colour: asked (``--no-color``) or ``NO_COLOR`` set."""
    return no_color or bool(os.environ.get("NO_COLOR"))


def theme(no_color: bool = False) -> Theme:
    """The marks for a console: :data:`PLAIN` when :func:`colour_off`, else :data:`COLOUR`."""
    return Theme(PLAIN if colour_off(no_color) else COLOUR)
