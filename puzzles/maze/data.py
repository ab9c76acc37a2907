"""Maze datasets: token encoding, generated and imported datasets in the on-disk format.

Tokens: 0 is PAD (unused by mazes), then one token per cell character, ``code + 1``::

    vocab = ["<pad>", "#", " ", "S", "G", "o"]   # wall, open, start, goal, path

A ``size x size`` maze is a sequence of ``size * size`` tokens in row-major order; the
question never holds ``o``, the label holds the path. Each split also stores
``path_length`` (int32, one per example): the moves of the shortest S-to-G path.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from puzzles.build import ResumableBuild, collect_splits
from puzzles.dataset import (Dataset, Split, check_out_dir, read_import_file, staged_dir,
                              write_dataset)
from puzzles.maze.generate import (
    LOOP_RATE,
    STYLES,
    WALLS,
    check_settings,
    default_min_path,
    generate_indexed,
)
from puzzles.maze.grid import CHARS, NAMES, parse_text
from puzzles.maze.solver import check_path, shortest_length, solve
from trm.errors import TRMError

VOCAB = ["<pad>", *CHARS]
LENGTH_RULE = "moves from S to G (the label marks moves - 1 cells)"
TIE_BREAK = ("lexicographically smallest shortest path in row-major cell order: from S, "
             "each step takes the first of up, left, right, down that is closer to G")


def encode(grid: np.ndarray) -> np.ndarray:
    """Cell codes (any shape) to flat tokens: ``code + 1``."""
    return (np.asarray(grid, dtype=np.int16).reshape(-1) + 1).astype(np.uint8)


def decode(tokens: np.ndarray) -> np.ndarray:
    """Flat tokens back to a square grid of codes; PAD (never in a maze) becomes -1."""
    tokens = np.asarray(tokens, dtype=np.int16).reshape(-1)
    size = int(round(tokens.size ** 0.5))
    return (tokens - 1).astype(np.int8).reshape(size, size)


def size_of(meta: dict) -> int:
    return int(meta["task_info"]["size"])


def _meta(size: int, task_info: dict, source: dict) -> dict:
    return {
        "task": "maze",
        "seq_len": size * size,
        "vocab": list(VOCAB),
        "num_puzzle_ids": 1,
        "task_info": {"size": size, "cells": list(NAMES), "path_length": LENGTH_RULE,
                      **task_info},
        "source": source,
    }


def _generated_row(size: int, style: str, min_path: int, seed: int, stream: str,
                   index: int) -> dict[str, np.ndarray]:
    g = generate_indexed(size, style, min_path, seed, stream, index)
    return {"maze": g.maze.reshape(-1), "label": g.label.reshape(-1),
            "path_length": np.array(g.path_length, dtype=np.int32)}


def _split(rows: dict[str, np.ndarray]) -> Split:
    return Split.of_examples(encode(rows["maze"]).reshape(len(rows["maze"]), -1),
                             encode(rows["label"]).reshape(len(rows["label"]), -1),
                             path_length=np.asarray(rows["path_length"], np.int32))


def build_generated(out: Path, *, size: int = 30, style: str = "corridors",
                    min_path: int | None = None, train: int = 1000, test: int = 100,
                    seed: int = 0, workers: int | None = None, force: bool = False,
                    progress: bool = True) -> Dataset:
    """Generate a maze dataset into ``out`` (resumable; same seed, same bytes).

    ``min_path`` defaults to :func:`default_min_path` (110 moves at 30x30). Test mazes
    are drawn first; a train maze equal to a test maze (or to an earlier train maze) is
    skipped, so the splits never share a maze.
    """
    min_path = default_min_path(size) if min_path is None else min_path
    check_settings(size, style, min_path)
    if train < 0 or test < 0 or train + test == 0:
        raise TRMError("--train and --test must be >= 0, and some mazes asked for")
    if workers is not None and workers < 0:
        raise TRMError("--workers must be >= 0 (0: all cores)")
    workers = workers or os.cpu_count() or 1
    settings = {"task": "maze", "size": size, "style": style, "min_path": min_path,
                "train": train, "test": test, "seed": seed}
    build = ResumableBuild(out, settings, force)
    made = collect_splits(build, {"test": test, "train": train},
                          lambda name: partial(_generated_row, size, style, min_path, seed, name),
                          "maze", workers=workers, progress=progress,
                          desc=f"maze {size}x{size} {style} >={min_path}", unit="maze")
    splits = {name: _split(rows) for name, rows in made.items()}
    info = {"style": style, "min_path": min_path,
            "label": "the unique shortest path" if style == "corridors" else TIE_BREAK}
    if style == "corridors":
        info["loop_rate"] = LOOP_RATE
    else:
        info["wall_share"] = list(WALLS)
    meta = _meta(size, info, {"kind": "generated", **settings})
    with staged_dir(out, force) as stage:
        meta = write_dataset(stage, meta, {k: splits[k] for k in ("train", "test") if k in splits})
    build.finish()
    return Dataset(Path(out), meta, splits)


def build_import(file: Path, out: Path, *, force: bool = False, progress: bool = True) -> Dataset:
    """Turn a file of mazes in the text form into a test set (the label is computed).

    Mazes are separated by empty lines and must all have the same size. A maze that
    already marks a path with ``o`` keeps it as its label, if it is a shortest path;
    otherwise the label is the tie-broken shortest path. A bad maze is an error naming
    ``FILE:LINE``.
    """
    file = Path(file)
    text, sha256 = read_import_file(file)
    parsed = parse_text(text, source=file.name)
    if not parsed:
        raise TRMError(f"{file}: no mazes found")
    size = parsed[0].maze.shape[0]
    check_out_dir(Path(out), force)
    mazes, labels, lengths = [], [], []
    bar = tqdm(parsed, desc=f"reading {file.name}", unit="maze", disable=not progress,
               dynamic_ncols=True, mininterval=0.5)
    with bar:
        for p in bar:
            if p.maze.shape[0] != size:
                raise TRMError(f"{file.name}:{p.line}: a {p.maze.shape[0]}x{p.maze.shape[0]} "
                               f"maze; the file's first maze is {size}x{size}")
            if p.path is not None:
                verdict = check_path(p.maze, p.path)
                if not verdict.ok:
                    raise TRMError(f"{file.name}:{p.line}: the marked path is not a shortest "
                                   f"path ({verdict})")
                label, length = p.path, verdict.length
            else:
                label, length = solve(p.maze), shortest_length(p.maze)
            mazes.append(p.maze)
            labels.append(label)
            lengths.append(length)
    source = {"kind": "import", "file": file.name, "sha256": sha256}
    label_rule = f"the path the file marks, else the {TIE_BREAK}"
    meta = _meta(size, {"style": "import", "min_path": int(min(lengths)), "label": label_rule},
                 source)
    split = _split({"maze": np.stack(mazes), "label": np.stack(labels),
                    "path_length": np.array(lengths, np.int32)})
    with staged_dir(out, force) as stage:
        meta = write_dataset(stage, meta, {"test": split})
    return Dataset(Path(out), meta, {"test": split})


__all__ = ["VOCAB", "STYLES", "build_generated", "build_import", "decode", "encode", "size_of"]
