"""Sudoku datasets: token encoding, generated and imported datasets in the on-disk format.

Tokens: 0 is PAD (unused by Sudoku), 1 is a blank, ``d + 1`` is digit ``d``; so a grid
of values 0..size becomes ``grid + 1`` (the official TRM build's encoding too).

Imports read puzzle files (solved here) or the official Sudoku-Extreme CSV layout (see
:mod:`puzzles.benchmark_csv`; its answers are kept as labels, checked on whole arrays).
"""

from __future__ import annotations

import random
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
from puzzles.build import ResumableBuild, check_counts, check_workers, collect_splits, worker_pool
from puzzles.dataset import (
    Dataset,
    Split,
    check_out_dir,
    read_import_file,
    staged_dir,
    write_dataset,
)
from puzzles.defaults import SUDOKU
from puzzles.sudoku.augment import random_augmentation
from puzzles.sudoku.generate import generate_indexed
from puzzles.sudoku.grid import find_conflicts, geometry, parse_text, size_of_length
from puzzles.sudoku.solver import TIERS_BY_SIZE, Rating, solve
from trm.errors import SettingError, TRMError

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


def dataset_meta(size: int, source: dict) -> dict:
    geo = geometry(size)
    return {
        "task": "sudoku",
        "seq_len": geo.cells,
        "vocab": vocab(size),
        "num_puzzle_ids": 1,
        "task_info": {
            "size": size,
            "box_rows": geo.box_rows,
            "box_cols": geo.box_cols,
            "rating_fields": list(RATING_FIELDS),
        },
        "source": source,
    }


def _generated_row(
    size: int, tiers: tuple[str, ...], seed: int, stream: str, index: int
) -> dict[str, np.ndarray]:
    """Puzzle ``index`` of a split: a mix of tiers takes them in turn."""
    g = generate_indexed(size, tiers[index % len(tiers)], seed, stream, index)
    return {"puzzle": g.puzzle, "solution": g.solution, "rating": _rating_row(g.rating)}


def _augmented(
    rows: dict[str, np.ndarray],
    size: int,
    k: int,
    seed: int,
    avoid: frozenset[bytes] = frozenset(),
    progress: bool = False,
) -> Split:
    """Each puzzle followed by ``k`` distinct augmented copies (one group per original).

    Every other array of ``rows`` (a rating, ...) is a per-puzzle extra that its copies
    share. A copy equal to a puzzle in ``avoid`` (the test set) is drawn again, so
    augmentation never leaks a test puzzle into training.
    """
    inputs, labels, origin, group_start = [], [], [], [0]
    pairs = zip(rows["puzzle"], rows["solution"])
    bar = tqdm(
        pairs,
        total=len(rows["puzzle"]),
        desc=f"augmenting x{k}",
        unit="puzzle",
        disable=not progress,
        dynamic_ncols=True,
        mininterval=0.5,
    )
    for j, (puzzle, solution) in enumerate(bar):
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
            origin.append(j)
        group_start.append(len(inputs))
    n, origin = len(inputs), np.asarray(origin, np.int64)
    extras = {key: v[origin] for key, v in rows.items() if key not in ("puzzle", "solution")}
    return Split(
        np.stack(inputs),
        np.stack(labels),
        np.zeros(n, np.int32),
        np.asarray(group_start, np.int64),
        extras,
    )


def _puzzle_keys(split: Split | None) -> frozenset[bytes]:
    return frozenset() if split is None else frozenset(decode(x).tobytes() for x in split.inputs)


def build_generated(
    out: Path,
    *,
    size: int = SUDOKU.size,
    difficulty: str | None = None,
    train: int = SUDOKU.train,
    test: int = SUDOKU.test,
    seed: int = 0,
    augment: int = 0,
    workers: int | None = None,
    force: bool = False,
    progress: bool = True,
) -> Dataset:
    """Generate a Sudoku dataset into ``out`` (resumable; same seed, same bytes).

    Test puzzles are drawn first; a train puzzle equal to a test puzzle (or to an earlier
    train puzzle) is skipped, so the splits never share a puzzle. ``difficulty`` defaults
    to hard (easy at 4x4, which has no harder puzzles); tiers joined by commas
    (``hard,extreme``) make a mix, taken in turn (equal shares).
    """
    geometry(size)
    difficulty = SUDOKU.difficulty_for(size) if difficulty is None else difficulty
    tiers = tuple(t.strip() for t in difficulty.split(","))
    for tier in tiers:
        if tier not in TIERS_BY_SIZE[size]:
            raise SettingError(
                f"no {size}x{size} puzzle is {tier!r}: for {size}x{size} use "
                f"`difficulty` {' or '.join(TIERS_BY_SIZE[size])} (or several, joined by commas)"
            )
    if len(set(tiers)) != len(tiers):
        raise SettingError("difficulty", f"names a tier twice: {difficulty!r}")
    difficulty = ",".join(tiers)
    if train < 0 or test < 0 or augment < 0 or train + test == 0:
        raise SettingError("`train`, `test` and `augment` must be >= 0, and some puzzles asked for")
    check_counts(train=train, test=test, augment=augment)
    workers = check_workers(workers)
    settings = {
        "task": "sudoku",
        "size": size,
        "difficulty": difficulty,
        "train": train,
        "test": test,
        "seed": seed,
        "augment": augment,
    }
    with ResumableBuild(out, settings, force) as build:
        made = collect_splits(
            build,
            {"test": test, "train": train},
            lambda name: partial(_generated_row, size, tiers, seed, name),
            "puzzle",
            workers=workers,
            progress=progress,
            desc=f"sudoku {size}x{size} {difficulty}",
            unit="puzzle",
        )
        splits: dict[str, Split] = {}
        for name, rows in made.items():
            if name == "train" and augment:
                splits[name] = _augmented(
                    rows, size, augment, seed, _puzzle_keys(splits.get("test"))
                )
            else:
                splits[name] = Split.of_examples(
                    encode(rows["puzzle"]), encode(rows["solution"]), rating=rows["rating"]
                )
        meta = dataset_meta(size, {"kind": "generated", **settings})
        with staged_dir(out, force) as stage:
            meta = write_dataset(
                stage, meta, {k: splits[k] for k in ("train", "test") if k in splits}
            )
        build.finish()
    return Dataset(Path(out), meta, splits)


def _solve_grid(puzzle: np.ndarray) -> tuple[int, np.ndarray | None, np.ndarray | None]:
    r = solve(puzzle)
    return r.count, r.solution, None if r.rating is None else _rating_row(r.rating)


def _solve_unique(
    puzzles: np.ndarray,
    where: Callable[[int], str],
    *,
    desc: str,
    workers: int,
    skip_bad: bool,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve every puzzle with the exact solver, in ``workers`` processes.

    Returns which puzzles have exactly one solution, their solutions and their ratings
    (zeros where not). A puzzle without exactly one solution is an error naming
    ``where(i)``, or is left out with ``skip_bad``.
    """
    n, cells = puzzles.shape
    unique = np.zeros(n, bool)
    solutions = np.zeros((n, cells), np.int8)
    ratings = np.zeros((n, len(RATING_FIELDS)), np.int32)
    bar = tqdm(
        total=n, desc=desc, unit="puzzle", disable=not progress, dynamic_ncols=True, mininterval=0.5
    )
    with bar, worker_pool(workers if n > 200 else 1) as pool:
        results = (
            pool.imap(_solve_grid, puzzles, chunksize=16) if pool else map(_solve_grid, puzzles)
        )
        for i, (count, solution, rating) in enumerate(results):
            bar.update(1)
            problem = {0: "has no solution", 1: None}.get(count, "has more than one solution")
            if problem is None:
                unique[i], solutions[i], ratings[i] = True, solution, rating
            elif not skip_bad:
                raise TRMError(f"{where(i)}: the puzzle {problem}")
    return unique, solutions, ratings


def build_import(
    path: Path,
    out: Path,
    *,
    force: bool = False,
    skip_bad: bool = False,
    workers: int | None = None,
    progress: bool = True,
    subsample: int | None = None,
    augment: int = 0,
    min_rating: int | None = None,
    verify: bool = False,
    seed: int = 0,
) -> tuple[Dataset, int]:
    """Import outside puzzles; returns the dataset and the number of puzzles skipped.

    ``path`` is a puzzle file (one test split, every puzzle solved here: see
    :func:`_import_text`) or the official Sudoku-Extreme CSV layout, one file (a test
    split) or a folder with ``train.csv`` and ``test.csv`` (see :func:`import_csv`).
    """
    path = Path(path)
    if is_csv_import(path):
        return import_csv(
            path,
            out,
            force=force,
            skip_bad=skip_bad,
            workers=workers,
            progress=progress,
            subsample=subsample,
            augment=augment,
            min_rating=min_rating,
            verify=verify,
            seed=seed,
        )
    refuse_csv_options(
        path,
        {
            "subsample": subsample,
            "augment": augment,
            "min_rating": min_rating,
            "verify": verify,
        },
    )
    return _import_text(
        path, out, force=force, skip_bad=skip_bad, workers=workers, progress=progress
    )


def _import_text(
    file: Path, out: Path, *, force: bool, skip_bad: bool, workers: int | None, progress: bool
) -> tuple[Dataset, int]:
    """Turn a puzzle file into a test set.

    Every puzzle is solved by the exact solver: one with no solution or several is an
    error naming its line (or skipped with ``skip_bad``); a solution given in the file
    must solve its puzzle.
    """
    text, sha256 = read_import_file(file)
    parsed = parse_text(text, source=file.name)
    if not parsed:
        raise TRMError(f"{file}: no puzzles found")
    size = parsed[0].puzzle.size
    for p in parsed:
        if p.puzzle.size != size:
            raise TRMError(
                f"{file.name}:{p.line}: puzzle size differs from the file's first puzzle"
            )
    size = int(round(size**0.5))
    check_out_dir(Path(out), force)  # refuse before the long part, not after
    # a solution given in the file was checked by the parser: if the puzzle has just
    # one, it is the solver's
    puzzles = np.stack([p.puzzle for p in parsed])
    unique, solutions, ratings = _solve_unique(
        puzzles,
        lambda i: f"{file.name}:{parsed[i].line}",
        desc=f"solving {file.name}",
        workers=check_workers(workers),
        skip_bad=skip_bad,
        progress=progress,
    )
    skipped = int((~unique).sum())
    if not unique.any():
        raise TRMError(f"{file}: every puzzle was skipped")
    source = {"kind": "import", "file": file.name, "sha256": sha256, "skipped": skipped}
    meta = dataset_meta(size, source)
    split = Split.of_examples(
        encode(puzzles[unique]), encode(solutions[unique]), rating=ratings[unique]
    )
    with staged_dir(out, force) as stage:
        meta = write_dataset(stage, meta, {"test": split})
    return Dataset(Path(out), meta, {"test": split}), skipped


# --------------------------------------------------------------------------- CSV import


def check_answers(puzzles: np.ndarray, solutions: np.ndarray, where: Callable[[int], str]) -> None:
    """Each solution holds every digit once in each row, column and box and keeps every
    clue of its puzzle; checked on whole arrays ``(n, cells)`` of digits 1..size."""
    size = size_of_length(solutions.shape[1])
    units = np.asarray(geometry(size).units)  # (3 * size, size) cell indices
    full = (1 << (size + 1)) - 2  # bits 1..size: each digit seen
    seen = np.bitwise_or.reduce(np.left_shift(1, solutions.astype(np.int16))[:, units], axis=2)
    i = first_bad((seen != full).any(axis=1))
    if i is not None:
        raise TRMError(
            f"{where(i)}: the answer breaks the rules: {find_conflicts(solutions[i])[0]}"
        )
    changed = (puzzles > 0) & (puzzles != solutions)
    i = first_bad(changed.any(axis=1))
    if i is not None:
        cell = first_bad(changed[i])
        raise TRMError(
            f"{where(i)}: the answer changes the clue at cell {cell + 1} of the "
            f"question ({puzzles[i, cell]} -> {solutions[i, cell]})"
        )


def _csv_size(reader: CsvFile, question: str, line: int) -> int:
    size = size_of_length(len(question))
    if size is None:
        raise TRMError(
            f"{reader.where(line)}: the question has {len(question)} characters: a "
            "Sudoku has 81 (or 16/36 for 4x4/6x6)"
        )
    return size


def read_csv_split(
    file: Path, *, size: int | None = None, min_rating: int | None = None, progress: bool = True
) -> CheckedRows:
    """Read and check one CSV file (see :mod:`puzzles.benchmark_csv`), chunk by chunk on
    whole arrays; rows rated below ``min_rating`` are dropped after their check.

    ``size`` is the expected grid size (else the first question's length says it).
    """
    reader = CsvFile(file, progress)
    parts = []
    for chunk in reader.chunks():
        size = size or _csv_size(reader, chunk.questions[0], int(chunk.lines[0]))
        digits = {str(d): d for d in range(1, size + 1)}
        puzzles = reader.chars(
            chunk.questions,
            chunk.lines,
            size * size,
            "question",
            char_table({".": 0, "0": 0, **digits}),
            f"digits 1-{size}, '.' or '0'",
        )
        solutions = reader.chars(
            chunk.answers,
            chunk.lines,
            size * size,
            "answer",
            char_table(digits),
            f"digits 1-{size}",
        )
        check_answers(puzzles, solutions, lambda i, lines=chunk.lines: reader.where(lines[i]))
        rows = CheckedRows(
            puzzles, solutions, chunk.lines, {"source_rating": chunk.ratings.astype(np.int32)}, {}
        )
        parts.append(rows if min_rating is None else rows.take(chunk.ratings >= min_rating))
    return reader.checked(parts)


def _check_csv_options(
    files: dict[str, Path], subsample: int | None, augment: int, skip_bad: bool, verify: bool
) -> None:
    if augment < 0:
        raise SettingError("augment", "must be >= 0")
    check_counts(augment=augment)
    check_training_options(files, subsample, {"augment": augment})
    if skip_bad and not verify:
        raise SettingError(
            "with a CSV, `skip_bad` goes with `verify` (it skips puzzles without "
            "exactly one solution; a malformed row always stops the import)"
        )


def import_csv(
    path: Path,
    out: Path,
    *,
    force: bool = False,
    skip_bad: bool = False,
    workers: int | None = None,
    progress: bool = True,
    subsample: int | None = None,
    augment: int = 0,
    min_rating: int | None = None,
    verify: bool = False,
    seed: int = 0,
) -> tuple[Dataset, int]:
    """Import the official Sudoku-Extreme CSV layout: a file (a test split) or a folder
    with ``train.csv`` and ``test.csv``; returns the dataset and the puzzles skipped.

    The answers are the labels, checked against the rules and the clues (a bad row stops
    the import, naming ``FILE:LINE``, and nothing is written). As in the official build:
    ``min_rating`` keeps rows rated at least that (both splits); ``subsample`` keeps that
    many random training puzzles (seeded); ``augment`` adds that many augmented copies of
    each training puzzle (ours also never equal a test puzzle). ``verify`` proves with
    the exact solver that every kept puzzle has one solution, and stores our rating too.
    """
    files = split_files(path)
    _check_csv_options(files, subsample, augment, skip_bad, verify)
    workers = check_workers(workers)
    check_out_dir(Path(out), force)  # refuse before the long part, not after
    read = {"test": read_csv_split(files["test"], min_rating=min_rating, progress=progress)}
    size = size_of_length(read["test"].questions.shape[1])
    if "train" in files:
        train = read_csv_split(files["train"], size=size, min_rating=min_rating, progress=progress)
        read["train"] = draw_subsample(train, subsample, seed, "sudoku")
    for part in read.values():
        if not len(part):
            raise TRMError(f"{part.info['file']}: no row has a rating of at least {min_rating}")
    kept = sum(map(len, read.values()))
    if verify:
        read = {name: _verified(part, workers, skip_bad, progress) for name, part in read.items()}
    skipped = kept - sum(map(len, read.values()))
    splits = {"test": _csv_split(read["test"])}
    if "train" in read:
        avoid = _puzzle_keys(splits["test"]) if augment else frozenset()
        splits = {"train": _csv_split(read["train"], augment, seed, avoid, progress), **splits}
    source = {
        "kind": "import",
        "layout": LAYOUT,
        "file": Path(path).name,
        "files": {name: part.info for name, part in read.items()},
        "seed": seed,
        "min_rating": min_rating,
        "subsample": subsample,
        "augment": augment,
        "verified": verify,
        "skipped": skipped,
    }
    meta = dataset_meta(size, source)
    meta["task_info"]["source_rating"] = "the rating column of the imported CSV"
    with staged_dir(out, force) as stage:
        meta = write_dataset(stage, meta, splits)
    return Dataset(Path(out), meta, splits), skipped


def _verified(part: CheckedRows, workers: int, skip_bad: bool, progress: bool) -> CheckedRows:
    """The rows whose puzzle has exactly one solution (the others stop the import, unless
    ``skip_bad``), with our solver's rating as the extra ``rating``."""
    name = part.info["file"]
    unique, _, ratings = _solve_unique(
        part.questions,
        lambda i: f"{name}:{part.lines[i]}",
        desc=f"verifying {name}",
        workers=workers,
        skip_bad=skip_bad,
        progress=progress,
    )
    part = CheckedRows(
        part.questions, part.answers, part.lines, {**part.extras, "rating": ratings}, part.info
    ).take(unique)
    if not len(part):
        raise TRMError(f"{name}: every puzzle was skipped")
    return part


def _csv_split(
    part: CheckedRows,
    augment: int = 0,
    seed: int = 0,
    avoid: frozenset[bytes] = frozenset(),
    progress: bool = False,
) -> Split:
    """One split of the dataset; with ``augment``, each puzzle is a group with its copies."""
    if not augment:
        return Split.of_examples(encode(part.questions), encode(part.answers), **part.extras)
    rows = {"puzzle": part.questions, "solution": part.answers, **part.extras}
    size = size_of_length(part.questions.shape[1])
    return _augmented(rows, size, augment, seed, avoid, progress)


def augment_dataset(
    path: Path, out: Path, *, k: int, split: str = "train", seed: int = 0, force: bool = False
) -> Dataset:
    """A copy of a Sudoku dataset whose ``split`` holds ``k`` augmented copies per example."""
    from puzzles.dataset import load_dataset

    if k < 1:
        raise SettingError("augment", "must be at least 1")
    check_counts(augment=k)
    if Path(out).resolve() == Path(path).resolve():
        raise SettingError("out", "must differ from the dataset being augmented")
    ds = load_dataset(path)
    if ds.task != "sudoku":
        raise TRMError(f"{path}: augmenting {ds.task!r} datasets is not built yet (sudoku only)")
    if split not in ds.splits:
        raise TRMError(f"{path}: no split {split!r} (it has {', '.join(ds.splits)})")
    size = size_of(ds.meta)
    base = ds.splits[split]
    first = base.group_start[:-1]  # augment the originals only, not earlier copies
    rows = {
        "puzzle": decode(base.inputs[first]),
        "solution": decode(base.labels[first]),
        **{key: v[first] for key, v in base.extras.items()},
    }
    splits = dict(ds.splits)
    others = [s for name, s in ds.splits.items() if name != split]
    avoid = frozenset().union(*(_puzzle_keys(s) for s in others))
    splits[split] = _augmented(rows, size, k, seed, avoid)
    meta = {
        key: v
        for key, v in ds.meta.items()
        if key not in ("splits", "format", "version", "created_by")
    }
    meta["source"] = {
        **ds.meta.get("source", {}),
        "augmented": {"split": split, "k": k, "seed": seed},
    }
    with staged_dir(out, force) as stage:
        meta = write_dataset(stage, meta, splits)
    return Dataset(Path(out), meta, splits)
