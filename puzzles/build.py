"""Resumable, parallel, deterministic dataset builds.

A build draws records from seeded *streams*: record ``i`` of a stream is a pure function
of its index, so the output does not depend on how many worker processes made it. Records
are made in chunks; each finished chunk is saved (atomically) in a work folder inside the
output folder, ``OUT/.trm-partial/``, together with the build's settings. If a build is interrupted,
running the same command again reuses the saved chunks and goes on from there; the
finished dataset is only moved into place at the very end.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm import tqdm

from puzzles.dataset import check_out_dir, save_npz, write_json
from trm.errors import SettingError, TRMError
from trm.jsonfile import read_json_object
from trm.staging import TOOL_PREFIX, atomic_file, locked_folder, write_failure

Row = dict[str, np.ndarray]
CHUNK = 128  # rows per saved chunk: an interruption loses at most this much work
PARTIAL = f"{TOOL_PREFIX}partial"  # the work folder, inside the output folder


class ResumableBuild:
    """The work folder of one build: its settings and its finished chunks.

    A context manager: it holds the output folder's lock (one build per folder) from the
    first chunk to the swap. The work folder, ``OUT/.trm-partial/``, is kept when the build
    is interrupted (the same command goes on from it) and removed when it finishes or
    cannot succeed as asked (:meth:`discard`)."""

    def __init__(self, out: Path, settings: dict, force: bool = False):
        self.out = Path(out)
        self.settings = json.loads(json.dumps(settings))  # what a JSON round trip gives back
        self.force = force
        self.dir = self.out / PARTIAL
        self.resumed_chunks = 0
        check_out_dir(self.out, force)
        self._lock = locked_folder(self.out)

    def __enter__(self) -> ResumableBuild:
        self._lock.__enter__()
        try:
            check_out_dir(self.out, self.force)
            self._start()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._lock.__exit__(*exc)

    def _start(self) -> None:
        saved = self.dir / "settings.json"
        if saved.exists():
            try:
                previous = read_json_object(saved)
            except TRMError:
                previous = None
            if previous != self.settings:
                if not self.force:
                    raise SettingError(
                        f"{self.out} holds an interrupted build with other settings: "
                        "run that command again to finish it, or pass `force` to discard it"
                    )
                shutil.rmtree(self.dir, ignore_errors=True)
        try:
            self.dir.mkdir(exist_ok=True)
            write_json(saved, self.settings)
        except OSError as e:
            self.discard()
            raise TRMError(f"{self.out}: not built: {write_failure(e)}") from None

    def load_chunk(self, stream: str, k: int, expected_rows: int) -> dict[str, np.ndarray] | None:
        """Chunk ``k`` of ``stream`` if an earlier run finished it (a damaged one is dropped)."""
        path = self.dir / f"{stream}-{k:06d}.npz"
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {name: z[name] for name in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            path.unlink()
            return None
        if any(len(a) != expected_rows for a in arrays.values()):
            path.unlink()
            return None
        self.resumed_chunks += 1
        return arrays

    def save_chunk(self, stream: str, k: int, arrays: dict[str, np.ndarray]) -> None:
        path = self.dir / f"{stream}-{k:06d}.npz"
        try:
            with atomic_file(path) as tmp:
                save_npz(tmp, arrays)
        except OSError as e:
            raise TRMError(
                f"{self.out}: not built: {write_failure(e)}; the finished part is kept "
                f"in {self.dir}: run the same command again to go on"
            ) from None

    def finish(self) -> None:
        """The dataset is in place: the work folder goes."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def discard(self) -> None:
        """Drop the work folder of a build that cannot succeed as asked (so it blocks no
        other settings)."""
        self.finish()


MAX_WORKERS_PER_CORE = 4
MAX_AUGMENT = 10_000  # augmented copies per puzzle (the paper uses 1,000)
MAX_PUZZLES = 100_000_000  # puzzles asked of one build


def check_counts(**counts: int) -> None:
    """--train, --test, --augment...: within what one build can hold (``name=value``)."""
    for name, value in counts.items():
        top = MAX_AUGMENT if name == "augment" else MAX_PUZZLES
        if value > top:
            raise SettingError(name, f"must be at most {top:,}, got {value:,}")


def check_workers(workers: int | None) -> int:
    """The number of build processes: 0 or None means one per core; a few per core at most."""
    cores = os.cpu_count() or 1
    top = MAX_WORKERS_PER_CORE * cores
    if workers is not None and not 0 <= workers <= top:
        raise SettingError(
            f"`workers` must be from 0 (one per core) to {top} "
            f"({MAX_WORKERS_PER_CORE} per core), got {workers}"
        )
    return workers or cores


def _quiet_worker() -> None:
    # Signals are the parent's business: it stops the pool, cleans up and reports. A worker
    # ignores Ctrl-C and hang-ups and dies quietly on SIGTERM (pool.terminate sends it),
    # instead of raising the parent's KeyboardInterrupt (fork copies its handlers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)


@contextmanager
def worker_pool(workers: int) -> Iterator[multiprocessing.pool.Pool | None]:
    """A process pool, or None for ``workers == 1`` (everything runs in this process)."""
    if workers <= 1:
        yield None
        return
    context = multiprocessing.get_context("spawn" if os.name == "nt" else "fork")
    pool = context.Pool(workers, initializer=_quiet_worker)
    try:
        yield pool
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _stack(rows: list[Row]) -> dict[str, np.ndarray]:
    return {key: np.stack([r[key] for r in rows]) for key in rows[0]}


def collect(
    build: ResumableBuild,
    stream: str,
    n: int,
    make_row: Callable[[int], Row],
    accept: Callable[[Row], bool],
    pool,
    on_accept: Callable[[], None] | None = None,
    max_draws: int | None = None,
) -> dict[str, np.ndarray]:
    """The first ``n`` rows of ``stream`` that ``accept`` takes, in index order.

    ``make_row(i)`` makes row ``i`` (in worker processes when ``pool`` is given, so it must
    be picklable). ``accept`` sees the rows in index order, so it can drop duplicates.
    Chunks hold ``min(n, CHUNK)`` rows: a small request does not make a big chunk.
    """
    size = max(1, min(n, CHUNK))
    max_draws = max_draws if max_draws is not None else 10 * n + 4 * size
    kept: list[Row] = []
    k = 0
    while len(kept) < n:
        if k * size >= max_draws:
            build.discard()
            raise TRMError(
                f"only {len(kept)} of {n} distinct items found in {k * size} draws: "
                "these settings allow too few distinct puzzles; ask for fewer"
            )
        saved = build.load_chunk(stream, k, size)
        indices = range(k * size, (k + 1) * size)
        if saved is not None:
            rows: Iterable[Row] = ({key: a[i] for key, a in saved.items()} for i in range(size))
        elif pool is not None:
            rows = pool.imap(make_row, indices, chunksize=1)
        else:
            rows = map(make_row, indices)
        made = []
        for row in rows:
            made.append(row)
            if len(kept) < n and accept(row):
                kept.append(row)
                if on_accept:
                    on_accept()
        if saved is None:
            build.save_chunk(stream, k, _stack(made))
        k += 1
    return _stack(kept) if kept else {}


def collect_splits(
    build: ResumableBuild,
    counts: dict[str, int],
    make_row: Callable[[str], Callable[[int], Row]],
    key: str,
    *,
    workers: int,
    progress: bool,
    desc: str,
    unit: str,
) -> dict[str, Row]:
    """The rows of each split, in the order of ``counts`` (test first, so training never
    holds a test item): made in ``workers`` processes, resumable through ``build``, and
    distinct by ``row[key]`` across all splits. ``make_row(split)`` gives that split's
    picklable ``index -> row`` function."""
    seen: set[bytes] = set()

    def is_new(row: Row) -> bool:
        k = row[key].tobytes()
        if k in seen:
            return False
        seen.add(k)
        return True

    out: dict[str, Row] = {}
    bar = tqdm(
        total=sum(counts.values()),
        desc=desc,
        unit=unit,
        disable=not progress,
        dynamic_ncols=True,
        mininterval=0.5,
    )
    with bar, worker_pool(workers) as pool:
        for name, n in counts.items():
            if n:
                out[name] = collect(
                    build, name, n, make_row(name), is_new, pool, on_accept=lambda: bar.update(1)
                )
    return out
