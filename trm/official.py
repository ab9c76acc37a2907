"""Read a checkpoint folder of the official TRM code (SamsungSAILMontreal/TinyRecursiveModels).

The official ``pretrain.py`` leaves, per run, a folder with ``all_config.yaml`` (its whole
config; ``arch:`` holds the model) and ``step_N`` files: ``torch.save(state_dict)`` of the
model wrapped in its loss head, so every key starts with ``model.inner.`` (and with
``_orig_mod.`` before that when the model was compiled).

:func:`read_official` turns such a folder into one of our model configs and a state dict for
:class:`trm.model.TRM`, with nothing guessed: the yaml gives the architecture, the weights'
shapes give the vocabulary, the number of puzzle ids and (for the MLP mixer or learned
positions) the sequence length; only an attention model with RoPE or no positions needs
the sequence length from outside. The weights file is read with
``torch.load(weights_only=True)`` only, which refuses anything but tensors and plain
containers; every tensor must be one the config needs, with the shape it needs.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from trm.checkpoint import check_state, read_safetensors
from trm.config import TrainConfig, TRMConfig
from trm.errors import SettingError, TRMError, about, first_line
from trm.jsonfile import read_bounded, regular_file
from trm.model import TRM, parameter_count

CONFIG_FILE = "all_config.yaml"
ARCH = (
    "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1"  # the official TRM (module@class)
)
LOSSES = {"stablemax_cross_entropy": "stablemax", "softmax_cross_entropy": "softmax"}
# official tensor name -> ours ({i}: layer index)
RENAMES = [
    (r"embed_tokens\.embedding_weight", "embed.weight"),
    (r"embed_pos\.embedding_weight", "pos_embed.weight"),
    (r"puzzle_emb\.weights", "puzzle_emb.weight"),
    (r"lm_head\.weight", "head.weight"),
    (r"q_head\.(weight|bias)", r"halt_head.\1"),
    (r"H_init", "y_init"),
    (r"L_init", "z_init"),
    (r"L_level\.layers\.(\d+)\.self_attn\.qkv_proj\.weight", r"net.blocks.\1.mix.qkv.weight"),
    (r"L_level\.layers\.(\d+)\.self_attn\.o_proj\.weight", r"net.blocks.\1.mix.out.weight"),
    (
        r"L_level\.layers\.(\d+)\.mlp_t\.(gate_up|down)_proj\.weight",
        r"net.blocks.\1.mix.mlp.\2.weight",
    ),
    (r"L_level\.layers\.(\d+)\.mlp\.(gate_up|down)_proj\.weight", r"net.blocks.\1.mlp.\2.weight"),
]
# buffers the official code does not save, but a modified copy might: never needed
IGNORED = re.compile(r"(rotary_emb\.(cos|sin)_cached|puzzle_emb\.local_(weights|ids))")
PREFIXES = ("_orig_mod.", "model.", "inner.")


@dataclass
class OfficialCheckpoint:
    config: TRMConfig
    state: dict[str, torch.Tensor]  # our names, float32
    train: TrainConfig  # the official run's recipe in our terms
    step: int  # N of the step_N file read
    weights: Path
    sha256: str
    yaml: dict  # all_config.yaml as read


# ---------------------------------------------------------------------------- files


STEP_FILE = re.compile(r"step_(\d+)(\.pt|\.pth|\.bin|\.safetensors)?")


def find_weights(path: Path) -> tuple[Path, Path]:
    """(config yaml, weights file) for a checkpoint folder (its latest ``step_N``, with or
    without a ``.pt``/``.safetensors`` suffix; else its one ``.safetensors`` file) or for
    one weights file inside such a folder."""
    path = Path(path)
    if not path.exists():
        raise TRMError(f"{path}: no such checkpoint folder or file")
    if not path.is_dir():
        regular_file(path, "weights file")
    folder = path if path.is_dir() else path.parent
    yaml_path = folder / CONFIG_FILE
    if not yaml_path.exists():  # (read_yaml refuses anything but a regular file)
        raise TRMError(
            f"{folder}: no {CONFIG_FILE} (an official checkpoint folder holds it "
            "beside its step_N weights)"
        )
    if path.is_file():
        return yaml_path, path
    files = [p for p in folder.iterdir() if p.is_file()]
    steps = sorted(
        (int(m.group(1)), p.name, p) for p in files if (m := STEP_FILE.fullmatch(p.name))
    )
    if steps:
        return yaml_path, steps[-1][2]
    tensors = sorted(p for p in files if p.suffix == ".safetensors")
    if len(tensors) == 1:
        return yaml_path, tensors[0]
    if tensors:
        raise TRMError(f"{folder}: several .safetensors files; name the one to import")
    raise TRMError(f"{folder}: no step_N weights file")


MAX_YAML_BYTES = 1 << 20  # the official all_config.yaml is about 2 KB
MAX_YAML_DEPTH = 64


def read_yaml(path: Path) -> dict:
    """The official run's settings. Bounded: at most 1 MiB, no aliases (the official file has
    none; they can make a small file expand exponentially), nesting within Python's limits."""
    import yaml

    try:
        text = read_bounded(path, MAX_YAML_BYTES, "not an official config").decode("utf-8")
        if _bracket_depth(text) > MAX_YAML_DEPTH:  # before the (slow, recursive) parser sees it
            raise TRMError(f"{path}: YAML nested too deeply")
        if any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise TRMError(
                f"{path}: uses YAML aliases (*name), which the official config never does"
            )
        data = yaml.safe_load(text)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise TRMError(f"{path}: not valid YAML ({first_line(e)})") from None
    except ValueError as e:  # a date that does not exist, an integer of 5,000 digits, ...
        detail = first_line(e).split(";")[0]
        raise TRMError(f"{path}: a value that cannot be read ({detail})") from None
    except RecursionError:
        raise TRMError(f"{path}: YAML nested too deeply") from None
    if not isinstance(data, dict):
        raise TRMError(f"{path}: expected a mapping of settings")
    if not isinstance(data.get("arch"), dict):
        raise TRMError(f"{path}: no 'arch:' section (the model settings)")
    return data


def _bracket_depth(text: str) -> int:
    """The deepest nesting of flow brackets ([ and {) in ``text``, quotes not considered."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
    return deepest


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The weights file as a flat name -> tensor dict: a ``.safetensors`` file (no pickle
    at all), or ``torch.save`` output read through ``weights_only`` loading."""
    if path.suffix == ".safetensors":
        obj = read_safetensors(path)
        if not obj:
            raise TRMError(f"{path}: holds no tensors")
        return obj
    try:
        with warnings.catch_warnings():  # e.g. "pickle protocol 4": the refusal says enough
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise TRMError(
            f"{path}: not a plain tensor dict; weights-only loading refused it "
            f"({_refusal_reason(str(e))})"
        ) from None
    except (
        RuntimeError,
        EOFError,
        ValueError,
        zipfile.BadZipFile,
        OSError,
        KeyError,
        AttributeError,
        TypeError,
        IndexError,
    ) as e:
        first = first_line(e)
        raise TRMError(f"{path}: truncated or not a torch.save file ({first[:200]})") from None
    if not isinstance(obj, dict) or not obj:
        raise TRMError(f"{path}: expected a non-empty dict of tensors, got {type(obj).__name__}")
    for name, value in obj.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise TRMError(
                f"{path}: entry {name!r} is not a named tensor (a state dict holds only tensors)"
            )
    return obj


def _refusal_reason(message: str) -> str:
    """The line of torch's weights-only refusal that says what was found (its advice to load
    the file without weights_only is not ours to give)."""
    for line in message.splitlines():
        line = line.strip()
        if line.startswith(("Trying to load", "Unsupported", "WeightsUnpickler error:")) and len(
            line
        ) > len("WeightsUnpickler error:"):
            return line[:200]
    return "it holds something other than tensors"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------- names


def strip_prefixes(tensors: dict[str, torch.Tensor], where: Path) -> dict[str, torch.Tensor]:
    out = {}
    for name, t in tensors.items():
        short = name
        for prefix in PREFIXES:
            if short.startswith(prefix):
                short = short[len(prefix) :]
        if short in out:
            raise TRMError(f"{where}: tensor {name!r} appears twice (with and without a prefix)")
        out[short] = t
    return out


def rename(name: str) -> str | None:
    for pattern, ours in RENAMES:
        if re.fullmatch(pattern, name):
            return re.sub(pattern, ours, name)
    return None


# ---------------------------------------------------------------------------- config


def _setting(arch: dict, key: str, kind, where: Path, default=None):
    value = arch.get(key, default)
    if value is None:
        raise TRMError(f"{where}: arch.{key} is missing")
    if _out_of_range(value):
        raise TRMError(f"{where}: arch.{key} is out of range, got {_shown(value)}")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise TRMError(f"{where}: arch.{key} should be {kind.__name__}, got {value!r}")
    return value


def _out_of_range(value) -> bool:
    """NaN, inf, or a number far beyond any setting (a 4,000-digit integer, 1e300)."""
    return type(value) in (int, float) and not abs(value) < 1e18


def _shown(value) -> str:
    return "a huge number" if isinstance(value, int) else repr(value)


def model_config(
    data: dict, tensors: dict[str, torch.Tensor], where: Path, seq_len: int | None = None
) -> TRMConfig:
    """Our config of the official model described by ``data`` (the yaml) and the weights."""
    arch = data["arch"]
    name = arch.get("name")
    if name != ARCH:  # trm_singlez, trm_hier6 share the class name but not the model
        raise TRMError(
            f"{where}: arch.name is {name!r}; trm imports the official TRM ({ARCH}) only"
        )
    loss = arch.get("loss", {})
    loss_type = loss.get("loss_type") if isinstance(loss, dict) else None
    if loss_type not in LOSSES:
        raise TRMError(
            f"{where}: arch.loss.loss_type is {loss_type!r} (known: {', '.join(LOSSES)})"
        )
    if not _setting(arch, "no_ACT_continue", bool, where, True):
        raise TRMError(
            f"{where}: arch.no_ACT_continue is false (halting by Q-learning with a "
            "bootstrapped continue target); trm supports the default, true"
        )
    pos = _setting(arch, "pos_encodings", str, where)
    if pos not in ("rope", "learned", "none"):
        raise TRMError(f"{where}: arch.pos_encodings {pos!r} (known: rope, learned, none)")
    hidden = _setting(arch, "hidden_size", int, where)
    mlp_t = _setting(arch, "mlp_t", bool, where, False)
    ndim = _setting(arch, "puzzle_emb_ndim", int, where, 0)
    emb_len = _setting(arch, "puzzle_emb_len", int, where, 16)
    if hidden < 1 or ndim < 0 or emb_len < 0:
        raise TRMError(f"{where}: hidden_size, puzzle_emb_ndim and puzzle_emb_len must be positive")
    if ndim == 0 and emb_len:
        if emb_len != 16 or "puzzle_emb_len" in arch:
            raise TRMError(
                f"{where}: puzzle_emb_ndim 0 with puzzle_emb_len {emb_len}: the official "
                "model cannot run this (prefix tokens without an embedding)"
            )
        emb_len = 0  # no embedding and the default length: no prefix at all
    if emb_len == 0:
        emb_len = -(-ndim // hidden)  # the official ceiling division

    embed = tensors.get("embed.weight")
    if embed is None or embed.dim() != 2 or embed.shape[1] != hidden:
        raise TRMError(
            f"{where}: tensor embed_tokens.embedding_weight is missing or not (vocab, {hidden})"
        )
    num_ids = 1
    if ndim:
        table = tensors.get("puzzle_emb.weight")
        if table is None or table.dim() != 2 or table.shape[1] != ndim:
            raise TRMError(
                f"{where}: tensor puzzle_emb.weights is missing or not (puzzle ids, {ndim})"
            )
        num_ids = int(table.shape[0])
    from_weights = None
    if mlp_t:
        w = tensors.get("net.blocks.0.mix.mlp.gate_up.weight")
        if w is None or w.dim() != 2:
            raise TRMError(f"{where}: tensor L_level.layers.0.mlp_t.gate_up_proj.weight is missing")
        from_weights = int(w.shape[1]) - emb_len
    elif pos == "learned":
        w = tensors.get("pos_embed.weight")
        if w is None or w.dim() != 2:
            raise TRMError(f"{where}: tensor embed_pos.embedding_weight is missing")
        from_weights = int(w.shape[0]) - emb_len
    if from_weights is not None:
        if seq_len is not None and seq_len != from_weights:
            raise TRMError(
                f"{where}: the weights are for sequences of {from_weights} tokens, "
                f"the data has {seq_len}"
            )
        seq_len = from_weights
    if seq_len is None:
        raise SettingError(
            f"{where}: the weights of an attention model with {pos} positions do not "
            "tell its sequence length: pass `data` DIR (a dataset of its task)"
        )
    if seq_len < 1:
        raise TRMError(f"{where}: the weights give a sequence length of {seq_len}")
    config = TRMConfig(
        vocab_size=int(embed.shape[0]),
        seq_len=seq_len,
        num_puzzle_ids=num_ids,
        puzzle_emb_len=emb_len,
        puzzle_emb_ndim=ndim or None,
        hidden_size=hidden,
        num_heads=_setting(arch, "num_heads", int, where),
        num_layers=_setting(arch, "L_layers", int, where),
        expansion=_setting(arch, "expansion", float, where),
        mixer="mlp" if mlp_t else "attention",
        n=_setting(arch, "L_cycles", int, where),
        T=_setting(arch, "H_cycles", int, where),
        n_sup=_setting(arch, "halt_max_steps", int, where),
        halt_exploration=_setting(arch, "halt_exploration_prob", float, where),
        loss=LOSSES[loss_type],
        rope_theta=_setting(arch, "rope_theta", float, where, 10000.0),
        norm_eps=_setting(arch, "rms_norm_eps", float, where, 1e-5),
        width_multiple=256,
        mixer_norm="sequence",
        halt_outputs=2,
        pos_encodings=pos,
    )
    try:  # (_setting names the file itself; validate does not)
        return config.validate()
    except TRMError as e:
        raise TRMError(f"{where}: {e}") from None


def train_config(data: dict) -> TrainConfig:
    """The official run's recipe in our terms (recorded with the import, for reference);
    a value out of range is refused (TRMError), any other that is not a number ignored."""

    def num(key, default):
        v = data.get(key, default)
        if _out_of_range(v):
            raise TRMError(f"{key} is out of range, got {_shown(v)}")
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else default

    ema = data.get("ema") is True
    return TrainConfig(
        batch_size=max(1, int(num("global_batch_size", 768))),
        lr=float(num("lr", 1e-4)),
        warmup=max(0, int(num("lr_warmup_steps", 2000))),
        schedule="constant" if num("lr_min_ratio", 1.0) == 1.0 else "cosine",
        min_lr_ratio=float(num("lr_min_ratio", 1.0)),
        weight_decay=max(0.0, float(num("weight_decay", 0.1))),
        beta1=float(num("beta1", 0.9)),
        beta2=float(num("beta2", 0.95)),
        puzzle_emb_lr=float(num("puzzle_emb_lr", 1e-2)) or 1e-2,
        puzzle_emb_weight_decay=max(0.0, float(num("puzzle_emb_weight_decay", 0.1))),
        grad_clip=0.0,
        atan2_scale=1.0,
        ema=float(num("ema_rate", 0.999)) if ema else 0.0,
        ema_warmup=False,
        exploration_draw="every-step",
        seed=int(num("seed", 0)),
    ).validate()


# ---------------------------------------------------------------------------- import


def convert_state(
    tensors: dict[str, torch.Tensor], config: TRMConfig, where: Path
) -> dict[str, torch.Tensor]:
    """Our state dict: every tensor the config needs, of its shape, finite, as float32."""
    check_state(tensors, _shapes_only(config).state_dict(), where)
    return {name: t.detach().to(torch.float32).contiguous() for name, t in tensors.items()}


def read_official(path: Path, seq_len: int | None = None) -> OfficialCheckpoint:
    """Read and check an official checkpoint folder (or one ``step_N`` file in it)."""
    yaml_path, weights = find_weights(path)
    data = read_yaml(yaml_path)
    with about(yaml_path):
        train = train_config(data)
    raw = strip_prefixes(read_tensors(weights), weights)
    tensors = {}
    for name, t in raw.items():
        if IGNORED.fullmatch(name):
            continue
        ours = rename(name)
        if ours is None:
            raise TRMError(f"{weights}: unexpected tensor {name!r} (not part of the official TRM)")
        tensors[ours] = t
    config = model_config(data, tensors, yaml_path, seq_len)
    state = convert_state(tensors, config, weights)
    m = STEP_FILE.fullmatch(weights.name)
    return OfficialCheckpoint(
        config,
        state,
        train,
        int(m.group(1)) if m else 0,
        weights,
        sha256(weights),
        data,
    )


def official_parameter_count(config: TRMConfig) -> int:
    """Trained parameters as the official code counts them: the puzzle-embedding table is
    a buffer there as here (trained by its own sparse update), so it is not counted."""
    return parameter_count(_shapes_only(config))


def _shapes_only(config: TRMConfig) -> TRM:
    """The model with no memory behind its tensors (a puzzle table can be gigabytes):
    enough for names, shapes and counts."""
    with torch.device("meta"):
        return TRM(config)


__all__ = [
    "OfficialCheckpoint",
    "find_weights",
    "model_config",
    "official_parameter_count",
    "read_official",
    "train_config",
]
