"""Vision models on trm's core: shapes, weight sharing, gradients, halting, and reuse of trm."""

from __future__ import annotations

import ast
import json

import pytest
import torch

import trm.layers
from tests.helpers import REPO
from trm.errors import TRMError
from trm.evaluate import run_with_halting
from trm.model import parameter_count
from vision.models import PRESETS, ViTRM, ViTRMConfig, build_model

SMALL = dict(hidden_size=32, num_heads=2)


@pytest.mark.parametrize("variant", ["vit", "vitrm", "vitrm-trm"])
@pytest.mark.parametrize("classes", [10, 100])
@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_output_shapes(variant, classes, pool):
    torch.manual_seed(0)
    layout = {"vitrm-trm": dict(layout="trm")}.get(variant, {})
    model = build_model(
        variant.split("-")[0], "small", num_classes=classes, pool=pool, **layout, **SMALL
    )
    images = torch.randn(5, 3, 32, 32)
    if variant == "vit":
        logits = model.classify(images)
    else:
        y, z = model.initial_state(5)
        out = model(images, y, z)
        patches = (32 // model.config.patch_size) ** 2  # the small preset's: 8x8, 16 patches
        assert patches == 16
        if layout:  # the puzzle TRM's layout: y and z full sequences
            assert out.y.shape == out.z.shape == (5, patches + (pool == "cls"), 32)
        else:  # ViTRM's: one answer token, one latent token per patch
            assert out.y.shape == (5, 1, 32) and out.z.shape == (5, patches, 32)
        assert out.halt_logit.shape == (5,) and not out.y.requires_grad
        logits = out.logits
    assert logits.shape == (5, classes)


def test_patch_size_is_an_option():
    model = build_model("vitrm", "small", patch_size=4, layout="trm", **SMALL)
    assert model.embed.length == 64 + 1
    assert build_model("vitrm", "small", patch_size=4, **SMALL).embed.length == 64
    assert build_model("vitrm", "cifar").embed.length == 64  # the papers' 4x4 patches
    with pytest.raises(TRMError, match="`patch_size` 5 must divide the image size 32"):
        build_model("vit", "small", patch_size=5)


def test_vitrm_parameters_do_not_depend_on_the_recursion():
    counts = {
        parameter_count(build_model("vitrm", "small", n=n, T=T, n_sup=s))
        for n, T, s in [(1, 1, 1), (3, 2, 4), (6, 3, 16)]
    }
    assert len(counts) == 1


def test_paper_scale_vitrm_is_3_6m_parameters_and_a_fifth_of_vit():
    """ViTRM's released CIFAR config: 3.62M parameters (patch 4, width 384, 6 heads, 3
    layers, MLP 512, learned starts); ours within 2% (no biases, RMSNorm without a scale)."""
    model = build_model("vitrm", "cifar")
    c = model.config
    assert (
        c.layout,
        c.hidden_size,
        c.num_heads,
        c.num_layers,
        c.patch_size,
        c.n,
        c.T,
        c.n_sup,
        c.dropout,
    ) == ("vitrm", 384, 6, 3, 4, 3, 1, 1, 0.1)
    assert model.net.blocks[0].mlp.down.in_features == 512
    vitrm = parameter_count(model)
    vit = parameter_count(build_model("vit", "cifar"))
    assert abs(vitrm - 3.62e6) <= 0.02 * 3.62e6 and vitrm * 5 <= vit
    small = [parameter_count(build_model(v, "small")) for v in ("vitrm", "vit")]
    assert small[0] * 5 <= small[1]


@pytest.mark.parametrize("layout", ["vitrm", "trm"])
def test_only_the_last_cycle_carries_gradients(layout):
    config = ViTRMConfig(n=2, T=3, n_sup=2, num_layers=1, layout=layout, **SMALL)
    model = ViTRM(config)
    with_grad, without = [], []
    model.net.register_forward_hook(
        lambda mod, args, out: (with_grad if torch.is_grad_enabled() else without).append(1)
    )
    y, z = model.initial_state(2)
    out = model(torch.randn(2, 3, 32, 32), y, z)
    assert len(without) == (config.T - 1) * (config.n + 1)
    assert len(with_grad) == config.n + 1
    out.logits.sum().backward()
    assert model.net.blocks[0].mlp.down.weight.grad is not None


@pytest.mark.parametrize("layout", ["vitrm", "trm"])
def test_adaptive_and_full_agree_where_halting_comes_last_and_adaptive_does_less_work(layout):
    torch.manual_seed(1)
    model = ViTRM(ViTRMConfig(n_sup=5, n=1, T=1, num_layers=1, layout=layout, **SMALL)).eval()
    with torch.no_grad():  # a halting head that stops some images early, not others
        torch.nn.init.normal_(model.halt_head.weight, std=3.0)
        model.halt_head.bias.fill_(0.0)
    x = model.embed_input(torch.randn(24, 3, 32, 32))
    with torch.no_grad():  # centre the halting logits: about half the images halt at step 1
        first = model.deep_step(x, *model.initial_state(24)).halt_logit
        model.halt_head.bias.fill_(-float(first.median()) - 1e-4)
    rows: list[int] = []
    model.net.register_forward_hook(lambda mod, args, out: rows.append(out.shape[0]))
    full, full_steps, _ = run_with_halting(model, x, 5, "full")
    full_rows, rows[:] = sum(rows), []
    assert full_rows == 24 * 5 * 2
    adaptive, steps, _ = run_with_halting(model, x, 5, "adaptive")
    last = (steps == 5).numpy()
    assert 0 < last.sum() < 24, "need images halting early and at the end"
    assert torch.allclose(adaptive[last], full[last], atol=1e-5)
    assert (full_steps == 5).all()
    assert sum(rows) == int(steps.sum()) * 2 < full_rows  # halted images really left the batch


def test_vision_uses_trms_block_and_recursion_and_defines_no_layer_of_its_own():
    model = build_model("vitrm", "small")
    assert all(type(b) is trm.layers.Block for b in model.net.blocks)
    assert type(build_model("vit", "small").net.blocks[0]) is trm.layers.Block
    for path in (REPO / "vision").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                assert not any(
                    w in node.name.lower() for w in ("attention", "block", "mlp", "swiglu")
                ), f"{path.name} defines {node.name}: layers belong in trm/"
            if isinstance(node, ast.FunctionDef):
                assert node.name not in ("latent_step", "deep_recursion"), path.name


def test_unknown_variant_and_preset_are_refused():
    with pytest.raises(TRMError, match="unknown variant 'vitt'"):
        build_model("vitt")
    with pytest.raises(TRMError, match="unknown preset 'huge'"):
        build_model("vit", "huge")
    with pytest.raises(TRMError, match="`n` must be at least 1"):
        build_model("vitrm", "small", n=0)
    assert set(PRESETS) == {"vit", "vitrm", "bvit", "sr-vit", "mor-vit"}


def test_vitrm_question_and_starting_states_enter_at_the_carried_states_scale():
    """Regression: with y, z starting at rms 1/sqrt(d) and x at rms ~0.7, the states carried
    from one supervision step to the next (rms 1 after the post-norm) drowned the image, and
    later supervision steps predicted worse than the first (measured: 1.89, 1.90, 1.94 loss
    at steps 1-3 after 960 updates, vs 1.31, 1.29, 1.30 at unit scale). As in TRM, x, y_init
    and z_init now all enter the recursion at rms 1."""
    model = build_model("vitrm", "small", layout="trm")
    images = torch.randn(4, 3, 32, 32) * 3
    rms = lambda t: float(t.detach().float().pow(2).mean(-1).sqrt().mean())
    x = model.embed_input(images)
    y, z = model.initial_state(4)
    assert rms(x) == pytest.approx(1.0, abs=0.01)
    assert rms(y) == pytest.approx(1.0, abs=0.2) and rms(z) == pytest.approx(1.0, abs=0.2)
    out = model.deep_step(x, y, z)
    assert rms(out.y) == pytest.approx(1.0, abs=0.01)


def test_vitrm_layout_concatenates_the_streams_and_keeps_each_ones_part():
    """z's update sees [x; y; z] (64 + 1 + 64 tokens) and keeps z's part; y's sees [y; z]
    (1 + 64) and keeps y's one token; the class is read from that token."""
    torch.manual_seed(0)
    model = build_model("vitrm", "small", n=3, T=1, patch_size=4, **SMALL)
    lengths: list[int] = []
    model.net.register_forward_hook(lambda mod, args, out: lengths.append(args[0].shape[1]))
    x = model.embed_input(torch.randn(2, 3, 32, 32))
    y, z = model.initial_state(2)
    out = model.deep_step(x, y, z)
    assert lengths == [129, 129, 129, 65]
    assert out.y.shape == (2, 1, 32) and out.z.shape == (2, 64, 32)
    # the kept parts are the net's outputs at z's and y's positions
    net_z = model.net(torch.cat([x, y, z], dim=1))[:, 65:]
    z1 = net_z
    for _ in range(2):
        z1 = model.net(torch.cat([x, y, z1], dim=1))[:, 65:]
    y1 = model.net(torch.cat([y, z1], dim=1))[:, :1]
    assert torch.allclose(out.z, z1, atol=1e-5) and torch.allclose(out.y, y1, atol=1e-5)
    assert torch.allclose(out.logits, model.head(y1[:, 0]), atol=1e-5)


def test_vitrm_starts_are_learned_and_fresh_rows_train_them():
    model = build_model("vitrm", "small", patch_size=4, **SMALL)
    names = dict(model.named_parameters())
    assert names["y_init"].shape == (1, 1, 32) and names["z_init"].shape == (1, 64, 32)
    images = torch.randn(3, 3, 32, 32)
    carried = [t.detach().clone() + 1 for t in model.initial_state(3)]
    fresh = torch.tensor([True, False, True])
    out = model(images, *carried, fresh=fresh)
    out.logits.sum().backward()
    assert names["y_init"].grad.abs().sum() > 0 and names["z_init"].grad.abs().sum() > 0
    # a carried row ignores the starts; a fresh one is the same as starting from them
    again = model(images, *model.initial_state(3))
    assert torch.allclose(out.logits[fresh], again.logits[fresh], atol=1e-5)
    assert not torch.allclose(out.logits[~fresh], again.logits[~fresh], atol=1e-4)
    # the trm layout's starts stay fixed buffers
    assert "y_init" not in dict(
        build_model("vitrm", "small", layout="trm", **SMALL).named_parameters()
    )


def test_runs_saved_before_layouts_load_as_the_trm_layout():
    saved = build_model("vitrm", "small", layout="trm", T=2, n_sup=4, **SMALL).config.to_dict()
    for key in ("layout", "dropout", "drop_path"):
        del saved[key]
    del saved["T"], saved["n_sup"]  # the old defaults then
    config = ViTRMConfig.from_dict(saved)
    assert (config.layout, config.T, config.n_sup) == ("trm", 2, 4)
    with pytest.raises(TRMError, match="`layout` must be one of vitrm, trm"):
        build_model("vitrm", "small", layout="paper")


# ------------------------------------------------------------------ the papers' ViT block


def _vit_blocks(model):
    nets = [model.net] if hasattr(model, "net") else [model.encoder.net]
    return [b for net in nets for b in net.blocks]


@pytest.mark.parametrize("variant", ["vit", "bvit", "sr-vit", "mor-vit"])
def test_the_vit_family_is_built_of_vits_block_by_default(variant):
    """ViT/DeiT's block (pre-norm LayerNorm with a scale and shift, biases, a GELU MLP, no
    RoPE: positions are the learned ones added to the patches), a final LayerNorm before
    the head, and ViT's init (linear weights at std 0.02, zero biases)."""
    torch.manual_seed(0)
    model = build_model(variant, "small", init="vit")
    assert model.config.block == "vit" and isinstance(model.norm, torch.nn.LayerNorm)
    for block in _vit_blocks(model):
        assert block.prenorm and all(isinstance(n, torch.nn.LayerNorm) for n in block.norms)
        assert isinstance(block.mlp, trm.layers.GeluMLP) and block.mix.rotary is None
        assert block.mix.qkv.bias is not None and not block.mix.qkv.bias.any()
        w = block.mlp.fc1.weight
        # a normal cut at two of its own deviations (0.02 / 0.8796: trm.layers.trunc_normal_)
        assert abs(w.std().item() - 0.02) < 0.002 and w.abs().max() <= 0.0455
    assert abs(model.head.weight.std().item() - 0.02) < 0.004
    assert model.embed.pos.shape[1] == model.embed.length  # learned positions


@pytest.mark.parametrize("variant", ["vit", "bvit", "sr-vit", "mor-vit"])
def test_fan_in_init_draws_each_vit_weight_at_one_over_root_fan_in(variant):
    """``init="fan-in"``: every linear weight of the ViT blocks and the head at std
    1/sqrt(its fan-in) (the MLP's second layer reads 4x the width), biases still zero; the
    config says so, and trm's blocks ignore it (their init is fan-in already)."""
    torch.manual_seed(0)
    model = build_model(variant, "small", init="fan-in", hidden_size=128, num_heads=4)
    assert "fan-in init" in model.config.describe()
    for block in _vit_blocks(model):
        for layer in (block.mix.qkv, block.mix.out, block.mlp.fc1, block.mlp.fc2):
            std = layer.in_features**-0.5
            assert abs(layer.weight.std().item() - std) < 0.1 * std
            assert layer.weight.abs().max() <= 2 * std / 0.8796 + 1e-6 and not layer.bias.any()
    assert abs(model.head.weight.std().item() - 128**-0.5) < 0.15 * 128**-0.5
    trm_block = build_model(variant, "small", block="trm", init="fan-in", **SMALL).config
    assert not trm_block.uses_fan_in and "fan-in" not in trm_block.describe()


def test_init_is_checked_and_old_runs_load_with_vits_init():
    from vision.models import model_from_config

    with pytest.raises(TRMError, match="init"):
        build_model("vit", "small", init="he", **SMALL)
    config = build_model("vit", "small", init="fan-in", **SMALL).config.to_dict()
    config.pop("init")  # a run saved before the field
    assert model_from_config("vit", config).config.init == "vit"


def test_a_vit_block_adds_its_branches_to_an_unnormalised_stream():
    """Pre-norm: with both branches silenced the block is the identity (a post-norm block
    would normalise its input)."""
    block = _vit_blocks(build_model("vit", "small", **SMALL))[0]
    with torch.no_grad():
        for layer in (block.mix.out, block.mlp.fc2):
            layer.weight.zero_()
            layer.bias.zero_()
    h = torch.randn(2, 65, 32) * 7
    assert torch.equal(block(h), h)
    with pytest.raises(ValueError, match="pre-norm"):
        trm.layers.Block(trm.layers.BlockSpec(32, 2, 8, norm="layer"))


@pytest.mark.parametrize("variant", ["vit", "bvit", "sr-vit", "mor-vit"])
def test_timms_seams_give_the_models_logits(variant):
    torch.manual_seed(0)
    model = build_model(variant, "small", **SMALL).eval()
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        features = model.forward_features(images)
        assert features.shape == (3, model.embed.length, 32)
        assert torch.allclose(model.forward_head(features), model.classify(images), atol=1e-6)
        assert model.forward_head(features, pre_logits=True).shape == (3, 32)


@pytest.mark.parametrize("variant", ["vit", "bvit", "sr-vit", "mor-vit"])
def test_runs_saved_before_the_vit_block_load_as_trms_block(variant):
    """A config without ``block`` is a run of the first release: post-norm RMSNorm blocks
    with RoPE and SwiGLU, no final norm, and its weights' names load strictly."""
    from vision.models import model_from_config

    old = build_model(variant, "small", block="trm", **SMALL)
    config = {k: v for k, v in old.config.to_dict().items() if k != "block"}
    loaded = model_from_config(variant, json.loads(json.dumps(config)))
    assert loaded.config.block == "trm" and isinstance(loaded.norm, torch.nn.Identity)
    block = _vit_blocks(loaded)[0]
    assert not block.prenorm and block.norms is None and block.mix.rotary is not None
    loaded.load_state_dict(old.state_dict())  # strict: the same names and shapes
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.eval().classify(images), old.eval().classify(images))


def test_the_concatenated_cycle_is_trms_recursion_with_the_papers_layout():
    """ViTRM's cycle runs through trm.recursion.deep_recursion: n times z = f([x; y; z])
    keeping z's part, then y = f([y; z]) keeping y's, T cycles."""
    from trm.recursion import concat_step, deep_recursion

    def net(t):  # mixes along the sequence, so a wrong slice shows
        return torch.tanh(t.cumsum(1) * 0.3)

    x, y, z = torch.randn(2, 4, 3), torch.randn(2, 1, 3), torch.randn(2, 4, 3)
    want_y, want_z = y, z
    for _ in range(2):  # T = 2
        for _ in range(3):  # n = 3
            want_z = net(torch.cat([x, want_y, want_z], 1))[:, 5:]
        want_y = net(torch.cat([want_y, want_z], 1))[:, :1]
    got = deep_recursion(net, 3, 2, x, y, z, concat_step)
    assert torch.equal(got[0], want_y) and torch.equal(got[1], want_z)
