"""The on-disk dataset format, shared by every task, readable with numpy alone.

A dataset is one folder::

    DIR/dataset.json     metadata: format and version, task, seq_len, vocab, split
                         counts, task settings, and how it was made (source, seed)
    DIR/<split>.npz      one file per split (``train``, ``test``), arrays:
        inputs       (n, seq_len) uint8   token ids of the question
        labels       (n, seq_len) uint8   token ids of the answer (0 = PAD, ignored)
        puzzle_ids   (n,)         int32   which learned puzzle embedding an example uses
        group_start  (g + 1,)     int64   examples group_start[k]:group_start[k+1] come
                                          from the same original (augmented copies)
        ...          (n, ...)             task-specific extras (e.g. a Sudoku rating)

Writes are atomic: everything is written under a temporary sibling folder, which is
renamed into place at the end, so a reader sees the old dataset or the new one, never a
mix. The ``.npz`` files are written with fixed zip timestamps, so the same content gives
byte-identical files. The loader checks every file against the metadata and refuses
missing, truncated, mis-shaped or newer-format data with a message saying which.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trm import __version__
from trm.errors import SettingError, TRMError
from trm.files import DATASET_META as META_FILE
from trm.jsonfile import read_bounded, read_json_object, regular_file
from trm.staging import check_build_target, staged_folder, write_json

FORMAT = "trm-dataset"
FORMAT_VERSION = 1
CORE_ARRAYS = ("inputs", "labels", "puzzle_ids", "group_start")
MAX_SEQ_LEN = 1 << 16
MAX_PUZZLE_IDS = 1 << 24
SPLIT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_IMPORT_BYTES = 256 << 20  # a text file of puzzles (CSV imports stream instead)


@dataclass
class Split:
    inputs: np.ndarray
    labels: np.ndarray
    puzzle_ids: np.ndarray
    group_start: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def n_groups(self) -> int:
        return int(self.group_start.shape[0] - 1)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "inputs": self.inputs,
            "labels": self.labels,
            "puzzle_ids": self.puzzle_ids,
            "group_start": self.group_start,
            **self.extras,
        }

    def select(self, keep: np.ndarray) -> Split:
        """The rows where ``keep`` (a boolean mask) is true, in order; each group keeps its
        kept rows (a group with none drops out)."""
        index = np.flatnonzero(keep)
        group = np.searchsorted(self.group_start, index, side="right") - 1
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if len(index) else []
        return Split(
            self.inputs[index],
            self.labels[index],
            self.puzzle_ids[index],
            np.append(starts, len(index)).astype(np.int64),
            {key: v[index] for key, v in self.extras.items()},
        )

    @classmethod
    def of_examples(cls, inputs: np.ndarray, labels: np.ndarray, **extras: np.ndarray) -> Split:
        """A split where every example is its own group and uses puzzle id 0."""
        n = len(inputs)
        return cls(
            np.asarray(inputs, np.uint8),
            np.asarray(labels, np.uint8),
            np.zeros(n, np.int32),
            np.arange(n + 1, dtype=np.int64),
            dict(extras),
        )


@dataclass
class Dataset:
    path: Path
    meta: dict
    splits: dict[str, Split]

    @property
    def task(self) -> str:
        return self.meta["task"]


# --------------------------------------------------------------------------- writing


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``.npz`` numpy can read, byte-identical for identical arrays (fixed timestamps)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def check_out_dir(out: Path, force: bool) -> None:
    """Refuse to write over something that is not ours, or over a dataset without force;
    never inside a dataset, run or checkpoint, never through a link."""
    check_build_target(
        out,
        force,
        noun="dataset",
        a_noun="a dataset",
        holds=lambda folder: (folder / META_FILE).exists(),
        own=dataset_files,
    )


# files a dataset folder may hold beside dataset.json and one .npz per split
EXTRA_FILES = ("augmentations.npz",)  # (ARC's augmentation table)


def dataset_files(folder: Path) -> list[str]:
    """The names of the dataset's own files in ``folder`` (what ``force`` may replace):
    its metadata, its splits and known extras; the user's other files are not among them."""
    folder = Path(folder)
    names = [META_FILE, *EXTRA_FILES]
    try:
        splits = read_json_object(folder / META_FILE).get("splits", {})
    except TRMError:
        splits = {}
    if isinstance(splits, dict):
        names += [f"{name}.npz" for name in splits if isinstance(name, str) and "/" not in name]
    return [n for n in names if (folder / n).exists() or (folder / n).is_symlink()]


def staged_dir(out: Path, force: bool):
    """A folder to build a dataset in, swapped into ``out`` when the block succeeds (a
    dataset there only with ``force``, and then only its own files are replaced); see
    :func:`trm.staging.staged_folder`."""
    return staged_folder(out, lambda target: check_out_dir(target, force), dataset_files)


def write_dataset(folder: Path, meta: dict, splits: dict[str, Split]) -> dict:
    """Write the split files and the metadata into ``folder`` (metadata last); returns it."""
    meta = {
        **meta,
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created_by": f"trm {__version__}",
        "splits": {name: {"examples": len(s), "groups": s.n_groups} for name, s in splits.items()},
    }
    for name, split in splits.items():
        _check_split(split, meta, name, Path(folder))
        save_npz(Path(folder) / f"{name}.npz", split.arrays())
    write_json(Path(folder) / META_FILE, meta)
    return meta


# --------------------------------------------------------------------------- reading


def read_meta(path: Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise TRMError(f"{path}: no such dataset folder")
    if not path.is_dir():
        raise TRMError(f"{path}: not a folder (a dataset is a folder with {META_FILE})")
    meta_path = path / META_FILE
    if not meta_path.exists():
        raise TRMError(f"{path}: not a dataset ({META_FILE} is missing)")
    regular_file(meta_path, "dataset metadata file")
    try:
        meta = read_json_object(meta_path)
    except TRMError as e:
        raise TRMError(
            f"{meta_path}: corrupt metadata ({str(e).removeprefix(f'{meta_path}: ')})"
        ) from None
    if meta.get("format") != FORMAT:
        raise TRMError(f"{meta_path}: not a {FORMAT} metadata file")
    version = meta.get("version")
    if not isinstance(version, int) or version < 1:
        raise TRMError(f"{meta_path}: bad format version {version!r}")
    if version > FORMAT_VERSION:
        raise TRMError(
            f"{meta_path}: format version {version} is newer than this trm reads "
            f"({FORMAT_VERSION}): upgrade trm"
        )
    for key, kind in (("task", str), ("seq_len", int), ("vocab", list), ("splits", dict)):
        if not isinstance(meta.get(key), kind):
            raise TRMError(f"{meta_path}: field {key!r} is missing or not a {kind.__name__}")
    if not 1 <= meta["seq_len"] <= MAX_SEQ_LEN:
        raise TRMError(f"{meta_path}: seq_len {meta['seq_len']} out of range")
    if not 2 <= len(meta["vocab"]) <= 256:
        raise TRMError(f"{meta_path}: vocab of {len(meta['vocab'])} tokens (2-256 allowed)")
    ids = meta.get("num_puzzle_ids", 1)
    if type(ids) is not int or not 1 <= ids <= MAX_PUZZLE_IDS:
        raise TRMError(
            f"{meta_path}: num_puzzle_ids must be an integer from 1 to "
            f"{MAX_PUZZLE_IDS}, got {str(ids)[:40]}"
        )
    for name, info in meta["splits"].items():
        if not SPLIT_NAME.fullmatch(name):
            raise TRMError(
                f"{meta_path}: split name {name[:40]!r} is not a plain name "
                "(letters, digits, - and _)"
            )
        if not (
            isinstance(info, dict)
            and isinstance(info.get("examples"), int)
            and isinstance(info.get("groups"), int)
        ):
            raise TRMError(f"{meta_path}: split {name!r} lacks example and group counts")
    _check_task_info(meta, meta_path)
    return meta


def _check_task_info(meta: dict, meta_path: Path) -> None:
    """The task is one trm knows, and its ``task_info`` is what the task says it must be
    (a 9x9 Sudoku is 81 tokens)."""
    from puzzles.tasks import get_task

    info = meta.get("task_info", {})
    if not isinstance(info, dict):
        raise TRMError(f"{meta_path}: field 'task_info' is not an object")
    try:
        task = get_task(meta["task"])
    except TRMError as e:  # an unknown task: say which file names it
        raise TRMError(f"{meta_path}: {e}") from None
    problem = task.check_meta(meta) if task.check_meta else None
    if problem:
        raise TRMError(f"{meta_path}: {problem}")


def _check_split(split: Split, meta: dict, name: str, path: Path) -> None:
    where = f"{path / (name + '.npz')}"
    n, seq_len = len(split.inputs), meta["seq_len"]
    for key in ("inputs", "labels"):
        a = getattr(split, key)
        if a.dtype != np.uint8 or a.shape != (n, seq_len):
            raise TRMError(
                f"{where}: {key} should be uint8 of shape ({n}, {seq_len}), got {a.dtype} {a.shape}"
            )
        if n and int(a.max()) >= len(meta["vocab"]):
            raise TRMError(f"{where}: {key} holds token {int(a.max())}, outside the vocab")
    if split.puzzle_ids.dtype != np.int32 or split.puzzle_ids.shape != (n,):
        raise TRMError(f"{where}: puzzle_ids should be int32 of shape ({n},)")
    if n and (
        split.puzzle_ids.min() < 0 or split.puzzle_ids.max() >= meta.get("num_puzzle_ids", 1)
    ):
        raise TRMError(f"{where}: puzzle_ids out of range")
    gs = split.group_start
    if (
        gs.dtype != np.int64
        or gs.ndim != 1
        or len(gs) < 1
        or gs[0] != 0
        or gs[-1] != n
        or np.any(np.diff(gs) <= 0)
    ):
        raise TRMError(f"{where}: group_start must rise strictly from 0 to {n}")
    for key, a in split.extras.items():
        if a.shape[:1] != (n,):
            raise TRMError(f"{where}: {key} has {a.shape[:1]} rows, expected {n}")


def load_split(path: Path, meta: dict, name: str) -> Split:
    file = Path(path) / f"{name}.npz"
    if name not in meta["splits"]:
        raise TRMError(f"{path}: no split {name!r} (it has {', '.join(meta['splits']) or 'none'})")
    if not file.exists():
        raise TRMError(f"{file}: missing (the metadata lists split {name!r})")
    regular_file(file, "split file")
    _check_declared_sizes(file, meta["splits"][name]["examples"], meta["seq_len"])
    try:
        with np.load(file, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise TRMError(f"{file}: corrupt or truncated ({e})") from None
    missing = [k for k in CORE_ARRAYS if k not in arrays]
    if missing:
        raise TRMError(f"{file}: missing arrays {', '.join(missing)}")
    split = Split(*(arrays.pop(k) for k in CORE_ARRAYS), extras=arrays)
    info = meta["splits"][name]
    if len(split) != info["examples"] or split.n_groups != info["groups"]:
        raise TRMError(
            f"{file}: holds {len(split)} examples in {split.n_groups} groups, "
            f"metadata says {info['examples']} in {info['groups']}"
        )
    _check_split(split, meta, name, Path(path))
    return split


def _check_declared_sizes(file: Path, examples: int, seq_len: int) -> None:
    """Read each array's header (not its data) and refuse a split that claims more than its
    metadata allows: a few bytes of compressed file must not make numpy allocate gigabytes."""
    allowed = (examples + 1) * (4 * seq_len + 4096)  # inputs, labels, ids and extras per row
    declared = 0
    try:
        with zipfile.ZipFile(file) as zf:
            for member in zf.infolist():
                with zf.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    read = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read(f)
                declared += int(np.prod(shape, dtype=object)) * dtype.itemsize
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise TRMError(f"{file}: corrupt or truncated ({e})") from None
    if declared > allowed:
        raise TRMError(
            f"{file}: its arrays claim {declared:,} bytes, more than {examples:,} "
            f"examples of {seq_len} tokens can need ({allowed:,})"
        )


def load_dataset(path: Path, splits: list[str] | None = None) -> Dataset:
    """Read and check a dataset folder (all splits, or the ones named)."""
    path = Path(path)
    meta = read_meta(path)
    names = list(meta["splits"]) if splits is None else splits
    return Dataset(path, meta, {name: load_split(path, meta, name) for name in names})


def read_import_file(file: Path) -> tuple[str, str]:
    """An outside file to import: its text and the SHA-256 of its bytes (for the metadata)."""
    file = Path(file)
    if file.is_dir():
        raise SettingError(f"{file}: a directory; `import` takes one puzzle file")
    data = read_bounded(
        file,
        MAX_IMPORT_BYTES,
        "too much puzzle text: split it, or use the CSV layout (read as it streams)",
        "puzzle file",
    )
    try:
        return data.decode("utf-8"), hashlib.sha256(data).hexdigest()
    except UnicodeDecodeError:
        raise TRMError(f"{file}: not a text file") from None
