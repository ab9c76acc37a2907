"""Train a TRM on a puzzle dataset folder (and import an official checkpoint as a run): the
glue between data and core. `trm train` and `trm import official` call these; the
recursion, losses and loop live in ``trm``; evaluating a run lives in
:mod:`puzzles.evaluation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from puzzles.dataset import Dataset, load_dataset, read_meta
from puzzles.evaluation import check_compatible, scored_data, token_data
from puzzles.tasks import Task, get_task, task_of_shape
from trm import __version__
from trm.budget import step_cap
from trm.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint
from trm.config import TrainConfig, TRMConfig, build_configs, is_official
from trm.device import resolve_compile, resolve_device, resolve_precision
from trm.distributed import is_first_process, setup, teardown
from trm.errors import SettingError, TRMError, about
from trm.files import CHECKPOINT, MODEL_FILE
from trm.official import official_parameter_count, read_official, sha256
from trm.runs import RunFolder, check_max_minutes, check_resume
from trm.train import Trainer


def data_info(ds: Dataset) -> dict:
    return meta_info(ds.path, ds.meta)


def meta_info(path: Path | None, m: dict) -> dict:
    """What a run's config.json records of its data (``path`` None: no dataset folder)."""
    return {
        "task": m["task"],
        "data": {
            "path": None if path is None else str(path),
            "vocab": m["vocab"],
            "seq_len": m["seq_len"],
            "num_puzzle_ids": m.get("num_puzzle_ids", 1),
            "task_info": m.get("task_info", {}),
        },
    }


def chosen_preset(preset: str, task: Task) -> str:
    """The first line of a run that named no preset: which one it took, and the other."""
    if preset == task.cpu_preset:
        return (
            f"preset {preset}: the CPU recipe for {task.name} data "
            f"(--preset {task.preset}: the official GPU recipe)"
        )
    other = f" (--preset {task.cpu_preset}: the CPU recipe)" if task.cpu_preset else ""
    kind = "the official recipe" if is_official(preset) else "the recipe"
    return f"preset {preset}: {kind} for {task.name} data{other}"


def train_on_dataset(
    data_dir: Path,
    out: Path,
    *,
    preset: str | None = None,
    model_overrides: dict | None = None,
    train_overrides: dict | None = None,
    resume: bool = False,
    force: bool = False,
    device: str = "auto",
    precision: str = "auto",
    compile: bool | None = None,
    max_minutes: float | None = None,
    progress: bool = True,
    init: Path | None = None,
    log=None,
) -> dict:
    """Train on ``data_dir`` into ``out``. ``init``: a checkpoint (run folder, checkpoint
    folder or a shipped model folder) whose model and weights the new run starts from, with
    a fresh optimizer, schedule and step count (fine-tuning). A new run with ``max_minutes``
    sizes its schedule to them (:mod:`trm.budget`; at most ``steps``, if given); ``log``
    hears what it chose."""
    out = Path(out)
    check_max_minutes(max_minutes)
    ds = load_dataset(data_dir)
    # an unscorable test split is refused now, not at the first evaluation
    test = scored_data(ds, "test") if "test" in ds.splits else None
    task = get_task(ds.task)
    if init is not None and resume:
        raise SettingError(
            "`init` starts a new run from other weights; `resume` continues this one: "
            "pass one of them"
        )
    start = _init_weights(Path(init), ds, model_overrides) if init is not None else None
    run = RunFolder(out, resume=resume, force=force, write=is_first_process())

    info = data_info(ds)
    chosen = None  # the line naming the preset a run took when none was named
    if resume:
        saved_ckpt = load_checkpoint(out)
        saved = saved_ckpt.config
        check_compatible(saved, ds, str(out))
        if "init_from" in saved:
            info["init_from"] = saved["init_from"]
        with about(saved_ckpt.config_path):
            model_cfg = TRMConfig.from_dict(saved.get("model"))
            train = TrainConfig.from_dict(saved.get("train")).to_dict()
        fixed = [k for k, v in (model_overrides or {}).items() if v is not None]
        check_resume(train, train_overrides or {}, model_options=fixed + ["preset"] * bool(preset))
        train.update({k: v for k, v in (train_overrides or {}).items() if v is not None})
        train_cfg = TrainConfig.from_dict(train)
    else:
        sizes = {
            "vocab_size": len(ds.meta["vocab"]),
            "seq_len": ds.meta["seq_len"],
            "num_puzzle_ids": ds.meta.get("num_puzzle_ids", 1),
        }
        if preset is None:  # said once the run has passed every check
            preset = task.preset_for(resolve_device(device).type)
            chosen = chosen_preset(preset, task)
        model_cfg, train_cfg = build_configs(
            preset, sizes, model_overrides or {}, train_overrides or {}
        )
        if start is not None:
            model_cfg, info["init_from"] = start.config, start.source
    prec = resolve_precision(precision, resolve_device(device))
    group, dev = setup(device)  # several processes under torchrun, or just this one
    compiled, compile_note = resolve_compile(compile, dev, max_minutes)
    try:
        with run:
            trainer = Trainer(
                model_cfg,
                train_cfg,
                token_data(ds, "train"),
                test,
                run,
                device=dev,
                precision=prec,
                compile=compiled,
                augment=task.augmenter_for(ds),
                run_info={**info, "precision": prec},
                dist=group,
            )
            if resume:
                trainer.restore()
            elif start is not None:
                trainer.start_from(start.weights, start.path / MODEL_FILE)
            if log is not None and is_first_process():
                if chosen:
                    log(chosen)
                if compile is None and compiled:
                    log(f"torch.compile: {compile_note}")
            summary = trainer.fit(
                max_minutes=max_minutes,
                progress=progress,
                fit_to=step_cap(max_minutes, resume, (train_overrides or {}).get("steps")),
                log=log,
            )
    finally:
        teardown(group)
    return {
        **summary,
        "device": str(dev),
        "precision": prec,
        "out": str(out),
        "task": ds.task,
        "processes": group.world,
        "main": group.main,
    }


@dataclass(frozen=True)
class InitWeights:
    """What a run started from another checkpoint's weights (``--init``) takes from it."""

    config: TRMConfig  # the model, as it was
    weights: dict[str, torch.Tensor]  # its evaluation weights
    source: dict  # provenance: path, step, sha256 (saved as the run's ``init_from``)
    path: Path  # the checkpoint folder the weights came from


def _init_weights(path: Path, ds: Dataset, model_overrides: dict | None) -> InitWeights:
    """The model config, evaluation weights and provenance of the checkpoint ``--init`` names."""
    ckpt = load_checkpoint(path)
    check_compatible(ckpt.config, ds, str(path))
    with about(ckpt.config_path):
        cfg = TRMConfig.from_dict(ckpt.config.get("model"))
    changed = sorted(
        k for k, v in (model_overrides or {}).items() if v is not None and getattr(cfg, k, v) != v
    )
    if changed:
        raise SettingError(
            "init", f"keeps the model of {path}; it cannot change {', '.join(changed)}"
        )
    if ds.meta.get("num_puzzle_ids", 1) != cfg.num_puzzle_ids:
        raise SettingError(
            f"{ds.path} has {ds.meta.get('num_puzzle_ids', 1)} puzzle ids, "
            f"{path} {cfg.num_puzzle_ids}: `init` needs the same puzzle ids"
        )
    folder = resolve_checkpoint(path)
    source = {
        "path": str(path),
        "step": ckpt.config.get("step"),
        "sha256": sha256(folder / MODEL_FILE),
    }
    return InitWeights(cfg, ckpt.model_state, source, folder)


def import_official(
    checkpoint: Path, out: Path, *, data_dir: Path | None = None, force: bool = False
) -> dict:
    """Write an official TRM checkpoint folder as one of our run folders (see
    :mod:`trm.official`); the task comes from ``data_dir``'s dataset, or, for the one task
    whose sizes say it (9x9 Sudoku), from the weights. Returns what was written."""
    out = Path(out)
    meta = read_meta(data_dir) if data_dir is not None else None
    ck = read_official(checkpoint, seq_len=meta["seq_len"] if meta else None)
    cfg = ck.config
    if meta is not None:
        info = meta_info(data_dir, meta)
        if len(meta["vocab"]) != cfg.vocab_size:
            raise TRMError(
                f"{data_dir}: a vocabulary of {len(meta['vocab'])} tokens; the "
                f"checkpoint's has {cfg.vocab_size}"
            )
    elif (task := task_of_shape(cfg.vocab_size, cfg.seq_len)) is not None:
        info = meta_info(None, task.official_meta())
    else:
        raise SettingError(
            f"{checkpoint}: a vocabulary of {cfg.vocab_size} over {cfg.seq_len} "
            "tokens does not say which task this is: pass `data` DIR (a dataset of its task)"
        )
    run = RunFolder(out, resume=False, force=force)
    config = {
        "model": cfg.to_dict(),
        "train": ck.train.to_dict(),
        "step": ck.step,
        "trm_version": __version__,
        "ema": ck.train.ema > 0,
        **info,
        "precision": "fp32",
        "imported_from": {
            "format": "official-trm",
            "weights": str(ck.weights),
            "sha256": ck.sha256,
            "arch": ck.yaml["arch"].get("name"),
            "forward_dtype": ck.yaml["arch"].get("forward_dtype"),
        },
    }
    with run:
        save_checkpoint(run.path / CHECKPOINT, model_state=ck.state, config=config)
        run.saved()
    folder = out / CHECKPOINT
    return {
        "out": str(out),
        "checkpoint": str(folder),
        "task": info["task"],
        "step": ck.step,
        "parameters": official_parameter_count(cfg),
        "puzzle_embedding": cfg.num_puzzle_ids * cfg.puzzle_emb_width,
        "model": cfg.to_dict(),
    }
