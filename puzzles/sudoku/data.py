"""Sudoku datasets: token encoding, generated and imported datasets in the on-disk format.

Tokens: 0 is PAD (unused by Sudoku), 1 is a blank, ``d + 1`` is digit ``d``; so a grid
of values 0..size becomes ``grid + 1``.
"""

from __future__ import annotations

import os
import random
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from puzzles.build import ResumableBuild, collect_splits, worker_pool
from puzzles.dataset import (Dataset, Split, check_out_dir, read_import_file, staged_dir,
                              write_dataset)
from puzzles.sudoku.augment import random_augmentation
from puzzles.sudoku.generate import generate_indexed
from puzzles.sudoku.grid import ParsedPuzzle, geometry, parse_text
from puzzles.sudoku.solver import Rating, TIERS_BY_SIZE, solve
from trm.errors import TRMError

RATING_FIELDS = ("clues", "naked_singles_only", "propagation_only", "guesses", "backtracks")


def vocab(size: int) -> list[str]:
    return ["<pad>", "."] + [str(d) for d in range(1, size + 1)]


def encode(grid: np.ndarray) -> np.ndarray:
    return np.asarray(grid, dtype=np.uint8) + 1


def decode(tokens: np.ndarray) -> np.ndarray:
    """Token ids back to cell values (PAD, which Sudoku never uses, reads as blank)."""
    return np.maximum(np.asarray(tokens, dtype=np.int16) - 1, 0).astype(np.int8)


def size_of(meta: dict) -> int:
    return int(meta["task_info"]["size"])


def _rating_row(r: Rating) -> np.ndarray:
    return np.array([getattr(r, f) for f in RATING_FIELDS], dtype=np.int32)


def rating_of_row(size: int, row: np.ndarray) -> Rating:
    values = {f: int(v) for f, v in zip(RATING_FIELDS, row)}
    for flag in ("naked_singles_only", "propagation_only"):
        values[flag] = bool(values[flag])
    return Rating(size=size, **values)


def _meta(size: int, source: dict) -> dict:
    geo = geometry(size)
    return {
        "task": "sudoku",
        "seq_len": geo.cells,
        "vocab": vocab(size),
        "num_puzzle_ids": 1,
        "task_info": {"size": size, "box_rows": geo.box_rows, "box_cols": geo.box_cols,
                      "rating_fields": list(RATING_FIELDS)},
        "source": source,
    }


def _generated_row(size: int, tier: str, seed: int, stream: str, index: int) -> dict[str, np.ndarray]:
    g = generate_indexed(size, tier, seed, stream, index)
    return {"puzzle": g.puzzle, "solution": g.solution, "rating": _rating_row(g.rating)}


def _augmented(rows: dict[str, np.ndarray], size: int, k: int, seed: int,
               avoid: frozenset[bytes] = frozenset()) -> Split:
    """Each puzzle followed by ``k`` distinct augmented copies (one group per original).

    A copy equal to a puzzle in ``avoid`` (the test set) is drawn again, so augmentation
    never leaks a test puzzle into training.
    """
    inputs, labels, ratings, group_start = [], [], [], [0]
    for j, (puzzle, solution, rating) in enumerate(zip(rows["puzzle"], rows["solution"], rows["rating"])):
        rng = random.Random(f"sudoku-augment/{seed}/{j}")
        group = {puzzle.tobytes(): (puzzle, solution)}
        for _ in range(8 * k):  # a few spare draws in case two augmentations coincide
            if len(group) > k:
                break
            aug = random_augmentation(size, rng)
            p = aug.apply(puzzle)
            if p.tobytes() not in avoid:
                group.setdefault(p.tobytes(), (p, aug.apply(solution)))
        for p, s in group.values():
            inputs.append(encode(p))
            labels.append(encode(s))
            ratings.append(rating)
        group_start.append(len(inputs))
    n = len(inputs)
    return Split(np.stack(inputs), np.stack(labels), np.zeros(n, np.int32),
                 np.asarray(group_start, np.int64), {"rating": np.stack(ratings)})


def _puzzle_keys(split: Split | None) -> frozenset[bytes]:
    return frozenset() if split is None else frozenset(decode(x).tobytes() for x in split.inputs)


def build_generated(out: Path, *, size: int = 9, difficulty: str = "hard", train: int = 1000,
                    test: int = 100, seed: int = 0, augment: int = 0, workers: int | None = None,
                    force: bool = False, progress: bool = True) -> Dataset:
    """Generate a Sudoku dataset into ``out`` (resumable; same seed, same bytes).

    Test puzzles are drawn first; a train puzzle equal to a test puzzle (or to an earlier
    train puzzle) is skipped, so the splits never share a puzzle.
    """
    geometry(size)
    if difficulty not in TIERS_BY_SIZE[size]:
        raise TRMError(f"no {size}x{size} puzzle is {difficulty!r}: for {size}x{size} use "
                       f"--difficulty {' or '.join(TIERS_BY_SIZE[size])}")
    if train < 0 or test < 0 or augment < 0 or train + test == 0:
        raise TRMError("--train, --test and --augment must be >= 0, and some puzzles asked for")
    if workers is not None and workers < 0:
        raise TRMError("--workers must be >= 0 (0: all cores)")
    workers = workers or os.cpu_count() or 1
    settings = {"task": "sudoku", "size": size, "difficulty": difficulty, "train": train,
                "test": test, "seed": seed, "augment": augment}
    build = ResumableBuild(out, settings, force)
    made = collect_splits(build, {"test": test, "train": train},
                          lambda name: partial(_generated_row, size, difficulty, seed, name),
                          "puzzle", workers=workers, progress=progress,
                          desc=f"sudoku {size}x{size} {difficulty}", unit="puzzle")
    splits: dict[str, Split] = {}
    for name, rows in made.items():
        if name == "train" and augment:
            splits[name] = _augmented(rows, size, augment, seed, _puzzle_keys(splits.get("test")))
        else:
            splits[name] = Split.of_examples(encode(rows["puzzle"]), encode(rows["solution"]),
                                             rating=rows["rating"])
    meta = _meta(size, {"kind": "generated", **settings})
    with staged_dir(out, force) as stage:
        meta = write_dataset(stage, meta, {k: splits[k] for k in ("train", "test") if k in splits})
    build.finish()
    return Dataset(Path(out), meta, splits)


def _solve_parsed(p: ParsedPuzzle) -> tuple[int, np.ndarray | None, np.ndarray | None]:
    r = solve(p.puzzle)
    return r.count, r.solution, None if r.rating is None else _rating_row(r.rating)


def build_import(file: Path, out: Path, *, force: bool = False, skip_bad: bool = False,
                 workers: int | None = None, progress: bool = True) -> tuple[Dataset, int]:
    """Turn an outside puzzle file into a test set; returns it and the number skipped.

    Every puzzle is solved by the exact solver: one with no solution or several is an
    error naming its line (or skipped with ``skip_bad``); a solution given in the file
    must solve its puzzle.
    """
    file = Path(file)
    text, sha256 = read_import_file(file)
    parsed = parse_text(text, source=file.name)
    if not parsed:
        raise TRMError(f"{file}: no puzzles found")
    size = parsed[0].puzzle.size
    for p in parsed:
        if p.puzzle.size != size:
            raise TRMError(f"{file.name}:{p.line}: puzzle size differs from the file's first puzzle")
    size = int(round(size ** 0.5))
    check_out_dir(Path(out), force)  # refuse before the long part, not after
    puzzles, solutions, ratings, skipped = [], [], [], 0
    if workers is not None and workers < 0:
        raise TRMError("--workers must be >= 0 (0: all cores)")
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(parsed), desc=f"solving {file.name}", unit="puzzle",
               disable=not progress, dynamic_ncols=True, mininterval=0.5)
    with bar, worker_pool(workers if len(parsed) > 200 else 1) as pool:
        results = pool.imap(_solve_parsed, parsed, chunksize=16) if pool else map(_solve_parsed, parsed)
        for p, (count, solution, rating) in zip(parsed, results):
            bar.update(1)
            # a given solution was already checked by the parser: with a unique
            # solution, it is the solver's
            problem = {0: "has no solution", 1: None}.get(count, "has more than one solution")
            if problem:
                if not skip_bad:
                    raise TRMError(f"{file.name}:{p.line}: the puzzle {problem}")
                skipped += 1
                continue
            puzzles.append(p.puzzle)
            solutions.append(solution)
            ratings.append(rating)
    if not puzzles:
        raise TRMError(f"{file}: every puzzle was skipped")
    source = {"kind": "import", "file": file.name, "sha256": sha256,
              "skipped": skipped}
    meta = _meta(size, source)
    split = Split.of_examples(encode(np.stack(puzzles)), encode(np.stack(solutions)),
                              rating=np.stack(ratings))
    with staged_dir(out, force) as stage:
        meta = write_dataset(stage, meta, {"test": split})
    return Dataset(Path(out), meta, {"test": split}), skipped


def augment_dataset(path: Path, out: Path, *, k: int, split: str = "train", seed: int = 0,
                    force: bool = False) -> Dataset:
    """A copy of a Sudoku dataset whose ``split`` holds ``k`` augmented copies per example."""
    from puzzles.dataset import load_dataset

    if k < 1:
        raise TRMError("--augment must be at least 1")
    if Path(out).resolve() == Path(path).resolve():
        raise TRMError("--out must differ from the dataset being augmented")
    ds = load_dataset(path)
    if ds.task != "sudoku":
        raise TRMError(f"{path}: augmenting {ds.task!r} datasets is not built yet (sudoku only)")
    if split not in ds.splits:
        raise TRMError(f"{path}: no split {split!r} (it has {', '.join(ds.splits)})")
    size = size_of(ds.meta)
    base = ds.splits[split]
    first = base.group_start[:-1]  # augment the originals only, not earlier copies
    n = len(base)
    rows = {"puzzle": decode(base.inputs[first]), "solution": decode(base.labels[first]),
            "rating": base.extras.get("rating", np.zeros((n, len(RATING_FIELDS)), np.int32))[first]}
    splits = dict(ds.splits)
    others = [s for name, s in ds.splits.items() if name != split]
    avoid = frozenset().union(*(_puzzle_keys(s) for s in others))
    splits[split] = _augmented(rows, size, k, seed, avoid)
    meta = {key: v for key, v in ds.meta.items() if key not in ("splits", "format", "version", "created_by")}
    meta["source"] = {**ds.meta.get("source", {}), "augmented": {"split": split, "k": k, "seed": seed}}
    with staged_dir(out, force) as stage:
        meta = write_dataset(stage, meta, splits)
    return Dataset(Path(out), meta, splits)
