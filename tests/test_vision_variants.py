"""bvit, sr-vit and mor-vit: configurations of trm's one recursive encoder."""

from __future__ import annotations

import json
import math

import pytest
import torch

import trm.layers
from tests.conftest import run_trm
from trm.encoder import RecursiveEncoder
from trm.errors import TRMError
from vision.models import build_model
from vision.training import evaluate_run, flops_per_image, train_images

SMALL = dict(hidden_size=32, num_heads=2)
NEW = ("bvit", "sr-vit", "mor-vit")


def params(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("variant", NEW)
@pytest.mark.parametrize("classes", [10, 100])
@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_output_shapes(variant, classes, pool):
    model = build_model(variant, "small", num_classes=classes, pool=pool, **SMALL)
    x = model.embed_input(torch.randn(3, 3, 32, 32))
    out = model.deep_step(x, *model.initial_state(3))
    assert out.logits.shape == (3, classes) and torch.isfinite(out.logits).all()
    assert type(model.encoder) is RecursiveEncoder
    assert all(type(b) is trm.layers.Block for b in model.encoder.net.blocks)


def test_weights_are_shared_across_recursions():
    d = SMALL["hidden_size"]
    # bvit: nothing grows with S, except the step embeddings (one vector per step)
    assert params(build_model("bvit", "small", recursions=2, **SMALL)) == \
        params(build_model("bvit", "small", recursions=12, **SMALL))
    assert params(build_model("bvit", "small", recursions=12, step_embedding=True, **SMALL)) - \
        params(build_model("bvit", "small", recursions=2, step_embedding=True, **SMALL)) == 10 * d
    # sr-vit: only the mixture's routers (one d -> 1 scorer per step)
    one = build_model("sr-vit", "small", recursions=1, **SMALL)
    for r in (2, 3, 4):
        model = build_model("sr-vit", "small", recursions=r, **SMALL)
        assert params(model) - params(one) == (r - 1) * (d + 1)
        assert model.encoder.extra_parameters() == r * (d + 1)
    # mor-vit: one router whatever the depth
    assert params(build_model("mor-vit", "small", recursions=2, **SMALL)) == \
        params(build_model("mor-vit", "small", recursions=8, **SMALL))


@pytest.mark.parametrize("r", [1, 2, 3, 4])
def test_softmor_weights_are_a_distribution_over_steps_per_token(r):
    torch.manual_seed(r)
    model = build_model("sr-vit", "small", recursions=r, **SMALL)
    out = model.encoder(model.embed(torch.randn(5, 3, 32, 32)))
    w = out.step_weights
    assert w.shape == (5, model.embed.length, r) and (w >= 0).all()
    assert torch.allclose(w.sum(-1), torch.ones(5, model.embed.length), atol=1e-5)
    if r > 1:
        assert not torch.allclose(w, torch.full_like(w, 1 / r))  # learned scores, not a constant


def count_passes(model, images):
    """Times each (image, position) went through the shared block, counted by a hook."""
    counts = torch.zeros(images.shape[0], model.embed.length, dtype=torch.long)

    def hook(module, args, kwargs, output):
        state = args[0]
        positions = kwargs.get("positions")
        if positions is None:
            positions = torch.arange(state.shape[1]).expand(state.shape[0], -1)
        mask = kwargs.get("key_mask")
        ones = torch.ones_like(positions) if mask is None else mask.long()
        counts.scatter_add_(1, positions, ones)

    handle = model.encoder.net.register_forward_hook(hook, with_kwargs=True)
    with torch.no_grad():
        out = model.encoder(model.embed(images))
    handle.remove()
    return counts, out


@pytest.mark.parametrize("routing,capacity", [("expert", None), ("expert", (1.0, 0.5, 0.5, 0.2)),
                                              ("token", None)])
def test_mor_tokens_go_through_the_block_exactly_their_depth(routing, capacity):
    torch.manual_seed(0)
    model = build_model("mor-vit", "small", recursions=4, routing=routing, capacity=capacity, **SMALL)
    images = torch.randn(6, 3, 32, 32)
    counts, out = count_passes(model, images)
    assert torch.equal(counts, out.depth)
    assert (out.depth[:, 0] == 4).all()  # the class token goes through every step
    length = model.embed.length
    if routing == "expert":
        shares = capacity or (1, 3 / 4, 2 / 4, 1 / 4)
        for step, share in enumerate(shares, 1):  # tokens still active at each step
            assert ((out.depth >= step).sum(-1) == math.ceil(share * length)).all()
    else:
        assert out.depth.min() >= 1 and out.depth.max() <= 4


def test_mor_active_tokens_keep_their_positions_and_see_only_each_other():
    torch.manual_seed(0)
    net = trm.layers.ReasoningNet(16, 2, 10, 1, "attention", 2.0, 10000.0, 1e-5)
    h = torch.randn(2, 10, 16)
    everyone = torch.arange(10).expand(2, -1)
    assert torch.allclose(net(h, positions=everyone), net(h), atol=1e-6)
    keep = torch.tensor([[0, 3, 7], [0, 1, 9]])
    sub = h.gather(1, keep.unsqueeze(-1).expand(-1, -1, 16))
    alone = net(sub, positions=keep)
    # a padding slot that nobody attends to changes nothing for the others
    padded = torch.cat([sub, torch.randn(2, 1, 16)], dim=1)
    mask = torch.tensor([[True, True, True, False]] * 2)
    with_pad = net(padded, positions=torch.cat([keep, torch.zeros(2, 1, dtype=torch.long)], 1),
                   key_mask=mask)
    assert torch.allclose(with_pad[:, :3], alone, atol=1e-5)


def test_capacity_changes_the_measured_flops():
    full = flops_per_image(build_model("mor-vit", "small", capacity=(1,) * 6))
    linear = flops_per_image(build_model("mor-vit", "small"))
    lean = flops_per_image(build_model("mor-vit", "small", capacity=(1, 0.5, 0.25, 0.1, 0.1, 0.1)))
    assert full > 1.6 * linear and linear > 1.3 * lean
    # at full capacity MoR does a bvit's work (plus the router)
    assert full == pytest.approx(flops_per_image(build_model("bvit", "small")), rel=0.01)


@pytest.mark.parametrize("variant,options,word", [
    ("sr-vit", dict(recursions=5), "recursions"), ("sr-vit", dict(recursions=0), "recursions"),
    ("bvit", dict(recursions=0), "recursions"),
    ("mor-vit", dict(recursions=3, capacity=(1, 0.5, 0.7)), "capacity"),
    ("mor-vit", dict(recursions=3, capacity=(1, 0.5, 0)), "capacity"),
    ("mor-vit", dict(recursions=3, capacity=(1, 0.5)), "capacity"),
    ("mor-vit", dict(routing="random"), "routing"),
])
def test_bad_options_are_refused(variant, options, word):
    with pytest.raises(TRMError, match=word):
        build_model(variant, "small", **options)


def test_configs_round_trip_through_json():
    from vision.models import model_from_config

    model = build_model("mor-vit", "small", recursions=3, capacity=(1, 0.6, 0.3), **SMALL)
    again = model_from_config("mor-vit", json.loads(json.dumps(model.config.to_dict())))
    assert again.config == model.config and again.config.capacity == (1, 0.6, 0.3)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from vision.synthetic import write_synthetic

    root = tmp_path_factory.mktemp("syn") / "syn"
    write_synthetic(root, train=64, test=32, classes=4, seed=0, progress=False)
    return root


def test_training_and_eval_json_report_recursions_and_step_weights(synthetic, tmp_path):
    steps = dict(steps=3, batch_size=8, eval_every=10**6, checkpoint_every=10**6, log_every=1)
    for variant, extra in (("mor-vit", dict(recursions=3)), ("sr-vit", dict(recursions=3))):
        train_images(synthetic, tmp_path / variant, variant=variant, model_overrides={**SMALL, **extra},
                     train_overrides=steps, device="cpu", precision="fp32", progress=False)
    r = run_trm("vision", "eval", str(tmp_path / "mor-vit"), "--data", str(synthetic), "--json")
    mor = json.loads(r.stdout)
    assert r.returncode == 0 and mor["variant"] == "mor-vit"
    assert mor["mean_recursions"] == pytest.approx((3 + 2 + 1) / 3, abs=0.1)  # linear capacity
    assert "step_weights" not in mor
    sr = evaluate_run(tmp_path / "sr-vit", synthetic, device="cpu")
    assert len(sr["step_weights"]) == 3 and sum(sr["step_weights"]) == pytest.approx(1, abs=1e-4)
    assert "mean_recursions" not in sr


@pytest.mark.parametrize("args,word", [
    (["--variant", "sr-vit", "--recursions", "5"], "recursions"),
    (["--variant", "mor-vit", "--capacity", "1,0.5,0.7"], "--capacity"),
    (["--variant", "mor-vit", "--capacity", "1,0.5,1.5"], "--capacity"),
    (["--variant", "mor-vit", "--capacity", "1,x"], "--capacity"),
    (["--variant", "bvit", "--capacity", "1,0.5"], "--capacity"),
    (["--variant", "vit", "--recursions", "3"], "--recursions"),
    (["--variant", "bvit", "--n-sup", "3"], "--n-sup"),
    (["--variant", "resnet"], "resnet"),
])
def test_cli_bad_variant_options_exit_2_naming_the_option(synthetic, tmp_path, args, word):
    r = run_trm("vision", "train", "--data", str(synthetic), "--out", str(tmp_path / "run"), *args)
    assert r.returncode == 2 and word in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_info_lists_all_five_variants():
    r = run_trm("vision", "info", "--json")
    rows = json.loads(r.stdout)
    assert {x["variant"] for x in rows} == {"vit", "vitrm", "bvit", "sr-vit", "mor-vit"}
    sr = [x for x in rows if x["variant"] == "sr-vit"]
    assert all(x["extra_params"] == x["config"]["recursions"] * (x["config"]["hidden_size"] + 1)
               for x in sr)
