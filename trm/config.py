"""Configuration of a TRM and of its training, as dataclasses, plus named presets.

The model config is written into every checkpoint (``config.json``), so a model can always
be rebuilt from its folder. The data decides ``vocab_size``, ``seq_len`` and
``num_puzzle_ids``; presets decide the rest; command-line options override presets.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import ClassVar

from trm.curriculum import check_curriculum
from trm.errors import SettingError, TRMError

# the token every dataset reserves for "no cell": a label position holding it is not scored
PAD = 0
MIXERS = ("attention", "mlp")
MIXER_NORMS = ("hidden", "sequence")
POS_ENCODINGS = ("rope", "learned", "none")
LOSSES = ("softmax", "stablemax")
OPTIMIZERS = ("adam-atan2", "adamw", "muon")
SCHEDULES = ("cosine", "constant")
EXPLORATION_DRAWS = ("once", "every-step")
TRAINABLE = ("all", "embeddings")
ADAPT_INITS = ("mean", "zeros")  # where an adaptation's new puzzle ids start (trm.adapt)
ADAPT_STEPS = 1000  # an adaptation's default length
ADAPT_LR_DIVISOR = 10  # an adaptation's network learns at the base run's peak lr / this
SOFT_MIXERS = ("mlp", "linear")  # trm.encoder.SoftMixEncoder's mixers
ROUTINGS = ("expert", "token")  # trm.encoder.RoutedEncoder's routings


# Upper bounds on what a config may ask for: far above any published model, low enough that
# an edited or hostile config.json is refused before anything is allocated or run for ever.
MAX_SIZES = dict(
    vocab_size=1 << 16,
    seq_len=1 << 16,
    num_puzzle_ids=1 << 24,
    puzzle_emb_len=1024,
    hidden_size=1 << 14,
    num_heads=1024,
    num_layers=256,
    n=256,
    T=256,
    n_sup=1024,
    width_multiple=4096,
    expansion=64,
)
MAX_PARAMETERS = 1 << 33  # 8.6 G floats (32 GiB in fp32): more than any TRM, or this machine
# Seeds are 0 to 2**32 - 1: what every generator here takes (numpy's legacy ones included),
# leaving the seeds made from one (seed + 2, seed x 1,000,003 + i) within torch's 64 bits.
MAX_SEED = 2**32 - 1
# Learning rates, weight decays and adam-atan2's scale are at most 1e3: far above any
# useful value, and their products (lr x scale, lr x weight decay) stay within float32.
MAX_RATE = 1e3


def check_seed(seed: int, name: str = "seed") -> None:
    """A seed every generator takes (:data:`MAX_SEED`), else one line naming ``name``."""
    if not 0 <= seed <= MAX_SEED:
        shown = seed if abs(seed) < 10**30 else "a huge number"
        raise SettingError(name, f"must be from 0 to {MAX_SEED:,}, got {shown}")


def check_rope_and_norm(config) -> None:
    """RoPE's base (1, a single frequency, up to 1e12, far beyond any model's 1e6: below 1 the
    frequencies overflow) and RMSNorm's epsilon, each named alone."""
    if not 1 <= config.rope_theta <= 1e12:
        raise SettingError("rope_theta", f"must be from 1 to 1e12, got {config.rope_theta}")
    if not 0 < config.norm_eps < 1:
        raise SettingError("norm_eps", f"must be between 0 and 1, got {config.norm_eps}")


def check_field_types(cls, d: dict, what: str) -> None:
    """Each value of ``d`` has its dataclass field's JSON type: integers are integers (not
    2.0, not true), numbers are finite, strings strings, switches true or false."""
    for f in fields(cls):
        if f.name not in d:
            continue
        v, kind = d[f.name], str(f.type)
        if v is None and ("None" in kind or "Optional" in kind):
            continue
        base = kind.replace("Optional[", "").split("|")[0].strip(" ]")
        ok, want = {
            "int": (type(v) is int, "an integer"),
            "float": (type(v) in (int, float) and math.isfinite(v), "a finite number"),
            "str": (isinstance(v, str), "a string"),
            "bool": (type(v) is bool, "true or false"),
        }.get(base, (True, ""))
        if not ok:
            text = repr(v) if not isinstance(v, int) or abs(v) < 10**12 else "a huge number"
            raise TRMError(
                f"{what} field {f.name!r} must be {want}, got "
                f"{text if len(text) <= 40 else text[:37] + '...'}"
            )


def check_at_least(config, names, low: int = 1) -> None:
    """Each field named is at least ``low``."""
    for name in names:
        if getattr(config, name) < low:
            raise SettingError(name, f"must be at least {low}, got {getattr(config, name)}")


def check_choices(config, choices: dict[str, tuple]) -> None:
    """Each field named holds one of its allowed values."""
    for name, allowed in choices.items():
        if getattr(config, name) not in allowed:
            raise SettingError(
                name,
                f"must be one of {', '.join(map(str, allowed))}, got {getattr(config, name)!r}",
            )


def check_rates(config, names) -> None:
    """Each field named (a weight of a loss or a decay) is from 0 to MAX_RATE."""
    for name in names:
        if not 0 <= getattr(config, name) <= MAX_RATE:
            raise SettingError(name, f"must be from 0 to {MAX_RATE:g}, got {getattr(config, name)}")


def check_bounds(config, bounds: dict) -> None:
    for name, top in bounds.items():
        value = getattr(config, name, None)
        if isinstance(value, (int, float)) and value > top:
            raise SettingError(name, f"must be at most {top}, got {value}")


class SavedConfig:
    """JSON round trip shared by every model config dataclass (saved in each checkpoint).

    Loading is strict: an unknown field or a bad value is refused (TRMError), so a
    checkpoint never builds a model other than the one it was trained as. A field added
    after runs were saved, whose default for new models differs from what those runs were
    built as, names that older value in the class's ``legacy_defaults``: a saved config
    without the field loads with it.
    """

    legacy_defaults: ClassVar[dict] = {}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        if not isinstance(d, dict):
            raise TRMError("the model config is not a JSON object")
        d = {**cls.legacy_defaults, **d}
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise TRMError(f"unknown model config fields: {', '.join(sorted(unknown))}")
        check_field_types(cls, d, "model config")
        try:
            return cls(**d).validate()
        except TypeError as e:
            raise TRMError(f"bad model config: {e}") from None


@dataclass(frozen=True)
class TRMConfig(SavedConfig):
    """A TRM. Fields added after the first release default to what that release built, so
    older run folders load as the model they were trained as; the official architecture
    (SamsungSAILMontreal/TinyRecursiveModels) is ``puzzle_emb_len=16``,
    ``puzzle_emb_ndim=hidden_size``, ``width_multiple=256``, ``mixer_norm="sequence"``,
    ``halt_outputs=2`` and ``loss="stablemax"`` (see :data:`OFFICIAL_MODEL`)."""

    vocab_size: int
    seq_len: int
    num_puzzle_ids: int = 1
    puzzle_emb_len: int = 0  # prefix tokens holding the learned puzzle embedding; 0 = none
    # width of the learned vector per puzzle id, zero-padded to puzzle_emb_len x hidden_size;
    # None = the whole prefix is learned (puzzle_emb_len x hidden_size)
    puzzle_emb_ndim: int | None = None
    hidden_size: int = 512
    num_heads: int = 8
    num_layers: int = 2  # layers of the one network f
    expansion: float = 4.0  # SwiGLU width over hidden size
    mixer: str = "attention"  # token mixing: self-attention, or an MLP over positions
    n: int = 6  # latent updates per cycle
    T: int = 3  # cycles per supervision step; the first T-1 run without gradients
    n_sup: int = 16  # supervision steps at most per example
    halt_exploration: float = 0.1  # chance an example must run a random minimum of steps
    loss: str = "softmax"
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    width_multiple: int = 8  # SwiGLU inner width rounded up to a multiple of this
    mixer_norm: str = "hidden"  # the MLP mixer's RMSNorm axis after token mixing
    halt_outputs: int = 1  # halting head outputs: [halt] or [halt, continue]
    pos_encodings: str = "rope"  # attention positions: rope, learned (added to x) or none

    @property
    def total_len(self) -> int:
        return self.seq_len + self.puzzle_emb_len

    @property
    def puzzle_emb_width(self) -> int:
        """Learned floats per puzzle id (0 without a prefix)."""
        if not self.puzzle_emb_len:
            return 0
        full = self.puzzle_emb_len * self.hidden_size
        return full if self.puzzle_emb_ndim is None else self.puzzle_emb_ndim

    def validate(self) -> TRMConfig:
        positive = (
            "vocab_size",
            "seq_len",
            "num_puzzle_ids",
            "hidden_size",
            "num_heads",
            "num_layers",
            "n",
            "T",
            "n_sup",
            "width_multiple",
        )
        check_at_least(self, positive)
        check_bounds(self, MAX_SIZES)
        check_rope_and_norm(self)
        if self.puzzle_emb_len < 0:
            raise SettingError("puzzle_emb_len", f"must be >= 0, got {self.puzzle_emb_len}")
        if self.puzzle_emb_ndim is not None and not (
            1 <= self.puzzle_emb_ndim <= max(1, self.puzzle_emb_len) * self.hidden_size
        ):
            raise SettingError(
                f"`puzzle_emb_ndim` must be between 1 and `puzzle_emb_len` x `hidden_size` "
                f"({self.puzzle_emb_len} x {self.hidden_size}), got {self.puzzle_emb_ndim}"
            )
        check_choices(
            self,
            {
                "mixer": MIXERS,
                "loss": LOSSES,
                "mixer_norm": MIXER_NORMS,
                "pos_encodings": POS_ENCODINGS,
                "halt_outputs": (1, 2),
            },
        )
        if self.mixer == "attention" and self.hidden_size % (2 * self.num_heads):
            raise SettingError(
                f"`hidden_size` {self.hidden_size} must be a multiple of 2 x `num_heads` "
                f"({self.num_heads}) for attention with RoPE"
            )
        if not 0 <= self.halt_exploration <= 1:
            raise SettingError("halt_exploration", "must be between 0 and 1")
        if self.expansion <= 0:
            raise SettingError("expansion", "must be positive")
        estimate = self.parameter_estimate()
        if estimate > MAX_PARAMETERS:
            raise TRMError(
                f"this model would hold about {estimate:.3g} "
                f"parameters; at most {MAX_PARAMETERS:.3g} (32 GiB in fp32)"
            )
        return self

    def parameter_estimate(self) -> int:
        """Roughly the floats a model of this config holds (embeddings, puzzle table, f)."""
        h = self.hidden_size
        inner = h * self.expansion * 2 / 3 * 3  # SwiGLU: three matrices of 2/3 x expansion width
        mixing = 4 * h * h if self.mixer == "attention" else 3 * self.total_len**2 * self.expansion
        return int(
            self.vocab_size * h * 2
            + self.num_puzzle_ids * self.puzzle_emb_width
            + self.num_layers * (mixing + inner * h)
            + self.total_len * h
        )


# The official architecture's settings that differ from our first release's defaults
# (puzzle_emb_ndim follows hidden_size: see build_configs)
OFFICIAL_MODEL = dict(
    puzzle_emb_len=16,
    puzzle_emb_ndim="hidden",
    width_multiple=256,
    mixer_norm="sequence",
    halt_outputs=2,
    loss="stablemax",
    expansion=4.0,
    num_layers=2,
    T=3,
    n_sup=16,
    halt_exploration=0.1,
)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 20000  # optimizer steps (the LR schedule spans them)
    # > 0: the run's length in fresh examples drawn (epochs x training set); the schedule
    # then runs on examples drawn / batch_size (``steps`` should be ceil(images / batch)),
    # which is the step count itself when every example takes one step
    images: int = 0
    batch_size: int = 256
    lr: float = 1e-4
    warmup: int = 1000
    # > 0: when a time budget sizes the run, the warm-up takes at most this share of the
    # steps it fits (a preset's warm-up in steps would otherwise eat a short run)
    warmup_share: float = 0.0
    schedule: str = "cosine"
    min_lr_ratio: float = 0.1  # cosine ends at lr * this
    weight_decay: float = 1.0
    optimizer: str = "adam-atan2"
    beta1: float = 0.9
    beta2: float = 0.95
    puzzle_emb_lr: float = 1e-2
    puzzle_emb_weight_decay: float = 0.1
    grad_clip: float = 1.0  # max gradient norm; 0 = no clipping
    atan2_scale: float = 1.27  # a in a * atan2(m, sqrt(v)) (the official adam-atan2: 1)
    ema: float = 0.999  # EMA decay of the weights used for evaluation; 0 = no EMA
    ema_warmup: bool = True  # decay min(ema, (1+t)/(10+t)) early on (official: constant)
    # exploration's minimum number of steps: drawn once per example, or redrawn at every
    # step (the official rule)
    exploration_draw: str = "once"
    augment: bool = True  # on-the-fly augmentation, if the task has one
    # what learns: "all" (the network and the puzzle embeddings) or "embeddings" (the
    # network frozen: only the puzzle-embedding rows move, as test-time adaptation does)
    trainable: str = "all"
    # share of the run recursing shallower, deepening in stages (trm.curriculum); 0 = off
    depth_curriculum: float = 0.0
    eval_every: int = 1000
    eval_max: int = 1000  # test examples per periodic evaluation (0 = all)
    checkpoint_every: int = 1000
    log_every: int = 50
    seed: int = 0

    def validate(self) -> TrainConfig:
        check_field_types(type(self), asdict(self), "training config")
        check_at_least(self, ("steps", "batch_size", "eval_every", "checkpoint_every", "log_every"))
        check_bounds(
            self, {"steps": 10**9, "batch_size": 1 << 20, "warmup": 10**9, "images": 10**12}
        )
        if self.images < 0:
            raise SettingError("images", f"must be >= 0, got {self.images}")
        for name in ("lr", "puzzle_emb_lr"):
            if not 0 < getattr(self, name) <= MAX_RATE:
                raise SettingError(
                    f"learning rates must be positive and at most {MAX_RATE:g}: "
                    f"`{name}` is {getattr(self, name)}"
                )
        if not 0 <= self.warmup_share < 1:
            raise SettingError("warmup_share", f"must be in [0, 1), got {self.warmup_share}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise SettingError("min_lr_ratio", f"must be in [0, 1], got {self.min_lr_ratio}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):  # one option in vision: --betas
            raise SettingError(f"betas must be in [0, 1), got {self.beta1}, {self.beta2}")
        for name in ("warmup", "eval_max", "grad_clip"):
            if getattr(self, name) < 0:
                raise SettingError(name, f"must be >= 0, got {getattr(self, name)}")
        check_rates(self, ("weight_decay", "puzzle_emb_weight_decay"))
        if not 0 <= self.ema < 1:
            raise SettingError("ema", f"must be in [0, 1), got {self.ema}")
        check_choices(
            self,
            {
                "optimizer": OPTIMIZERS,
                "schedule": SCHEDULES,
                "trainable": TRAINABLE,
                "exploration_draw": EXPLORATION_DRAWS,
            },
        )
        if not 0 < self.atan2_scale <= MAX_RATE:
            raise SettingError(
                "atan2_scale", f"must be positive and at most {MAX_RATE:g}, got {self.atan2_scale}"
            )
        check_seed(self.seed)
        check_curriculum(self.depth_curriculum)
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Fields this version knows (newer ones are ignored); bad values are refused."""
        if not isinstance(d, dict):
            raise TRMError("the training config is not a JSON object")
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in d.items() if k in known}).validate()
        except TypeError as e:
            raise TRMError(f"bad training config: {e}") from None


# The official training recipe (pretrain.py and the README's commands): batch 768, lr 1e-4
# with 2000 warmup steps then constant, no clipping, adam-atan2 with a = 1, EMA 0.999 from
# the first step, exploration redrawn at every step.
OFFICIAL_TRAIN = dict(
    batch_size=768,
    lr=1e-4,
    warmup=2000,
    schedule="constant",
    grad_clip=0.0,
    atan2_scale=1.0,
    beta1=0.9,
    beta2=0.95,
    ema=0.999,
    ema_warmup=False,
    exploration_draw="every-step",
)
# 50000 epochs of the 1000 training puzzles (Sudoku-Extreme-1k, Maze-Hard-1k) at batch 768:
# the official step count int(epochs x groups x mean examples / batch), evaluation every
# 5000 epochs
OFFICIAL_1K_STEPS = 50000 * 1000 // 768
OFFICIAL_ARC1_STEPS = 100000 * 3988 // 768


def _official_train(steps: int, decay: float, emb_lr: float) -> dict:
    """The official recipe over ``steps``: weight decay ``decay`` for the network and the
    puzzle embeddings alike, the embeddings at ``emb_lr``; ten evaluations and checkpoints."""
    return {
        **OFFICIAL_TRAIN,
        "weight_decay": decay,
        "puzzle_emb_lr": emb_lr,
        "puzzle_emb_weight_decay": decay,
        "steps": steps,
        "eval_every": steps // 10,
        "checkpoint_every": steps // 10,
    }


# the official width, and attention with RoPE, n=4 (the maze and ARC models)
OFFICIAL_ATTENTION = {
    **OFFICIAL_MODEL,
    "mixer": "attention",
    "pos_encodings": "rope",
    "hidden_size": 512,
    "num_heads": 8,
    "n": 4,
}
# what the CPU recipes share (our own choices, measured in docs/results.md): small batches
# at a high learning rate, the depth curriculum (CGAR), evaluations of 200 examples
CPU_TRAIN = dict(
    depth_curriculum=0.6,
    batch_size=64,
    lr=1e-3,
    weight_decay=0.1,
    eval_every=500,
    eval_max=200,
    checkpoint_every=500,
)

# name -> (model fields, training fields); vocab and lengths come from the data
PRESETS: dict[str, tuple[dict, dict]] = {
    # the official Sudoku-Extreme model and recipe: MLP token mixing, no positions, n=6, T=3
    "sudoku": (
        {**OFFICIAL_ATTENTION, "mixer": "mlp", "pos_encodings": "none", "n": 6},
        _official_train(OFFICIAL_1K_STEPS, 1.0, 1e-4),
    ),
    # a Sudoku model that learns on a laptop CPU in tens of minutes (our own choices); the
    # depth curriculum since it was measured (60 min side by side on 2,000 hard puzzles:
    # ahead on every set, e.g. 59.0% of fresh hard puzzles in one pass against 45.5%)
    "sudoku-small": (
        dict(mixer="mlp", hidden_size=128, num_heads=4, expansion=2.0, n=3, T=2, n_sup=8),
        dict(CPU_TRAIN, warmup=300, steps=6500),
    ),
    # the official Maze-Hard model and recipe: attention with RoPE, n=4, T=3
    "maze": (OFFICIAL_ATTENTION, _official_train(OFFICIAL_1K_STEPS, 1.0, 1e-4)),
    # the official ARC-AGI model and recipe (config/cfg_pretrain.yaml with the README's
    # arch.L_cycles=4 ema=True); the official step count follows the data: 100000 epochs of
    # every training pair, here those of ARC-AGI-1 + ConceptARC as the official README
    # builds them (3,988 pairs); set --steps for other data
    "arc": (OFFICIAL_ATTENTION, _official_train(OFFICIAL_ARC1_STEPS, 0.1, 1e-2)),
    # a maze model that learns on a laptop CPU within the hour (our own choices, measured in
    # docs/results.md): attention with RoPE, small and shallow, many steps; Muon (60 min side
    # by side on 10x10 mazes: 85.4% of fresh mazes with the checker, adam-atan2 82.8%); the
    # depth curriculum (60 min side by side, compiled: 97.6% with the checker, 87.8% without)
    "maze-cpu": (
        dict(mixer="attention", hidden_size=64, num_heads=4, num_layers=2, n=3, T=2, n_sup=8),
        dict(CPU_TRAIN, optimizer="muon", warmup=150, steps=20000),
    ),
    # smoke runs and tests: seconds on a CPU
    "tiny": (
        dict(mixer="mlp", hidden_size=32, num_heads=2, num_layers=1, n=2, T=2, n_sup=4),
        dict(
            batch_size=32,
            lr=1e-3,
            weight_decay=0.0,
            warmup=10,
            steps=200,
            eval_every=100,
            eval_max=200,
            checkpoint_every=100,
            log_every=10,
        ),
    ),
}


def preset(name: str) -> tuple[dict, dict]:
    if name not in PRESETS:
        raise TRMError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    model, train = PRESETS[name]
    return dict(model), dict(train)


def is_official(name: str) -> bool:
    """The preset trains by the official recipe (its training settings include them all)."""
    return OFFICIAL_TRAIN.items() <= preset(name)[1].items()


def build_configs(
    name: str, data: dict, model_overrides: dict, train_overrides: dict
) -> tuple[TRMConfig, TrainConfig]:
    """Preset, then the data's sizes, then explicit overrides (None values are ignored)."""
    model, train = preset(name)
    model.update(data)
    model.update({k: v for k, v in model_overrides.items() if v is not None})
    if model.get("puzzle_emb_ndim") == "hidden":  # the official tie: one hidden-wide vector
        model["puzzle_emb_ndim"] = (
            model.get("hidden_size", 512) if model.get("puzzle_emb_len") else None
        )
    train.update({k: v for k, v in train_overrides.items() if v is not None})
    try:
        return TRMConfig(**model).validate(), TrainConfig(**train).validate()
    except TypeError as e:
        raise TRMError(f"bad option: {e}") from None


__all__ = [
    "OFFICIAL_MODEL",
    "OFFICIAL_TRAIN",
    "PRESETS",
    "SavedConfig",
    "TRMConfig",
    "TrainConfig",
    "build_configs",
    "is_official",
    "preset",
    "replace",
]
