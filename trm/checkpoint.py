"""Checkpoints: a folder of safetensors and JSON, written atomically, loaded without pickle.

A checkpoint is a folder, by convention ``RUN/checkpoint/``, holding:

* ``model.safetensors``: the weights to evaluate with (a flat ``name -> tensor`` dict);
* ``config.json``: the caller's config object plus ``"format": "trm-checkpoint"`` and
  ``"version": CHECKPOINT_VERSION``;
* optionally, the training state needed to resume: ``train_state.safetensors`` (raw weights,
  optimizer moments, RNG states, carried recursion state, ...) and ``train_state.json``
  (step counters, optimizer param_groups, anything else that is JSON).

:func:`save_checkpoint` writes the folder as a unit: everything goes into a hidden temporary
sibling, is fsynced, then swapped in with two renames (``checkpoint`` -> ``.checkpoint.old``,
temporary -> ``checkpoint``) before the old one is deleted. A crash therefore leaves either
the old or the new checkpoint complete, never a mix; if it struck between the two renames,
:func:`resolve_checkpoint` finds the old one under ``.checkpoint.old``.

Nothing here calls ``torch.load`` or unpickles anything: unpickling can run arbitrary code,
so a pickle-based file is refused by name and ``model.safetensors`` is the only weights file
read. :func:`flatten_optimizer_state` and :func:`rng_state_tensors` turn an optimizer's
``state_dict()`` and a ``torch.Generator`` into tensors plus JSON so they fit this layout.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from trm.errors import TRMError, first_line
from trm.files import (
    CHECKPOINT,
    CONFIG_FILE,
    MODEL_FILE,
    TRAIN_META_FILE,
    TRAIN_TENSORS_FILE,
)
from trm.jsonfile import read_json_object, regular_file

FORMAT = "trm-checkpoint"
CHECKPOINT_VERSION = 1
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle")
_TENSOR_MARK = "__tensor__"  # how optimizer meta points at a tensor stored beside it


@dataclass
class Checkpoint:
    path: Path
    config: dict
    model_state: dict[str, torch.Tensor]
    train_tensors: dict[str, torch.Tensor] | None = None
    train_meta: dict | None = None

    @property
    def config_path(self) -> Path:
        """The config.json a bad value came from (for messages)."""
        return self.path / CONFIG_FILE


# ---------------------------------------------------------------------------- saving


def save_checkpoint(
    folder,
    *,
    model_state: dict[str, torch.Tensor],
    config: dict,
    train_tensors: dict[str, torch.Tensor] | None = None,
    train_meta: dict | None = None,
) -> Path:
    """Write the checkpoint folder atomically (see the module docstring); return its path."""
    folder = Path(folder)
    parent = folder.parent
    old = parent / f".{folder.name}.old"
    tmp = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:12]}"
        tmp.mkdir()  # not tempfile.mkdtemp: its 0700 mode would stick to the checkpoint
        _write_tensors(tmp / MODEL_FILE, model_state)
        _write_json(tmp / CONFIG_FILE, {**config, "format": FORMAT, "version": CHECKPOINT_VERSION})
        if train_tensors is not None or train_meta is not None:
            _write_tensors(tmp / TRAIN_TENSORS_FILE, train_tensors or {})
            _write_json(tmp / TRAIN_META_FILE, train_meta or {})
        _fsync_dir(tmp)
        if folder.exists():
            # A leftover .old is stale only while `folder` exists; otherwise it is the only
            # complete checkpoint (an earlier crash between the renames) and must survive.
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
        os.replace(tmp, folder)
        _fsync_dir(parent)
    except BaseException as e:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        # the safetensors writer raises its own type (disk full, ...), not OSError
        if isinstance(e, (OSError, SafetensorError)):
            detail = first_line(e)
            raise TRMError(f"{folder}: cannot write the checkpoint ({detail})") from e
        raise
    shutil.rmtree(old, ignore_errors=True)
    for leftover in parent.glob(f".{folder.name}.tmp-*"):  # from saves that crashed mid-write
        shutil.rmtree(leftover, ignore_errors=True)
    return folder


def _write_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    # safetensors wants contiguous CPU tensors that share no storage (tied weights, views):
    # a tensor that is already one is written from its own memory (a puzzle table can be
    # gigabytes), any other is copied first. save_file streams to the file without building
    # the whole file in memory; it creates it private, so the usual mode is set after.
    plain: dict[str, torch.Tensor] = {}
    storages: set[int] = set()
    for name, t in tensors.items():
        t = t.detach()
        storage = t.untyped_storage()
        whole = (
            t.device.type == "cpu"
            and t.is_contiguous()
            and t.storage_offset() == 0
            and storage.nbytes() == t.numel() * t.element_size()
            and storage.data_ptr() not in storages
        )
        if not whole:
            t = t.to(device="cpu", memory_format=torch.contiguous_format, copy=True)
        storages.add(t.untyped_storage().data_ptr())
        plain[name] = t
    save_file(plain, str(path))
    os.chmod(path, 0o666 & ~_umask())
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_json(path: Path, obj: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    # Makes the new directory entries (files, renames) durable; not every platform can
    # open a directory, and there the rename is as good as it gets.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- loading


def resolve_checkpoint(path) -> Path:
    """The checkpoint folder for `path`: the folder itself or its ``checkpoint/``, else the
    ``.old`` sibling left by a crash between the two renames of a save."""
    p = Path(path)
    if (p / MODEL_FILE).is_file():
        return p
    if (p / CHECKPOINT).is_dir():
        return p / CHECKPOINT
    for wanted in (p / CHECKPOINT, p):
        old = wanted.parent / f".{wanted.name}.old"
        if not wanted.exists() and old.is_dir():
            return old
    # Neither weights nor a checkpoint/ folder, but clearly meant as one: let the loader
    # say exactly what is wrong (missing weights, a planted pickle, ...).
    if p.is_dir() and ((p / CONFIG_FILE).is_file() or _pickle_files(p)):
        return p
    if not p.exists():
        raise TRMError(f"{p}: no such checkpoint or run folder")
    raise TRMError(
        f"{p}: no checkpoint here (expected {MODEL_FILE} and {CONFIG_FILE}, "
        "or a checkpoint/ folder)"
    )


def load_checkpoint(path, *, train_state: bool = False, device="cpu") -> Checkpoint:
    """Read and validate a checkpoint; with `train_state`, also the state to resume from."""
    folder = resolve_checkpoint(path)
    model_path = folder / MODEL_FILE
    if not model_path.is_file():
        pickled = _pickle_files(folder)
        if pickled:
            raise TRMError(
                f"{pickled[0]}: this file is pickle-based and trm will not load it "
                f"(unpickling can run arbitrary code); trm loads {MODEL_FILE} only"
            )
        raise TRMError(f"{model_path}: missing (a checkpoint needs the weights in {MODEL_FILE})")
    config = _read_json(folder / CONFIG_FILE)
    fmt, version = config.get("format"), config.get("version")
    if fmt != FORMAT:
        raise TRMError(f'{folder / CONFIG_FILE}: "format" is {fmt!r}, expected {FORMAT!r}')
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise TRMError(
            f'{folder / CONFIG_FILE}: "version" must be a positive integer, got {version!r}'
        )
    if version > CHECKPOINT_VERSION:
        raise TRMError(
            f"{folder / CONFIG_FILE}: checkpoint version {version} was made by a newer "
            f"trm (this one reads up to version {CHECKPOINT_VERSION}); upgrade trm"
        )
    model_state = read_safetensors(model_path, device)
    if not model_state:
        raise TRMError(f"{model_path}: holds no tensors")

    train_tensors = train_meta = None
    if train_state:
        tensors_path, meta_path = folder / TRAIN_TENSORS_FILE, folder / TRAIN_META_FILE
        if not tensors_path.is_file() and not meta_path.is_file():
            raise TRMError(
                f"{folder}: this checkpoint has no training state ({TRAIN_TENSORS_FILE}"
                f" and {TRAIN_META_FILE}), so it cannot be resumed"
            )
        try:
            for p in (tensors_path, meta_path):
                if not p.is_file():
                    raise TRMError(f"{p}: missing")
            train_tensors = read_safetensors(tensors_path, device)
            train_meta = _read_json(meta_path)
        except TRMError as e:
            raise TRMError(
                f"{e} (the checkpoint's training state is broken, so it cannot be resumed)"
            ) from e
    return Checkpoint(folder, config, model_state, train_tensors, train_meta)


# what a model's floating tensor may be stored as (loading casts it to the model's dtype)
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def check_state(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], where) -> None:
    """Refuse weights ``state`` that do not fit the model whose ``state_dict()`` is
    ``expected`` (meta tensors will do), naming ``where`` (the file) and the first tensor at
    fault: missing or unexpected, of another shape, stored as another kind of number (floats
    as float32, float16, bfloat16 or float64, integers as integers: never fp8, bool or
    integers for floats), or holding NaN or inf (also once cast to the model's dtype).
    ``load_state_dict`` would cast them silently, and the model score 0%."""
    for name in state:
        if name not in expected:
            raise TRMError(f"{where}: unexpected tensor {name!r} (the config makes no such tensor)")
    missing = [name for name in expected if name not in state]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise TRMError(f"{where}: tensor {missing[0]!r} missing{more}")
    for name, want in expected.items():
        t = state[name]
        if t.shape != want.shape:
            raise TRMError(
                f"{where}: tensor {name!r} has shape {tuple(t.shape)}, "
                f"the config makes {tuple(want.shape)}"
            )
        if want.dtype.is_floating_point:
            ok, wanted = t.dtype in FLOAT_DTYPES, "float32, float16, bfloat16 or float64"
        elif want.dtype == torch.bool:
            ok, wanted = t.dtype == torch.bool, "bool"
        else:
            ok = not (t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool)
            wanted = "an integer dtype"
        if not ok:
            raise TRMError(
                f"{where}: tensor {name!r} has dtype {_dtype(t.dtype)}, expected {wanted}"
            )
        if want.dtype.is_floating_point:
            for chunk in t.detach().reshape(-1).split(1 << 24):  # a puzzle table can be GBs
                if not torch.isfinite(chunk.to(want.dtype)).all():
                    bad = "NaN" if chunk.isnan().any() else "inf"
                    if chunk.isfinite().all():
                        bad = f"values too large for {_dtype(want.dtype)}"
                    raise TRMError(f"{where}: tensor {name!r} holds {bad}")


def _dtype(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _pickle_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)


def _read_json(path: Path) -> dict:
    if not path.exists():
        raise TRMError(f"{path}: missing")
    return read_json_object(path)


def read_safetensors(path: Path, device="cpu") -> dict[str, torch.Tensor]:
    """A safetensors file's tensors (never unpickles); TRMError naming the file if it is not one."""
    regular_file(path, "safetensors file")
    try:
        # Parses a JSON header and raw bytes, never unpickles. Loaded on the CPU so that a bad
        # `device` is not reported as a bad file.
        tensors = load_file(path)
    except Exception as e:  # the Rust parser's errors are not one documented type
        detail = first_line(e)
        hint = (
            "; it looks like a pickle/torch.save file, which trm will not load"
            if _looks_pickled(path)
            else ""
        )
        raise TRMError(f"{path}: not a valid safetensors file ({detail}){hint}") from None
    for name, t in tensors.items():
        if t.dtype.is_complex:
            raise TRMError(
                f"{path}: tensor {name!r} has dtype {t.dtype}; "
                "expected a floating, integer or bool dtype"
            )
    return {name: t.to(device) for name, t in tensors.items()}


def _looks_pickled(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    # torch.save writes a zip archive by default; a bare pickle (protocol 2+) starts 0x80 N.
    # A safetensors file starts with its header's length (8 bytes, little-endian), which may
    # begin 0x80 N too, and then its JSON header: "{".
    return head[:4] == b"PK\x03\x04" or (
        len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5 and head[8:9] != b"{"
    )


# ----------------------------------------------------------------- optimizer and RNG


def with_prefix(prefix: str, tensors: dict) -> dict:
    """``tensors`` named ``prefix.NAME``, to be stored beside others in one file."""
    return {f"{prefix}.{k}": v for k, v in tensors.items()}


def under_prefix(prefix: str, tensors: dict) -> dict:
    """The tensors :func:`with_prefix` stored under ``prefix``, by their own names."""
    start = prefix + "."
    return {k.removeprefix(start): v for k, v in tensors.items() if k.startswith(start)}


def flatten_optimizer_state(
    state_dict: dict, prefix: str = "optim"
) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer ``state_dict()`` into tensors (``optim.state.3.exp_avg``, ...) and
    JSON meta that records which values were tensors, with their shapes (0-d included)."""
    tensors: dict[str, torch.Tensor] = {}

    def encode(value: Any, key: str) -> Any:
        if isinstance(value, torch.Tensor):
            tensors[key] = value
            return {_TENSOR_MARK: key, "shape": list(value.shape)}
        return value

    state = {
        str(index): {
            name: encode(v, f"{prefix}.state.{index}.{name}") for name, v in per_param.items()
        }
        for index, per_param in state_dict["state"].items()
    }
    groups = [
        {k: encode(v, f"{prefix}.param_groups.{i}.{k}") for k, v in group.items()}
        for i, group in enumerate(state_dict["param_groups"])
    ]
    # Through JSON now, so the caller gets exactly what a load gives back (tuples -> lists)
    # and a value JSON cannot hold fails here rather than halfway through a save.
    meta = json.loads(json.dumps({"state": state, "param_groups": groups}))
    return tensors, meta


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    """Inverse of :func:`flatten_optimizer_state`: a dict ``optimizer.load_state_dict`` takes."""

    def decode(value: Any) -> Any:
        if isinstance(value, dict) and _TENSOR_MARK in value:
            key = value[_TENSOR_MARK]
            if key not in tensors:
                raise TRMError(f"training state: optimizer tensor {key!r} is missing")
            return tensors[key].reshape(value["shape"])
        return value

    try:
        state = {
            int(index): {name: decode(v) for name, v in per_param.items()}
            for index, per_param in meta["state"].items()
        }
        groups = [{k: decode(v) for k, v in group.items()} for group in meta["param_groups"]]
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as e:
        detail = first_line(e, "")
        raise TRMError(
            f"training state: optimizer state is malformed ({type(e).__name__}: {detail})"
        ) from None
    return {"state": state, "param_groups": groups}


def rng_state_tensors(prefix: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``{f"{prefix}.state": <uint8 state tensor>}``, ready to merge into the train tensors."""
    return {f"{prefix}.state": generator.get_state().clone()}


def restore_generator(generator: torch.Generator, tensor: torch.Tensor) -> None:
    """Put a state from :func:`rng_state_tensors` back into `generator`."""
    if tensor.dtype != torch.uint8 or tensor.dim() != 1:
        raise TRMError(
            f"training state: an RNG state must be a 1-D uint8 tensor, "
            f"got {tensor.dtype} of shape {tuple(tensor.shape)}"
        )
    try:
        generator.set_state(tensor.detach().to("cpu").contiguous())
    except RuntimeError as e:
        detail = first_line(e)
        raise TRMError(
            f"training state: RNG state does not fit this generator ({detail})"
        ) from None
