"""CIFAR-10 and CIFAR-100 on disk: read the official python and binary batches, safely.

The four official layouts (each is one folder, as extracted from its archive)::

    CIFAR-10, python   data_batch_1 .. data_batch_5, test_batch, batches.meta
    CIFAR-10, binary   data_batch_1.bin .. data_batch_5.bin, test_batch.bin, batches.meta.txt
    CIFAR-100, python  train, test, meta
    CIFAR-100, binary  train.bin, test.bin, fine_label_names.txt, coarse_label_names.txt

Python batches are pickles of dicts with bytes keys (``b"data"``: uint8 ``(n, 3072)``,
``b"labels"`` or ``b"fine_labels"``/``b"coarse_labels"``: lists of ints, ``b"filenames"``,
``b"batch_label"``); the meta files hold the class names. Pickles can run code, so they are
read by :mod:`vision.pickles`'s restricted unpickler. Binary batches are records of one label byte
(CIFAR-100: coarse byte, fine byte) and 3072 pixel bytes (1024 red, 1024 green, 1024 blue,
rows of 32 left to right).

:func:`load_images` accepts a layout folder or the folder one level up (the one holding
``cifar-10-batches-py/``), tells the dataset from the files present, checks every file, and
refuses anything missing, truncated or malformed with a one-line message naming the file.

:func:`write_cifar10_python` writes the same pickles the official files are
(:func:`vision.pickles.write_python_pickle`), so any CIFAR reader reads what we generate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trm import staging
from trm.errors import TRMError
from vision.pickles import printable, read_pickle, write_python_pickle

IMAGE_SHAPE = (3, 32, 32)
PIXELS = 3 * 32 * 32  # 3072 bytes per image
TRAIN_BATCHES = 5


# --------------------------------------------------------------------------- datasets


@dataclass
class ImageSplit:
    """One split: ``images`` uint8 ``(n, 3, 32, 32)`` (channels R, G, B), ``labels`` int64
    ``(n,)``; CIFAR-100 also has ``coarse_labels`` int64 ``(n,)`` (its 20 superclasses)."""

    images: np.ndarray
    labels: np.ndarray
    coarse_labels: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class ImageData:
    """A dataset: ``name`` is "cifar10", "cifar100" or "synthetic"; ``classes`` the class
    names (CIFAR-100: the 100 fine ones; ``coarse_classes`` the 20 superclasses).
    ``path`` is the folder the batches were read from, ``format`` "python" or "binary",
    ``info`` the generator settings of a synthetic set (empty otherwise)."""

    name: str
    classes: list[str]
    train: ImageSplit
    test: ImageSplit
    path: Path | None = None
    format: str = "python"
    coarse_classes: list[str] | None = None
    info: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _batch(split: ImageSplit, names: list[str], start: int, stop: int, label: str) -> dict:
    labels = split.labels[start:stop]
    return {
        b"batch_label": label.encode(),
        b"labels": [int(x) for x in labels],
        b"data": split.images[start:stop].reshape(-1, PIXELS),
        b"filenames": [f"{names[y]}_s_{start + i:06d}.png".encode() for i, y in enumerate(labels)],
    }


def write_cifar10_python(folder: Path, data: ImageData, meta: dict | None = None) -> None:
    """``data`` (32x32 RGB, up to 256 classes) written into ``folder`` in the CIFAR-10 python
    layout: ``data_batch_1..5`` (the training images in five parts), ``test_batch``,
    ``batches.meta`` (the class names, and ``meta``'s entries besides)."""
    folder = Path(folder)
    train = len(data.train)
    bounds = np.linspace(0, train, TRAIN_BATCHES + 1).round().astype(int)
    for i in range(TRAIN_BATCHES):
        write_python_pickle(
            folder / f"data_batch_{i + 1}",
            _batch(
                data.train,
                data.classes,
                bounds[i],
                bounds[i + 1],
                f"training batch {i + 1} of {TRAIN_BATCHES}",
            ),
        )
    write_python_pickle(
        folder / "test_batch",
        _batch(data.test, data.classes, 0, len(data.test), "testing batch 1 of 1"),
    )
    write_python_pickle(
        folder / "batches.meta",
        {
            b"num_cases_per_batch": int(bounds[1] - bounds[0]),
            b"label_names": [name.encode() for name in data.classes],
            b"num_vis": PIXELS,
            **(meta or {}),
        },
    )


# --------------------------------------------------------------------------- layouts


@dataclass(frozen=True)
class Layout:
    """One official folder layout: which dataset, which format, the files it needs."""

    name: str  # cifar10 | cifar100
    format: str  # python | binary
    files: tuple[str, ...]


FOLDER_LAYOUTS = (
    Layout(
        "cifar10",
        "python",
        (
            *tuple(f"data_batch_{i}" for i in range(1, TRAIN_BATCHES + 1)),
            "test_batch",
            "batches.meta",
        ),
    ),
    Layout(
        "cifar10",
        "binary",
        (
            *tuple(f"data_batch_{i}.bin" for i in range(1, TRAIN_BATCHES + 1)),
            "test_batch.bin",
            "batches.meta.txt",
        ),
    ),
    Layout("cifar100", "python", ("train", "test", "meta")),
    Layout(
        "cifar100",
        "binary",
        ("train.bin", "test.bin", "fine_label_names.txt", "coarse_label_names.txt"),
    ),
)
EXPECTED = (
    "data_batch_1..5, test_batch, batches.meta (CIFAR-10), train, test, meta "
    "(CIFAR-100), or their binary versions"
)


def _layout_in(folder: Path) -> Layout | None:
    """The layout whose files ``folder`` holds (all of them first; else any of them)."""
    present = [lay for lay in FOLDER_LAYOUTS if any((folder / f).is_file() for f in lay.files)]
    complete = [lay for lay in present if all((folder / f).is_file() for f in lay.files)]
    if complete:
        return complete[0]  # python before binary when a folder has both
    if len(present) > 1:
        files = sorted({f for lay in present for f in lay.files if (folder / f).is_file()})
        raise TRMError(
            f"{folder}: mixes files of several CIFAR layouts ({', '.join(files)}) "
            "and none is complete"
        )
    return present[0] if present else None


def find_layout(folder: Path) -> tuple[Path, Layout] | None:
    """The CIFAR folder inside ``folder`` (itself, or one sub-folder) and its layout."""
    folder = Path(folder)
    layout = _layout_in(folder)
    if layout is not None:
        return folder, layout
    found = [
        (sub, lay)
        for sub in sorted(p for p in folder.iterdir() if p.is_dir())
        if not staging.is_tool_entry(sub.name) and (lay := _layout_in(sub)) is not None
    ]
    if len(found) > 1:
        raise TRMError(
            f"{folder}: holds several CIFAR folders "
            f"({', '.join(sub.name for sub, _ in found)}): give one of them"
        )
    return found[0] if found else None


def load_images(folder: Path) -> ImageData:
    """Read and check a CIFAR-10 or CIFAR-100 folder (python or binary batches), or a
    synthetic set written in the CIFAR-10 python layout."""
    folder = Path(folder)
    if not folder.exists():
        raise TRMError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise TRMError(f"{folder}: not a folder (give the folder that holds the CIFAR batches)")
    found = find_layout(folder)
    if found is None:
        raise TRMError(f"{folder}: no CIFAR files here or in a folder inside (expected {EXPECTED})")
    path, layout = found
    for name in layout.files:
        if not (path / name).is_file():
            raise TRMError(
                f"{path / name}: missing (a {layout.format}-format "
                f"{'CIFAR-10' if layout.name == 'cifar10' else 'CIFAR-100'} folder "
                f"needs {', '.join(layout.files)})"
            )
    reader = {
        ("cifar10", "python"): _cifar10_python,
        ("cifar10", "binary"): _cifar10_binary,
        ("cifar100", "python"): _cifar100_python,
        ("cifar100", "binary"): _cifar100_binary,
    }[(layout.name, layout.format)]
    data = reader(path)
    data.path, data.format = path, layout.format
    return data


# --------------------------------------------------------------------------- checks


def _dict(path: Path, obj: object, *keys: bytes) -> dict:
    if not isinstance(obj, dict):
        raise TRMError(f"{path}: holds a {type(obj).__name__}, not the dict of a CIFAR file")
    missing = [k.decode() for k in keys if k not in obj]
    if missing:
        raise TRMError(f"{path}: no {', '.join(missing)} entry")
    return obj


def _names(path: Path, value: object, key: str) -> list[str]:
    if not isinstance(value, (list, tuple)) or not value:
        raise TRMError(f"{path}: {key} should be a non-empty list of names")
    names = []
    for v in value:
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        if not isinstance(v, str) or not v.strip():
            raise TRMError(f"{path}: {key} holds {printable(repr(v))}, not a name")
        names.append(v.strip())
    if len(set(names)) != len(names):
        raise TRMError(f"{path}: {key} repeats a name")
    return names


def _text_names(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TRMError(f"{path}: not a text file of class names") from None
    return _names(path, [line for line in text.splitlines() if line.strip()], "the file")


def _pixels(path: Path, value: object) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise TRMError(f"{path}: data is a {type(value).__name__}, not a numpy array")
    if value.dtype != np.uint8 or value.ndim != 2 or value.shape[1] != PIXELS:
        raise TRMError(
            f"{path}: data should be uint8 of shape (n, {PIXELS}), got {value.dtype} {value.shape}"
        )
    return value.reshape(-1, *IMAGE_SHAPE)


def _labels(path: Path, value: object, key: str, n: int, num_classes: int) -> np.ndarray:
    try:
        labels = np.asarray(value)
    except (ValueError, TypeError):
        labels = np.asarray([], dtype=object)
    if labels.ndim != 1 or (len(labels) and labels.dtype.kind not in "iu"):
        raise TRMError(f"{path}: {key} should be a list of integers")
    if len(labels) != n:
        raise TRMError(f"{path}: {len(labels)} {key} for {n} images")
    labels = labels.astype(np.int64)
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(labels.min() if labels.min() < 0 else labels.max())
        raise TRMError(
            f"{path}: {key} holds {bad}, outside 0..{num_classes - 1} ({num_classes} classes)"
        )
    return labels


def _records(path: Path, size: int) -> np.ndarray:
    """A binary batch as uint8 ``(n, size)`` records; refuses a partial last record."""
    length = path.stat().st_size
    if length == 0 or length % size:
        raise TRMError(
            f"{path}: {length} bytes is not a whole number of {size}-byte records "
            "(truncated or not a CIFAR binary batch)"
        )
    return np.fromfile(path, dtype=np.uint8).reshape(-1, size)


# --------------------------------------------------------------------------- readers


def _cifar10_python(path: Path) -> ImageData:
    meta_file = path / "batches.meta"
    meta = _dict(meta_file, read_pickle(meta_file), b"label_names")
    classes = _names(meta_file, meta[b"label_names"], "label_names")

    def batch(name: str) -> ImageSplit:
        file = path / name
        d = _dict(file, read_pickle(file), b"data", b"labels")
        images = _pixels(file, d[b"data"])
        return ImageSplit(images, _labels(file, d[b"labels"], "labels", len(images), len(classes)))

    parts = [batch(f"data_batch_{i}") for i in range(1, TRAIN_BATCHES + 1)]
    train = ImageSplit(
        np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts])
    )
    info = meta.get(b"trm_synthetic")
    if info is not None and not isinstance(info, dict):
        raise TRMError(f"{meta_file}: trm_synthetic should be a dict")
    info = {
        k.decode() if isinstance(k, bytes) else str(k): v.decode() if isinstance(v, bytes) else v
        for k, v in (info or {}).items()
    }
    test = batch("test_batch")
    for split, got in (("train", len(train)), ("test", len(test))):
        if info and info.get(split) != got:
            raise TRMError(f"{path}: {got} {split} images, {meta_file.name} says {info.get(split)}")
    return ImageData("synthetic" if info else "cifar10", classes, train, test, info=info)


def _cifar100_python(path: Path) -> ImageData:
    meta_file = path / "meta"
    meta = _dict(meta_file, read_pickle(meta_file), b"fine_label_names", b"coarse_label_names")
    fine = _names(meta_file, meta[b"fine_label_names"], "fine_label_names")
    coarse = _names(meta_file, meta[b"coarse_label_names"], "coarse_label_names")

    def split(name: str) -> ImageSplit:
        file = path / name
        d = _dict(file, read_pickle(file), b"data", b"fine_labels", b"coarse_labels")
        images = _pixels(file, d[b"data"])
        return ImageSplit(
            images,
            _labels(file, d[b"fine_labels"], "fine_labels", len(images), len(fine)),
            _labels(file, d[b"coarse_labels"], "coarse_labels", len(images), len(coarse)),
        )

    return ImageData("cifar100", fine, split("train"), split("test"), coarse_classes=coarse)


def _cifar10_binary(path: Path) -> ImageData:
    classes = _text_names(path / "batches.meta.txt")

    def batch(name: str) -> ImageSplit:
        file = path / name
        rec = _records(file, 1 + PIXELS)
        return ImageSplit(
            rec[:, 1:].reshape(-1, *IMAGE_SHAPE),
            _labels(file, rec[:, 0], "labels", len(rec), len(classes)),
        )

    parts = [batch(f"data_batch_{i}.bin") for i in range(1, TRAIN_BATCHES + 1)]
    train = ImageSplit(
        np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts])
    )
    return ImageData("cifar10", classes, train, batch("test_batch.bin"))


def _cifar100_binary(path: Path) -> ImageData:
    fine = _text_names(path / "fine_label_names.txt")
    coarse = _text_names(path / "coarse_label_names.txt")

    def split(name: str) -> ImageSplit:
        file = path / name
        rec = _records(file, 2 + PIXELS)
        return ImageSplit(
            rec[:, 2:].reshape(-1, *IMAGE_SHAPE),
            _labels(file, rec[:, 1], "fine labels", len(rec), len(fine)),
            _labels(file, rec[:, 0], "coarse labels", len(rec), len(coarse)),
        )

    return ImageData("cifar100", fine, split("train.bin"), split("test.bin"), coarse_classes=coarse)


# --------------------------------------------------------------------------- writing


def holds_cifar(folder: Path) -> bool:
    """Whether ``folder`` (or a folder inside it) holds files of a CIFAR layout."""
    try:
        return Path(folder).is_dir() and find_layout(Path(folder)) is not None
    except TRMError:  # mixed or several: still CIFAR files
        return True


def check_target(out: Path, force: bool) -> None:
    """Refuse to write over something that is not a CIFAR folder, or over one without force;
    never inside a dataset, run or checkpoint, never through a link."""
    staging.check_build_target(
        out, force, noun="CIFAR data", a_noun="CIFAR data", holds=holds_cifar, own=cifar_files
    )


def cifar_files(folder: Path) -> list[str]:
    """The CIFAR entries of ``folder`` (what ``force`` may replace): the batch files of its
    layout (and the archive's readme), or the one sub-folder that holds them."""
    try:
        found = find_layout(Path(folder))
    except TRMError:  # several CIFAR sub-folders: all of them are CIFAR's
        return [
            p.name
            for p in Path(folder).iterdir()
            if p.is_dir() and not staging.is_tool_entry(p.name) and _layout_in(p)
        ]
    if found is None:
        return []
    path, layout = found
    if path != Path(folder):
        return [path.name]
    return [n for n in (*layout.files, "readme.html") if (path / n).exists()]


def staged_folder(out: Path, force: bool):
    """A folder to write CIFAR data in, swapped into ``out`` when the block succeeds (CIFAR
    data there only with ``force``, and then only its files are replaced); see
    :func:`trm.staging.staged_folder`."""
    return staging.staged_folder(out, lambda target: check_target(target, force), cifar_files)
