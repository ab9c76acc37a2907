"""Run folders and their rules, the same for puzzles and images.

A run is a folder: ``metrics.jsonl`` (one JSON object per logged step and evaluation) and
``checkpoint/`` (:mod:`trm.checkpoint`), written through a :class:`RunFolder` (checked,
locked, staged, swapped in). Starting a run there refuses to replace another unless
forced; resuming continues the saved settings, and only the run's length and its
bookkeeping may change (:data:`RESUMABLE`): any other setting given again must be the
saved value, else it is refused in one line naming it and the run's value.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from trm.errors import SettingError, TRMError, about, first_line
from trm.files import CHECKPOINT, METRICS
from trm.staging import (
    check_no_links,
    check_not_inside,
    folder_kind,
    locked_folder,
    new_stage,
    swap_in,
    user_entries,
    write_failure,
)

if TYPE_CHECKING:
    import torch


# what --resume may change: how long the run goes on, and how often it logs, evaluates, saves
RESUMABLE = frozenset(
    {"steps", "images", "eval_every", "eval_max", "checkpoint_every", "log_every"}
)


def check_max_minutes(max_minutes: float | None) -> None:
    """A time limit is a positive, finite number of minutes (None: no limit)."""
    if max_minutes is not None and not 0 < max_minutes < math.inf:
        raise SettingError(
            "max_minutes", f"must be a positive number of minutes, got {max_minutes}"
        )


def load_run_model(
    path: Path,
    device: torch.device | str,
    build: Callable[[dict], torch.nn.Module],
    *,
    kind: str,
    accepts: Callable[[object], bool],
) -> tuple[torch.nn.Module, dict]:
    """A run's model for evaluation, and its config.json: the checkpoint ``path`` names (a
    run, checkpoint or model folder), refused unless ``accepts`` its task (it is not a
    ``kind`` model), built by ``build(config)`` (errors name the config.json), with its
    evaluation weights (the EMA's where the run kept one), on ``device``, in eval mode."""
    from trm.checkpoint import check_state, load_checkpoint, resolve_checkpoint
    from trm.files import MODEL_FILE

    ckpt = load_checkpoint(path)
    task = ckpt.config.get("task")
    if not accepts(task):
        raise TRMError(f"{resolve_checkpoint(path)} is a {task!r} model, not a {kind} one")
    with about(ckpt.config_path):
        model = build(ckpt.config)
    check_state(ckpt.model_state, model.state_dict(), ckpt.path / MODEL_FILE)
    try:
        model.load_state_dict(ckpt.model_state)
    except RuntimeError as e:
        first = first_line(e, "mismatch")
        raise TRMError(
            f"{resolve_checkpoint(path)}: weights do not match the config ({first})"
        ) from None
    return model.to(device).eval(), ckpt.config


OLD_CHECKPOINT = f".{CHECKPOINT}.old"  # a checkpoint swapped out by a save (trm.checkpoint)
# what a run writes in its folder (and all --force may replace); anything else there is the user's
RUN_ENTRIES = (CHECKPOINT, OLD_CHECKPOINT, METRICS)


def _own_entries(out: Path) -> list[str]:
    """The run's own entries in ``out``: its files and a crashed save's leftovers."""
    names = [n for n in RUN_ENTRIES if (out / n).exists() or (out / n).is_symlink()]
    if out.is_dir():
        names += sorted(p.name for p in out.glob(f".{CHECKPOINT}.tmp-*"))
    return names


def check_run_target(out: Path, *, resume: bool, force: bool) -> None:
    """Refuse a run folder we may not write, touching nothing: ``resume`` needs a run
    there; without it an existing run needs ``force`` (which will replace only the run's
    own files), and a folder holding anything else is refused. Never inside a dataset,
    run or checkpoint, never through a link."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TRMError(f"{out} exists and is not a folder")
    check_not_inside(out, "the run")
    kind = folder_kind(out)
    if kind in ("a dataset", "a checkpoint"):
        raise TRMError(f"{out} is {kind}, not a run: choose another folder for the run")
    check_no_links(out, RUN_ENTRIES)
    metrics = out / METRICS
    if metrics.exists() and not metrics.is_file():
        raise TRMError(f"{metrics}: not a file (a run logs its metrics there)")
    own = _own_entries(out)
    has_checkpoint = (out / CHECKPOINT).exists() or (out / OLD_CHECKPOINT).exists()
    if resume:
        if not has_checkpoint:
            raise TRMError(f"{out}: nothing to resume (no checkpoint there)")
        return
    if own and not force:
        raise SettingError(
            f"{out} already holds a run: pass `resume` to continue it or `force` to start over"
        )
    others = [p for p in user_entries(out) if p.name not in own]
    if others and not own:
        raise SettingError(
            f"{out} is not empty and holds no run ({others[0].name}, ...): "
            "choose another `out` (or an empty folder)"
        )


class RunFolder:
    """Where a run is written, held for as long as the run writes.

    Checked first (:func:`check_run_target`), then locked (one writer per run folder). A new
    run is written in a stage inside ``out`` and swapped in when its first checkpoint is
    complete (:meth:`saved`): until then the old run, if any, is untouched, so a run that
    fails or is stopped before it saved anything leaves ``out`` as it was. Only the run's own
    entries are replaced; a user's other files stay. A resumed run writes in ``out``.
    ``write=False`` (the other processes under torchrun: they check, the first one writes):
    no lock, no stage.

    Use it as a context manager; :attr:`path` is where to write now.
    """

    def __init__(
        self, out: Path, *, resume: bool = False, force: bool = False, write=True, check=True
    ):
        self.out, self.resume, self.force, self.write = Path(out), resume, force, write
        if check:
            check_run_target(self.out, resume=resume, force=force)
        self.stage: Path | None = None
        self._lock = None

    @classmethod
    def unmanaged(cls, out: Path) -> RunFolder:
        """A folder written directly (library use and tests): no checks, lock or stage."""
        return cls(out, resume=True, write=False, check=False)

    @property
    def path(self) -> Path:
        return self.stage if self.stage is not None else self.out

    def __enter__(self) -> RunFolder:
        if not self.write:
            return self
        self._lock = locked_folder(self.out)
        self._lock.__enter__()
        try:
            check_run_target(self.out, resume=self.resume, force=self.force)  # under the lock
            if not self.resume:
                self.stage = new_stage(self.out)
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def saved(self) -> None:
        """A checkpoint in :attr:`path` is complete: a new run's stage replaces the old run."""
        if self.stage is None:
            return
        try:
            swap_in(self.out, self.stage, _own_entries(self.out))
        except OSError as e:
            raise TRMError(
                f"{self.out}: cannot put the run in place ({write_failure(e)})"
            ) from None
        self.stage.rmdir()
        self.stage = None

    def __exit__(self, *exc) -> None:
        if self.stage is not None:  # never saved: nothing of it is kept
            shutil.rmtree(self.stage, ignore_errors=True)
            self.stage = None
        if self._lock is not None:
            self._lock.__exit__(*exc)
            self._lock = None


def check_resume(saved: dict, asked: dict, *, model_options: Sequence[str] = ()) -> None:
    """Refuse a resume that would change the run: any model option (``model_options``: the
    names given), or a setting in ``asked`` (name -> value; None: not given) outside
    :data:`RESUMABLE` whose value differs from ``saved`` (the run's settings)."""
    if model_options:
        raise SettingError(
            "resume",
            f"continues the saved model; drop {', '.join(f'`{n}`' for n in sorted(model_options))}",
        )
    changed = sorted(
        k
        for k, v in asked.items()
        if v is not None and k not in RESUMABLE and not same_value(v, saved.get(k))
    )
    if changed:
        raise SettingError(
            "resume",
            f"cannot change {', '.join(changed)} (the run has "
            f"{', '.join(f'{k} {saved.get(k)}' for k in changed)}); start a new run to change them",
        )


def same_value(a, b) -> bool:
    """Equal, allowing float rounding (a floor LR given again becomes the same ratio)."""
    if isinstance(a, float) or isinstance(b, float):
        return b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)
    return a == b
