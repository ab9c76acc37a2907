"""Run folders and their rules, the same for puzzles and images.

A run is a folder: ``metrics.jsonl`` (one JSON object per logged step and evaluation) and
``checkpoint/`` (:mod:`trm.checkpoint`). Starting a run there refuses to overwrite another
unless forced; resuming continues the saved settings, and only the run's length and its
bookkeeping may change (:data:`RESUMABLE`): any other setting given again must be the
saved value, else it is refused in one line naming it and the run's value.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from trm.errors import SettingError, TRMError, about

if TYPE_CHECKING:
    import torch

CHECKPOINT = "checkpoint"
METRICS = "metrics.jsonl"

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
    from trm.checkpoint import load_checkpoint, resolve_checkpoint

    ckpt = load_checkpoint(path)
    task = ckpt.config.get("task")
    if not accepts(task):
        raise TRMError(f"{resolve_checkpoint(path)} is a {task!r} model, not a {kind} one")
    with about(ckpt.config_path):
        model = build(ckpt.config)
    try:
        model.load_state_dict(ckpt.model_state)
    except RuntimeError as e:
        first = str(e).splitlines()[0] if str(e) else "mismatch"
        raise TRMError(
            f"{resolve_checkpoint(path)}: weights do not match the config ({first})"
        ) from None
    return model.to(device).eval(), ckpt.config


def prepare_run_dir(out: Path, *, resume: bool, force: bool) -> None:
    """Check a run folder before training: ``resume`` needs a checkpoint there; without it,
    an existing run is refused unless ``force``, which deletes its checkpoint and metrics."""
    out = Path(out)
    has_run = (out / CHECKPOINT).exists() or (out / f".{CHECKPOINT}.old").exists()
    if resume and not has_run:
        raise TRMError(f"{out}: nothing to resume (no checkpoint there)")
    if has_run and not resume:
        if not force:
            raise SettingError(
                f"{out} already holds a run: pass `resume` to continue it or `force` to start over"
            )
        shutil.rmtree(out / CHECKPOINT, ignore_errors=True)
        (out / METRICS).unlink(missing_ok=True)
    if out.exists() and not out.is_dir():
        raise TRMError(f"{out} exists and is not a folder")


def check_resume(saved: dict, asked: dict, *, model_options: Sequence[str] = ()) -> None:
    """Refuse a resume that would change the run: any model option (``model_options``: the
    names given), or a setting in ``asked`` (name -> value; None: not given) outside
    :data:`RESUMABLE` whose value differs from ``saved`` (the run's settings)."""
    if model_options:
        raise SettingError(
            "resume", f"continues the saved model; drop {', '.join(sorted(model_options))}"
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
