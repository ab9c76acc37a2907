"""The CSV layout of the published Sudoku-Extreme and Maze-Hard sets, read fast.

The official TRM repository builds its Sudoku and maze data from two Hugging Face
datasets (``sapientinc/sudoku-extreme``, ``sapientinc/maze-30x30-hard-1k``). Both hold a
``train.csv`` and a ``test.csv`` of the same layout::

    source,question,answer,rating
    puzzles0_kaggle,..3.5..........,123456789...,4

one header line, then one row per puzzle: where it comes from, the question and the answer
as fixed-width strings of cell characters (row-major), and an integer rating. Fields may be
quoted (the rows are read with :mod:`csv`). Nothing is downloaded here: a user brings the
files, either one CSV or a folder holding both.

The real files are large (Sudoku-Extreme's train.csv has about 3.8 million rows), so rows
are read in chunks of :data:`CHUNK_ROWS` and each chunk is turned into numpy arrays at once;
the task modules check them with whole-array operations. Every problem is one
:class:`TRMError` naming ``FILE:LINE``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from trm.errors import SettingError, TRMError
from trm.jsonfile import regular_file

HEADER = ("source", "question", "answer", "rating")
SPLIT_FILES = {"train": "train.csv", "test": "test.csv"}
CHUNK_ROWS = 1 << 16
LAYOUT = ",".join(HEADER)


@dataclass
class Chunk:
    """Up to :data:`CHUNK_ROWS` rows of one file, in file order."""

    questions: list[str]
    answers: list[str]
    ratings: np.ndarray  # (n,) int64
    lines: np.ndarray  # (n,) int64, the line each row ends on (1-based)


def is_csv_import(path: Path) -> bool:
    """Is ``path`` meant to be in this layout: a folder (of train.csv and test.csv), or a
    file whose first line has three or more fields?

    A file whose first line is, say, ``1,2,3,4`` counts too: reading it then says that the
    header is missing, which is more helpful than a puzzle-file error.
    """
    path = Path(path)
    if path.is_dir():
        return True
    if not path.is_file():
        return False
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        first = f.readline()
    try:
        return len(next(csv.reader([first]), [])) >= 3
    except csv.Error:
        return False


def _named(options: dict[str, object]) -> list[str]:
    """The settings given (not None, False or 0), in backticks."""
    return [f"`{name}`" for name, value in options.items() if value not in (None, False, 0)]


def refuse_csv_options(path: Path, options: dict[str, object]) -> None:
    """Refuse, by setting, the options given that only a CSV import takes."""
    given = _named(options)
    if given:
        raise SettingError(
            f"{', '.join(given)} go with the {LAYOUT} CSV layout (a file, or a "
            f"folder with train.csv and test.csv), not with {Path(path).name}"
        )


def split_files(path: Path) -> dict[str, Path]:
    """The CSV files of ``path``: ``{"test": path}`` for a file, train and test for a folder."""
    path = Path(path)
    if path.is_file():
        return {"test": path}
    if not path.is_dir():
        raise TRMError(f"{path}: no such file or folder")
    missing = [name for name in SPLIT_FILES.values() if not (path / name).exists()]
    if missing:
        raise TRMError(
            f"{path}: a folder to import holds train.csv and test.csv (the official "
            f"layout); {' and '.join(missing)} missing"
        )
    return {split: path / name for split, name in SPLIT_FILES.items()}


def check_training_options(
    files: dict[str, Path], subsample: int | None, changes: dict[str, object]
) -> None:
    """Refuse ``subsample`` below 1, and the options given that change the training split
    (the subsample and ``changes``, by setting) when the import has no train.csv."""
    if subsample is not None and subsample < 1:
        raise SettingError("subsample", "must be at least 1")
    given = _named({"subsample": subsample, **changes})
    if "train" not in files and given:
        raise SettingError(
            f"{' and '.join(given)} change{'s' if len(given) == 1 else ''} the training split: import a folder "
            "with train.csv and test.csv"
        )


@dataclass
class CheckedRows:
    """The rows of one file after its task checked them: questions and answers as cell
    values ``(n, cells)``, the line each row ends on, per-row extras (e.g.
    ``source_rating``: the rating column) and what the file was (name, SHA-256, rows)."""

    questions: np.ndarray  # (n, cells) int8
    answers: np.ndarray  # (n, cells) int8
    lines: np.ndarray  # (n,) int64
    extras: dict[str, np.ndarray]
    info: dict

    def __len__(self) -> int:
        return len(self.lines)

    def take(self, rows: np.ndarray) -> CheckedRows:
        return CheckedRows(
            self.questions[rows],
            self.answers[rows],
            self.lines[rows],
            {k: v[rows] for k, v in self.extras.items()},
            self.info,
        )


class _HashingReader(io.RawIOBase):
    """A binary file that hashes what is read from it and reports the bytes to a bar."""

    def __init__(self, raw, bar: tqdm):
        self.raw, self.bar, self.sha256 = raw, bar, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        if n:
            self.sha256.update(memoryview(buffer)[:n])
            self.bar.update(n)
        return n


class CsvFile:
    """One file in the layout: iterate :meth:`chunks`, then read :attr:`sha256` and
    :attr:`rows` (the number of data rows)."""

    def __init__(self, file: Path, progress: bool = True):
        self.file = Path(file)
        self.name = self.file.name
        self.progress = progress
        self.sha256 = ""
        self.rows = 0

    def where(self, line: int) -> str:
        return f"{self.name}:{line}"

    def chunks(self) -> Iterator[Chunk]:
        regular_file(self.file, "CSV file")
        bar = tqdm(
            total=self.file.stat().st_size,
            desc=f"reading {self.name}",
            unit="B",
            unit_scale=True,
            disable=not self.progress,
            dynamic_ncols=True,
            mininterval=0.5,
        )
        with bar, open(self.file, "rb", buffering=0) as raw:
            hashing = _HashingReader(raw, bar)
            text = io.TextIOWrapper(
                io.BufferedReader(hashing, 1 << 20), encoding="utf-8-sig", newline=""
            )
            reader = csv.reader(text)
            try:
                yield from self._chunks(reader)
            except UnicodeDecodeError:
                raise TRMError(f"{self.name}: not a UTF-8 text file") from None
            except csv.Error as e:
                raise TRMError(f"{self.where(reader.line_num)}: not valid CSV ({e})") from None
            self.sha256 = hashing.sha256.hexdigest()

    def checked(self, parts: list[CheckedRows]) -> CheckedRows:
        """The checked chunks of this file (read to its end) as one :class:`CheckedRows`."""
        return CheckedRows(
            np.concatenate([p.questions for p in parts]),
            np.concatenate([p.answers for p in parts]),
            np.concatenate([p.lines for p in parts]),
            {k: np.concatenate([p.extras[k] for p in parts]) for k in parts[0].extras},
            {"file": self.name, "sha256": self.sha256, "rows": self.rows},
        )

    def _chunks(self, reader) -> Iterator[Chunk]:
        header = next(reader, None)
        q, a, r = self._columns(header)
        width = len(header)
        questions, answers, ratings, lines = [], [], [], []
        for row in reader:
            if not row:  # an empty line
                continue
            if len(row) != width:
                raise TRMError(
                    f"{self.where(reader.line_num)}: {len(row)} fields, expected "
                    f"{width} ({','.join(header)})"
                )
            questions.append(row[q])
            answers.append(row[a])
            ratings.append(row[r])
            lines.append(reader.line_num)
            if len(lines) == CHUNK_ROWS:
                yield self._chunk(questions, answers, ratings, lines)
                questions, answers, ratings, lines = [], [], [], []
        if lines:
            yield self._chunk(questions, answers, ratings, lines)
        if not self.rows:
            raise TRMError(f"{self.name}: no rows after the header")

    def _columns(self, header: list[str] | None) -> tuple[int, int, int]:
        """Where the question, answer and rating columns are; the header must name them."""
        if header is None:
            raise TRMError(f"{self.name}: empty file (expected the header line {LAYOUT})")
        names = [h.strip().lower() for h in header]
        missing = [c for c in HEADER[1:] if c not in names]
        if missing:
            raise TRMError(
                f"{self.where(1)}: the header line {LAYOUT} is missing (the first "
                f"line has no column {missing[0]!r})"
            )
        return tuple(names.index(c) for c in HEADER[1:])

    def _chunk(self, questions, answers, ratings, lines) -> Chunk:
        lines = np.asarray(lines, np.int64)
        self.rows += len(lines)
        return Chunk(questions, answers, self._ratings(ratings, lines), lines)

    def _ratings(self, ratings: list[str], lines: np.ndarray) -> np.ndarray:
        try:
            return np.array(ratings).astype(np.int64)
        except (ValueError, OverflowError):
            pass
        for value, line in zip(ratings, lines):  # the slow way, to name the bad row
            try:
                np.int64(int(value))
            except (ValueError, OverflowError):
                raise TRMError(
                    f"{self.where(line)}: rating {value!r} is not an integer (or out of range)"
                ) from None
        raise AssertionError("numpy refused a rating that int() takes")  # pragma: no cover

    def chars(
        self,
        strings: list[str],
        lines: np.ndarray,
        width: int,
        what: str,
        table: np.ndarray,
        expected: str,
    ) -> np.ndarray:
        """``(n, width)`` int8 cell values of equal-width strings, through ``table`` (ASCII
        code -> value, -1 for a character not allowed); the first bad row is an error."""
        lengths = np.fromiter(map(len, strings), np.int64, len(strings))
        bad = np.flatnonzero(lengths != width)
        if bad.size:
            i = bad[0]
            raise TRMError(
                f"{self.where(lines[i])}: the {what} has {lengths[i]} characters, expected {width}"
            )
        codes = np.frombuffer("".join(strings).encode("ascii", "replace"), np.uint8)
        values = table[codes].reshape(len(strings), width)
        bad_row, bad_col = np.nonzero(values < 0)
        if bad_row.size:
            i, j = bad_row[0], bad_col[0]
            raise TRMError(
                f"{self.where(lines[i])}: bad character {strings[i][j]!r} at cell "
                f"{j + 1} of the {what} (expected {expected})"
            )
        return values


def char_table(codes: dict[str, int]) -> np.ndarray:
    """An ASCII-code lookup table for :meth:`CsvFile.chars`: -1 where not in ``codes``."""
    table = np.full(256, -1, np.int8)
    for ch, value in codes.items():
        table[ord(ch)] = value
    return table


def subsample(rows: CheckedRows, k: int | None, seed: int, task: str) -> CheckedRows:
    """``k`` of the rows drawn at random (seeded), in file order; all when ``k`` is None
    or at least their number, as in the official build scripts."""
    if k is None or k >= len(rows):
        return rows
    picked = random.Random(f"{task}-subsample/{seed}").sample(range(len(rows)), k)
    return rows.take(np.sort(np.asarray(picked, np.int64)))


def first_bad(bad: np.ndarray) -> int | None:
    """The index of the first True in a boolean vector, None when all are False."""
    hits = np.flatnonzero(bad)
    return int(hits[0]) if hits.size else None
