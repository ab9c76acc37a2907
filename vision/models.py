"""Vision models on trm's core: a plain ViT baseline, ViTRM, and the recursive ViTs.

All embed a 32x32 image as patch tokens (patch 4 -> 64 tokens, plus a class token when
pooling by it) and use trm's transformer block (:class:`trm.layers.ReasoningNet`, the same
blocks with RoPE attention that solve mazes). ``vit`` stacks ``depth`` independent blocks;
``bvit``, ``sr-vit`` and ``mor-vit`` recurse one network (:mod:`trm.encoder`); ``vitrm``
runs one tiny ``k``-block network ``f`` recursively, TRM's state refinement, in one of two
layouts:

``layout="vitrm"`` (the ViTRM paper's, the default)
    x = patch tokens (64), y = ONE answer token (the class is read from it), z = latent
    tokens (one per patch); y and z start from learned vectors (z one per patch). A cycle:
    n times ``z = f([x; y; z])`` keeping z's part, then ``y = f([y; z])`` keeping y's;
    pre-norm blocks without RoPE (positions come from the learned patch positions and
    the per-patch start of z), dropout as an option.
``layout="trm"`` (the puzzle TRM on patches, our first release)
    x, y, z all full token sequences; n times ``z = f(z, y + x)``, then ``y = f(y, z)``;
    post-norm blocks with RoPE; fixed random starts.

Either way a supervision step runs ``T`` cycles, the last with gradients; logits =
head(y's class token or answer token), halt logit = q(the same). Deep supervision carries
the detached (y, z) across up to ``n_sup`` steps, as for puzzles, and
:func:`trm.evaluate.run_with_halting` gives the adaptive halting per image. The ViTRM
paper's released configs use ``n_sup=1``, ``T=1``, ``n=3``: one step, all with gradients.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from trm.config import MAX_SIZES, ModelConfig, check_bounds
from trm.contract import StepOutput
from trm.encoder import (
    ROUTINGS,
    SOFT_MIXERS,
    RecursiveEncoder,
    RepeatEncoder,
    RoutedEncoder,
    SoftMixEncoder,
)
from trm.errors import SettingError, TRMError
from trm.layers import ReasoningNet, init_linear, rms_norm
from trm.model import broadcast_starts, fixed_starts, halting_head
from trm.recursion import deep_recursion

POOLS = ("cls", "mean")
LAYOUTS = ("vitrm", "trm")


# the recursive core's bounds (trm.config.MAX_SIZES), plus the image and the plain ViT's depth
VISION_MAX = dict(MAX_SIZES, image_size=1024, channels=64, num_classes=1 << 16, depth=256)


def _check_common(c) -> None:
    check_bounds(c, VISION_MAX)
    if not (c.rope_theta > 0 and 0 < c.norm_eps < 1):
        raise TRMError("rope_theta must be positive and norm_eps between 0 and 1")
    if c.image_size < 1 or c.patch_size < 1 or c.image_size % c.patch_size:
        raise TRMError(f"patch size {c.patch_size} must divide the image size {c.image_size}")
    if c.num_classes < 2:
        raise TRMError(f"num_classes must be at least 2, got {c.num_classes}")
    if c.pool not in POOLS:
        raise TRMError(f"pool must be cls or mean, got {c.pool!r}")
    if c.hidden_size < 1 or c.num_heads < 1 or c.hidden_size % (2 * c.num_heads):
        raise TRMError(
            f"hidden_size {c.hidden_size} must be a multiple of 2 x heads ({c.num_heads})"
        )
    if c.expansion <= 0:
        raise TRMError("expansion must be positive")
    for name in ("dropout", "drop_path"):
        if not 0 <= getattr(c, name) < 1:
            raise TRMError(f"{name} must be in [0, 1), got {getattr(c, name)}")


@dataclass(frozen=True)
class ImageModelConfig(ModelConfig):
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
class ViTConfig(ImageModelConfig):
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
        if self.depth < 1:
            raise TRMError(f"depth must be at least 1, got {self.depth}")
        return self

    def describe(self) -> str:
        return f"width {self.hidden_size}, depth {self.depth}"


@dataclass(frozen=True)
class RecursiveViTConfig(ImageModelConfig):
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
        if self.num_layers < 1:
            raise TRMError(f"layers must be at least 1, got {self.num_layers}")
        if not 1 <= self.recursions <= self.max_recursions:
            raise SettingError(
                "recursions",
                f"must be between 1 and {self.max_recursions} for {self.variant}, "
                f"got {self.recursions}",
            )
        return self

    def describe(self) -> str:
        text = f"width {self.hidden_size}, k={self.num_layers}, {self.recursions} recursions"
        return text + (", step embedding" if self.step_embedding else "")

    def encoder(self, net) -> RecursiveEncoder:
        """The variant's encoder, given ``net(layers)`` -> a new network of that many blocks."""
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
    variant: ClassVar[str] = "sr-vit"
    max_recursions: ClassVar[int] = 8
    legacy_defaults: ClassVar[dict] = {"mixer": "linear"}

    def validate(self):
        super().validate()
        if self.mixer not in SOFT_MIXERS:
            raise TRMError(f"mixer must be one of {', '.join(SOFT_MIXERS)}, got {self.mixer!r}")
        if not 0 <= self.mixer_hidden <= VISION_MAX["hidden_size"]:
            raise TRMError(
                f"mixer_hidden must be between 0 (the hidden size) and "
                f"{VISION_MAX['hidden_size']}, got {self.mixer_hidden}"
            )
        return self

    def describe(self) -> str:
        return super().describe() + f", {self.mixer} mixer"

    def encoder(self, net) -> RecursiveEncoder:
        return SoftMixEncoder(
            net(self.num_layers),
            self.hidden_size,
            self.recursions,
            mixer=self.mixer,
            mixer_hidden=self.mixer_hidden,
            step_embedding=self.step_embedding,
        )


@dataclass(frozen=True)
class MoRViTConfig(RecursiveViTConfig):
    """``mor-vit``: Mixture-of-Recursions, fewer tokens through the shared ``num_layers``
    blocks at each recursion step. Runs saved before ``router_per_step``, ``inactive_keys``
    and ``unique_ends`` existed load without them (one shared router, active tokens seeing
    only each other, no unique ends)."""

    recursions: int = 3
    capacity: tuple | None = None  # share of tokens per step, non-increasing; None: linear
    routing: str = "expert"  # expert (top-k per step) or token (a depth per token)
    aux_weight: float = 0.01  # the router's auxiliary loss
    router_per_step: bool = True  # expert choice: a router per step (False: one for all)
    inactive_keys: bool = True  # tokens that stopped stay keys and values for active ones
    unique_ends: bool = True  # Middle-Cycle: unique first and last blocks around the recursion
    variant: ClassVar[str] = "mor-vit"
    legacy_defaults: ClassVar[dict] = {
        "router_per_step": False,
        "inactive_keys": False,
        "unique_ends": False,
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
        if self.routing not in ROUTINGS:
            raise TRMError(f"routing must be expert or token, got {self.routing!r}")
        if self.aux_weight < 0:
            raise TRMError(f"aux_weight must be >= 0, got {self.aux_weight}")
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
        for name in ("num_layers", "n", "T", "n_sup"):
            if getattr(self, name) < 1:
                raise TRMError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.halt_exploration <= 1:
            raise TRMError("halt_exploration must be between 0 and 1")
        if self.layout not in LAYOUTS:
            raise TRMError(f"layout must be vitrm or trm, got {self.layout!r}")
        return self

    def describe(self) -> str:
        return (
            f"width {self.hidden_size}, k={self.num_layers}, n={self.n}, T={self.T}, "
            f"n_sup={self.n_sup}, {self.layout} layout"
        )


class PatchEmbed(nn.Module):
    """Image (B, C, H, W) -> tokens (B, [1 +] patches, D): a strided convolution, a learned
    position embedding, and a class token in front when pooling by it."""

    def __init__(self, c, cls: bool | None = None):
        super().__init__()
        self.proj = nn.Conv2d(c.channels, c.hidden_size, c.patch_size, stride=c.patch_size)
        self.patches = (c.image_size // c.patch_size) ** 2
        cls = c.pool == "cls" if cls is None else cls
        self.cls = nn.Parameter(torch.zeros(1, 1, c.hidden_size)) if cls else None
        self.length = self.patches + (1 if self.cls is not None else 0)
        self.pos = nn.Parameter(torch.randn(1, self.length, c.hidden_size) * 0.02)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.proj(images).flatten(2).transpose(1, 2)  # (B, patches, D)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        return x + self.pos


def pool(h: torch.Tensor, how: str) -> torch.Tensor:
    """(B, L, D) -> (B, D): the class token, or the mean over tokens."""
    return h[:, 0] if how == "cls" else h.mean(dim=1)


def _net(c, layers: int, length: int, **options) -> ReasoningNet:
    return ReasoningNet(
        c.hidden_size,
        c.num_heads,
        length,
        layers,
        "attention",
        c.expansion,
        c.rope_theta,
        c.norm_eps,
        dropout=c.dropout,
        drop_path=c.drop_path,
        **options,
    )


class SingleStep(nn.Module):
    """A model without deep supervision (:class:`trm.contract.SingleStepModel`): one
    forward gives the answer; no state to carry, nothing to halt. Subclasses define
    ``run(images) -> (logits, aux_loss, stats)``."""

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, classes)."""
        return self.run(images)[0]

    def forward(self, images: torch.Tensor) -> StepOutput:
        logits, aux, stats = self.run(images)
        return StepOutput(None, None, logits, None, aux, stats)


class ViT(SingleStep):
    variant = "vit"

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.config = c = config.validate()
        self.embed = PatchEmbed(c)
        self.net = _net(c, c.depth, self.embed.length)
        self.head = init_linear(nn.Linear(c.hidden_size, c.num_classes))

    def run(self, images: torch.Tensor):
        """Logits (B, classes); no auxiliary loss or statistics."""
        x = self.embed(images)
        return self.head(pool(self.net(x, torch.zeros_like(x)), self.config.pool)), None, None


class RecursiveViT(SingleStep):
    """``bvit``, ``sr-vit`` and ``mor-vit``: patch tokens through a :class:`trm.encoder.RecursiveEncoder`
    (trm's shared network, recursed as the config says), pooled, then a linear head."""

    def __init__(self, config: RecursiveViTConfig):
        super().__init__()
        self.config = c = config.validate()
        self.variant = c.variant
        self.embed = PatchEmbed(c)
        self.encoder = c.encoder(lambda layers: _net(c, layers, self.embed.length))
        self.head = init_linear(nn.Linear(c.hidden_size, c.num_classes))

    def run(self, images: torch.Tensor):
        """Logits, the router's weighted auxiliary loss (mor-vit), per-image statistics."""
        out = self.encoder(self.embed(images))
        stats = {}
        if out.depth is not None:  # mean passes through the block per token, per image
            stats["mean_recursions"] = out.depth.float().mean(-1)
        if out.step_weights is not None:  # mean mixture weight of each step, per image
            stats["step_weights"] = out.step_weights.mean(1)
        aux = out.aux_loss * self.config.aux_weight if out.depth is not None else None
        return self.head(pool(out.h, self.config.pool)), aux, stats or None


class ViTRM(nn.Module):
    variant = "vitrm"

    def __init__(self, config: ViTRMConfig):
        super().__init__()
        self.config = c = config.validate()
        self.paper = c.layout == "vitrm"
        self.embed = PatchEmbed(c, cls=False if self.paper else None)
        d, length = c.hidden_size, self.embed.length
        # the vitrm layout's longest input is [x; y; z]; no RoPE: positions live in x and
        # in z's per-patch starts
        self.net = (
            _net(c, c.num_layers, 2 * length + 1, prenorm=True, rope=False)
            if self.paper
            else _net(c, c.num_layers, length)
        )
        self.head = init_linear(nn.Linear(d, c.num_classes))
        self.halt_head = halting_head(d)
        if self.paper:  # learned starts: one answer token, one latent token per patch
            self.y_init = nn.Parameter(torch.randn(1, 1, d) * 0.02)
            self.z_init = nn.Parameter(torch.randn(1, length, d) * 0.02)
        else:
            # fixed random starting points of y and z (saved, not trained), at rms 1 like
            # the states carried between supervision steps (post-norm outputs), as in TRM
            fixed_starts(self, torch.randn(d), torch.randn(d))

    def embed_input(self, images: torch.Tensor) -> torch.Tensor:
        """x: the patch tokens. In the trm layout normalised to rms 1, so the image is not
        drowned by the carried (y, z) in ``z = f(z, y + x)`` (TRM scales its token
        embeddings to rms 1 likewise); the vitrm layout concatenates and needs no scaling."""
        x = self.embed(images)
        return x if self.paper else rms_norm(x, self.config.norm_eps)

    def initial_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.config.hidden_size
        if self.paper:  # the learned starts, on the gradient path
            return self.y_init.expand(batch, -1, -1), self.z_init.expand(batch, -1, -1)
        return broadcast_starts(self, (batch, self.embed.length, d))

    def _cycle(
        self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """ViTRM's cycle: n times z = f([x; y; z]) (z's part), then y = f([y; z]) (y's)."""
        for _ in range(self.config.n):
            z = self.net(torch.cat([x, y, z], dim=1))[:, x.shape[1] + y.shape[1] :]
        y = self.net(torch.cat([y, z], dim=1))[:, : y.shape[1]]
        return y, z

    def recurse(
        self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One supervision step's recursion: T cycles, gradients through the last."""
        c = self.config
        if not self.paper:
            return deep_recursion(self.net, c.n, c.T, x, y, z)
        with torch.no_grad():
            for _ in range(c.T - 1):
                y, z = self._cycle(x, y, z)
        return self._cycle(x, y, z)

    def deep_step(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> StepOutput:
        y, z = self.recurse(x, y, z)
        answer = y[:, 0] if self.paper else pool(y, self.config.pool)
        return StepOutput(
            y.detach(), z.detach(), self.head(answer), self.halt_head(answer).squeeze(-1).float()
        )

    def forward(
        self,
        images: torch.Tensor,
        y: torch.Tensor,
        z: torch.Tensor,
        fresh: torch.Tensor | None = None,
    ) -> StepOutput:
        """One supervision step from images (what training, compile and DDP wrap). Rows
        marked ``fresh`` (B,) start here: they take the starting state from the model, so
        learned starts get their gradient (the carried slots hold detached copies)."""
        if fresh is not None and self.paper:
            y0, z0 = self.initial_state(images.shape[0])
            keep = ~fresh.view(-1, 1, 1)
            y, z = torch.where(keep, y, y0.to(y.dtype)), torch.where(keep, z, z0.to(z.dtype))
        return self.deep_step(self.embed_input(images), y, z)


VARIANTS = {
    "vit": (ViTConfig, ViT),
    "vitrm": (ViTRMConfig, ViTRM),
    "bvit": (BViTConfig, RecursiveViT),
    "sr-vit": (SRViTConfig, RecursiveViT),
    "mor-vit": (MoRViTConfig, RecursiveViT),
}

# named configurations: the papers' CIFAR scale, and one that trains in minutes on a CPU
PRESETS: dict[str, dict[str, dict]] = {
    "vit": {
        "cifar": dict(hidden_size=384, num_heads=6, depth=12, expansion=4.0),
        "small": dict(hidden_size=128, num_heads=4, depth=8, expansion=4.0),
    },
    # ViTRM's released CIFAR config (3.6M parameters: SwiGLU width 512, as its MLP), and the
    # same layout at the small width with k=2 (under 1/5 of the small vit's parameters)
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
            hidden_size=128,
            num_heads=4,
            num_layers=2,
            expansion=2.0,
            n=3,
            T=1,
            n_sup=1,
            layout="vitrm",
        ),
    },
    # one wide block, 12 steps (bViT)
    "bvit": {
        "cifar": dict(hidden_size=576, num_heads=9, recursions=12),
        "small": dict(hidden_size=192, num_heads=4, recursions=6),
    },
    # SoftMoR: the whole ViT-S stack (12 blocks, width 384) recursed R=4 times
    "sr-vit": {
        "cifar": dict(hidden_size=384, num_heads=6, num_layers=12, expansion=4.0, recursions=4),
        "small": dict(hidden_size=128, num_heads=4, num_layers=4, expansion=4.0, recursions=4),
    },
    # MoR, Middle-Cycle: unique first and last blocks around a shared middle stack, at
    # bvit's widths; at full capacity the small preset does bvit small's 6 block passes
    "mor-vit": {
        "cifar": dict(hidden_size=576, num_heads=9, num_layers=2, recursions=3, unique_ends=True),
        "small": dict(hidden_size=192, num_heads=4, num_layers=1, recursions=4, unique_ends=True),
    },
}


def build_model(variant: str, preset: str = "cifar", **overrides) -> nn.Module:
    """A variant at a preset, with options overriding it (None values ignored)."""
    if variant not in VARIANTS:
        raise TRMError(f"unknown variant {variant!r}: choose one of {', '.join(VARIANTS)}")
    if preset not in PRESETS[variant]:
        raise TRMError(
            f"unknown preset {preset!r} for {variant}: choose one of {', '.join(PRESETS[variant])}"
        )
    config_cls, model_cls = VARIANTS[variant]
    values = {**PRESETS[variant][preset], **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return model_cls(config_cls(**values))
    except TypeError as e:
        raise TRMError(f"bad option for {variant}: {e}") from None


def model_from_config(variant: str, config: dict) -> nn.Module:
    if variant not in VARIANTS:
        raise TRMError(f"unknown variant {variant!r}: choose one of {', '.join(VARIANTS)}")
    config_cls, model_cls = VARIANTS[variant]
    return model_cls(config_cls.from_dict(config))
