"""Writing without losing anything: one writer per folder, everything staged and swapped in,
results that never overwrite unasked.

* :func:`locked_folder`: an exclusive OS lock on a folder being written (``.trm.lock`` in it,
  holding the writer's pid; the kernel drops it when the process dies). A second writer is
  refused in one line naming the holder.
* :func:`staged_folder`: a dataset or an image folder is built in a hidden folder *inside*
  its target and swapped in when complete. Only the tool's own entries are replaced: a
  user's ``notes.txt`` beside a dataset survives ``--force``. Runs use the same pieces
  (:class:`trm.runs.RunFolder`); checkpoints have their own, fsync'd variant in
  :mod:`trm.checkpoint`.
* :class:`OutputFile`: a result file (a submission, a plot, a recording) is checked before
  any work (no overwrite without ``force``, never inside a run's or dataset's own folders,
  never through a symbolic link) and written whole, then renamed into place.

Every write failure (read-only, missing, too long, disk full, a folder in the way) is one
line naming the path, and what was there before is left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from trm.errors import SettingError, TRMError
from trm.files import CHECKPOINT, DATASET_META, METRICS, MODEL_FILE
from trm.jsonfile import strict_json

LOCK_FILE = ".trm.lock"
TOOL_PREFIX = ".trm-"  # hidden entries of ours: stages, trash, partial builds
MAX_LOCK_TRIES = 20
NAME_MAX = 255  # bytes in one file name, on every file system trm runs on
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # (an os.open flag: refuse a link, do not follow it)
_HELD: dict[str, int] = {}  # folders this process has locked, and how many holders inside it

# what marks a folder as the tool's own (a dataset, a run, a checkpoint): nothing else is
# written inside one
RUN_MARKS = (CHECKPOINT, METRICS)


def is_tool_entry(name: str) -> bool:
    """The lock, stages and partial builds: bookkeeping, not content."""
    return name == LOCK_FILE or name.startswith(TOOL_PREFIX)


def user_entries(folder: Path) -> list[Path]:
    """What ``folder`` holds besides the tool's bookkeeping (empty if it does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if not is_tool_entry(p.name))


def folder_kind(folder: Path) -> str | None:
    """'a dataset', 'a run' or 'a checkpoint' when ``folder`` is one of the tool's, else None."""
    folder = Path(folder)
    if (folder / DATASET_META).exists():
        return "a dataset"
    if (folder / MODEL_FILE).exists():
        return "a checkpoint"
    if any((folder / mark).exists() for mark in RUN_MARKS):
        return "a run"
    return None


def absolute(path: Path) -> Path:
    """``path`` made absolute with its links resolved; one line if the working folder is gone."""
    try:
        return Path(path).resolve()
    except FileNotFoundError:  # os.getcwd() of a deleted working folder
        raise TRMError(f"{path}: the working folder no longer exists") from None
    except (OSError, RuntimeError) as e:  # a link loop
        raise TRMError(f"{path}: cannot follow this path ({e})") from None


def check_not_inside(path: Path, what: str) -> None:
    """Refuse ``path`` inside a dataset, run or checkpoint folder (their contents are the
    tool's: writing there would damage them, and a run inside a run is lost when the outer
    one is replaced)."""
    full = absolute(path)
    for folder in full.parents:
        kind = folder_kind(folder)
        if kind is not None:
            raise TRMError(f"{path}: inside {folder}, which is {kind}: put {what} elsewhere")


def check_no_links(folder: Path, names: Iterable[str]) -> None:
    """Refuse a folder where one of the tool's own entries is a symbolic link: trm does not
    write through links (it would write wherever the link points)."""
    for name in names:
        p = Path(folder) / name
        if p.is_symlink():
            raise TRMError(f"{p} is a symbolic link: trm does not write through links; remove it")


def check_build_target(
    out: Path,
    force: bool,
    *,
    noun: str,
    a_noun: str,
    holds: Callable[[Path], bool],
    own: Callable[[Path], Iterable[str]],
) -> None:
    """Refuse to build ``a_noun`` (a dataset, CIFAR data) in ``out`` over something that is
    not one (``holds(out)``), or over one without ``force``; never inside a dataset, run or
    checkpoint, never through a link among its own entries (``own(out)``)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TRMError(f"{out} exists and is not a folder")
    check_not_inside(out, f"the {noun}")
    if user_entries(out):
        if not holds(out):
            kind = folder_kind(out)
            raise SettingError(
                f"{out} is not empty and holds no {noun}"
                + (f" (it is {kind})" if kind else "")
                + ": choose another `out`"
            )
        if not force:
            raise SettingError(f"{out} already holds {a_noun}: pass `force` to replace it")
        check_no_links(out, own(out))


# ----------------------------------------------------------------------------- locks


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; return those created, outermost first."""
    missing = []
    for p in [folder, *folder.parents]:
        if p.exists() or p.is_symlink():
            break
        missing.append(p)
    folder.mkdir(parents=True, exist_ok=True)
    return missing[::-1]


def _remove_if_empty(folders: list[Path]) -> None:
    for p in reversed(folders):
        try:
            p.rmdir()
        except OSError:
            return


def _acquire(folder: Path) -> int | None:
    try:
        import fcntl
    except ImportError:  # no fcntl (Windows): no protection against a second writer
        return None
    path = folder / LOCK_FILE
    flags = os.O_RDWR | os.O_CREAT | NOFOLLOW
    for _ in range(MAX_LOCK_TRIES):
        fd = os.open(path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise TRMError(
                f"{folder}: another trm process (pid {holder}) is writing it right now; "
                "wait for it to finish or stop it"
            ) from None
        # the last holder unlinks the file as it lets go: make sure ours is still the one
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            return fd
        os.close(fd)
    raise TRMError(f"{folder}: could not take its lock ({path} keeps changing)")


def _release(folder: Path, fd: int | None) -> None:
    if fd is None:
        return
    path = folder / LOCK_FILE
    try:
        if os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False)):
            path.unlink()
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def locked_folder(folder: Path) -> Iterator[Path]:
    """Hold the exclusive lock of ``folder`` (created if missing) while the block runs; one
    line naming the holder's pid if another process holds it. Folders this created are
    removed again if they are left empty."""
    folder = Path(folder)
    key = os.path.abspath(folder)
    if key in _HELD:  # this process holds it already (a build inside its resumable work)
        _HELD[key] += 1
        try:
            yield folder
        finally:
            _HELD[key] -= 1
        return
    try:
        created = _make_folders(folder)
    except OSError as e:
        raise TRMError(f"{folder}: cannot create it ({e.strerror or e})") from None
    try:
        try:
            fd = _acquire(folder)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise TRMError(
                    f"{folder / LOCK_FILE} is a symbolic link: trm does not write through links"
                ) from None
            raise TRMError(f"{folder}: cannot write in it ({write_failure(e)})") from None
        _HELD[key] = 1
        try:
            yield folder
        finally:
            del _HELD[key]
            _release(folder, fd)
    finally:
        _remove_if_empty(created)


# ---------------------------------------------------------------------------- staging


def new_stage(folder: Path) -> Path:
    """An empty hidden folder inside ``folder`` to build in (short name: any target fits)."""
    stage = Path(folder) / f"{TOOL_PREFIX}stage-{uuid.uuid4().hex[:12]}"
    stage.mkdir()
    return stage


def swap_in(folder: Path, stage: Path, replace: Iterable[str] = ()) -> None:
    """Move everything in ``stage`` into ``folder``, replacing the entries of the same names
    and those named in ``replace`` (the old version's own files); nothing else in
    ``folder`` is touched. Files named ``*.json`` go in last, so that a reader that finds the
    new metadata finds the new data with it. If a move fails, the old entries are put back."""
    folder, stage = Path(folder), Path(stage)
    new = sorted(stage.iterdir(), key=lambda p: (p.suffix == ".json", p.name))
    names = {p.name for p in new} | set(replace)
    trash = folder / f"{TOOL_PREFIX}trash-{uuid.uuid4().hex[:12]}"
    trash.mkdir()
    moved_out: list[str] = []
    moved_in: list[str] = []
    try:
        for name in sorted(names):
            old = folder / name
            if old.exists() or old.is_symlink():
                os.replace(old, trash / name)
                moved_out.append(name)
        for p in new:
            os.replace(p, folder / p.name)
            moved_in.append(p.name)
    except BaseException:
        for name in moved_in:  # undo: the old version back in place
            with contextlib.suppress(OSError):
                os.replace(folder / name, stage / name)
        for name in moved_out:
            with contextlib.suppress(OSError):
                os.replace(trash / name, folder / name)
        raise
    finally:
        shutil.rmtree(trash, ignore_errors=True)


@contextmanager
def staged_folder(
    out: Path,
    check: Callable[[Path], None],
    own: Callable[[Path], Iterable[str]] | None = None,
) -> Iterator[Path]:
    """A hidden folder inside ``out`` (created if missing, locked) to build in; when the
    block succeeds its entries replace those of the same names in ``out``, together with
    ``own(out)`` (the names of the old version's files). On any error, Ctrl-C or signal the
    stage is removed and ``out`` is left as it was (a folder this created is removed).

    ``check(out)`` refuses a target we may not write over (raising); it runs before
    anything is touched, again under the lock, and just before the swap.
    """
    out = Path(out)
    check(out)
    try:
        with locked_folder(out):
            check(out)
            stage = new_stage(out)
            try:
                yield stage
                check(out)
                swap_in(out, stage, own(out) if own is not None else ())
            finally:
                shutil.rmtree(stage, ignore_errors=True)
    except OSError as e:  # disk full, permissions: one line, and nothing half-written left
        raise TRMError(f"{out}: not built: {write_failure(e)}") from None


# ------------------------------------------------------------------------------ files


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path`` to write to (with the same suffix, for writers that
    choose a format by it); renamed onto ``path`` if the block succeeds, removed if not:
    readers see the old file or the new one, never half of one. The temporary name is short,
    so it fits wherever ``path`` does."""
    path = Path(path)
    suffix = path.suffix if len(path.suffix) <= 16 else ""
    tmp = path.with_name(f"{TOOL_PREFIX}{uuid.uuid4().hex[:12]}.tmp{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def write_json(path: Path, obj: dict) -> None:
    """JSON written whole, then renamed into place."""
    with atomic_file(path) as tmp:
        tmp.write_text(strict_json(obj, indent=2, sort_keys=True) + "\n")


def write_failure(e: OSError) -> str:
    """What went wrong in a failed write, for a one-line message."""
    where = f" ({e.filename})" if e.filename else ""
    return f"{e.strerror or e}{where}"


class OutputFile:
    """A result file a command writes (``--out``, ``--per-task``, ``--record``...), checked
    when made, before any work: an existing file is refused unless ``force``, a folder,
    a link or a missing folder always, and so is any place inside a dataset, a checkpoint, or
    a run's own files. ``setting``: what gave the path, for messages. :meth:`write` then
    writes it whole (one line on any failure)."""

    def __init__(self, path: Path, *, force: bool = False, setting: str = "out"):
        self.path, self.force, self.setting = Path(path), force, setting
        self.check()

    def _fail(self, problem: str) -> SettingError:
        """One line naming the setting that gave the path (the CLI spells it as its flag)."""
        return SettingError(f"`{self.setting}` {self.path}: {problem}")

    def check(self) -> None:
        try:
            self._check()
        except OSError as e:  # a path the system refuses outright (too long, ...)
            raise self._fail(f"cannot write it ({e.strerror or e})") from None

    def _check(self) -> None:
        p = self.path
        if len(os.fsencode(p.name)) > NAME_MAX:
            raise self._fail(f"the file name is longer than {NAME_MAX} bytes")
        if p.is_symlink():
            raise self._fail("a symbolic link: trm does not write through links")
        if p.is_dir() or not p.name or p.name in (".", ".."):
            raise self._fail("a folder: give a file name")
        if p.exists() and not p.is_file():
            raise self._fail("exists and is not a regular file")
        if p.exists() and not self.force:
            raise self._fail("already exists: pass `force` to replace it")
        parent = absolute(p).parent
        if not parent.is_dir():
            raise self._fail(f"no such folder {p.parent}")
        kind = folder_kind(parent)
        if kind is not None and (kind != "a run" or p.name in RUN_MARKS or is_tool_entry(p.name)):
            raise self._fail(f"inside {kind}'s own files: write it elsewhere")
        check_not_inside(parent, "results")
        self._probe()

    def _probe(self) -> None:
        """Create and remove a file beside the target: a folder we cannot write in (read-only,
        /proc, a name too long) is refused now, before the work, not after it."""
        probe = self.path.with_name(f"{TOOL_PREFIX}{uuid.uuid4().hex[:12]}.probe")
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            probe.unlink()
        except OSError as e:
            raise self._fail(f"cannot write it ({e.strerror or e})") from None

    def write(self, write: Callable[[Path], None]) -> Path:
        """``write(tmp)`` fills a temporary file, which then replaces the target."""
        self.check()
        try:
            with atomic_file(self.path) as tmp:
                write(tmp)
        except OSError as e:
            raise self._fail(f"cannot write it ({e.strerror or e})") from None
        return self.path

    def write_text(self, text: str) -> Path:
        return self.write(lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def write_json(self, obj: object) -> Path:
        return self.write_text(strict_json(obj, indent=2, sort_keys=True) + "\n")
