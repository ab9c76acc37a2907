"""What a run carries from step to step, and its checkpoint: saved whole, restored exactly.

:class:`Slots` are the examples in flight with their recursion state; :class:`RunState` the
counters. :func:`save` writes them with the weights, the EMA, the optimizer, the sampler and
the random generators (trm.checkpoint's format); :func:`restore` puts every one back, so a
resumed run goes on bit for bit as if it had not stopped. Both take the
:class:`trm.train.Trainer` whose state it is. The metrics log's helpers live here too: a
resume drops the lines logged after its checkpoint.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from trm.checkpoint import (
    check_state,
    flatten_optimizer_state,
    load_checkpoint,
    restore_generator,
    rng_state_tensors,
    save_checkpoint,
    under_prefix,
    unflatten_optimizer_state,
    with_prefix,
)
from trm.contract import is_single_step
from trm.errors import TRMError, about, first_line
from trm.files import CHECKPOINT, MAX_METRICS_BYTES, METRICS, TRAIN_TENSORS_FILE
from trm.jsonfile import read_bounded
from trm.staging import NOFOLLOW, atomic_file, write_failure


@dataclass
class Slots:
    """The examples in flight, one per batch row, with their carried recursion state."""

    index: torch.Tensor  # (B,) dataset index
    inputs: torch.Tensor  # (B, L) tokens, after augmentation
    labels: torch.Tensor  # (B, L)
    puzzle_ids: torch.Tensor  # (B,)
    y: torch.Tensor | None  # (B, L', D); None for a single-step model
    z: torch.Tensor | None  # (B, L', D)
    steps: torch.Tensor  # (B,) supervision steps done
    min_steps: torch.Tensor  # (B,) exploration: no halting before this
    halted: torch.Tensor  # (B,) bool: take a fresh example at the next step

    def tensors(self) -> dict[str, torch.Tensor]:
        return with_prefix("slots", {k: v for k, v in self.__dict__.items() if v is not None})

    @classmethod
    def from_tensors(cls, t: dict[str, torch.Tensor], device: torch.device) -> Slots:
        saved = {k: v.to(device) for k, v in under_prefix("slots", t).items()}
        return cls(**{"y": None, "z": None, **saved})  # (no y, z: a single-step model's)


@dataclass
class RunState:
    """A run's counters, saved with its checkpoint."""

    step: int = 0
    elapsed: float = 0.0  # training seconds over all sessions of this run
    last_eval: dict = field(default_factory=dict)
    images: int = 0  # fresh examples drawn into the slots (the whole batch, all ranks)
    budget: dict = field(default_factory=dict)  # what a time budget chose (trm.budget.Fit)


def save(trainer) -> Path:
    """Write the checkpoint (the main process does; the slots of all ranks go in it)."""
    slots = {k: trainer.dist.gather(v) for k, v in trainer.slots.tensors().items()}
    folder = trainer.out / CHECKPOINT
    if not trainer.dist.main:
        trainer.dist.barrier()
        return folder
    weights = trainer.ema.state_dict() if trainer.ema is not None else trainer.model.state_dict()
    opt_tensors, opt_meta = flatten_optimizer_state(trainer.optimizer.state_dict())
    # the raw parameters; buffers (the puzzle table among them: it can be gigabytes) are
    # the same in the evaluation weights, so they are stored once, there
    params = {name for name, _ in trainer.model.named_parameters()}
    tensors = with_prefix(
        "model", {k: v for k, v in trainer.model.state_dict().items() if k in params}
    )
    if trainer.ema is not None:
        tensors.update(with_prefix("ema", trainer.ema.averages()))
    tensors.update(opt_tensors)
    tensors.update(slots)
    tensors["sampler.perm"] = trainer.sampler.perm
    tensors.update(rng_state_tensors("rng.sampler", trainer.sampler.generator))
    tensors.update(rng_state_tensors("rng.explore", trainer.explore))
    meta = {
        "step": trainer.state.step,
        "elapsed": trainer.state.elapsed,
        "sampler_pos": trainer.sampler.pos,
        "optimizer": opt_meta,
        "aug_rng": trainer.aug_rng.bit_generator.state,
        "last_eval": trainer.state.last_eval,
        "ema_updates": trainer.ema.updates if trainer.ema is not None else 0,
        "images": trainer.state.images,
        "budget": trainer.state.budget,
    }
    save_checkpoint(
        folder,
        model_state=weights,
        config=trainer.config_json(),
        train_tensors=tensors,
        train_meta=meta,
    )
    trainer.run.saved()  # a new run replaces the old one only now, complete
    trainer.dist.barrier()
    return trainer.out / CHECKPOINT


def restore(trainer) -> None:
    """Go on from the run's checkpoint: model, EMA, optimizer, slots, sampler, random
    generators and counters as they were; metrics logged after it are dropped."""
    ckpt = load_checkpoint(trainer.out, train_state=True, device="cpu")
    try:
        _restore(trainer, ckpt)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise TRMError(
            f"{ckpt.path}: the training state is incomplete or damaged "
            f"({type(e).__name__}: {first_line(e, '')})"
        ) from None
    if trainer.dist.main:
        truncate_metrics(trainer.out / METRICS, trainer.state.step)


def _restore(trainer, ckpt) -> None:
    with about(ckpt.config_path):
        saved = type(trainer.model_cfg).from_dict(ckpt.config.get("model"))
    if saved != trainer.model_cfg:
        raise TRMError(f"{ckpt.path}: the checkpoint's model config differs from this run's")
    t, meta = ckpt.train_tensors, ckpt.train_meta
    # buffers from the evaluation weights, parameters from the raw ones (older
    # checkpoints stored the buffers with the raw ones too: those win)
    state = {
        k: v
        for k, v in ckpt.model_state.items()
        if k not in {name for name, _ in trainer.model.named_parameters()}
    }
    state.update(under_prefix("model", t))
    where = ckpt.path / TRAIN_TENSORS_FILE
    check_state(state, trainer.model.state_dict(), where)
    trainer.model.load_state_dict(state)
    if trainer.ema is not None:
        averages = under_prefix("ema", t)
        wanted = trainer.ema.averages()
        check_state({k: v for k, v in averages.items() if k in wanted}, wanted, where)
        trainer.ema.load_state_dict(
            {k: v.to(trainer.device) for k, v in averages.items()},
            int(meta.get("ema_updates", 0)),
        )
    opt = unflatten_optimizer_state(
        {k: v.to(trainer.device) for k, v in t.items() if k.startswith("optim.")},
        meta["optimizer"],
    )
    trainer.optimizer.load_state_dict(opt)
    first = trainer.dist.rank * trainer.rows
    if t["slots.index"].shape[0] != trainer.cfg.batch_size:
        raise TRMError(
            f"{ckpt.path}: saved batch of {t['slots.index'].shape[0]} slots, "
            f"this run has {trainer.cfg.batch_size}"
        )
    trainer.slots = Slots.from_tensors(
        {k: v[first : first + trainer.rows] for k, v in t.items() if k.startswith("slots.")},
        trainer.device,
    )
    if is_single_step(trainer.model):  # runs saved before single-step models kept placeholders
        trainer.slots.y = trainer.slots.z = None
    trainer.sampler.perm, trainer.sampler.pos = t["sampler.perm"], int(meta["sampler_pos"])
    restore_generator(trainer.sampler.generator, t["rng.sampler.state"])
    restore_generator(trainer.explore, t["rng.explore.state"])
    trainer.aug_rng.bit_generator.state = meta["aug_rng"]
    trainer.state = RunState(
        int(meta["step"]),
        float(meta["elapsed"]),
        meta.get("last_eval", {}),
        int(meta.get("images", 0)),
        meta.get("budget") or {},
    )


def write_record(f, record: dict) -> None:
    f.write(json.dumps(record) + "\n")
    f.flush()


def open_metrics(path: Path | None):
    """The metrics log, opened to append (never through a link); None: a sink (other ranks)."""
    if path is None:
        return open(os.devnull, "w")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | NOFOLLOW, 0o666)
    except OSError as e:
        raise TRMError(f"{path}: cannot write the metrics ({write_failure(e)})") from None
    return os.fdopen(fd, "a")


def truncate_metrics(path: Path, step: int) -> None:
    """Drop the records logged after the checkpoint we resume from (they will be redone);
    every other line (a note of the user's, a line cut short by a crash) is kept."""
    if not path.exists() and not path.is_symlink():
        return
    text = read_bounded(path, MAX_METRICS_BYTES, "not a metrics log trm writes", "metrics log")
    keep = []
    for line in text.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        later = (
            isinstance(record, dict)
            and isinstance(record.get("step"), int)
            and record["step"] > step
        )
        if not later:
            keep.append(line)
    try:
        with atomic_file(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in keep))
    except OSError as e:
        raise TRMError(f"{path}: cannot rewrite the metrics ({write_failure(e)})") from None
