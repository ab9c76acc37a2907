"""An official TRM ARC build read into our dataset format, keeping its puzzle ids.

The official ``dataset/build_arc_dataset.py`` writes a folder with ``identifiers.json``
(the name of every puzzle id: ``<blank>`` for id 0, then ``TASK`` for a task's original
and ``TASK|||tD|||PERM`` for each augmentation, ``D`` its dihedral id and ``PERM`` the new
colour of each colour 0-9), ``test_puzzles.json`` (the raw test-set tasks, outputs
included) and ``train/`` / ``test/`` arrays of every augmented pair. A checkpoint of the
official code has learned one puzzle embedding per id, so evaluating it needs exactly those
ids and augmentations: :func:`read_build` turns the folder into our :class:`Source` (the
test-set tasks from ``test_puzzles.json``, every other task's pairs decoded from the
untransformed rows of ``train/``) and an :class:`AugmentationTable` whose rows are the
official ids (id 0 and any other leading ``<blank>`` ids belong to no task).

Only ``.json`` and ``.npy`` files are read (``allow_pickle=False``, memory-mapped: an
ARC-AGI-1 + ConceptARC build's arrays are several GB, of which a few thousand rows are
read); every name, shape and value is checked, and a problem is one :class:`TRMError`
naming the file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from puzzles.arc.augment import Augmentation, AugmentationTable
from puzzles.arc.grid import N_COLOURS, ArcTask, Pair, parse_task
from puzzles.arc.sources import Source, read_json
from puzzles.arc.tokens import SEQ_LEN, decode
from trm.errors import SettingError, TRMError
from trm.jsonfile import regular_file

SEPARATOR = "|||"
BLANK = "<blank>"
# the official dihedral ids (dataset/common.py: rot90 x1-3, fliplr, flipud, transpose,
# fliplr after rot90) as ours (puzzles.arc.augment's table)
OFFICIAL_DIHEDRAL = (0, 1, 2, 3, 5, 6, 4, 7)
MAX_IDS = 10_000_000  # an official ARC-AGI-2 build with 1000 augmentations has ~1.1M


def parse_name(name: object, where: str) -> tuple[str, Augmentation]:
    """The task and augmentation an official puzzle name stands for."""
    if not isinstance(name, str) or not name:
        raise TRMError(f"{where}: a puzzle name must be a non-empty string, got {name!r}")
    if SEPARATOR not in name:
        return name, Augmentation(0)
    parts = name.split(SEPARATOR)
    if (
        len(parts) != 3
        or not parts[0]
        or len(parts[1]) != 2
        or parts[1][0] != "t"
        or parts[1][1] not in "01234567"
        or len(parts[2]) != N_COLOURS
        or not parts[2].isdigit()
    ):
        raise TRMError(f"{where}: {name!r} is not TASK|||tD|||PERM (D 0-7, PERM ten digits)")
    colours = tuple(int(c) for c in parts[2])
    try:
        return parts[0], Augmentation(OFFICIAL_DIHEDRAL[int(parts[1][1])], colours)
    except ValueError:
        raise TRMError(f"{where}: {name!r}: the colour map must permute 0-9 keeping 0") from None


def read_identifiers(path: Path) -> tuple[list[str], AugmentationTable, str]:
    """The task names, in id order, the table of every id of ``identifiers.json``, and the
    file's SHA-256."""
    names, sha = read_json(path)
    if not isinstance(names, list) or not names or len(names) > MAX_IDS:
        raise TRMError(f"{path}: expected a list of 1 to {MAX_IDS} puzzle names")
    blank = next((i for i, n in enumerate(names) if n != BLANK), len(names))
    if blank == 0 or blank == len(names):
        raise TRMError(
            f"{path}: an official build's list starts with {BLANK!r} (id 0) and "
            "names some puzzles after it"
        )
    tasks: list[str] = []
    start, dihedral, colours = [], [0] * blank, [tuple(range(N_COLOURS))] * blank
    for i in range(blank, len(names)):
        task, aug = parse_name(names[i], f"{path}: id {i}")
        if not tasks or task != tasks[-1]:
            if aug != Augmentation(0) or SEPARATOR in names[i]:
                raise TRMError(
                    f"{path}: id {i} ({names[i]!r}) starts task {task} but is not "
                    "its original (a task's ids are one block, original first)"
                )
            if task in tasks:
                raise TRMError(f"{path}: task {task}'s ids are not one block (again at id {i})")
            tasks.append(task)
            start.append(i)
        dihedral.append(aug.dihedral)
        colours.append(aug.colours)
    table = AugmentationTable(
        np.asarray([*start, len(names)], np.int64),
        np.asarray(dihedral, np.uint8),
        np.asarray(colours, np.uint8),
    )
    return tasks, table, sha


def _load_array(file: Path, ndim: int) -> np.ndarray:
    if not file.exists():
        raise TRMError(f"{file}: missing (an official build has train/all__*.npy)")
    try:
        array = np.load(regular_file(file, ".npy array"), mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise TRMError(f"{file}: not a readable .npy array ({e})") from None
    if array.ndim != ndim or not np.issubdtype(array.dtype, np.integer):
        raise TRMError(
            f"{file}: expected a {ndim}-d integer array, got {array.ndim}-d {array.dtype}"
        )
    return array


def _training_pairs(folder: Path, wanted: dict[int, str]) -> dict[str, tuple[Pair, ...]]:
    """The pairs of the tasks whose original ids are ``wanted`` (id -> task), decoded from
    the rows of ``train/`` that carry those ids (the untransformed puzzles; translated)."""
    train = folder / "train"
    inputs = _load_array(train / "all__inputs.npy", 2)
    labels = _load_array(train / "all__labels.npy", 2)
    ids = np.asarray(_load_array(train / "all__puzzle_identifiers.npy", 1))
    starts = np.asarray(_load_array(train / "all__puzzle_indices.npy", 1))
    if inputs.shape != labels.shape or inputs.shape[1:] != (SEQ_LEN,):
        raise TRMError(
            f"{train}: inputs and labels must both be (N, {SEQ_LEN}), got "
            f"{inputs.shape} and {labels.shape}"
        )
    if (
        len(starts) != len(ids) + 1
        or starts[0] != 0
        or starts[-1] != len(inputs)
        or np.any(np.diff(starts) <= 0)
    ):
        raise TRMError(
            f"{train}: all__puzzle_indices.npy does not split the {len(inputs)} rows "
            f"into the {len(ids)} puzzles of all__puzzle_identifiers.npy"
        )
    pairs: dict[str, tuple[Pair, ...]] = {}
    for p in np.flatnonzero(np.isin(ids, np.fromiter(wanted, np.int64, len(wanted)))):
        task = wanted[int(ids[p])]
        if task in pairs:
            raise TRMError(f"{train}: task {task}'s original puzzle appears twice")
        rows = range(int(starts[p]), int(starts[p + 1]))
        try:
            pairs[task] = tuple(
                Pair(decode(np.asarray(inputs[r])), decode(np.asarray(labels[r]))) for r in rows
            )
        except TRMError as e:
            raise TRMError(
                f"{train}: task {task} (rows {rows.start}-{rows.stop - 1}): {e}"
            ) from None
    missing = [t for t in wanted.values() if t not in pairs]
    if missing:
        raise TRMError(f"{train}: no pairs of task {missing[0]} (and {len(missing) - 1} more)")
    return pairs


def read_build(folder: Path) -> tuple[Source, AugmentationTable]:
    """The tasks of an official ARC build folder, in its id order, and their augmentations."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SettingError("official", f"{folder}: not a folder")
    names, table, ids_sha = read_identifiers(folder / "identifiers.json")
    raw, sha = read_json(folder / "test_puzzles.json")
    if not isinstance(raw, dict):
        raise TRMError(f"{folder / 'test_puzzles.json'}: expected an object of tasks")
    known = set(names)
    unknown = [t for t in raw if t not in known]
    if unknown:
        raise TRMError(
            f"{folder / 'test_puzzles.json'}: task {unknown[0]} has no puzzle id in "
            "identifiers.json"
        )
    tests = {t: parse_task(v, t, str(folder / "test_puzzles.json")) for t, v in raw.items()}
    wanted = {int(table.start[i]): t for i, t in enumerate(names) if t not in tests}
    trained = _training_pairs(folder, wanted) if wanted else {}
    tasks = [tests[t] if t in tests else ArcTask(t, trained[t], (), "training") for t in names]
    info = {
        "kind": "official-build",
        "path": folder.name,
        "sha256": hashlib.sha256((ids_sha + sha).encode()).hexdigest(),
        "blank_ids": int(table.start[0]),
    }
    return Source(tasks, info), table
