"""Vision training on trm's loop: runs, checkpoints, resumes to the same weights, evaluates."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.helpers import cmd
from trm.checkpoint import load_checkpoint
from trm.errors import TRMError
from vision.training import describe_variants, evaluate_run, image_augmenter, train_images

TINY = dict(hidden_size=32, num_heads=2)
STEPS = dict(batch_size=16, eval_every=10**6, checkpoint_every=10**6, log_every=2, eval_max=64)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from vision.synthetic import write_synthetic

    root = tmp_path_factory.mktemp("syn") / "syn"
    write_synthetic(root, train=256, test=64, classes=10, seed=0, progress=False)
    return root


def train(data, out, steps, variant="vitrm", resume=False, model=None, **kw):
    return train_images(
        data,
        out,
        variant=variant,
        preset="small",
        model_overrides=None if resume else {**TINY, **(model or {})},
        train_overrides={**STEPS, "steps": steps},
        resume=resume,
        device="cpu",
        precision="fp32",
        progress=False,
        **kw,
    )


@pytest.mark.parametrize("variant", ["vit", "vitrm", "vitrm-trm"])
def test_training_writes_a_checkpoint_and_metrics_and_evaluates(synthetic, tmp_path, variant):
    n_sup = 3 if variant == "vitrm-trm" else 1
    model = dict(layout="trm", n_sup=n_sup) if n_sup > 1 else None
    variant = variant.split("-")[0]
    summary = train(synthetic, tmp_path / "run", 6, variant=variant, model=model)
    assert summary["step"] == 6 and summary["eval"]["n"] == 64
    config = load_checkpoint(tmp_path / "run").config
    assert config["task"] == "vision" and config["variant"] == variant
    assert config["data"]["name"] == "synthetic" and len(config["data"]["classes"]) == 10
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if "loss" in x] == [2, 4, 6]
    result = evaluate_run(tmp_path / "run", synthetic, halting="adaptive", device="cpu")
    assert set(result) >= {"top1", "top5", "n", "params", "variant", "mean_steps", "images_per_s"}
    assert 0 <= result["top1"] <= result["top5"] <= 1 and result["variant"] == variant
    full = evaluate_run(tmp_path / "run", synthetic, halting="full", device="cpu")
    assert result["mean_steps"] <= full["mean_steps"] == n_sup
    if variant == "vit":  # one loader for every run (trm.runs): it tells the kinds apart
        from puzzles.evaluation import load_model

        with pytest.raises(TRMError, match="is a 'vision' model, not a puzzle one"):
            load_model(tmp_path / "run", torch.device("cpu"))


def test_a_puzzle_run_is_not_loaded_as_a_vision_model(tmp_path):
    from tests.helpers import tiny_config
    from trm.checkpoint import save_checkpoint
    from trm.model import TRM
    from vision.training import load_vision_model

    model = TRM(tiny_config())
    config = {"task": "sudoku", "model": model.config.to_dict()}
    save_checkpoint(tmp_path / "run" / "checkpoint", model_state=model.state_dict(), config=config)
    with pytest.raises(TRMError, match="is a 'sudoku' model, not a vision one"):
        load_vision_model(tmp_path / "run", torch.device("cpu"))


@pytest.mark.parametrize("layout", ["vitrm", "trm"])
def test_resume_matches_an_uninterrupted_run(synthetic, tmp_path, layout):
    model = dict(layout=layout, n_sup=3) if layout == "trm" else None
    train(synthetic, tmp_path / "straight", 8, model=model)
    train(synthetic, tmp_path / "split", 4, model=model)
    train(synthetic, tmp_path / "split", 8, resume=True)
    a = load_checkpoint(tmp_path / "straight", train_state=True).train_tensors
    b = load_checkpoint(tmp_path / "split", train_state=True).train_tensors
    for key in a:
        if key.startswith(("model.", "slots.")):
            assert torch.equal(a[key], b[key]), key


def test_channel_statistics_come_from_the_training_split_and_travel_with_the_run(
    synthetic, tmp_path, monkeypatch
):
    from vision.cifar import load_images
    from vision.training import CIFAR10_STATS, channel_stats, normalise

    images = load_images(synthetic).train.images
    stats = channel_stats(images)
    pixels = images.transpose(1, 0, 2, 3).reshape(3, -1) / 255.0
    np.testing.assert_allclose(stats["mean"], pixels.mean(1), atol=1e-6)
    np.testing.assert_allclose(stats["std"], pixels.std(1), atol=1e-6)
    assert stats != CIFAR10_STATS
    # standardised training images have mean 0 and std 1 per channel
    z = normalise(torch.from_numpy(images), stats).double()
    assert z.mean((0, 2, 3)).abs().max() < 1e-4 and (z.std((0, 2, 3)) - 1).abs().max() < 1e-3
    assert channel_stats(np.full((3, 3, 2, 2), 7, np.uint8))["std"] == [1.0, 1.0, 1.0]
    train(synthetic, tmp_path / "run", 2)
    config = load_checkpoint(tmp_path / "run").config
    assert config["normalisation"] == stats
    # evaluation standardises by the run's statistics; a run made before they were recorded
    # (no "normalisation" field) by CIFAR-10's, as it was trained
    import vision.training

    seen = []
    real = vision.training.normalise
    monkeypatch.setattr(vision.training, "normalise", lambda x, st: seen.append(st) or real(x, st))
    evaluate_run(tmp_path / "run", synthetic, device="cpu")
    del config["normalisation"]
    (tmp_path / "run" / "checkpoint" / "config.json").write_text(json.dumps(config))
    evaluate_run(tmp_path / "run", synthetic, device="cpu")
    assert seen[0] == stats and seen[-1] == CIFAR10_STATS
    config["normalisation"] = {"mean": [0, 0, 0], "std": [1, 0, 1]}
    (tmp_path / "run" / "checkpoint" / "config.json").write_text(json.dumps(config))
    with pytest.raises(TRMError, match=r"config.json: field 'normalisation'"):
        evaluate_run(tmp_path / "run", synthetic, device="cpu")


@pytest.mark.parametrize(
    "change, fragment",
    [
        (dict(train_overrides={**STEPS, "steps": 8, "lr": 1e-3}), "`resume` cannot change lr"),
        (
            dict(train_overrides={**STEPS, "steps": 8}, recipe={"smoothing": 0.2}),
            "cannot change smoothing",
        ),
        (
            dict(train_overrides={**STEPS, "steps": 8}, recipe={"randaugment": (2, 9)}),
            "cannot change randaugment",
        ),
        (dict(train_overrides={**STEPS, "steps": 8}, recipe={"mixup": 0.2}), "cannot change mixup"),
        (dict(train_overrides={**STEPS, "steps": 8}, warmup_epochs=3), "cannot change warmup"),
        (dict(train_overrides={**STEPS, "steps": 8}, min_lr=1e-5), "cannot change min_lr_ratio"),
        (dict(train_overrides={**STEPS, "steps": 8, "beta2": 0.999}), "cannot change beta2"),
        (
            dict(train_overrides={**STEPS, "steps": 8}, model_overrides={"hidden_size": 64}),
            "drop `hidden_size`",
        ),
    ],
)
def test_resume_refuses_a_changed_setting(synthetic, tmp_path, change, fragment):
    train(synthetic, tmp_path / "run", 2, recipe={"smoothing": 0.1})
    before = (tmp_path / "run" / "checkpoint" / "config.json").read_text()
    with pytest.raises(TRMError, match=fragment):
        train_images(
            synthetic,
            tmp_path / "run",
            variant="vitrm",
            resume=True,
            device="cpu",
            precision="fp32",
            progress=False,
            **change,
        )
    assert (tmp_path / "run" / "checkpoint" / "config.json").read_text() == before
    # the same settings, or none at all, and a longer run are fine; the saved ones are kept
    summary = train_images(
        synthetic,
        tmp_path / "run",
        variant="vitrm",
        resume=True,
        device="cpu",
        precision="fp32",
        progress=False,
        recipe={"smoothing": 0.1},
        train_overrides={**STEPS, "steps": 3},
    )
    assert summary["step"] == 3
    assert load_checkpoint(tmp_path / "run").config["recipe"]["smoothing"] == 0.1


def test_mixing_reaches_the_loss_as_soft_targets_kept_per_slot(synthetic, tmp_path):
    """With mixup/CutMix the slots hold soft targets (rows of class weights), and the loss
    is the cross-entropy against them."""
    import vision.training
    from trm.train import Trainer

    seen = []
    real = vision.training.image_loss
    vision.training.image_loss = lambda out, labels, **kw: (
        seen.append(labels.clone()) or real(out, labels, **kw)
    )
    try:
        train(synthetic, tmp_path / "run", 3, recipe={"mixup": 0.4, "cutmix": 1.0})
    finally:
        vision.training.image_loss = real
    assert all(t.shape == (16, 10) and t.dtype == torch.float32 for t in seen)
    assert all(torch.allclose(t.sum(-1), torch.ones(16)) for t in seen)
    assert any(((t > 0) & (t < 1)).any() for t in seen)  # some targets really are mixed
    saved = load_checkpoint(tmp_path / "run", train_state=True)
    assert saved.train_tensors["slots.labels"].shape == (16, 10)
    assert saved.config["recipe"]["mixup"] == 0.4 and saved.config["recipe"]["cutmix"] == 1.0
    # the loss against a soft target is the weighted sum of the per-class losses
    logits = torch.randn(4, 10)
    target = torch.zeros(4, 10)
    target[:, 1], target[:, 7] = 0.3, 0.7
    out = type(
        "Out",
        (),
        {"logits": logits, "halt_logit": torch.zeros(4), "aux_loss": None, "aux_logits": None},
    )
    loss = real(out, target, halting=False).answer_loss
    expected = 0.3 * torch.nn.functional.cross_entropy(
        logits, torch.full((4,), 1)
    ) + 0.7 * torch.nn.functional.cross_entropy(logits, torch.full((4,), 7))
    assert torch.allclose(loss, expected, atol=1e-6)
    assert Trainer  # (the loop's slots are what resumes: see the next test)


@pytest.mark.parametrize("layout", ["vitrm", "trm"])
def test_resume_with_mixing_matches_an_uninterrupted_run(synthetic, tmp_path, layout):
    model = dict(layout=layout, n_sup=3) if layout == "trm" else None
    mix = {"mixup": 0.2, "cutmix": 1.0, "randaugment": (2, 9), "smoothing": 0.1}
    train(synthetic, tmp_path / "straight", 6, model=model, recipe=mix)
    train(synthetic, tmp_path / "split", 3, model=model, recipe=mix)
    train(synthetic, tmp_path / "split", 6, resume=True)
    a = load_checkpoint(tmp_path / "straight", train_state=True).train_tensors
    b = load_checkpoint(tmp_path / "split", train_state=True).train_tensors
    for key in a:
        if key.startswith(("model.", "slots.")):
            assert torch.equal(a[key], b[key]), key


def test_epochs_count_passes_over_the_training_images(synthetic, tmp_path):
    """256 training images, batch 16: 2 epochs are 512 images drawn; with one step per
    image that is 32 steps, with up to 3 steps per image (and halting) more steps, the
    same number of images; warmup epochs and the floor LR become the loop's settings."""
    one = train_images(
        synthetic,
        tmp_path / "one",
        variant="vitrm",
        model_overrides=TINY,
        train_overrides={**STEPS},
        epochs=2,
        warmup_epochs=0.5,
        min_lr=3e-6,
        device="cpu",
        precision="fp32",
        progress=False,
    )
    assert one["images"] == 512 and one["step"] == 32
    cfg = load_checkpoint(tmp_path / "one").config["train"]
    assert (cfg["images"], cfg["steps"], cfg["warmup"]) == (512, 32, 8)
    assert cfg["min_lr_ratio"] == pytest.approx(3e-6 / cfg["lr"]) and cfg["lr"] == 2e-3
    deep = train_images(
        synthetic,
        tmp_path / "deep",
        variant="vitrm",
        model_overrides={**TINY, "layout": "trm", "n_sup": 3},
        train_overrides={**STEPS},
        epochs=2,
        device="cpu",
        precision="fp32",
        progress=False,
    )
    assert 512 <= deep["images"] < 512 + 16 and deep["step"] > 32


@pytest.mark.parametrize(
    "kw, fragment",
    [
        (dict(recipe={"mixup": -1}), "`mixup`"),
        (dict(recipe={"mix_prob": 1.5}), "`mix_prob` is a probability"),
        (dict(recipe={"switch_prob": -0.1}), "`switch_prob` is a probability"),
        (dict(epochs=0), "`epochs` must be a positive"),
        (dict(warmup_epochs=-1), "`warmup_epochs` must be between"),
        (dict(min_lr=1.0), "`min_lr` 1 is above the learning rate"),
        (dict(model_overrides={**TINY, "layout": "paper"}), "`layout` must be one of vitrm, trm"),
        (dict(model_overrides={**TINY, "dropout": 1.0}), "`dropout` must be in"),
    ],
)
def test_bad_recipe_values_are_refused_in_one_line(synthetic, tmp_path, kw, fragment):
    with pytest.raises(TRMError, match=fragment):
        train_images(
            synthetic,
            tmp_path / "run",
            variant="vitrm",
            **{"model_overrides": TINY, **kw},
            train_overrides={**STEPS, "steps": 2},
            device="cpu",
            precision="fp32",
            progress=False,
        )


def test_the_cifar_preset_brings_the_papers_recipe():
    from vision.recipes import PAPER_RECIPE, preset_defaults

    train, recipe, schedule = preset_defaults("cifar")
    assert (
        train["lr"],
        train["weight_decay"],
        train["beta1"],
        train["beta2"],
        train["ema"],
        train["optimizer"],
        train["batch_size"],
    ) == (3e-4, 0.05, 0.9, 0.999, 0.999, "adamw", 256)
    assert recipe == PAPER_RECIPE and (recipe.mixup, recipe.cutmix, recipe.randaugment) == (
        0.2,
        1.0,
        (2, 9),
    )
    assert schedule == {"epochs": 1000, "warmup_epochs": 30, "min_lr": 1e-6}
    assert preset_defaults("small")[1].mixing is False


def test_the_loops_augmenter_is_seeded_and_only_moves_pixels():
    images = np.random.default_rng(0).integers(0, 256, size=(6, 3, 32, 32), dtype=np.uint8)
    run = image_augmenter()
    out, labels, _ids = run(images, np.arange(6), np.zeros(6, np.int32), np.random.default_rng(1))
    again, _, _ = run(images, np.arange(6), np.zeros(6, np.int32), np.random.default_rng(1))
    assert out.shape == images.shape and out.dtype == np.uint8 and np.array_equal(out, again)
    assert np.array_equal(labels, np.arange(6))
    for i in range(6):  # crop (reflect padding) and flip: every pixel comes from the same image
        assert set(np.unique(out[i])) <= set(np.unique(images[i]))


def test_info_lists_each_variant_with_parameters_and_flops():
    rows = describe_variants()
    assert {r["variant"] for r in rows} == {"vit", "vitrm", "bvit", "sr-vit", "mor-vit"}
    for r in rows:
        assert r["params"] > 0 and r["flops"] > 0


def test_cli_train_eval_and_bad_input(synthetic, tmp_path):
    from tests.helpers import assert_one_line_error, run_trm

    run = tmp_path / "run"
    common = ["--hidden-size", "32", "--heads", "2", "--batch-size", "16", "--device", "cpu", "-q"]
    r = run_trm(
        *cmd("vision train --data", synthetic, "--variant vitrm --out", run, "--steps 3", common)
    )
    assert r.returncode == 0 and r.stdout == "" and "top-1" in r.stderr, r.stderr
    r = run_trm(*cmd("vision eval", run, "--data", synthetic, "--json --halting adaptive"))
    out = json.loads(r.stdout)
    assert set(out) >= {"top1", "top5", "n", "params", "variant", "mean_steps", "images_per_s"}
    assert_one_line_error(
        run_trm(
            *cmd("vision train --data", synthetic, "--variant vitt --out", tmp_path / "x", common)
        ),
        "--variant",
        "'vitt' is not one of",
    )
    assert_one_line_error(
        run_trm(
            *cmd(
                "vision train --data",
                synthetic,
                "--variant vitrm --out",
                tmp_path / "x",
                "--preset huge",
                common,
            )
        ),
        "'huge' is not one of 'cifar', 'small'",
    )
    assert_one_line_error(
        run_trm(
            *cmd("vision train --data", tmp_path, "--variant vit --out", tmp_path / "x", common)
        ),
        str(tmp_path),
    )
    assert not (tmp_path / "x").exists()


def test_cli_train_refuses_a_crafted_pickle_and_runs_nothing(synthetic, tmp_path):
    import os
    import pickle
    import shutil

    from tests.helpers import assert_one_line_error, run_trm

    data = tmp_path / "data"
    shutil.copytree(synthetic, data)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (data / "data_batch_1").write_bytes(pickle.dumps({b"data": Payload()}, protocol=2))
    r = run_trm(
        *cmd(
            "vision train --data",
            data,
            "--variant vit --out",
            tmp_path / "run",
            "--steps 1 --device cpu -q",
        )
    )
    assert_one_line_error(r, "data_batch_1", "refused")
    assert not marker.exists() and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--layout", "paper"], "'paper' is not one of 'vitrm', 'trm'"),
        (["--variant", "resnet"], "'resnet' is not one of"),
        (["--mixup", "-0.5"], "--mixup"),
        (["--cutmix", "nan"], "--cutmix"),
        (["--mix-prob", "1.5"], "--mix-prob is a probability"),
        (["--switch-prob", "-1"], "--switch-prob is a probability"),
        (["--dropout", "1"], "--dropout must be in [0, 1)"),
        (["--drop-path", "-0.1"], "--drop-path must be in [0, 1)"),
        (["--betas", "0.9"], "--betas wants B1,B2"),
        (["--betas", "0.9,1.5"], "betas must be in [0, 1), got 0.9, 1.5"),
        (["--randaugment", "2.5,9"], "whole number of operations"),
        (["--warmup-epochs", "-1"], "--warmup-epochs"),
        (["--min-lr", "1"], "--min-lr 1 is above the learning rate"),
        (["--epochs", "0"], "--epochs must be a positive"),
        (["--variant", "vit", "--depth", "0"], "depth must be at least 1"),
        (["--variant", "vit", "--layout", "trm"], "vit has no --layout option"),
        (["--variant", "sr-vit", "--mixer", "attention"], "'attention' is not one of"),
        (["--variant", "bvit", "--shared-router"], "bvit has no --router-per-step"),
    ],
)
def test_cli_train_bad_recipe_and_model_options_exit_2_in_one_line(
    synthetic, tmp_path, args, fragment
):
    from tests.helpers import assert_one_line_error, run_trm_here

    # (an option given twice takes its last value: --variant below replaces vitrm)
    r = run_trm_here(
        *cmd(
            "vision train --data",
            synthetic,
            "--out",
            tmp_path / "run",
            "--steps 1 -q --variant vitrm",
            args,
        )
    )
    assert_one_line_error(r, fragment)
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_cli_train_with_the_recipe_options(synthetic, tmp_path):
    from tests.helpers import run_trm_here

    r = run_trm_here(
        *cmd(
            "vision train --data",
            synthetic,
            "--variant vitrm --out",
            tmp_path / "run",
            "--hidden-size 32 --heads 2 --epochs 0.25 --warmup-epochs 0.1 --min-lr 1e-5 --betas 0.9,0.999 --weight-decay 0.1 --mixup 0.2 --cutmix 1.0 --mix-prob 0.8 --dropout 0.1 --drop-path 0.1 --randaugment 2,9 --crop 2 --no-flip --batch-size 16 -q",
        )
    )
    assert r.returncode == 0, r.stderr
    config = load_checkpoint(tmp_path / "run").config
    assert config["recipe"] == {
        "smoothing": 0.0,
        "crop": 2,
        "flip": False,
        "randaugment": [2, 9],
        "mixup": 0.2,
        "cutmix": 1.0,
        "mix_prob": 0.8,
        "switch_prob": 0.5,
    }
    t, m = config["train"], config["model"]
    assert (t["images"], t["steps"], t["warmup"], t["beta2"], t["weight_decay"]) == (
        64,
        4,
        2,
        0.999,
        0.1,
    )
    assert (m["layout"], m["dropout"], m["drop_path"]) == ("vitrm", 0.1, 0.1)


def test_resume_lengthens_a_run_in_the_unit_it_counts(synthetic, tmp_path):
    kw = dict(variant="vitrm", device="cpu", precision="fp32", progress=False)
    train_images(
        synthetic,
        tmp_path / "epochs",
        model_overrides=TINY,
        train_overrides=STEPS,
        epochs=0.25,
        **kw,
    )
    with pytest.raises(TRMError, match="lengthen it with `epochs`"):
        train_images(
            synthetic, tmp_path / "epochs", resume=True, train_overrides={"steps": 10}, **kw
        )
    longer = train_images(synthetic, tmp_path / "epochs", resume=True, epochs=0.5, **kw)
    assert longer["images"] == 128 and longer["step"] == 8
    train(synthetic, tmp_path / "steps", 2)
    with pytest.raises(TRMError, match="lengthen it with `steps`"):
        train_images(synthetic, tmp_path / "steps", resume=True, epochs=1, **kw)


def test_block_is_an_option_of_the_vit_family_only(synthetic, tmp_path):
    from cli.vision import block_overrides
    from tests.helpers import assert_one_line_error, run_trm

    assert block_overrides(["vit", "vitrm", "mor-vit"], "trm") == {
        "vit": {"block": "trm"},
        "mor-vit": {"block": "trm"},
    }
    assert block_overrides(["vit"], None) is None
    assert block_overrides(["vitrm", "sr-vit"], None, "fan-in") == {"sr-vit": {"init": "fan-in"}}
    run = tmp_path / "x"
    assert_one_line_error(
        run_trm(*cmd("vision train --data", synthetic, "--variant vitrm --block trm --out", run)),
        "vitrm has no --block option",
    )
    assert_one_line_error(
        run_trm(*cmd("vision train --data", synthetic, "--variant vitrm --init fan-in --out", run)),
        "vitrm has no --init option",
    )
    assert not run.exists()


def test_a_presets_warmup_yields_to_a_short_budget_but_one_asked_for_is_kept(synthetic, tmp_path):
    from vision.recipes import preset_settings

    assert preset_settings("small")["warmup_share"] == 0.1
    assert preset_settings("cifar")["warmup_share"] == 0.0  # its warm-up is in epochs
    train(synthetic, tmp_path / "a", 2)
    train(synthetic, tmp_path / "b", 2, warmup_epochs=0.5)
    shares = [load_checkpoint(tmp_path / r).config["train"]["warmup_share"] for r in "ab"]
    assert shares == [0.1, 0.0]


def test_crop_and_flip_are_recipe_options_and_old_recipes_keep_both():
    from vision.recipes import Recipe

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8)
    labels = np.arange(6)
    plain = image_augmenter(Recipe(crop=0, flip=False))
    out, same, _ = plain(images, labels, labels, np.random.default_rng(1))
    assert np.array_equal(out, images) and np.array_equal(same, labels)  # nothing done
    flipped = image_augmenter(Recipe(crop=0))(images, labels, labels, np.random.default_rng(1))[0]
    moved = [not np.array_equal(a, b) for a, b in zip(flipped, images)]
    assert any(moved) and all(
        np.array_equal(a, b[..., ::-1]) for a, b, m in zip(flipped, images, moved) if m
    )
    old = Recipe.from_run({"recipe": {"smoothing": 0.1, "randaugment": None}})
    assert (old.crop, old.flip) == (4, True)
    with pytest.raises(TRMError, match="crop"):
        Recipe(crop=17).check()


def _templates(mirror_pairs: bool, n: int = 400, seed: int = 0):
    """Noisy copies of 4 random templates; with ``mirror_pairs`` each image is mirrored
    or not at random (a photo set: a class looks both ways), else never (digits)."""
    rng = np.random.default_rng(seed)
    templates = rng.integers(0, 256, (4, 3, 32, 32)).astype(np.float64)
    labels = rng.integers(0, 4, n)
    images = templates[labels] + rng.normal(0, 60, (n, 3, 32, 32))
    if mirror_pairs:
        turn = rng.random(n) < 0.5
        images[turn] = images[turn][..., ::-1]
    return np.clip(images, 0, 255).astype(np.uint8), labels


def test_flip_auto_is_off_where_a_mirror_image_is_another_picture_and_on_where_not():
    from vision.recipes import flip_keeps_classes

    keep, plain, mirrored = flip_keeps_classes(*_templates(mirror_pairs=False))
    assert not keep and plain > 0.95 and mirrored < plain - 0.05
    keep, plain, mirrored = flip_keeps_classes(*_templates(mirror_pairs=True))
    assert keep and abs(plain - mirrored) <= 0.05


def test_the_small_preset_decides_flips_from_the_data_and_an_option_overrides(tmp_path):
    from vision.cifar import ImageData, ImageSplit, write_cifar10_python

    images, labels = _templates(mirror_pairs=False, n=120)
    split = lambda s: ImageSplit(images[s], labels[s])
    data = ImageData(
        "cifar10", [str(c) for c in range(10)], split(slice(96)), split(slice(96, 120))
    )
    (tmp_path / "digits-like").mkdir()
    write_cifar10_python(tmp_path / "digits-like", data)
    heard = []
    train(tmp_path / "digits-like", tmp_path / "auto", 1, log=heard.append)
    train(tmp_path / "digits-like", tmp_path / "asked", 1, recipe={"flip": True})
    flips = [load_checkpoint(tmp_path / r).config["recipe"]["flip"] for r in ("auto", "asked")]
    assert flips == [False, True]
    assert any(m.startswith("flips off (auto)") for m in heard)
    from vision.recipes import preset_settings

    assert preset_settings("small")["flip"] is None and preset_settings("cifar")["flip"] is True


def test_a_variant_with_its_own_rate_starts_from_it_and_an_option_overrides(synthetic, tmp_path):
    """bvit, sr-vit and mor-vit small train at 5e-4 (their shared block runs R times), the
    others at the preset's 2e-3; --lr wins over both; --help shows the exceptions."""
    from cli.vision import _train_default
    from vision.recipes import VARIANT_TRAIN, preset_settings

    for recursed in ("bvit", "sr-vit", "mor-vit"):
        assert VARIANT_TRAIN["small"][recursed]["lr"] == 5e-4
        assert preset_settings("small", recursed)["lr"] == 5e-4
        assert preset_settings("cifar", recursed)["lr"] == 3e-4  # the papers' recipe: one rate
    for plain in ("vit", "vitrm"):
        assert preset_settings("small", plain)["lr"] == preset_settings("small")["lr"] == 2e-3
    assert "small 0.002 (bvit, sr-vit, mor-vit 0.0005)" in _train_default("lr")
    sr = dict(num_layers=1, recursions=2)
    train(synthetic, tmp_path / "sr", 1, variant="sr-vit", model=sr)
    train(synthetic, tmp_path / "vit", 1, variant="vit", model=dict(depth=1))
    train_images(
        synthetic,
        tmp_path / "asked",
        variant="sr-vit",
        preset="small",
        model_overrides={**TINY, **sr},
        train_overrides={**STEPS, "steps": 1, "lr": 1e-3},
        device="cpu",
        precision="fp32",
        progress=False,
    )
    rates = [load_checkpoint(tmp_path / r).config["train"]["lr"] for r in ("sr", "vit", "asked")]
    assert rates == [5e-4, 2e-3, 1e-3]
