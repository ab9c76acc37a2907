"""Open a trained puzzle run and evaluate or predict with it: `trm eval`, `trm predict`
and `trm solve` call these (training lives in :mod:`puzzles.training`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from puzzles.dataset import Dataset, load_dataset, read_meta
from puzzles.scaling import Sampling, default_noise
from puzzles.tasks import get_task
from trm.checkpoint import resolve_checkpoint
from trm.config import TRMConfig
from trm.data import TokenData
from trm.device import resolve_device, resolve_precision
from trm.errors import SettingError, TRMError, about
from trm.evaluate import EvalResult, check_scorable, default_max_steps, evaluate
from trm.files import DATASET_META
from trm.model import TRM
from trm.runs import load_run_model


def token_data(ds: Dataset, split: str) -> TokenData:
    if split not in ds.splits:
        raise TRMError(f"{ds.path}: no split {split!r} (it has {', '.join(ds.splits)})")
    s = ds.splits[split]
    return TokenData(s.inputs, s.labels, s.puzzle_ids)


def scored_data(ds: Dataset, split: str) -> TokenData:
    """:func:`token_data` of a split that answers are scored on: refused, naming its file,
    when an example's labels are all padding (nothing to score it on)."""
    data = token_data(ds, split)
    with about(Path(ds.path) / f"{split}.npz"):
        check_scorable(data.labels)
    return data


def check_compatible(config: dict, ds: Dataset, where: str) -> None:
    """A checkpoint only reads data of its own task, vocabulary and length."""
    task = config.get("task")
    if task != ds.task:
        raise TRMError(f"{ds.path} holds {ds.task!r} data but {where} was trained on {task!r}")
    data = config.get("data", {})
    if data.get("vocab") != ds.meta["vocab"] or data.get("seq_len") != ds.meta["seq_len"]:
        raise TRMError(
            f"{ds.path}: vocabulary or sequence length differs from what {where} "
            f"was trained on (seq_len {data.get('seq_len')} vs {ds.meta['seq_len']})"
        )
    known = (config.get("model") or {}).get("num_puzzle_ids", 1)
    if ds.meta.get("num_puzzle_ids", 1) > known:
        raise TRMError(
            f"{ds.path} uses {ds.meta.get('num_puzzle_ids', 1)} puzzle ids; {where} "
            f"knows {known} (it was trained on another dataset)"
        )


def load_model(path: Path, device: torch.device, task: str | None = None) -> tuple[TRM, dict]:
    """A puzzle run's model for evaluation and its config.json (:func:`trm.runs.load_run_model`):
    one of ``task``'s where that is given, else of any puzzle task."""

    def build(config: dict) -> TRM:
        model = TRM(TRMConfig.from_dict(config.get("model", {})))
        default_max_steps(config, model.config.n_sup)  # what it records is checked on load
        default_noise(config)
        return model

    if task is None:
        return load_run_model(path, device, build, kind="puzzle", accepts=lambda t: t != "vision")
    return load_run_model(path, device, build, kind=task, accepts=lambda t: t == task)


@dataclass(frozen=True)
class OpenRun:
    """A run opened for evaluation: its model on its device, its config.json, and the
    dataset split it is scored on, checked to fit each other."""

    model: TRM
    config: dict
    ds: Dataset
    split: str
    device: torch.device
    precision: str
    id_map: object = None  # None, or how an adapted ARC run reads the dataset's puzzle ids

    def steps(self, asked: int | None) -> int:
        """``asked``, else the checkpoint's own count (:func:`trm.evaluate.default_max_steps`)."""
        return default_max_steps(self.config, self.model.config.n_sup, asked)


def open_for_eval(
    run: Path,
    data_dir: Path,
    split: str | None,
    device: str,
    precision: str,
    batch_size: int | None,
) -> OpenRun:
    """The run's model and the dataset's ``split`` (None: ``predict`` if there is one, else
    ``test``), checked to fit each other."""
    from puzzles.arc.adapt import id_map_for

    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    model, config = load_model(run, dev)
    if split is None:  # predictions: the inputs without known outputs, else the test inputs
        names = read_meta(data_dir)["splits"]
        split = "predict" if "predict" in names else "test"
    ds = load_dataset(data_dir, splits=[split])
    id_map = id_map_for(config, ds, str(run))  # (first: it names the task a model lacks)
    check_compatible(config, ds, str(run))
    if batch_size is not None and batch_size < 1:
        raise SettingError("batch_size", "must be at least 1")
    return OpenRun(model, config, ds, split, dev, prec, id_map)


def recorded_dataset(run: Path) -> Path:
    """The dataset folder ``run`` was trained on, as its config.json records it (`trm eval
    RUN` without --data); refused, naming it, when it is not there."""
    from trm.files import CONFIG_FILE
    from trm.jsonfile import read_json_object

    path = (read_json_object(resolve_checkpoint(run) / CONFIG_FILE).get("data") or {}).get("path")
    if not isinstance(path, str) or not path:
        raise SettingError(f"{run} records no dataset folder: pass `data`")
    if not (Path(path) / DATASET_META).is_file():
        raise SettingError(
            f"{run} was trained on {path}, which is not a dataset folder now: pass `data`"
        )
    return Path(path)


def evaluate_run(
    run: Path,
    data_dir: Path,
    *,
    split: str = "test",
    halting: str = "full",
    device: str = "auto",
    precision: str = "auto",
    batch_size: int | None = None,
    limit: int = 0,
    max_steps: int | None = None,
) -> EvalResult:
    """The run scored on a split, ``max_steps`` supervision steps at most (None: the
    checkpoint's own)."""
    r = open_for_eval(run, data_dir, split, device, precision, batch_size)
    data = scored_data(r.ds, r.split).head(limit)
    if r.id_map is not None:
        data = TokenData(data.inputs, data.labels, r.id_map(data.puzzle_ids))
    return evaluate(
        r.model,
        data,
        batch_size=batch_size,
        device=r.device,
        precision=r.precision,
        halting=halting,
        max_steps=r.steps(max_steps),
    )


def _views_of_run(
    run: Path,
    data_dir: Path,
    views: int,
    *,
    score: bool,
    split: str | None,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int | None = None,
    limit: int = 0,
    progress: bool = True,
    max_steps: int | None = None,
    **vote,
):
    from puzzles.arc.views import evaluate_views, predict_views

    r = open_for_eval(run, data_dir, split, device, precision, batch_size)
    go = evaluate_views if score else predict_views
    return go(
        r.model,
        r.ds,
        r.split,
        views,
        batch_size=batch_size,
        device=r.device,
        precision=r.precision,
        limit=limit,
        progress=progress,
        id_map=r.id_map,
        max_steps=r.steps(max_steps),
        **vote,
    )


def evaluate_run_views(run: Path, data_dir: Path, views: int, *, split: str = "test", **options):
    """ARC: ``views`` augmented views of each test input, mapped back and voted; pass@k
    (see :mod:`puzzles.arc.views`). ``options``: device, precision, batch_size, limit,
    progress, max_steps (None: the checkpoint's own) and skip_empty."""
    return _views_of_run(run, data_dir, views, score=True, split=split, **options)


def predict_run_views(
    run: Path, data_dir: Path, views: int, *, split: str | None = None, **options
):
    """ARC: the model's voted answers for every input of ``split`` (default: ``predict``
    if the dataset has one, else ``test``), ready for :func:`puzzles.arc.views.submission`.
    ``options``: device, precision, batch_size, progress, max_steps."""
    return _views_of_run(run, data_dir, views, score=False, split=split, **options)


def evaluate_run_samples(
    run: Path,
    data_dir: Path,
    sampling: Sampling,
    *,
    split: str = "test",
    device: str = "auto",
    precision: str = "auto",
    batch_size: int | None = None,
    limit: int = 0,
    max_steps: int | None = None,
) -> dict:
    """Sudoku and mazes: the model alone and with ``sampling``'s checked candidates per
    puzzle (see :mod:`puzzles.scaling`), on the same puzzles."""
    from puzzles.scaling import evaluate_samples

    r = open_for_eval(run, data_dir, split, device, precision, batch_size)
    return evaluate_samples(
        r.model,
        scored_data(r.ds, r.split).head(limit),
        get_task(r.ds.task).for_scaling(),
        sampling.for_checkpoint(r.config),
        batch_rows=batch_size,
        precision=r.precision,
        device=r.device,
        max_steps=r.steps(max_steps),
    )
