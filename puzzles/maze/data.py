"""Maze datasets: token encoding, generated and imported datasets in the on-disk format.

Tokens: 0 is PAD (unused by mazes), then one token per cell character, ``code + 1``::

    vocab = ["<pad>", "#", " ", "S", "G", "o"]   # wall, open, start, goal, path

A ``size x size`` maze is a sequence of ``size * size`` tokens in row-major order; the
question never holds ``o``, the label holds the path. Each split also stores
``path_length`` (int32, one per example): the moves of the shortest S-to-G path.
This encoding is the official TRM build's (``"# SGo"``, character index + 1).

Imports read maze text files or the official Maze-Hard CSV layout (see
:mod:`puzzles.benchmark_csv`; its answers are kept as labels once checked as shortest paths).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from puzzles.benchmark_csv import (
    LAYOUT,
    CheckedRows,
    CsvFile,
    char_table,
    check_training_options,
    first_bad,
    is_csv_import,
    refuse_csv_options,
    split_files,
)
from puzzles.benchmark_csv import subsample as draw_subsample
from puzzles.build import ResumableBuild, check_counts, check_workers, collect_splits
from puzzles.dataset import (
    Dataset,
    Split,
    check_out_dir,
    read_import_file,
    staged_dir,
    write_dataset,
)
from puzzles.defaults import MAZE
from puzzles.maze.augment import cell_tables
from puzzles.maze.generate import (
    LOOP_RATE,
    STYLES,
    WALLS,
    check_settings,
    default_min_path,
    generate_indexed,
)
from puzzles.maze.grid import (
    CHARS,
    NAMES,
    OPEN,
    PATH,
    check_size,
    size_of_cells,
)
from puzzles.maze.solver import check_maze, check_path, shortest_length, solve
from puzzles.maze.text import parse_text
from trm.errors import SettingError, TRMError

VOCAB = ["<pad>", *CHARS]
LENGTH_RULE = "moves from S to G (the label marks moves - 1 cells)"
TIE_BREAK = (
    "lexicographically smallest shortest path in row-major cell order: from S, "
    "each step takes the first of up, left, right, down that is closer to G"
)


def encode(grid: np.ndarray) -> np.ndarray:
    """Cell codes (any shape) to flat tokens: ``code + 1``."""
    return (np.asarray(grid, dtype=np.int16).reshape(-1) + 1).astype(np.uint8)


def decode(tokens: np.ndarray) -> np.ndarray:
    """Flat tokens back to a square grid of codes; PAD (never in a maze) becomes -1."""
    tokens = np.asarray(tokens, dtype=np.int16).reshape(-1)
    size = int(round(tokens.size**0.5))
    return (tokens - 1).astype(np.int8).reshape(size, size)


def size_of(meta: dict) -> int:
    return int(meta["task_info"]["size"])


def dataset_meta(size: int, task_info: dict, source: dict) -> dict:
    return {
        "task": "maze",
        "seq_len": size * size,
        "vocab": list(VOCAB),
        "num_puzzle_ids": 1,
        "task_info": {"size": size, "cells": list(NAMES), "path_length": LENGTH_RULE, **task_info},
        "source": source,
    }


def _generated_row(
    size: int, style: str, min_path: int, seed: int, stream: str, index: int
) -> dict[str, np.ndarray]:
    g = generate_indexed(size, style, min_path, seed, stream, index)
    return {
        "maze": g.maze.reshape(-1),
        "label": g.label.reshape(-1),
        "path_length": np.array(g.path_length, dtype=np.int32),
    }


def _split(rows: dict[str, np.ndarray]) -> Split:
    return Split.of_examples(
        encode(rows["maze"]).reshape(len(rows["maze"]), -1),
        encode(rows["label"]).reshape(len(rows["label"]), -1),
        path_length=np.asarray(rows["path_length"], np.int32),
    )


def build_generated(
    out: Path,
    *,
    size: int = MAZE.size,
    style: str = MAZE.style,
    min_path: int | None = None,
    train: int = MAZE.train,
    test: int = MAZE.test,
    seed: int = 0,
    workers: int | None = None,
    force: bool = False,
    progress: bool = True,
) -> Dataset:
    """Generate a maze dataset into ``out`` (resumable; same seed, same bytes).

    ``min_path`` defaults to :func:`default_min_path` (110 moves at 30x30). Test mazes
    are drawn first; a train maze equal to a test maze (or to an earlier train maze) is
    skipped, so the splits never share a maze.
    """
    min_path = default_min_path(size) if min_path is None else min_path
    check_settings(size, style, min_path)
    if train < 0 or test < 0 or train + test == 0:
        raise SettingError("`train` and `test` must be >= 0, and some mazes asked for")
    check_counts(train=train, test=test)
    workers = check_workers(workers)
    settings = {
        "task": "maze",
        "size": size,
        "style": style,
        "min_path": min_path,
        "train": train,
        "test": test,
        "seed": seed,
    }
    with ResumableBuild(out, settings, force) as build:
        made = collect_splits(
            build,
            {"test": test, "train": train},
            lambda name: partial(_generated_row, size, style, min_path, seed, name),
            "maze",
            workers=workers,
            progress=progress,
            desc=f"maze {size}x{size} {style} >={min_path}",
            unit="maze",
        )
        splits = {name: _split(rows) for name, rows in made.items()}
        info = {
            "style": style,
            "min_path": min_path,
            "label": "the unique shortest path" if style == "corridors" else TIE_BREAK,
        }
        if style == "corridors":
            info["loop_rate"] = LOOP_RATE
        else:
            info["wall_share"] = list(WALLS)
        meta = dataset_meta(size, info, {"kind": "generated", **settings})
        with staged_dir(out, force) as stage:
            meta = write_dataset(
                stage, meta, {k: splits[k] for k in ("train", "test") if k in splits}
            )
        build.finish()
    return Dataset(Path(out), meta, splits)


def build_import(
    path: Path,
    out: Path,
    *,
    force: bool = False,
    progress: bool = True,
    subsample: int | None = None,
    dihedral: bool = False,
    seed: int = 0,
) -> Dataset:
    """Import outside mazes: a file in the text form (a test split, see
    :func:`_import_text`) or the official Maze-Hard CSV layout, one file (a test split) or
    a folder with ``train.csv`` and ``test.csv`` (see :func:`import_csv`)."""
    path = Path(path)
    if is_csv_import(path):
        return import_csv(
            path,
            out,
            force=force,
            progress=progress,
            subsample=subsample,
            dihedral=dihedral,
            seed=seed,
        )
    refuse_csv_options(path, {"subsample": subsample, "dihedral": dihedral})
    return _import_text(path, out, force=force, progress=progress)


def _import_text(file: Path, out: Path, *, force: bool = False, progress: bool = True) -> Dataset:
    """Turn a file of mazes in the text form into a test set (the label is computed).

    Mazes are separated by empty lines and must all have the same size. A maze that
    already marks a path with ``o`` keeps it as its label, if it is a shortest path;
    otherwise the label is the tie-broken shortest path. A bad maze is an error naming
    ``FILE:LINE``.
    """
    text, sha256 = read_import_file(file)
    parsed = parse_text(text, source=file.name)
    if not parsed:
        raise TRMError(f"{file}: no mazes found")
    size = parsed[0].maze.shape[0]
    check_out_dir(Path(out), force)
    mazes, labels, lengths = [], [], []
    bar = tqdm(
        parsed,
        desc=f"reading {file.name}",
        unit="maze",
        disable=not progress,
        dynamic_ncols=True,
        mininterval=0.5,
    )
    with bar:
        for p in bar:
            if p.maze.shape[0] != size:
                raise TRMError(
                    f"{file.name}:{p.line}: a {p.maze.shape[0]}x{p.maze.shape[0]} "
                    f"maze; the file's first maze is {size}x{size}"
                )
            if p.path is not None:
                label, length = p.path, _marked_length(p.maze, p.path, f"{file.name}:{p.line}")
            else:
                label, length = solve(p.maze), shortest_length(p.maze)
            mazes.append(p.maze)
            labels.append(label)
            lengths.append(length)
    source = {"kind": "import", "file": file.name, "sha256": sha256}
    label_rule = f"the path the file marks, else the {TIE_BREAK}"
    meta = dataset_meta(
        size, {"style": "import", "min_path": int(min(lengths)), "label": label_rule}, source
    )
    split = _split(
        {
            "maze": np.stack(mazes),
            "label": np.stack(labels),
            "path_length": np.array(lengths, np.int32),
        }
    )
    with staged_dir(out, force) as stage:
        meta = write_dataset(stage, meta, {"test": split})
    return Dataset(Path(out), meta, {"test": split})


def _marked_length(maze: np.ndarray, marked: np.ndarray, where: str) -> int:
    """The moves of the path ``marked`` shows; an error unless it is a shortest path."""
    verdict = check_path(maze, marked)
    if not verdict.ok:
        raise TRMError(f"{where}: the marked path is not a shortest path ({verdict})")
    return verdict.length


# --------------------------------------------------------------------------- CSV import

CELL_CHARS = "'#' wall, ' ' open, 'S' start, 'G' goal"
# the official build's dihedral ids 0-7 (identity, rot90, rot180, rot270, flip left-right,
# flip up-down, transpose, anti-transpose) as indices of our SYMMETRIES: copies come in its order
OFFICIAL_DIHEDRAL = (0, 1, 2, 3, 4, 6, 5, 7)


def _csv_size(where: str, question: str) -> int:
    """The side of a maze from its first question (``N * N`` characters, N in range)."""
    side = int(round(len(question) ** 0.5))
    if side * side != len(question):
        raise TRMError(
            f"{where}: the question has {len(question)} characters: a maze has N x N cells"
        )
    check_size(side, where)
    return side


def check_labels(mazes: np.ndarray, labels: np.ndarray, where: Callable[[int], str]) -> None:
    """Each label is its maze with some open cells turned to path (whole arrays)."""
    changed = (labels != mazes) & ~((mazes == OPEN) & (labels == PATH))
    i = first_bad(changed.any(axis=1))
    if i is not None:
        cell = first_bad(changed[i])
        r, c = divmod(cell, size_of_cells(mazes.shape[1]))
        raise TRMError(
            f"{where(i)}: the answer changes the question at row {r + 1}, column "
            f"{c + 1} ({CHARS[mazes[i, cell]]!r} -> {CHARS[labels[i, cell]]!r}): it "
            "may only mark open cells 'o'"
        )


def read_csv_split(file: Path, *, size: int | None = None, progress: bool = True) -> CheckedRows:
    """Read and check one CSV file (see :mod:`puzzles.benchmark_csv`): the characters and
    the unchanged cells on whole arrays, then each maze (one S, one G) and its path (a
    shortest S-to-G path, by :func:`check_path`) one by one."""
    reader = CsvFile(file, progress)
    parts = []
    for chunk in reader.chunks():
        size = size or _csv_size(reader.where(int(chunk.lines[0])), chunk.questions[0])
        mazes = reader.chars(
            chunk.questions,
            chunk.lines,
            size * size,
            "question",
            char_table({ch: code for code, ch in enumerate(CHARS[:4])}),
            CELL_CHARS,
        )
        labels = reader.chars(
            chunk.answers,
            chunk.lines,
            size * size,
            "answer",
            char_table({ch: code for code, ch in enumerate(CHARS)}),
            CELL_CHARS + ", 'o' path",
        )
        check_labels(mazes, labels, lambda i, lines=chunk.lines: reader.where(lines[i]))
        lengths = np.zeros(len(chunk.lines), np.int32)
        rows = tqdm(
            range(len(lengths)),
            desc=f"checking {reader.name}",
            unit="maze",
            disable=not progress,
            dynamic_ncols=True,
            mininterval=0.5,
        )
        for i in rows:
            where = reader.where(chunk.lines[i])
            check_maze(mazes[i], where)
            lengths[i] = _marked_length(mazes[i], labels[i], where)
        parts.append(
            CheckedRows(
                mazes,
                labels,
                chunk.lines,
                {"path_length": lengths, "source_rating": chunk.ratings.astype(np.int32)},
                {},
            )
        )
    return reader.checked(parts)


def _csv_split(part: CheckedRows, dihedral: bool = False) -> Split:
    """One split; with ``dihedral``, each maze is a group of its 8 symmetric copies."""
    inputs = encode(part.questions).reshape(len(part), -1)
    labels = encode(part.answers).reshape(len(part), -1)
    if not dihedral:
        return Split.of_examples(inputs, labels, **part.extras)
    moves = cell_tables(size_of_cells(inputs.shape[1]))[list(OFFICIAL_DIHEDRAL)]  # (8, cells)
    n, k = len(part), len(moves)
    return Split(
        inputs[:, moves].reshape(n * k, -1),
        labels[:, moves].reshape(n * k, -1),
        np.zeros(n * k, np.int32),
        np.arange(0, n * k + 1, k, dtype=np.int64),
        {key: np.repeat(v, k, axis=0) for key, v in part.extras.items()},
    )


def import_csv(
    path: Path,
    out: Path,
    *,
    force: bool = False,
    progress: bool = True,
    subsample: int | None = None,
    dihedral: bool = False,
    seed: int = 0,
) -> Dataset:
    """Import the official Maze-Hard CSV layout: a file (a test split) or a folder with
    ``train.csv`` and ``test.csv``.

    The answers are the labels, checked (a bad row stops the import, naming ``FILE:LINE``,
    and nothing is written). As in the official build: ``subsample`` keeps that many
    random training mazes (seeded), ``dihedral`` writes the 8 symmetries of each training
    maze (its ``aug``), in the official order.
    """
    files = split_files(path)
    check_training_options(files, subsample, {"dihedral": dihedral})
    check_out_dir(Path(out), force)  # refuse before the long part, not after
    read = {"test": read_csv_split(files["test"], progress=progress)}
    size = size_of_cells(read["test"].questions.shape[1])
    if "train" in files:
        train = read_csv_split(files["train"], size=size, progress=progress)
        read["train"] = draw_subsample(train, subsample, seed, "maze")
    splits = {
        name: _csv_split(read[name], dihedral and name == "train")
        for name in ("train", "test")
        if name in read
    }
    lengths = np.concatenate([part.extras["path_length"] for part in read.values()])
    source = {
        "kind": "import",
        "layout": LAYOUT,
        "file": Path(path).name,
        "files": {name: part.info for name, part in read.items()},
        "seed": seed,
        "subsample": subsample,
        "dihedral": dihedral,
    }
    info = {
        "style": "import",
        "min_path": int(lengths.min()),
        "label": "the path the file marks (checked: a shortest path)",
        "source_rating": "the rating column of the imported CSV",
    }
    meta = dataset_meta(size, info, source)
    with staged_dir(out, force) as stage:
        meta = write_dataset(stage, meta, splits)
    return Dataset(Path(out), meta, splits)


__all__ = [
    "STYLES",
    "VOCAB",
    "build_generated",
    "build_import",
    "decode",
    "encode",
    "import_csv",
    "size_of",
]
