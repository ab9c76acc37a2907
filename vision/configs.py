"""The vision models' configs and presets: what each variant is made of, written once.

Light to import (no torch): `trm vision --help` reads its defaults and choices from here,
:mod:`vision.models` builds the networks from these configs, and every run saves its
config in ``config.json``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from trm.config import (
    MAX_SIZES,
    ROUTINGS,
    SOFT_MIXERS,
    SavedConfig,
    check_at_least,
    check_bounds,
    check_choices,
    check_rates,
    check_rope_and_norm,
)
from trm.errors import SettingError

if TYPE_CHECKING:
    from trm.encoder import RecursiveEncoder

POOLS = ("cls", "mean")
TOKEN_LAYOUTS = ("vitrm", "trm")
# the block of vit, bvit, sr-vit and mor-vit: ViT's (pre-norm LayerNorm, GELU MLP with
# biases, learned positions added to the patches, a final LayerNorm before the head: the
# block the papers compare with) or trm's (post-norm RMSNorm, SwiGLU, RoPE: our first
# release, which saved runs without the field were built with)
BLOCKS = ("vit", "trm")
# the ViT block's weight init: ViT/DeiT's (timm's) truncated normal of std 0.02 for every
# linear weight, or std 1/sqrt(fan-in) (LeCun's, trm's own): 0.02 is set for widths of 384
# and more, and at width 128 it is a quarter of 1/sqrt(fan-in), where a ViT sits at chance
# loss for hundreds of steps before it learns (docs/results.md)
INITS = ("vit", "fan-in")
SPLITS = ("train", "test")  # an image set's two parts


# the recursive core's bounds (trm.config.MAX_SIZES), plus the image and the plain ViT's depth
VISION_MAX = dict(MAX_SIZES, image_size=1024, channels=64, num_classes=1 << 16, depth=256)


def _check_common(c) -> None:
    check_bounds(c, VISION_MAX)
    check_rope_and_norm(c)
    if c.image_size < 1 or c.patch_size < 1 or c.image_size % c.patch_size:
        raise SettingError(f"`patch_size` {c.patch_size} must divide the image size {c.image_size}")
    if c.num_classes < 2:
        raise SettingError("num_classes", f"must be at least 2, got {c.num_classes}")
    family = {"block": BLOCKS, "init": INITS} if hasattr(c, "block") else {}
    check_choices(c, {"pool": POOLS, **family})
    if c.hidden_size < 1 or c.num_heads < 1 or c.hidden_size % (2 * c.num_heads):
        raise SettingError(
            f"`hidden_size` {c.hidden_size} must be a multiple of 2 x `num_heads` ({c.num_heads})"
        )
    if c.expansion <= 0:
        raise SettingError("expansion", "must be positive")
    for name in ("dropout", "drop_path"):
        if not 0 <= getattr(c, name) < 1:
            raise SettingError(name, f"must be in [0, 1), got {getattr(c, name)}")


@dataclass(frozen=True)
class ImageModelConfig(SavedConfig):
    """The fields every vision config has: the images, the classes, RoPE and RMSNorm."""

    num_classes: int = 10
    image_size: int = 32
    patch_size: int = 4
    channels: int = 3
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    dropout: float = 0.0  # on each block's attention and MLP outputs, in training
    drop_path: float = 0.0  # stochastic depth: a block's branch dropped per image, in training


@dataclass(frozen=True)
class ViTFamilyConfig(ImageModelConfig):
    """The configs whose blocks are ViT's or trm's (``block``, one of :data:`BLOCKS`), and
    the ViT block's init (``init``, one of :data:`INITS`; trm's block is always fan-in)."""

    block: str = "vit"
    init: str = "vit"  # runs saved before the field were drawn at ViT's std 0.02

    legacy_defaults: ClassVar[dict] = {"block": "trm"}

    @property
    def uses_fan_in(self) -> bool:
        """The ViT block drawn at 1/sqrt(fan-in) (trm's block always is; ``init`` is ignored)."""
        return self.block == "vit" and self.init == "fan-in"

    def blocks_text(self) -> str:
        """The blocks, as ``describe`` says them."""
        return f"{self.block} blocks" + (", fan-in init" if self.uses_fan_in else "")


@dataclass(frozen=True)
class ViTConfig(ViTFamilyConfig):
    """``vit``: ``depth`` independent blocks, the baseline."""

    hidden_size: int = 192
    num_heads: int = 3
    depth: int = 9
    expansion: float = 2.0
    pool: str = "cls"

    # no recursion: one "supervision step" per image, and nothing to explore
    n_sup: ClassVar[int] = 1
    halt_exploration: ClassVar[float] = 0.0

    def validate(self) -> ViTConfig:
        _check_common(self)
        check_at_least(self, ("depth",))
        return self

    def describe(self) -> str:
        return f"width {self.hidden_size}, depth {self.depth}, {self.blocks_text()}"


@dataclass(frozen=True)
class RecursiveViTConfig(ViTFamilyConfig):
    """What ``bvit``, ``sr-vit`` and ``mor-vit`` share: one ``num_layers``-block network
    recursed ``recursions`` times by a :class:`trm.encoder.RecursiveEncoder`
    (:class:`~trm.encoder.RepeatEncoder`, :class:`~trm.encoder.SoftMixEncoder`,
    :class:`~trm.encoder.RoutedEncoder`)."""

    hidden_size: int = 384
    num_heads: int = 6
    num_layers: int = 1
    expansion: float = 4.0
    pool: str = "cls"
    recursions: int = 12  # S (bvit), R (sr-vit), recursion steps (mor-vit)
    step_embedding: bool = False

    n_sup: ClassVar[int] = 1
    halt_exploration: ClassVar[float] = 0.0
    variant: ClassVar[str] = ""
    max_recursions: ClassVar[int] = 64

    def validate(self):
        _check_common(self)
        check_at_least(self, ("num_layers",))
        if not 1 <= self.recursions <= self.max_recursions:
            raise SettingError(
                "recursions",
                f"must be between 1 and {self.max_recursions} for {self.variant}, "
                f"got {self.recursions}",
            )
        return self

    def describe(self) -> str:
        text = f"width {self.hidden_size}, k={self.num_layers}, {self.recursions} recursions"
        return (
            text + f", {self.blocks_text()}" + (", step embedding" if self.step_embedding else "")
        )

    def encoder(self, net) -> RecursiveEncoder:
        """The variant's encoder, given ``net(layers)`` -> a new network of that many blocks."""
        from trm.encoder import RepeatEncoder

        return RepeatEncoder(
            net(self.num_layers),
            self.hidden_size,
            self.recursions,
            step_embedding=self.step_embedding,
        )


@dataclass(frozen=True)
class BViTConfig(RecursiveViTConfig):
    """``bvit``: one wide block applied ``recursions`` times to one hidden state."""

    variant: ClassVar[str] = "bvit"


@dataclass(frozen=True)
class SRViTConfig(RecursiveViTConfig):
    """``sr-vit``: SoftMoR. A whole ViT stack (``num_layers`` blocks; the paper's ViT-S: 12
    blocks, width 384, 6 heads) recursed ``recursions`` times, every recursion's output
    mixed per token by softmax weights from a token-wise mixer: ``mlp`` (the paper's:
    Linear(R x width -> mixer_hidden), GELU, Linear(mixer_hidden -> R); none at R=1, the
    plain ViT) or ``linear`` (our first release: a Linear(width -> 1) scorer per recursion;
    saved runs without the field load with it)."""

    num_layers: int = 12
    recursions: int = 4
    mixer: str = "mlp"
    mixer_hidden: int = 0  # the MLP mixer's width; 0: hidden_size
    mixer_norm: bool = False  # the mixer reads each recursion's output LayerNormed
    uniform_start: bool = False  # the mixture starts even: 1/R on each recursion
    balance: float = 0.0  # weight of the auxiliary loss against an uneven mean mixture
    recursion_loss: float = 0.0  # weight of the mean loss of every recursion's own answer
    variant: ClassVar[str] = "sr-vit"
    max_recursions: ClassVar[int] = 8
    legacy_defaults: ClassVar[dict] = {**ViTFamilyConfig.legacy_defaults, "mixer": "linear"}

    def validate(self):
        super().validate()
        check_choices(self, {"mixer": SOFT_MIXERS})
        check_rates(self, ("balance", "recursion_loss"))
        if not 0 <= self.mixer_hidden <= VISION_MAX["hidden_size"]:
            raise SettingError(
                f"`mixer_hidden` must be between 0 (the hidden size) and "
                f"{VISION_MAX['hidden_size']}, got {self.mixer_hidden}"
            )
        return self

    def describe(self) -> str:
        extras = [("normed input", self.mixer_norm), ("even start", self.uniform_start)]
        text = super().describe() + f", {self.mixer} mixer"
        text += "".join(f", {name}" for name, on in extras if on)
        text += f", balance {self.balance:g}" if self.balance else ""
        return text + (f", recursion loss {self.recursion_loss:g}" if self.recursion_loss else "")

    def encoder(self, net) -> RecursiveEncoder:
        from trm.encoder import SoftMixEncoder

        return SoftMixEncoder(
            net(self.num_layers),
            self.hidden_size,
            self.recursions,
            mixer=self.mixer,
            mixer_hidden=self.mixer_hidden,
            step_embedding=self.step_embedding,
            normed=self.mixer_norm,
            uniform_start=self.uniform_start,
        )


@dataclass(frozen=True)
class MoRViTConfig(RecursiveViTConfig):
    """``mor-vit``: Mixture-of-Recursions, fewer tokens through the shared ``num_layers``
    blocks at each recursion step. Runs saved before ``router_per_step``, ``inactive_keys``,
    ``unique_ends`` and ``route_first`` existed load without them (one shared router, active
    tokens seeing only each other, no unique ends, the first token kept every step)."""

    recursions: int = 3
    capacity: tuple | None = None  # share of tokens per step, non-increasing; None: linear
    routing: str = "expert"  # expert (top-k per step) or token (a depth per token)
    aux_weight: float = 0.01  # the router's auxiliary loss
    router_per_step: bool = True  # expert choice: a router per step (False: one for all)
    inactive_keys: bool = True  # tokens that stopped stay keys and values for active ones
    unique_ends: bool = True  # Middle-Cycle: unique first and last blocks around the recursion
    # without a class token (mean pooling) the first token is routed like the others; runs
    # saved before the field kept it every step, as a class token
    route_first: bool = True
    variant: ClassVar[str] = "mor-vit"
    legacy_defaults: ClassVar[dict] = {
        **ViTFamilyConfig.legacy_defaults,
        "router_per_step": False,
        "inactive_keys": False,
        "unique_ends": False,
        "route_first": False,
    }

    def __post_init__(self):
        if self.capacity is not None and not isinstance(self.capacity, tuple):
            object.__setattr__(
                self,
                "capacity",
                tuple(self.capacity) if isinstance(self.capacity, (list, tuple)) else self.capacity,
            )

    def validate(self):
        super().validate()
        check_choices(self, {"routing": ROUTINGS})
        check_rates(self, ("aux_weight",))
        cap = self.capacity
        if cap is not None:
            if self.routing != "expert":
                raise SettingError(
                    "capacity", "applies to expert routing only (token routing picks depths)"
                )
            if not isinstance(cap, tuple) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in cap
            ):
                raise SettingError("capacity", f"must be a list of numbers, got {cap!r}")
            if len(cap) != self.recursions:
                raise SettingError(
                    "capacity", f"has {len(cap)} values for {self.recursions} recursions"
                )
            if not all(0 < v <= 1 for v in cap):
                raise SettingError("capacity", f"values must be in (0, 1], got {list(cap)}")
            if any(b > a for a, b in itertools.pairwise(cap)):
                raise SettingError(
                    "capacity", f"must not increase from step to step, got {list(cap)}"
                )
        return self

    def describe(self) -> str:
        cap = self.capacity
        text = super().describe() + f", {self.routing} routing"
        text += f", capacity {','.join(f'{v:g}' for v in cap)}" if cap else ", linear capacity"
        return text + (", unique first/last blocks" if self.unique_ends else "")

    def encoder(self, net) -> RecursiveEncoder:
        from trm.encoder import RoutedEncoder

        return RoutedEncoder(
            net(self.num_layers),
            self.hidden_size,
            self.recursions,
            routing=self.routing,
            capacity=self.capacity,
            router_per_step=self.router_per_step,
            inactive_keys=self.inactive_keys,
            ends=(net(1), net(1)) if self.unique_ends else None,
            step_embedding=self.step_embedding,
            keep_first=self.pool == "cls" or not self.route_first,  # the class token: every step
        )


@dataclass(frozen=True)
class ViTRMConfig(ImageModelConfig):
    """``vitrm``: one ``num_layers``-block network applied recursively (TRM), in the ViTRM
    paper's layout or the puzzle TRM's (``layout``; runs saved before layouts are "trm")."""

    hidden_size: int = 384
    num_heads: int = 6
    num_layers: int = 3  # k: blocks in the one network f
    expansion: float = 2.0
    pool: str = "cls"  # the trm layout's class read-out (the vitrm layout reads y's token)
    n: int = 3  # latent updates per cycle
    T: int = 1  # cycles per supervision step, the last with gradients
    n_sup: int = 1  # supervision steps at most
    halt_exploration: float = 0.1
    layout: str = "vitrm"

    legacy_defaults: ClassVar[dict] = {"layout": "trm", "T": 2, "n_sup": 4}

    def validate(self) -> ViTRMConfig:
        _check_common(self)
        check_at_least(self, ("num_layers", "n", "T", "n_sup"))
        if not 0 <= self.halt_exploration <= 1:
            raise SettingError("halt_exploration", "must be between 0 and 1")
        check_choices(self, {"layout": TOKEN_LAYOUTS})
        return self

    def describe(self) -> str:
        return (
            f"width {self.hidden_size}, k={self.num_layers}, n={self.n}, T={self.T}, "
            f"n_sup={self.n_sup}, {self.layout} layout"
        )


# each variant's config
CONFIGS: dict[str, type[ImageModelConfig]] = {
    "vit": ViTConfig,
    "vitrm": ViTRMConfig,
    "bvit": BViTConfig,
    "sr-vit": SRViTConfig,
    "mor-vit": MoRViTConfig,
}

# named configurations: the papers' CIFAR scale, and one that trains in minutes on a CPU
# (``small``: 8x8 patches, 16 tokens; chosen on real digits, docs/results.md). The ViT
# blocks of ``small`` start at std 1/sqrt(fan-in): at width 128-192, ViT's 0.02 left them
# at chance loss for hundreds of steps (vit in 6 minutes on digits: 86.4% -> 90.8%)
PRESETS: dict[str, dict[str, dict]] = {
    "vit": {
        "cifar": dict(hidden_size=384, num_heads=6, depth=12, expansion=4.0),
        "small": dict(
            hidden_size=128, num_heads=4, depth=8, expansion=4.0, patch_size=8, init="fan-in"
        ),
    },
    # ViTRM's released CIFAR config (3.6M parameters: SwiGLU width 512, as its MLP), and the
    # same layout at width 96 with k=2 (an eighth of the small vit's parameters)
    "vitrm": {
        "cifar": dict(
            hidden_size=384,
            num_heads=6,
            num_layers=3,
            expansion=2.0,
            n=3,
            T=1,
            n_sup=1,
            layout="vitrm",
            dropout=0.1,
        ),
        "small": dict(
            hidden_size=96,
            num_heads=4,
            num_layers=2,
            expansion=2.0,
            n=3,
            T=1,
            n_sup=1,
            layout="vitrm",
            patch_size=8,
        ),
    },
    # one wide block, 12 steps (bViT)
    "bvit": {
        "cifar": dict(hidden_size=576, num_heads=9, recursions=12),
        "small": dict(hidden_size=192, num_heads=4, recursions=6, patch_size=8, init="fan-in"),
    },
    # SoftMoR: the whole ViT-S stack (12 blocks, width 384) recursed R=4 times. small: one
    # block of width 128 recursed 4 times, the mixer reading normed outputs from an even
    # start, kept even by the balance term (without them it collapsed onto the first
    # recursion); with them and lr 5e-4 (recipes.VARIANT_TRAIN) top-1 rose with R on 12,000
    # shapes, where a 2- or 4-block stack did not (docs/results.md)
    "sr-vit": {
        "cifar": dict(hidden_size=384, num_heads=6, num_layers=12, expansion=4.0, recursions=4),
        "small": dict(
            hidden_size=128,
            num_heads=4,
            num_layers=1,
            expansion=4.0,
            recursions=4,
            patch_size=8,
            init="fan-in",
            mixer_norm=True,
            uniform_start=True,
            balance=0.1,
        ),
    },
    # MoR at bvit's widths. cifar: Middle-Cycle, unique first and last blocks around a shared
    # middle stack. small: bvit small's one block, 4 steps of linear capacity (all tokens,
    # then 3/4, 1/2, 1/4) with attention among the active tokens: what makes it faster than
    # bvit on a CPU; mean pooling, so the head reads every token's last state, also those
    # that stopped early (with a class token it saw them only through early attention)
    "mor-vit": {
        "cifar": dict(hidden_size=576, num_heads=9, num_layers=2, recursions=3, unique_ends=True),
        "small": dict(
            hidden_size=192,
            num_heads=4,
            num_layers=1,
            recursions=4,
            unique_ends=False,
            inactive_keys=False,
            patch_size=8,
            init="fan-in",
            pool="mean",
        ),
    },
}


def field_defaults(name: str) -> dict[tuple[str, str], object]:
    """A model field's value at each (variant, preset) whose config has it: the preset's,
    else the config class's default."""
    from dataclasses import fields

    out = {}
    for variant, config in CONFIGS.items():
        default = {f.name: f.default for f in fields(config)}
        if name in default:
            for preset, values in PRESETS[variant].items():
                out[variant, preset] = values.get(name, default[name])
    return out
