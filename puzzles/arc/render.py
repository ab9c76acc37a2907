"""ARC grids in the terminal (rich), in the usual ARC colours.

Each cell is two characters on its colour's background, the colour's digit in front, so
a grid still reads (as digits) where the terminal shows no colour.
"""

from __future__ import annotations

import numpy as np
from rich.text import Text

# the ARC viewer's palette: 0 black, 1 blue, 2 red, 3 green, 4 yellow, 5 grey,
# 6 magenta (fuchsia), 7 orange, 8 light blue (teal), 9 maroon
PALETTE = (
    "#000000",
    "#0074D9",
    "#FF4136",
    "#2ECC40",
    "#FFDC00",
    "#AAAAAA",
    "#F012BE",
    "#FF851B",
    "#7FDBFF",
    "#870C25",
)
_DIGIT = {0: "#777777", 1: "white", 9: "white"}  # digit colour where black would not show
CELL_STYLES = tuple(f"{_DIGIT.get(c, 'black')} on {bg}" for c, bg in enumerate(PALETTE))


def render_grid(grid: np.ndarray, flagged: np.ndarray | None = None) -> Text:
    """A grid as styled text, one line per row; ``flagged`` (a boolean grid of the same
    shape) marks cells with a cross, e.g. where a prediction is wrong."""
    text = Text()
    for r, row in enumerate(np.asarray(grid)):
        if r:
            text.append("\n")
        for c, v in enumerate(row):
            mark = "×" if flagged is not None and flagged[r, c] else " "
            text.append(f"{int(v)}{mark}", style=CELL_STYLES[int(v)])
    return text
