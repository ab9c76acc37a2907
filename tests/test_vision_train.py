"""Vision training on trm's loop: runs, checkpoints, resumes to the same weights, evaluates."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from trm.checkpoint import load_checkpoint
from vision.training import describe_variants, evaluate_run, image_augmenter, train_images

TINY = dict(hidden_size=32, num_heads=2)
STEPS = dict(batch_size=16, eval_every=10**6, checkpoint_every=10**6, log_every=2, eval_max=64)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from vision.synthetic import write_synthetic

    root = tmp_path_factory.mktemp("syn") / "syn"
    write_synthetic(root, train=256, test=64, classes=10, seed=0, progress=False)
    return root


def train(data, out, steps, variant="vitrm", resume=False, **kw):
    return train_images(data, out, variant=variant, preset="small", model_overrides=TINY,
                        train_overrides={**STEPS, "steps": steps}, resume=resume,
                        device="cpu", precision="fp32", progress=False, **kw)


@pytest.mark.parametrize("variant", ["vit", "vitrm"])
def test_training_writes_a_checkpoint_and_metrics_and_evaluates(synthetic, tmp_path, variant):
    summary = train(synthetic, tmp_path / "run", 6, variant=variant)
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
    assert result["mean_steps"] <= full["mean_steps"] == (1 if variant == "vit" else 3)


def test_resume_matches_an_uninterrupted_run(synthetic, tmp_path):
    train(synthetic, tmp_path / "straight", 8)
    train(synthetic, tmp_path / "split", 4)
    train(synthetic, tmp_path / "split", 8, resume=True)
    a = load_checkpoint(tmp_path / "straight", train_state=True).train_tensors
    b = load_checkpoint(tmp_path / "split", train_state=True).train_tensors
    for key in a:
        if key.startswith(("model.", "slots.")):
            assert torch.equal(a[key], b[key]), key


def test_the_loops_augmenter_is_seeded_and_only_moves_pixels():
    images = np.random.default_rng(0).integers(0, 256, size=(6, 3, 32, 32), dtype=np.uint8)
    run = image_augmenter()
    out, labels, ids = run(images, np.arange(6), np.zeros(6, np.int32), np.random.default_rng(1))
    again, _, _ = run(images, np.arange(6), np.zeros(6, np.int32), np.random.default_rng(1))
    assert out.shape == images.shape and out.dtype == np.uint8 and np.array_equal(out, again)
    assert np.array_equal(labels, np.arange(6))
    for i in range(6):  # crop (reflect padding) and flip: every pixel comes from the same image
        assert set(np.unique(out[i])) <= set(np.unique(images[i]))


def test_info_lists_each_variant_with_parameters_and_flops():
    rows = describe_variants()
    assert {r["variant"] for r in rows} == {"vit", "vitrm"}
    for r in rows:
        assert r["params"] > 0 and r["flops"] > 0
