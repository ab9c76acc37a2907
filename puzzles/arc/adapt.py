"""ARC tasks a model never saw: new puzzle ids learned from their demonstrations
(:mod:`trm.adapt`), and the map from a dataset's puzzle ids to an adapted model's rows.

``adapt_run(RUN, NEW, OUT)``:

* NEW is an ARC dataset folder (``trm data arc``). Its tasks that RUN was trained on, under
  the same augmentations, keep RUN's ids ("known"); every other task ("new") gets as many
  fresh ids as NEW has augmentations of it, appended to RUN's table in NEW's order.
* Only NEW's ``train`` split is read, and of it only the demonstration pairs of the new
  tasks (``test_pair == 0``): test outputs are never read, whatever the dataset holds.
* With ``holdout`` (the default), each new task with two or more demonstrations keeps its
  last one out of training; after every evaluation interval the held-out demos are
  predicted with ``views`` augmented views each, mapped back and voted
  (:mod:`puzzles.arc.views`), and pass@1 of that vote is the run's score
  (``exact_accuracy`` in metrics.jsonl), which ``patience`` watches.
* OUT is a run folder like any other (resume, ``--max-minutes``). Its config.json records
  the base run's data (so its tasks keep working) and, under ``adapted``, NEW's tasks, id
  ranges and augmentation file, and the first model row of each of NEW's tasks
  (:class:`IdMap`). Evaluating OUT on NEW (``trm eval|predict arc``) maps NEW's ids
  through it; on the base run's dataset, nothing changes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from puzzles.arc.augment import AugmentationTable, augment_tokens
from puzzles.arc.data import AUG_FILE, load_table
from puzzles.dataset import Dataset, Split, load_dataset, read_meta
from trm.config import ADAPT_STEPS, TRMConfig
from trm.errors import SettingError, TRMError
from trm.files import CONFIG_FILE, DATASET_META
from trm.train import TokenObjective

ADAPTED = "adapted"  # the key of the adaptation's record in a run's config.json


@dataclass(frozen=True)
class IdMap:
    """A dataset's puzzle ids -> a model's table rows: task ``t``'s ids
    ``start[t]:start[t + 1]`` go to ``rows[t]`` onwards, in order."""

    start: np.ndarray  # (T + 1,) int64: the dataset's id ranges
    rows: np.ndarray  # (T,) int64: the model row of each task's first id

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        task = np.searchsorted(self.start, ids, side="right") - 1
        if np.any(task < 0) or np.any(task >= len(self.rows)):
            raise TRMError("a puzzle id outside every task's range")
        return (self.rows[task] + ids - self.start[task]).astype(np.int32)

    def back(self, model_ids: np.ndarray, tasks: np.ndarray) -> np.ndarray:
        """The dataset ids of ``model_ids`` (rows of the given ``tasks``)."""
        tasks = np.asarray(tasks, np.int64)
        return (np.asarray(model_ids, np.int64) - self.rows[tasks] + self.start[tasks]).astype(
            np.int32
        )


def aug_sha(ds_path: Path) -> str:
    from trm.official import sha256

    return sha256(Path(ds_path) / AUG_FILE)


def _task_info(meta: dict) -> tuple[list, list]:
    info = meta.get("task_info") or {}
    return list(info.get("task_ids") or []), list(info.get("puzzle_id_start") or [])


def id_map_for(config: dict, ds: Dataset | dict, where: str) -> IdMap | None:
    """How a run's model reads an ARC dataset's puzzle ids: None when they are its own
    (the dataset it was trained on, or a run that records no tasks), the :class:`IdMap`
    of its adaptation when ``ds`` is the dataset it was adapted to; refused, naming a
    task, otherwise (the ids would select other tasks' embeddings)."""
    meta = ds.meta if isinstance(ds, Dataset) else ds
    path = Path(ds.path) if isinstance(ds, Dataset) else None
    if meta.get("task") != "arc":
        return None
    own_ids, own_start = _task_info(config.get("data") or {})
    ids, start = _task_info(meta)
    if not own_ids or (ids, start) == (own_ids, own_start):
        return None
    record = config.get(ADAPTED)
    if (
        isinstance(record, dict)
        and (ids, start) == (record.get("task_ids"), record.get("puzzle_id_start"))
        and (path is None or aug_sha(path) == record.get("augmentations_sha256"))
    ):
        return IdMap(np.asarray(start, np.int64), np.asarray(record["rows"], np.int64))
    known = set(own_ids) | set((record or {}).get("task_ids") or [])
    missing = [t for t in ids if t not in known]
    what = (
        f"task {missing[0]} has no puzzle ids in {where}"
        if missing
        else (f"its puzzle ids are numbered otherwise than in the data {where} was trained on")
    )
    name = path or "the dataset"
    raise SettingError(  # (the command's flags where the CLI spells its settings)
        f"{name}: {what}; adapt the run to it first (trm adapt {where} `data` {name} `out` RUN2)"
    )


def needs_adaptation(run: Path, data: Path) -> bool:
    """Whether the model of ``run`` lacks puzzle ids for some task of dataset ``data`` (a
    dataset of another task: True, and :func:`adapt_run` says what is wrong)."""
    from trm.checkpoint import resolve_checkpoint
    from trm.files import CONFIG_FILE
    from trm.jsonfile import read_json_object

    config = read_json_object(resolve_checkpoint(run) / CONFIG_FILE)
    meta = read_meta(data)
    if meta.get("task") != "arc" or config.get("task") != "arc":
        return True
    try:
        id_map_for(config, Dataset(Path(data), meta, {}), str(run))
    except TRMError:
        return True
    return False


@dataclass
class Plan:
    """What an adaptation learns: the tasks, their new rows, the rows to train on and hold out."""

    ds: Dataset  # NEW, its train split only
    table: AugmentationTable  # NEW's augmentations
    id_map: IdMap
    new_tasks: list[int]  # indices (in NEW) of the tasks that get new rows
    new_ids: int  # rows appended to the table
    base_ids: int  # rows the base model had
    train: Split  # the new tasks' demos that train (dataset ids)
    holdout: Split | None  # one demo of each new task with two or more (dataset ids)

    @property
    def task_ids(self) -> list[str]:
        return self.ds.meta["task_info"]["task_ids"]

    def record(self) -> dict:
        ids, start = _task_info(self.ds.meta)
        return {
            "data": str(self.ds.path),
            "task_ids": ids,
            "puzzle_id_start": start,
            "augmentations_sha256": aug_sha(self.ds.path),
            "rows": self.id_map.rows.tolist(),
            "new_tasks": [ids[t] for t in self.new_tasks],
            "base_puzzle_ids": self.base_ids,
            "held_out": 0 if self.holdout is None else len(self.holdout),
        }


def _base_table(config: dict) -> AugmentationTable | None:
    """The augmentations of the dataset a run was trained on, when that folder is still
    there and is the one its config records (else None: its tasks cannot be matched)."""
    data = config.get("data") or {}
    path = data.get("path")
    if not isinstance(path, str) or not (Path(path) / DATASET_META).is_file():
        return None
    try:
        meta = read_meta(Path(path))
        if _task_info(meta) != _task_info(data):
            return None
        return load_table(Dataset(Path(path), meta, {}))
    except TRMError:
        return None


def _known_rows(
    config: dict, base_table: AugmentationTable | None, task_id: str, augs: AugmentationTable, t
) -> int | None:
    """The base model's first row for NEW's task ``t`` when it learned that task under the
    same augmentations (NEW's are a prefix of its own); else None."""
    ids, start = _task_info(config.get("data") or {})
    if base_table is None or task_id not in ids:
        return None
    i = ids.index(task_id)
    first, have = int(start[i]), int(start[i + 1]) - int(start[i])
    want = range(int(augs.start[t]), int(augs.start[t + 1]))
    if len(want) > have:
        return None
    for k, pid in enumerate(want):
        if base_table.augmentation(first + k) != augs.augmentation(pid):
            return None
    return first


def plan(config: dict, data: Path, *, holdout: bool = True, all_tasks: bool = False) -> Plan:
    """Which of ``data``'s tasks a run (its checkpoint's ``config``) must learn, their new
    rows, and the demonstration rows that train and that are held out."""
    meta = read_meta(data)
    if meta.get("task") != "arc":
        raise SettingError(
            f"{data} holds {meta.get('task')!r} data: adaptation learns ARC tasks' puzzle ids"
        )
    if config.get("task") != "arc":
        raise SettingError(f"the run is a {config.get('task')!r} model, not an ARC one")
    ds = load_dataset(data, splits=["train"])  # never "test" or "predict": no test outputs
    table = load_table(ds)
    base_ids = int((config.get("model") or {}).get("num_puzzle_ids", 1))
    base_table = None if all_tasks else _base_table(config)
    task_ids = meta["task_info"]["task_ids"]
    rows, new_tasks, next_row = [], [], base_ids
    for t, task_id in enumerate(task_ids):
        first = None if all_tasks else _known_rows(config, base_table, task_id, table, t)
        if first is None:
            first, next_row = next_row, next_row + int(table.start[t + 1] - table.start[t])
            new_tasks.append(t)
        rows.append(first)
    id_map = IdMap(table.start.astype(np.int64), np.asarray(rows, np.int64))
    split = ds.splits["train"]
    demo = split.extras["test_pair"] == 0
    learns = np.isin(split.extras["task"], new_tasks) & demo
    if new_tasks and not learns.any():
        raise SettingError(f"{data}: its new tasks have no demonstration pairs to learn from")
    held = np.zeros(len(split), bool)
    if holdout:  # the last demo of each new task that has two or more
        for t in new_tasks:
            mine = np.flatnonzero(learns & (split.extras["task"] == t))
            if len(mine) >= 2:
                held[mine[np.argmax(split.extras["pair"][mine])]] = True
    return Plan(
        ds,
        table,
        id_map,
        new_tasks,
        next_row - base_ids,
        base_ids,
        split.select(learns & ~held),
        split.select(held) if held.any() else None,
    )


def mapped_augmenter(p: Plan):
    """The training augmenter of the adaptation's rows (model ids in, model ids out): one
    of the task's augmentations of NEW's table per row."""

    def run(inputs, labels, model_ids, rng):
        ids = np.asarray(model_ids, np.int64)
        local = p.id_map.back(ids, _task_of_rows(p.id_map, ids))
        inputs, labels, local = augment_tokens(inputs, labels, local, rng, p.table)
        return inputs, labels, p.id_map(local)

    return run


def _task_of_rows(id_map: IdMap, model_ids: np.ndarray) -> np.ndarray:
    """The task (index in the dataset) whose rows hold each model id."""
    order = np.argsort(id_map.rows, kind="stable")
    where = np.searchsorted(id_map.rows[order], model_ids, side="right") - 1
    return order[where]


class HeldOutVote(TokenObjective):
    """A TRM's objective whose evaluation is the leave-one-out score: the held-out demos'
    views, mapped back and voted; pass@1 of the vote is ``exact_accuracy``."""

    def __init__(self, config: TRMConfig, p: Plan, views: int):
        super().__init__(config)
        self.plan, self.views = p, views

    def evaluate(
        self, model, data, *, batch_size=None, device=None, precision="fp32", limit=0, **_
    ):
        """The score of the held-out demos (the first ``limit`` of them, when given)."""
        from puzzles.arc.views import build_views, first_rows, run_views, score

        p = self.plan
        held = first_rows(p.holdout, limit) if limit else p.holdout
        views = build_views(held, p.table, self.views)
        preds, conf = run_views(
            model,
            views,
            batch_size=batch_size,
            device=device,
            precision=precision,
            id_map=p.id_map,
        )
        s = score(held, views, preds, conf, p.table, p.task_ids, ks=(1, 2))
        return {
            "exact_accuracy": s.pass_at[1],
            "pass@2": s.pass_at.get(2, s.pass_at[1]),
            "held_out": len(held),
            "views": views.k,
        }


def budget_grid(steps: float) -> int:
    """The largest of 1, 2, 3, 4, 6, 8, 12, 16, 24, ... (powers of two and one and a half
    times them) at most ``steps`` (0 below 1): a time budget's step count, rounded so that a
    second run on the same machine, timed a little differently, almost always picks the same
    one (so the same weights: an adaptation must not depend on anything but its inputs)."""
    if steps < 1:
        return 0
    power = 1 << (int(steps).bit_length() - 1)
    return power * 3 // 2 if power >= 2 and power * 3 // 2 <= steps else power


PROBE_STEPS = 4  # timed steps of the probe, after two that warm caches up
PROBE_SCORED = 32  # held-out demos the probe scores to time the score


def fit_adaptation(make, cfg, minutes: float, least: tuple[int, str], log) -> int:
    """How many steps of ``cfg`` (at most ``cfg.steps``) fit in ``minutes``, from a probe on a
    throwaway trainer (``make()``): its step and held-out score timed, the held-out score
    counted every ``cfg.eval_every`` steps and at the end, the count rounded down on
    :func:`budget_grid`. Refused when it leaves fewer than ``least[0]`` steps (``least[1]``:
    why they are needed)."""
    from trm.budget import RESERVE

    started = time.monotonic()
    probe = make()
    for _ in range(2):
        probe.train_step()
    timed = time.monotonic()
    for _ in range(PROBE_STEPS):
        probe.train_step()
    step_s = (time.monotonic() - timed) / PROBE_STEPS
    score_s = 0.0
    objective = probe.objective
    if isinstance(objective, HeldOutVote):
        held = len(objective.plan.holdout)
        timed = time.monotonic()
        objective.evaluate(
            probe.model.eval(),
            None,
            batch_size=cfg.batch_size,
            device=probe.device,
            precision=probe.precision,
            limit=PROBE_SCORED,
        )
        score_s = (time.monotonic() - timed) * held / min(held, PROBE_SCORED)
    shutil.rmtree(probe.out, ignore_errors=True)
    del probe
    left = minutes * 60 * (1 - RESERVE) - (time.monotonic() - started) - score_s
    fits = left / (step_s + score_s / cfg.eval_every)
    steps = min(cfg.steps, budget_grid(fits))
    if steps < max(1, least[0]):
        raise SettingError(
            "max_minutes",
            f"{minutes:g} leaves time for {max(0, int(fits)):,} steps at {step_s:.3g} s each "
            f"(and {score_s:.3g} s for each held-out score); {least[1]} needs {least[0]:,}: "
            "give more minutes",
        )
    if log is not None:
        log(
            f"time budget {minutes:g} min: {steps:,} steps ({step_s:.3g} s each"
            + (f", held-out score {score_s:.3g} s" if score_s else "")
            + f"; {int(fits):,} would fit, rounded down so that a rerun picks the same)"
        )
    return steps


def adapt_run(
    run: Path,
    data: Path,
    out: Path,
    *,
    trainable: str = "embeddings",
    steps: int | None = None,
    max_minutes: float | None = None,
    patience: int = 0,
    views: int = 8,
    holdout: bool = True,
    init: str = "mean",
    lr: float | None = None,
    emb_lr: float | None = None,
    batch_size: int | None = None,
    eval_every: int = 100,
    seed: int = 0,
    all_tasks: bool = False,
    resume: bool = False,
    force: bool = False,
    device: str = "auto",
    precision: str = "auto",
    progress: bool = True,
    log=None,
) -> dict:
    """Adapt the ARC model of ``run`` to the tasks of dataset ``data`` it has no ids for,
    into the run folder ``out`` (see the module docstring); returns the run's summary."""
    from trm.adapt import Patience, adaptation_config, grow_table
    from trm.checkpoint import load_checkpoint, resolve_checkpoint
    from trm.config import TrainConfig
    from trm.data import TokenData
    from trm.device import resolve_device, resolve_precision
    from trm.errors import about
    from trm.files import METRICS, MODEL_FILE
    from trm.official import sha256
    from trm.runs import RunFolder, check_max_minutes
    from trm.train import Trainer

    out = Path(out)
    check_max_minutes(max_minutes)
    if views < 1:
        raise SettingError("views", f"must be at least 1, got {views}")
    if patience < 0:
        raise SettingError("patience", f"must be >= 0, got {patience}")
    if eval_every < 1:
        raise SettingError("eval_every", f"must be at least 1, got {eval_every}")
    if resume and force:
        raise SettingError("`resume` continues the run in `out`; `force` replaces it: pass one")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise TRMError("adaptation runs in one process: start it without torchrun")
    base = load_checkpoint(run)
    if ADAPTED in base.config:
        raise SettingError(
            f"{run} is itself an adapted run: adapt the run it came from "
            f"({base.config[ADAPTED].get('base', {}).get('path', 'its base')}) instead"
        )
    p = plan(base.config, data, holdout=holdout, all_tasks=all_tasks)
    base_data = base.config.get("data") or {}
    if (base_data.get("vocab"), base_data.get("seq_len")) != (
        p.ds.meta["vocab"],
        p.ds.meta["seq_len"],
    ):
        raise SettingError(f"{data}: its vocabulary or length differs from what {run} read")
    if not p.new_tasks:
        raise SettingError(
            f"{run} already knows every task of {data} (pass `all_tasks` to learn them anew)"
        )
    with about(base.config_path):
        base_model = TRMConfig.from_dict(base.config.get("model"))
        base_train = TrainConfig.from_dict(base.config.get("train"))
    model_cfg, weights = grow_table(base_model, base.model_state, p.new_ids, init)
    train_cfg = adaptation_config(
        base_train,
        trainable=trainable,
        steps=steps or ADAPT_STEPS,
        lr=lr,
        emb_lr=emb_lr,
        batch_size=batch_size,
        eval_every=eval_every,
        seed=seed,
    )
    record = {
        **p.record(),
        "base": {
            "path": str(run),
            "step": base.config.get("step"),
            "sha256": sha256(resolve_checkpoint(run) / MODEL_FILE),
        },
        "trainable": trainable,
        "init": init,
        "views": views,
    }
    folder = RunFolder(out, resume=resume, force=force)
    if resume:
        saved = load_checkpoint(out).config
        if saved.get(ADAPTED, {}).get("task_ids") != record["task_ids"] or (
            saved.get(ADAPTED, {}).get("rows") != record["rows"]
        ):
            raise SettingError(f"{out} adapted {run} to other tasks: resume it with its own `data`")
        with about(resolve_checkpoint(out) / CONFIG_FILE):
            model_cfg = TRMConfig.from_dict(saved.get("model"))
            train_cfg = TrainConfig.from_dict(saved.get("train"))
        record = saved[ADAPTED]
    train_rows = p.train
    one_pass = -(-len(train_rows) // train_cfg.batch_size)  # every demo trains once
    why = f"one pass over the {len(train_rows):,} demos in batches of {train_cfg.batch_size}"
    if steps is not None and steps < one_pass:
        raise SettingError("steps", f"{steps} is too few: {why} needs {one_pass}")
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    train_data = TokenData(train_rows.inputs, train_rows.labels, p.id_map(train_rows.puzzle_ids))
    test = None
    if p.holdout is not None:
        test = TokenData(p.holdout.inputs, p.holdout.labels, p.id_map(p.holdout.puzzle_ids))
    patient = Patience(patience).replay(out / METRICS) if resume else Patience(patience)

    def stop(result: dict) -> bool:  # the held-out score after each interval: said, judged
        if log is not None and result:
            log(
                f"step {trainer.state.step}: held-out demos pass@1 "
                f"{result['exact_accuracy']:.3f}, pass@2 {result['pass@2']:.3f}"
            )
        return patient(result)

    def make(config: TrainConfig, where) -> Trainer:
        return Trainer(
            model_cfg,
            config,
            train_data,
            test,
            where,
            device=dev,
            precision=prec,
            augment=mapped_augmenter(p),
            run_info={"task": "arc", "data": base_data, ADAPTED: record, "precision": prec},
            objective=HeldOutVote(model_cfg, p, views) if p.holdout is not None else None,
        )

    deadline = None if max_minutes is None else time.monotonic() + 60 * max_minutes
    if max_minutes is not None and not resume:
        fitted = fit_adaptation(
            lambda: make(train_cfg, RunFolder.unmanaged(Path(tempfile.mkdtemp()))),
            train_cfg,
            max_minutes,
            (one_pass, why),
            log,
        )
        train_cfg = replace(train_cfg, steps=fitted, warmup=fitted // 20).validate()
    with folder:
        trainer = make(train_cfg, folder)
        if resume:
            trainer.restore()
        else:
            trainer.start_from(weights, str(resolve_checkpoint(run) / MODEL_FILE))
        if log is not None:
            log(
                f"adapting {run} to {len(p.new_tasks)} new task(s) of {data} "
                f"({p.new_ids:,} new puzzle ids; {len(p.task_ids) - len(p.new_tasks)} known "
                f"task(s) keep theirs): {len(train_rows)} demos train"
                + (f", {len(p.holdout)} held out to score" if p.holdout is not None else "")
                + f"; learning {'the network and ' * (trainable == 'all')}the new embeddings"
            )
        left = None if deadline is None else max(1e-3, (deadline - time.monotonic()) / 60)
        summary = trainer.fit(
            max_minutes=left,  # (a stop, should this machine slow down: the length is fixed)
            progress=progress,
            log=log,
            stop=stop if p.holdout is not None else None,
        )
    return {
        **summary,
        "out": str(out),
        "new_tasks": len(p.new_tasks),
        "known_tasks": len(p.task_ids) - len(p.new_tasks),
        "new_puzzle_ids": p.new_ids,
        "trained_demos": len(train_rows),
        "held_out": 0 if p.holdout is None else len(p.holdout),
        "device": str(dev),
        "precision": prec,
    }


@contextlib.contextmanager
def adapted_to(
    run: Path, data: Path, *, keep: Path | None = None, **options
) -> Iterator[tuple[Path, dict | None]]:
    """``(run, None)`` when its model knows every task of dataset ``data``; else ``run``
    adapted to them (:func:`adapt_run` with ``options``) and its summary, in ``keep`` (where
    an adaptation there resumes) or in a temporary folder, removed after."""
    from trm.files import CHECKPOINT

    if not needs_adaptation(run, data):
        yield Path(run), None
        return
    with tempfile.TemporaryDirectory(prefix="trm-adapt-") as scratch:
        out = Path(keep) if keep is not None else Path(scratch) / "adapted"
        resume = keep is not None and (out / CHECKPOINT).exists()
        yield out, adapt_run(run, data, out, resume=resume, **options)


@contextlib.contextmanager
def adapted_for_task(
    run: Path, task, *, augment: int = 8, seed: int = 0, log=None, **options
) -> Iterator[Path]:
    """``run``, or, when its model has no ids for ``task`` (an :class:`ArcTask`), ``run``
    adapted to that one task in a temporary folder (removed after): the task's ``augment``
    augmentations learned from its demonstrations (`trm solve arc --adapt`)."""
    from puzzles.arc.data import build_dataset
    from puzzles.arc.sources import Source
    from trm.checkpoint import resolve_checkpoint
    from trm.files import CONFIG_FILE
    from trm.jsonfile import read_json_object

    config = read_json_object(resolve_checkpoint(run) / CONFIG_FILE)
    known, _ = _task_info(config.get("data") or {})
    if task.id in known and not options.get("all_tasks"):
        if log is not None:
            log(f"{run} knows task {task.id}: not adapted (its own puzzle ids answer)")
        yield Path(run)
        return
    with tempfile.TemporaryDirectory(prefix="trm-adapt-") as scratch:
        data = Path(scratch) / "task"
        one = Source([replace(task, set="evaluation")], {"kind": "task", "id": task.id})
        build_dataset(one, data, augment=augment, seed=seed, progress=False)
        with adapted_to(run, data, seed=seed, log=log, **options) as (out, summary):
            ev = summary.get("eval") or {}
            if log is not None:
                log(
                    f"adapted in {summary['step']} steps ({summary['elapsed']:.0f} s)"
                    + (
                        f"; held-out demo: pass@1 {ev['exact_accuracy']:.3f}, "
                        f"pass@2 {ev['pass@2']:.3f}"
                        if ev
                        else "; no demo held out (the task has one)"
                    )
                )
            yield out
