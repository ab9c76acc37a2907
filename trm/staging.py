"""Write a folder or a file in full beside its final place, then rename it in: readers
never see half.

Datasets (puzzles) and image folders (vision) are built this way; checkpoints have their
own, fsync'd variant in :mod:`trm.checkpoint`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from trm.errors import TRMError


@contextmanager
def staged_folder(out: Path, check: Callable[[Path], None]) -> Iterator[Path]:
    """A temporary folder beside ``out`` that replaces ``out`` only if the block succeeds;
    on any error (or Ctrl-C) it is removed and ``out`` is left as it was.

    ``check(out)`` refuses a target we may not write over (raising); it runs before the
    work and again just before the swap.
    """
    out = Path(out)
    check(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(stage, 0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
    try:
        yield stage
        check(out)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "previous")
            os.replace(stage, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, out)
    except OSError as e:  # disk full, permissions: one line, and nothing half-written left
        raise TRMError(f"{out}: not built: {write_failure(e)}") from None
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path`` to write to (with the same suffix, for writers that
    choose a format by it); renamed onto ``path`` if the block succeeds, removed if not:
    readers see the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, obj: dict) -> None:
    """JSON written whole, then renamed into place."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_failure(e: OSError) -> str:
    """What went wrong in a failed write, for a one-line message."""
    where = f" ({e.filename})" if e.filename else ""
    return f"{e.strerror or e}{where}"
