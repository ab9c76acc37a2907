"""Vision models on trm's core: a plain ViT baseline, ViTRM, and the recursive ViTs.

All embed a 32x32 image as patch tokens (patch 4 -> 64 tokens, plus a class token when
pooling by it, and learned positions) and use trm's transformer block
(:class:`trm.layers.ReasoningNet`). ``vit`` stacks ``depth`` independent blocks; ``bvit``,
``sr-vit`` and ``mor-vit`` recurse one network (:mod:`trm.encoder`). These four are built of
ViT's block by default (``block="vit"``: pre-norm LayerNorm, biases, a GELU MLP, no RoPE,
ViT's init or, ``init="fan-in"`` (the ``small`` presets'), weights at std 1/sqrt(fan-in), a
final LayerNorm before the head) or of trm's puzzle block (``block="trm"``:
post-norm RMSNorm, SwiGLU, RoPE), and have timm's seams (``forward_features``,
``forward_head``). ``vitrm`` runs one tiny ``k``-block network ``f`` recursively, TRM's
state refinement (:func:`trm.recursion.deep_recursion`), in one of two layouts:

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

import torch
from torch import nn

from trm.contract import StepOutput
from trm.errors import TRMError
from trm.layers import BlockSpec, ReasoningNet, init_linear, rms_norm, trunc_normal_
from trm.model import broadcast_starts, fixed_starts, halting_head
from trm.recursion import concat_step, deep_recursion, latent_step
from vision.configs import (
    CONFIGS,
    PRESETS,
    RecursiveViTConfig,
    ViTConfig,
    ViTRMConfig,
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


# ViT's block (``block="vit"``): pre-norm LayerNorm, biases, a GELU MLP, no RoPE (the
# positions are the learned ones added to the patches)
VIT_BLOCK = dict(prenorm=True, rope=False, norm="layer", mlp="gelu", bias=True)
VIT_INIT_STD = 0.02  # ViT/DeiT's (timm's) truncated normal for every linear weight


def vit_init(module: nn.Module, fan_in: bool = False) -> nn.Module:
    """ViT's usual init: linear weights from a truncated normal of std 0.02 (``fan_in``:
    :func:`trm.layers.init_linear`'s, std 1/sqrt(fan-in)), zero biases; LayerNorms at scale
    1, shift 0 (their own default)."""
    for m in module.modules():
        if isinstance(m, nn.Linear) and fan_in:
            init_linear(m)
        elif isinstance(m, nn.Linear):
            trunc_normal_(m.weight, VIT_INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def _net(c, layers: int, length: int, **options) -> ReasoningNet:
    """A network of ``layers`` blocks: ViT's (initialised as ViT) where the config's
    ``block`` says so, else trm's blocks with ``options``."""
    vit = getattr(c, "block", None) == "vit"
    spec = BlockSpec(
        c.hidden_size,
        c.num_heads,
        length,
        expansion=c.expansion,
        theta=c.rope_theta,
        eps=c.norm_eps,
        dropout=c.dropout,
        drop_path=c.drop_path,
        **(VIT_BLOCK if vit else options),
    )
    net = ReasoningNet(spec, layers)
    return vit_init(net, c.uses_fan_in) if vit else net


def final_norm(c) -> nn.Module:
    """ViT's LayerNorm before the head; none after trm's post-norm blocks, whose outputs
    are normalised already."""
    return nn.LayerNorm(c.hidden_size, eps=c.norm_eps) if c.block == "vit" else nn.Identity()


def classifier(c) -> nn.Linear:
    """The linear head, initialised as the blocks are."""
    fc = nn.Linear(c.hidden_size, c.num_classes)
    return vit_init(fc, c.uses_fan_in) if c.block == "vit" else init_linear(fc)


class SingleStep(nn.Module):
    """A model without deep supervision (:class:`trm.contract.SingleStepModel`): one
    forward gives the answer; no state to carry, nothing to halt. timm's seams:
    ``forward_features(images)`` -> the final tokens (B, L, D), normalised as the head
    reads them; ``forward_head(features, pre_logits=False)`` -> logits (or the pooled
    features). Subclasses define ``encode(images) -> (tokens, aux_loss, stats, earlier)``
    (``earlier``: tokens whose answers are trained too, or None), ``norm`` (:func:`final_norm`)
    and ``head`` (:func:`classifier`)."""

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.norm(self.encode(images)[0])

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        pooled = pool(features, self.config.pool)
        return pooled if pre_logits else self.head(pooled)

    def run(self, images: torch.Tensor):
        """Logits (B, classes), the auxiliary loss (or None), per-image statistics (or None),
        and in training the earlier answers to train (or None), read by the same head."""
        tokens, aux, stats, earlier = self.encode(images)
        more = None
        if earlier and self.training:
            more = tuple(self.forward_head(self.norm(t)) for t in earlier)
        return self.forward_head(self.norm(tokens)), aux, stats, more

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, classes)."""
        return self.run(images)[0]

    def forward(self, images: torch.Tensor) -> StepOutput:
        logits, aux, stats, more = self.run(images)
        return StepOutput(None, None, logits, None, aux, stats, aux_logits=more)


class ViT(SingleStep):
    variant = "vit"

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.config = c = config.validate()
        self.embed = PatchEmbed(c)
        self.net = _net(c, c.depth, self.embed.length)
        self.norm, self.head = final_norm(c), classifier(c)

    def encode(self, images: torch.Tensor):
        """The tokens after ``depth`` blocks; no auxiliary loss or statistics."""
        return self.net(self.embed(images)), None, None, None


class RecursiveViT(SingleStep):
    """``bvit``, ``sr-vit`` and ``mor-vit``: patch tokens through a :class:`trm.encoder.RecursiveEncoder`
    (trm's shared network, recursed as the config says), then the head."""

    def __init__(self, config: RecursiveViTConfig):
        super().__init__()
        self.config = c = config.validate()
        self.variant = c.variant
        self.embed = PatchEmbed(c)
        self.encoder = c.encoder(lambda layers: _net(c, layers, self.embed.length))
        self.norm, self.head = final_norm(c), classifier(c)

    def encode(self, images: torch.Tensor):
        """Tokens, the router's weighted auxiliary loss (mor-vit), per-image statistics,
        every recursion's output where sr-vit trains each (``recursion_loss``)."""
        out = self.encoder(self.embed(images))
        stats = {}
        if out.depth is not None:  # mean passes through the block per token, per image
            stats["mean_recursions"] = out.depth.float().mean(-1)
        if out.step_weights is not None:  # mean mixture weight of each step, per image
            stats["step_weights"] = out.step_weights.mean(1)
        c, aux = self.config, None
        if out.depth is not None:  # MoR's router loss
            aux = out.aux_loss * c.aux_weight
        elif getattr(c, "balance", 0):  # SoftMoR's: the mean mixture kept even
            aux = out.aux_loss * c.balance
        earlier = out.outputs if getattr(c, "recursion_loss", 0) else None
        return out.h, aux, stats or None, earlier


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

    def recurse(
        self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One supervision step's recursion: T cycles, gradients through the last; the
        cycle is the paper's on concatenated tokens, or the puzzle TRM's."""
        c = self.config
        cycle = concat_step if self.paper else latent_step
        return deep_recursion(self.net, c.n, c.T, x, y, z, cycle)

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


MODELS = {"vit": ViT, "vitrm": ViTRM, "bvit": RecursiveViT, "sr-vit": RecursiveViT}
MODELS["mor-vit"] = RecursiveViT
# each variant's (config class, model class)
VARIANTS = {name: (config, MODELS[name]) for name, config in CONFIGS.items()}


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
