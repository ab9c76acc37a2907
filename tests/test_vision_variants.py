"""bvit, sr-vit and mor-vit: configurations of trm's one recursive encoder."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

import trm.layers
from tests.helpers import cmd, run_trm
from trm.encoder import RecursiveEncoder
from trm.errors import TRMError
from trm.model import parameter_count as params
from vision.models import build_model
from vision.training import evaluate_run, flops_per_image, train_images

SMALL = dict(hidden_size=32, num_heads=2)
NEW = ("bvit", "sr-vit", "mor-vit")


def mlp_mixer_params(r: int, d: int, m: int) -> int:
    """SoftMoR's mixer: Linear(r d -> m) and Linear(m -> r), with biases; none at r = 1."""
    return 0 if r == 1 else r * d * m + m + m * r + r


@pytest.mark.parametrize("variant", NEW)
@pytest.mark.parametrize("classes", [10, 100])
@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_output_shapes(variant, classes, pool):
    model = build_model(variant, "small", num_classes=classes, pool=pool, **SMALL)
    out = model(torch.randn(3, 3, 32, 32))  # one step: no state carried, nothing to halt
    assert out.logits.shape == (3, classes) and torch.isfinite(out.logits).all()
    assert out.y is None and out.z is None and out.halt_logit is None
    assert isinstance(model.encoder, RecursiveEncoder)
    assert all(type(b) is trm.layers.Block for b in model.encoder.net.blocks)


def test_weights_are_shared_across_recursions():
    d = SMALL["hidden_size"]
    # bvit: nothing grows with S, except the step embeddings (one vector per step)
    assert params(build_model("bvit", "small", recursions=2, **SMALL)) == params(
        build_model("bvit", "small", recursions=12, **SMALL)
    )
    assert (
        params(build_model("bvit", "small", recursions=12, step_embedding=True, **SMALL))
        - params(build_model("bvit", "small", recursions=2, step_embedding=True, **SMALL))
        == 10 * d
    )
    # sr-vit: only the mixer, which R = 1 does not have: Linear(R d -> d), Linear(d -> R)
    one = build_model("sr-vit", "small", recursions=1, **SMALL)
    assert one.encoder.extra_parameters() == 0 and one.encoder.mixer is None
    for r in (2, 3, 4):
        model = build_model("sr-vit", "small", recursions=r, **SMALL)
        assert params(model) - params(one) == mlp_mixer_params(r, d, d)
        assert model.encoder.extra_parameters() == mlp_mixer_params(r, d, d)
    # ... at any width asked for; the first release's mixer: a d -> 1 scorer per step
    assert build_model(
        "sr-vit", "small", recursions=3, mixer_hidden=7, **SMALL
    ).encoder.extra_parameters() == mlp_mixer_params(3, d, 7)
    for r in (1, 4):
        assert build_model(
            "sr-vit", "small", recursions=r, mixer="linear", **SMALL
        ).encoder.extra_parameters() == r * (d + 1)
    # mor-vit: the shared middle stack and the unique ends whatever the depth; one d -> 1
    # router per step (expert choice), or one d -> S router (token choice)
    for routing in ("expert", "token"):
        sizes = [
            params(build_model("mor-vit", "small", recursions=r, routing=routing, **SMALL))
            for r in (2, 3, 8)
        ]
        assert sizes[1] - sizes[0] == d + 1 and sizes[2] - sizes[0] == 6 * (d + 1)
    shared_router = dict(router_per_step=False, **SMALL)
    assert params(build_model("mor-vit", "small", recursions=2, **shared_router)) == params(
        build_model("mor-vit", "small", recursions=8, **shared_router)
    )


@pytest.mark.parametrize("r", [1, 2, 3, 4])
def test_softmor_weights_are_a_distribution_over_steps_per_token(r):
    torch.manual_seed(r)
    images = torch.randn(5, 3, 32, 32)
    model = build_model("sr-vit", "small", recursions=r, uniform_start=False, **SMALL)
    out = model.encoder(model.embed(images))
    w = out.step_weights
    assert w.shape == (5, model.embed.length, r) and (w >= 0).all()
    assert torch.allclose(w.sum(-1), torch.ones(5, model.embed.length), atol=1e-5)
    if r > 1:
        assert not torch.allclose(w, torch.full_like(w, 1 / r))  # learned scores, not a constant
    even = build_model("sr-vit", "small", recursions=r, **SMALL)  # the preset's even start
    w = even.encoder(even.embed(images)).step_weights
    assert torch.allclose(w, torch.full_like(w, 1 / r), atol=1e-6)


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


@pytest.mark.parametrize(
    "routing,capacity", [("expert", None), ("expert", (1.0, 0.5, 0.5, 0.2)), ("token", None)]
)
@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_mor_tokens_go_through_the_block_exactly_their_depth(routing, capacity, pool):
    torch.manual_seed(0)
    model = build_model(
        "mor-vit", "small", recursions=4, routing=routing, capacity=capacity, pool=pool, **SMALL
    )
    images = torch.randn(6, 3, 32, 32)
    counts, out = count_passes(model, images)
    assert torch.equal(counts, out.depth)
    if pool == "cls":
        assert (out.depth[:, 0] == 4).all()  # the class token goes through every step
    length = model.embed.length
    if routing == "expert":
        shares = capacity or (1, 3 / 4, 2 / 4, 1 / 4)
        for step, share in enumerate(shares, 1):  # tokens still active at each step
            assert ((out.depth >= step).sum(-1) == math.ceil(share * length)).all()
    else:
        assert out.depth.min() >= 1 and out.depth.max() <= 4


@pytest.mark.parametrize("routing", ["expert", "token"])
def test_mor_keeps_the_first_token_only_where_it_is_a_class_token(routing):
    """With mean pooling there is no class token: the first patch is routed like the others
    (a router that scores it lowest stops it early); with one, it runs every step."""
    seen = {}
    for pool in ("cls", "mean"):
        torch.manual_seed(0)
        model = build_model("mor-vit", "small", recursions=2, routing=routing, pool=pool, **SMALL)
        enc = model.encoder
        with torch.no_grad():  # every router scores by the first feature; token 0 lowest
            for router in enc.routers if enc.routers is not None else [enc.router]:
                router.weight.zero_()
                router.weight[:, 0] = 1.0
                router.bias.zero_()
                if routing == "token":  # a higher feature picks the deeper depth
                    router.weight[0, 0] = -1.0
        h = model.embed(torch.randn(3, 3, 32, 32))
        h[:, 0, 0] = -100.0
        with torch.no_grad():
            seen[pool] = enc(h).depth[:, 0]
    assert (seen["cls"] == 2).all() and (seen["mean"] == 1).all()


def test_mor_active_tokens_keep_their_positions_and_see_only_each_other():
    torch.manual_seed(0)
    net = trm.layers.ReasoningNet(trm.layers.BlockSpec(16, 2, 10, expansion=2.0), 1)
    h = torch.randn(2, 10, 16)
    everyone = torch.arange(10).expand(2, -1)
    assert torch.allclose(net(h, positions=everyone), net(h), atol=1e-6)
    keep = torch.tensor([[0, 3, 7], [0, 1, 9]])
    sub = h.gather(1, keep.unsqueeze(-1).expand(-1, -1, 16))
    alone = net(sub, positions=keep)
    # a padding slot that nobody attends to changes nothing for the others
    padded = torch.cat([sub, torch.randn(2, 1, 16)], dim=1)
    mask = torch.tensor([[True, True, True, False]] * 2)
    with_pad = net(
        padded, positions=torch.cat([keep, torch.zeros(2, 1, dtype=torch.long)], 1), key_mask=mask
    )
    assert torch.allclose(with_pad[:, :3], alone, atol=1e-5)


def test_capacity_changes_the_measured_flops():
    full = flops_per_image(build_model("mor-vit", "small", capacity=(1,) * 4))
    linear = flops_per_image(build_model("mor-vit", "small"))
    lean = flops_per_image(build_model("mor-vit", "small", capacity=(1, 0.25, 0.1, 0.1)))
    assert full > 1.2 * linear and linear > 1.2 * lean
    # at full capacity, 6 steps of the small preset's one shared block do bvit small's work
    # (6 passes, with its class token), plus the routers; its 4 linear steps (1, 3/4, 1/2,
    # 1/4) do far less
    six = flops_per_image(
        build_model("mor-vit", "small", recursions=6, capacity=(1,) * 6, pool="cls")
    )
    bvit = flops_per_image(build_model("bvit", "small"))
    assert six == pytest.approx(bvit, rel=0.01) and linear < 0.5 * bvit


@pytest.mark.parametrize(
    "variant,options,word",
    [
        ("sr-vit", dict(recursions=9), "recursions"),
        ("sr-vit", dict(recursions=0), "recursions"),
        ("bvit", dict(recursions=0), "recursions"),
        ("mor-vit", dict(recursions=0), "recursions"),
        ("sr-vit", dict(mixer="attention"), "mixer"),
        ("sr-vit", dict(mixer_hidden=-1), "mixer_hidden"),
        ("mor-vit", dict(recursions=3, capacity=(1, 0.5, 0.7)), "capacity"),
        ("mor-vit", dict(recursions=3, capacity=(1, 0.5, 0)), "capacity"),
        ("mor-vit", dict(recursions=3, capacity=(1, 0.5)), "capacity"),
        ("mor-vit", dict(routing="random"), "routing"),
    ],
)
def test_bad_options_are_refused(variant, options, word):
    with pytest.raises(TRMError, match=word) as e:
        build_model(variant, "small", **options)
    assert len(str(e.value).splitlines()) == 1


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
    sr_options = dict(recursions=3, mixer_norm=True, uniform_start=True, balance=0.1)
    for variant, extra in (("mor-vit", dict(recursions=3)), ("sr-vit", sr_options)):
        train_images(
            synthetic,
            tmp_path / variant,
            variant=variant,
            model_overrides={**SMALL, **extra},
            train_overrides=steps,
            device="cpu",
            precision="fp32",
            progress=False,
        )
    r = run_trm(*cmd("vision eval", tmp_path / "mor-vit", "--data", synthetic, "--json"))
    mor = json.loads(r.stdout)
    assert r.returncode == 0 and mor["variant"] == "mor-vit"
    assert mor["mean_recursions"] == pytest.approx((3 + 2 + 1) / 3, abs=0.1)  # linear capacity
    assert "step_weights" not in mor
    sr = evaluate_run(tmp_path / "sr-vit", synthetic, device="cpu")
    assert len(sr["step_weights"]) == 3 and sum(sr["step_weights"]) == pytest.approx(1, abs=1e-4)
    assert "mean_recursions" not in sr
    saved = json.loads((tmp_path / "sr-vit" / "checkpoint" / "config.json").read_text())
    assert {k: saved["model"][k] for k in sr_options} == sr_options


@pytest.mark.parametrize(
    "args,word",
    [
        (["--variant", "sr-vit", "--recursions", "9"], "recursions"),
        (["--variant", "mor-vit", "--capacity", "1,0.5,0.7"], "--capacity"),
        (["--variant", "mor-vit", "--capacity", "1,0.5,1.5"], "--capacity"),
        (["--variant", "mor-vit", "--capacity", "1,x"], "--capacity"),
        (["--variant", "bvit", "--capacity", "1,0.5"], "--capacity"),
        (["--variant", "vit", "--recursions", "3"], "--recursions"),
        (["--variant", "bvit", "--n-sup", "3"], "--n-sup"),
        (["--variant", "vit", "--balance", "0.1"], "--balance"),
        (["--variant", "bvit", "--mixer-norm"], "--mixer-norm"),
        (["--variant", "sr-vit", "--balance", "-1"], "balance"),
        (["--variant", "sr-vit", "--recursion-loss", "-1"], "--recursion-loss"),
        (["--variant", "bvit", "--recursion-loss", "0.5"], "--recursion-loss"),
        (["--variant", "resnet"], "resnet"),
    ],
)
def test_cli_bad_variant_options_exit_2_naming_the_option(synthetic, tmp_path, args, word):
    r = run_trm(*cmd("vision train --data", synthetic, "--out", tmp_path / "run", args))
    assert r.returncode == 2 and word in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_info_lists_all_five_variants():
    r = run_trm("vision", "info", "--json")
    rows = json.loads(r.stdout)
    assert {x["variant"] for x in rows} == {"vit", "vitrm", "bvit", "sr-vit", "mor-vit"}
    sr = [x for x in rows if x["variant"] == "sr-vit"]
    assert all(
        x["extra_params"]
        == mlp_mixer_params(
            x["config"]["recursions"], x["config"]["hidden_size"], x["config"]["hidden_size"]
        )
        for x in sr
    )


# ---------------------------------------------------------------- SoftMoR as the paper builds it


def test_softmor_at_one_recursion_is_the_plain_vit():
    torch.manual_seed(0)
    sr = build_model("sr-vit", "small", recursions=1, num_layers=2, **SMALL).eval()
    vit = build_model("vit", "small", depth=2, **SMALL).eval()
    assert params(sr) == params(vit)
    vit.load_state_dict({k.replace("encoder.net.", "net."): v for k, v in sr.state_dict().items()})
    images = torch.randn(2, 3, 32, 32)
    x = sr.embed(images)
    out = sr.encoder(x)
    assert torch.equal(out.h, sr.encoder.net(x))
    assert torch.equal(out.step_weights, torch.ones(2, x.shape[1], 1))
    assert torch.allclose(sr.classify(images), vit.classify(images), atol=1e-5)


@pytest.mark.parametrize("normed", [False, True])
def test_softmor_mixer_reads_all_recursions_of_a_token(normed):
    torch.manual_seed(0)
    model = build_model(
        "sr-vit",
        "small",
        recursions=3,
        num_layers=1,
        mixer_norm=normed,
        uniform_start=False,
        **SMALL,
    ).eval()
    enc = model.encoder
    h = model.embed(torch.randn(2, 3, 32, 32))
    outs = []
    state = h
    for _ in range(3):
        state = enc.net(state)
        outs.append(state)
    read = [F.layer_norm(o, o.shape[-1:]) for o in outs] if normed else outs
    w = torch.softmax(enc.mixer(torch.cat(read, -1)), -1)
    out = enc(h)
    assert torch.allclose(out.step_weights, w, atol=1e-6)
    assert torch.allclose(out.h, sum(w[..., i : i + 1] * o for i, o in enumerate(outs)), atol=1e-5)
    # token-wise: a token's weights depend on that token's outputs only
    assert not torch.allclose(w[:, 1], w[:, 2])


def test_softmor_cifar_preset_is_vit_s_recursed_four_times():
    model = build_model("sr-vit", "cifar")
    c, enc = model.config, model.encoder
    assert (c.num_layers, c.hidden_size, c.num_heads, c.expansion, c.recursions) == (
        12,
        384,
        6,
        4.0,
        4,
    )
    assert len(enc.net.blocks) == 12 and c.mixer == "mlp"
    mixer = mlp_mixer_params(4, 384, 384)  # 4*384*384 + 384 + 384*4 + 4
    assert mixer == 591_748 and enc.extra_parameters() == mixer
    assert params(model) - params(build_model("sr-vit", "cifar", recursions=1)) == mixer
    print(f"sr-vit cifar: {params(model):,} parameters, mixer {mixer:,} at R=4")


# ---------------------------------------------------------------- MoR as the papers build it


def test_mor_expert_choice_has_one_router_per_step():
    model = build_model("mor-vit", "small", recursions=3, **SMALL)
    routers = model.encoder.routers
    assert len(routers) == 3 and model.encoder.router is None
    weights = [r.weight for r in routers]
    assert len({w.data_ptr() for w in weights}) == 3
    assert not torch.allclose(weights[0], weights[1])
    # each step's router scores that step's tokens: the last router gets a gradient
    out = model.encoder(model.embed(torch.randn(2, 3, 32, 32)))
    (out.h.sum() + out.aux_loss).backward()
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in weights)
    token = build_model("mor-vit", "small", recursions=3, routing="token", **SMALL).encoder
    assert token.routers is None and token.router.out_features == 3


@pytest.mark.parametrize("inactive_keys", [True, False])
def test_mor_inactive_tokens_are_keys_for_the_active_ones(inactive_keys):
    torch.manual_seed(0)
    model = build_model(
        "mor-vit", "small", recursions=2, inactive_keys=inactive_keys, **SMALL
    ).eval()
    enc = model.encoder
    h = torch.randn(2, model.embed.length, SMALL["hidden_size"])
    active = torch.tensor([[0, 2, 5, 9], [0, 1, 3, 4]])
    gate = torch.ones(2, 4)
    with torch.no_grad():
        before = enc._run_subset(h, active, gate, 1)
        changed = h.clone()
        # a token inactive in both images, moved in a random direction (LayerNorm would
        # remove a shift of all its features by one constant)
        changed[:, 7] += torch.randn(h.shape[-1])
        after = enc._run_subset(changed, active, gate, 1)
    take = active.unsqueeze(-1).expand(-1, -1, h.shape[-1])
    seen = not torch.allclose(before.gather(1, take), after.gather(1, take), atol=1e-4)
    assert seen == inactive_keys
    # the inactive tokens themselves pass through unchanged either way
    assert torch.equal(after[:, 7], changed[:, 7]) and torch.equal(before[:, 6], h[:, 6])


@pytest.mark.parametrize("inactive_keys", [True, False])
def test_mor_token_choice_padding_changes_nothing(inactive_keys):
    torch.manual_seed(0)
    model = build_model(
        "mor-vit", "small", recursions=4, routing="token", inactive_keys=inactive_keys, **SMALL
    ).eval()
    x = model.embed(torch.randn(4, 3, 32, 32))
    with torch.no_grad():
        both = model.encoder(x)
        alone = [model.encoder(x[i : i + 1]) for i in range(4)]
    assert len({int(d.sum()) for d in both.depth}) > 1  # images of different active counts
    for i, one in enumerate(alone):
        assert torch.equal(one.depth[0], both.depth[i])
        assert torch.allclose(one.h[0], both.h[i], atol=1e-5)


def test_mor_unique_first_and_last_blocks_run_once_outside_the_recursion():
    model = build_model("mor-vit", "small", recursions=3, unique_ends=True, **SMALL)
    enc = model.encoder
    assert len(enc.first.blocks) == 1 and len(enc.last.blocks) == 1
    names = {id(p): n for n, p in enc.named_parameters()}
    assert all(names[id(p)].startswith("first.") for p in enc.first.parameters())
    assert all(names[id(p)].startswith("last.") for p in enc.last.parameters())
    calls = []

    def hook(name):
        return lambda m, args, kwargs, out: calls.append(
            (name, args[0].shape[1], kwargs.get("positions"))
        )

    hooks = [
        getattr(enc, name).register_forward_hook(hook(name), with_kwargs=True)
        for name in ("first", "net", "last")
    ]
    with torch.no_grad():
        enc(model.embed(torch.randn(2, 3, 32, 32)))
    for hook in hooks:
        hook.remove()
    length = model.embed.length
    assert [c[0] for c in calls] == ["first", "net", "net", "net", "last"]
    assert calls[0][1:] == (length, None) and calls[-1][1:] == (length, None)  # all tokens
    assert [c[1] for c in calls[1:4]] == [length, math.ceil(2 / 3 * length), math.ceil(length / 3)]
    block = params(enc.first)
    assert block == params(enc.net)  # the same one-block shape
    without = build_model("mor-vit", "small", recursions=3, unique_ends=False, **SMALL)
    assert without.encoder.first is None and params(model) - params(without) == 2 * block


@pytest.mark.parametrize(
    "preset,shape", [("cifar", (576, 2, 3, True, True)), ("small", (192, 1, 4, False, False))]
)
def test_mor_presets_share_bvit_widths(preset, shape):
    """cifar: MoR's Middle-Cycle (unique ends, stopped tokens kept as keys); small: bvit's
    one block shared by all steps, attention among the active tokens (faster on a CPU)."""
    mor = build_model("mor-vit", preset).config
    fields = (mor.hidden_size, mor.num_layers, mor.recursions, mor.unique_ends, mor.inactive_keys)
    assert fields == shape
    assert mor.hidden_size == build_model("bvit", preset).config.hidden_size


# ---------------------------------------------------------------- runs saved before these fields


def _legacy(variant: str, drop: tuple, **options):
    from vision.models import model_from_config

    torch.manual_seed(0)
    model = build_model(variant, "small", **SMALL, **options).eval()
    # the first release's config: without the fields added since (the block among them)
    old = {k: v for k, v in model.config.to_dict().items() if k not in ("block", *drop)}
    return model, model_from_config(variant, json.loads(json.dumps(old))).eval()


def _extra_keys(model) -> set:
    return {k for k in model.state_dict() if not k.startswith(("embed.", "encoder.net.", "head."))}


def test_legacy_softmor_config_loads_the_linear_mixer():
    model, legacy = _legacy("sr-vit", ("mixer", "mixer_hidden"), recursions=3)
    assert legacy.config.mixer == "linear" and legacy.encoder.mixer is None
    # the first release's parameter names, so its saved weights load strictly
    assert _extra_keys(legacy) == {
        f"encoder.mix_routers.{i}.{w}" for i in range(3) for w in ("weight", "bias")
    }
    state = build_model(
        "sr-vit", "small", recursions=3, mixer="linear", block="trm", **SMALL
    ).state_dict()
    legacy.load_state_dict(state)
    out = legacy.encoder(legacy.embed(torch.randn(2, 3, 32, 32)))
    assert out.step_weights.shape[-1] == 3
    with pytest.raises(RuntimeError):  # the new mixer's weights do not fit the old structure
        legacy.load_state_dict(model.state_dict())


def test_legacy_mor_config_loads_one_router_no_ends_and_active_only_attention():
    _, legacy = _legacy(
        "mor-vit",
        ("router_per_step", "inactive_keys", "unique_ends", "route_first"),
        recursions=3,
        pool="mean",
    )
    c = legacy.config
    assert (c.router_per_step, c.inactive_keys, c.unique_ends) == (False, False, False)
    assert not c.route_first  # the first token ran every step, whatever the pooling
    enc = legacy.encoder
    assert enc.routers is None and enc.first is None and enc.last is None and not enc.inactive_keys
    assert _extra_keys(legacy) == {"encoder.router.weight", "encoder.router.bias"}
    state = build_model(
        "mor-vit",
        "small",
        recursions=3,
        router_per_step=False,
        inactive_keys=False,
        unique_ends=False,
        block="trm",
        pool="mean",
        **SMALL,
    ).state_dict()
    legacy.load_state_dict(state)
    counts, out = count_passes(legacy, torch.randn(2, 3, 32, 32))
    assert torch.equal(counts, out.depth)
    assert (out.depth[:, 0] == 3).all()


# ------------------------------------------------- SoftMoR against a collapsing mixture


class _Scale(torch.nn.Module):
    """A stand-in for f: h -> k (h + e), so recursion s's output is k^s times the input."""

    def __init__(self, k: float):
        super().__init__()
        self.k = k

    def forward(self, h, injection=0.0):
        return (h + injection) * self.k


@pytest.mark.parametrize("mixer", ["mlp", "linear"])
def test_uniform_start_weighs_every_recursion_alike(mixer):
    from trm.encoder import SoftMixEncoder

    torch.manual_seed(0)
    enc = SoftMixEncoder(_Scale(1.3), 8, 4, mixer=mixer, uniform_start=True)
    w = enc(torch.randn(2, 5, 8)).step_weights
    assert torch.allclose(w, torch.full_like(w, 0.25))
    plain = SoftMixEncoder(_Scale(1.3), 8, 4, mixer=mixer)(torch.randn(2, 5, 8)).step_weights
    assert not torch.allclose(plain, torch.full_like(plain, 0.25))


def test_a_normed_mixer_does_not_read_the_size_of_the_streams():
    """Pre-norm streams grow from recursion to recursion; a normed mixer reads their
    directions only, so growth alone cannot pull the mixture towards one recursion."""
    from trm.encoder import SoftMixEncoder

    h = torch.randn(2, 5, 8)
    weights = {}
    for normed in (True, False):
        for k in (1.1, 3.0):
            torch.manual_seed(0)
            enc = SoftMixEncoder(_Scale(k), 8, 3, normed=normed)
            weights[normed, k] = enc(h).step_weights
    assert torch.allclose(weights[True, 1.1], weights[True, 3.0], atol=1e-5)
    assert not torch.allclose(weights[False, 1.1], weights[False, 3.0], atol=1e-3)


def test_imbalance_is_zero_for_an_even_mixture_and_log_r_for_one_recursion():
    from trm.encoder import imbalance

    even = torch.full((2, 5, 4), 0.25)
    one = torch.zeros(2, 5, 4)
    one[..., 2] = 1
    assert imbalance(even).item() == pytest.approx(0, abs=1e-6)
    assert imbalance(one).item() == pytest.approx(math.log(4), abs=1e-5)
    # tokens may each lean on one recursion while the batch uses all alike
    mixed = torch.eye(4).repeat(2, 1).view(2, 4, 4)
    assert imbalance(mixed).item() == pytest.approx(0, abs=1e-6)


def test_balance_adds_the_weighted_imbalance_to_the_loss_and_off_adds_nothing():
    from trm.encoder import imbalance

    torch.manual_seed(0)
    images = torch.randn(2, 3, 32, 32)
    model = build_model("sr-vit", "small", recursions=3, balance=0.5, uniform_start=False, **SMALL)
    aux = model.run(images)[1]
    out = model.encoder(model.embed(images))
    assert aux.item() == pytest.approx(0.5 * imbalance(out.step_weights).item(), rel=1e-5)
    assert aux.requires_grad and aux.item() > 0
    assert build_model("sr-vit", "small", recursions=3, balance=0.0, **SMALL).run(images)[1] is None
    with pytest.raises(TRMError, match="balance"):
        build_model("sr-vit", "small", balance=-1.0, **SMALL)


def test_recursion_loss_trains_every_recursions_answer_read_by_the_head():
    """sr-vit's ``recursion_loss``: in training, each recursion's own output goes through the
    final norm and the head, and the loss adds the weighted mean of their cross-entropies;
    in evaluation, and with the weight 0, nothing changes."""
    import torch.nn.functional as F

    from vision.training import image_loss

    torch.manual_seed(0)
    images, labels = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    model = build_model("sr-vit", "small", recursions=3, recursion_loss=0.5, **SMALL).train()
    out = model(images)
    assert len(out.aux_logits) == 3 and out.aux_logits[0].shape == out.logits.shape
    outputs = model.encoder(model.embed(images)).outputs
    for tokens, answer in zip(outputs, out.aux_logits):
        assert torch.allclose(model.forward_head(model.norm(tokens)), answer, atol=1e-6)
    loss = image_loss(out, labels, halting=False, earlier=0.5)
    extra = torch.stack([F.cross_entropy(a, labels) for a in out.aux_logits]).mean()
    assert loss.loss.item() == pytest.approx(loss.answer_loss.item() + 0.5 * extra.item(), rel=1e-5)
    assert model.eval()(images).aux_logits is None
    plain = build_model("sr-vit", "small", recursions=3, **SMALL).train()
    assert plain(images).aux_logits is None
