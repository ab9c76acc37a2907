"""A solve as an animated GIF: the panels a terminal shows, drawn as pictures, one frame each.

Each frame is drawn from rich's own rendering of the panel (:meth:`rich.console.Console.
render_lines`), character cell by character cell in a monospaced font (DejaVu Sans Mono,
which matplotlib ships), with the colours, bold, dim, underline, reverse and strike-through
of its marks (:mod:`puzzles.marks`) on a dark terminal's palette. So a frame looks like the
terminal: the step's grid with its markings, its halting probability and conflicts; the last
frame the answer, its verdict and what the checker decided.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from rich.cells import cell_len
from rich.color import Color
from rich.console import Console, RenderableType
from rich.style import Style
from rich.terminal_theme import MONOKAI, TerminalTheme

from puzzles import marks

FONT_SIZE = 16
MARGIN = 12  # pixels around the text
STEP_MS = 900  # a step's frame
LAST_MS = 4000  # the answer's
COLUMNS = 100  # the console the frames are laid out in (as --record's SVG)
THEME: TerminalTheme = MONOKAI


def _fonts():
    """(regular, bold) DejaVu Sans Mono, from matplotlib's data (a dependency of trm)."""
    import matplotlib
    from PIL import ImageFont

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return tuple(
        ImageFont.truetype(str(folder / name), FONT_SIZE)
        for name in ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf")
    )


def _rgb(color: Color | None, default) -> tuple[int, int, int]:
    if color is None or color.is_default:
        return tuple(default)
    return tuple(color.get_truecolor(THEME))


def _blend(a, b, share: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * share) for x, y in zip(a, b, strict=True))


def draw_frames(renderables: Sequence[RenderableType], *, no_color: bool = False) -> list:
    """Each renderable as a picture (PIL images, all the size of the largest)."""
    from PIL import Image, ImageDraw

    regular, bold = _fonts()
    cell_w = round(regular.getlength("M"))
    ascent, descent = regular.getmetrics()
    cell_h = ascent + descent + 2
    console = Console(
        width=COLUMNS,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        no_color=no_color,
        theme=marks.theme(no_color),
    )
    screens = [console.render_lines(r, console.options, pad=False) for r in renderables]
    columns = max(sum(cell_len(s.text) for s in line) for screen in screens for line in screen)
    rows = max(len(screen) for screen in screens)
    size = (2 * MARGIN + columns * cell_w, 2 * MARGIN + rows * cell_h)
    fg0, bg0 = tuple(THEME.foreground_color), tuple(THEME.background_color)
    images = []
    for screen in screens:
        image = Image.new("RGB", size, bg0)
        pen = ImageDraw.Draw(image)
        for row, line in enumerate(screen):
            x, y = MARGIN, MARGIN + row * cell_h
            for segment in line:
                style = segment.style or Style()
                if no_color:  # (rich drops colours only when it writes to a terminal)
                    style = style.without_color
                fg, bg = _rgb(style.color, fg0), _rgb(style.bgcolor, bg0)
                if style.dim:
                    fg = _blend(fg, bg, 0.45)
                if style.reverse:
                    fg, bg = bg, fg
                font = bold if style.bold else regular
                for char in segment.text:
                    width = cell_len(char) * cell_w
                    if bg != bg0:
                        pen.rectangle([x, y, x + width - 1, y + cell_h - 1], fill=bg)
                    if char == "█":  # a full block fills its cell (the glyph leaves gaps)
                        pen.rectangle([x, y, x + width - 1, y + cell_h - 1], fill=fg)
                    elif char.strip():
                        pen.text((x, y + 1), char, font=font, fill=fg)
                    if style.underline:
                        pen.line([x, y + ascent + 2, x + width - 1, y + ascent + 2], fill=fg)
                    if style.strike:
                        middle = y + cell_h // 2
                        pen.line([x, middle, x + width - 1, middle], fill=fg, width=2)
                    x += width
        images.append(image)
    return images


def write_gif(renderables: Sequence[RenderableType], path: Path, *, no_color: bool = False) -> None:
    """An animated GIF of ``renderables``: a step's time each, the last one held longer."""
    images = draw_frames(renderables, no_color=no_color)
    frames = [image.quantize(colors=64) for image in images]
    durations = [STEP_MS] * (len(frames) - 1) + [LAST_MS]
    frames[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=durations,
        loop=0,
        optimize=False,
    )
