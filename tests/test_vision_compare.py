"""`trm vision compare`: variants trained at an equal budget, resumable, measured side by side."""

from __future__ import annotations

import json

import pytest

from tests.helpers import cmd, run_trm, trm_ok
from trm.checkpoint import load_checkpoint
from trm.errors import TRMError
from trm.model import parameter_count
from vision.compare import compare, parse_variants
from vision.models import build_model
from vision.training import flops_per_image, train_images

TINY = {
    "vit": dict(hidden_size=16, num_heads=2, depth=2),
    "vitrm": dict(hidden_size=16, num_heads=2, num_layers=1, n=1, T=1, n_sup=2, layout="trm"),
    "bvit": dict(hidden_size=16, num_heads=2, recursions=2),
}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from vision.synthetic import write_synthetic

    root = tmp_path_factory.mktemp("syn") / "syn"
    write_synthetic(root, train=128, test=48, classes=4, seed=0, progress=False)
    return root


def run(data, out, minutes=0.03, variants=("vit", "vitrm"), messages=None, **kw):
    budget = kw if kw else {"budget": "time", "minutes": minutes}
    return compare(
        data,
        out,
        list(variants),
        batch_size=8,
        device="cpu",
        precision=kw.pop("precision", "fp32"),
        model_overrides=TINY,
        progress=False,
        log=(messages.append if messages is not None else lambda m: None),
        **budget,
    )


def test_parse_variants_refuses_unknown_empty_and_repeated_names():
    assert parse_variants("vit, vitrm") == ["vit", "vitrm"]
    for bad, word in (
        ("vit,resnet", "resnet"),
        ("", "empty"),
        (" , ", "empty"),
        ("vit,vit", "twice"),
    ):
        with pytest.raises(TRMError, match=word):
            parse_variants(bad)


def test_flops_grow_with_recursion_steps_and_width():
    small = flops_per_image(build_model("vitrm", "small", n_sup=1))
    assert flops_per_image(build_model("vitrm", "small", n_sup=3)) > 2.9 * small
    assert flops_per_image(build_model("vit", "small", hidden_size=256)) > flops_per_image(
        build_model("vit", "small")
    )


def test_compare_trains_each_variant_and_writes_a_well_formed_compare_json(synthetic, tmp_path):
    result = run(synthetic, tmp_path / "cmp")
    saved = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved["data"] == {
        "path": str(synthetic),
        "name": "synthetic",
        "classes": 4,
        "train": 128,
        "test": 48,
    }
    rows = {r["variant"]: r for r in saved["variants"]}
    assert list(rows) == ["vit", "vitrm"]
    for v, r in rows.items():
        assert (tmp_path / "cmp" / v / "checkpoint").is_dir()
        assert r["params"] == parameter_count(build_model(v, "small", num_classes=4, **TINY[v]))
        assert r["flops"] > 0 and r["n"] == 48 and 0 <= r["top1"] <= r["top5"] <= 1
        assert r["train_steps"] >= 1 and r["train_images_per_s"] > 0 and r["eval_images_per_s"] > 0
        assert 0 < r["train_minutes"] <= 0.03 + 0.02  # the budget is a hard stop
    assert "adaptive" not in rows["vit"] and rows["vit"]["mean_steps"] == 1
    from tests.helpers import png_size

    assert sorted(saved["plots"]) == sorted(
        str(tmp_path / "cmp" / f)
        for f in ("top1_vs_images.png", "top1_vs_flops.png", "top1_vs_params.png")
    )
    for path in saved["plots"]:
        h, w = png_size(tmp_path / "cmp" / path.rsplit("/", 1)[-1])
        assert h > 200 and w > 300
    a = rows["vitrm"]["adaptive"]
    assert rows["vitrm"]["mean_steps"] == 2 and 1 <= a["mean_steps"] <= 2


def test_compare_resumes_an_unfinished_variant_and_keeps_finished_ones(
    synthetic, tmp_path, monkeypatch
):
    from trm.train import Trainer

    out = tmp_path / "cmp"
    # an interrupted compare: vit finished, vitrm stopped (Ctrl-C) part-way through
    run(synthetic, out, variants=("vit",))
    real_step = Trainer.train_step

    def stop_at_the_third(self):
        if self.state.step == 3:
            raise KeyboardInterrupt
        return real_step(self)

    monkeypatch.setattr(Trainer, "train_step", stop_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        train_images(
            synthetic,
            out / "vitrm",
            variant="vitrm",
            model_overrides=TINY["vitrm"],
            train_overrides=dict(steps=10**5, batch_size=8),
            device="cpu",
            precision="fp32",
            progress=False,
        )
    monkeypatch.undo()
    vit_before = (out / "vit" / "result.json").read_text()
    messages: list[str] = []
    result = run(synthetic, out, messages=messages)
    assert any(m.startswith("vit: done before") for m in messages)
    assert any(m.startswith("vitrm: resuming") for m in messages)
    assert (out / "vit" / "result.json").read_text() == vit_before
    assert [r["variant"] for r in result["variants"]] == ["vit", "vitrm"]
    # everything finished: a third call trains nothing and gives the same table
    messages.clear()
    again = run(synthetic, out, messages=messages)
    assert all("done before" in m for m in messages) and again == result


def test_cli_compare_prints_the_table_and_refuses_bad_options(synthetic, tmp_path):
    r = trm_ok(
        "vision compare --data",
        synthetic,
        "--variants vit --budget time --max-minutes 0.02 --out",
        tmp_path / "cmp",
        "--batch-size 4 --device cpu -q",
    )
    assert (
        "vit" in r.stdout and "top-1" in r.stdout and (tmp_path / "cmp" / "compare.json").is_file()
    )
    r = run_trm(
        *cmd(
            "vision compare --data",
            synthetic,
            "--variants vit --json --budget time --max-minutes 0.02 --out",
            tmp_path / "cmp",
            "-q",
        )
    )
    assert r.returncode == 0 and json.loads(r.stdout)["variants"][0]["variant"] == "vit"
    for args, word in (
        (["--variants", "vit,cnn"], "cnn"),
        (["--max-minutes", "0"], "max-minutes"),
        (["--preset", "huge"], "preset"),
        (["--budget", "money"], "--budget"),
        (["--budget", "epochs"], "--max-minutes is the time budget's"),
        (["--budget", "time", "--max-minutes", None], "needs --max-minutes"),
    ):
        opts = {
            "--variants": "vit",
            "--budget": "time",
            "--max-minutes": "0.02",
            **dict(zip(args[::2], args[1::2])),
        }
        opts = {k: v for k, v in opts.items() if v is not None}
        r = run_trm(
            "vision",
            "compare",
            "--data",
            str(synthetic),
            "--out",
            str(tmp_path / "x"),
            *[t for kv in opts.items() for t in kv],
        )
        assert r.returncode == 2 and word in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_equal_epochs_give_every_variant_the_same_images(synthetic, tmp_path):
    """Budget epochs: 2 passes over 128 images = 256 images seen by each variant, however
    many supervision steps each image takes (vitrm here halts within 2)."""
    result = run(synthetic, tmp_path / "cmp", budget="epochs", epochs=2.0)
    rows = {r["variant"]: r for r in result["variants"]}
    for r in rows.values():
        assert 256 <= r["images"] < 256 + 8 and r["epochs"] == r["images"] / 128
        assert r["train_flops"] == 3 * r["flops"] * r["images"]
        assert r["top1_at_equal_images"] is not None
    assert rows["vit"]["train_steps"] == 32 and rows["vitrm"]["train_steps"] >= 32
    assert result["budget"] == "epochs" and result["equal_images"] == min(
        r["images"] for r in rows.values()
    )


def test_equal_flops_give_cheaper_variants_more_images(synthetic, tmp_path):
    result = run(synthetic, tmp_path / "cmp", variants=("vit", "bvit"), budget="flops", epochs=2.0)
    vit, bvit = result["variants"]
    per_image = {r["variant"]: r["train_flops"] / r["images"] for r in (vit, bvit)}
    budget = per_image["vit"] * 2 * 128
    for r in (vit, bvit):  # within a batch of the budget
        assert abs(r["train_flops"] - budget) <= 8 * per_image[r["variant"]]
    assert (vit["images"] > bvit["images"]) == (per_image["vit"] < per_image["bvit"])


def _one_vit_epoch(synthetic, tmp_path) -> tuple[dict, list[str]]:
    """`compare` of vit alone for one epoch at --precision auto: its result and messages."""
    messages: list[str] = []
    result = run(
        synthetic,
        tmp_path / "cmp",
        variants=("vit",),
        budget="epochs",
        epochs=1.0,
        precision="auto",
        messages=messages,
    )
    return result, messages


def test_auto_precision_takes_fp32_at_once_on_a_cpu_without_fast_bf16(
    synthetic, tmp_path, monkeypatch
):
    """No probe where bf16 is emulated (AVX2): the flags decide, and the run says so."""
    import vision.compare as cmp

    def probe(model, **kw):
        raise AssertionError("no probe on a CPU without fast bf16")

    import trm.device

    # both readers of the flags (this test also runs on CPUs that have fast bf16)
    monkeypatch.setattr(cmp, "cpu_has_fast_bf16", lambda: False)
    monkeypatch.setattr(trm.device, "cpu_has_fast_bf16", lambda: False)
    monkeypatch.setattr(cmp, "probe_steps_per_s", probe)
    model = build_model("vit", "small", **TINY["vit"])
    cpu = __import__("torch").device("cpu")
    assert cmp.fastest_precision(model, batch_size=4, device=cpu, precision="auto") == ("fp32", {})
    result, messages = _one_vit_epoch(synthetic, tmp_path)
    assert result["variants"][0]["precision"] == "fp32"
    assert any("precision fp32 (auto: no fast bf16 on this CPU, no probe)" in m for m in messages)
    # the evaluations on the way read one fixed sample of the test images, not all of them
    from trm.checkpoint import load_checkpoint

    assert load_checkpoint(tmp_path / "cmp" / "vit").config["train"]["eval_max"] == cmp.CURVE_SAMPLE


def test_auto_precision_is_the_faster_in_a_timed_probe(synthetic, tmp_path, monkeypatch):
    """On a CPU with fast bf16 a model may still train faster in fp32: a probe decides."""
    import vision.compare as cmp

    rates = {"fp32": 3.0, "bf16": 5.0}
    monkeypatch.setattr(cmp, "cpu_has_fast_bf16", lambda: True)
    monkeypatch.setattr(cmp, "probe_steps_per_s", lambda model, **kw: rates[kw["precision"]])
    model = build_model("vit", "small", **TINY["vit"])
    cpu = __import__("torch").device("cpu")
    assert cmp.fastest_precision(model, batch_size=4, device=cpu, precision="auto") == (
        "bf16",
        rates,
    )
    rates["fp32"] = 9.0
    assert cmp.fastest_precision(model, batch_size=4, device=cpu, precision="auto")[0] == "fp32"
    assert cmp.fastest_precision(model, batch_size=4, device=cpu, precision="fp32") == ("fp32", {})
    result, messages = _one_vit_epoch(synthetic, tmp_path)
    assert result["variants"][0]["precision"] == "fp32"
    assert any("bf16 5.00 steps/s in a probe -> fp32" in m for m in messages)


def test_top1_at_equal_images_reads_each_runs_evaluations_within_the_common_count(tmp_path):
    from vision.compare import top1_at_equal_images

    rows = []
    for name, curve in (
        ("a", [(100, 0.2), (200, 0.4), (300, 0.5)]),
        ("b", [(150, 0.3), (250, 0.6)]),
    ):
        run = tmp_path / name
        run.mkdir()
        (run / "metrics.jsonl").write_text(
            "".join(
                json.dumps({"step": i + 1, "images": im, "eval": {"top1": t}}) + "\n"
                for i, (im, t) in enumerate(curve)
            )
        )
        rows.append({"run": str(run), "images": curve[-1][0]})
    assert top1_at_equal_images(rows) == (250, [0.4, 0.6])


def test_the_table_fits_80_columns_with_the_telling_columns_and_says_what_it_left_out():
    """At 80 columns the table read `│ vit │ 1,5… │ 206… │` (it needs about 165)."""
    import io

    from rich.console import Console

    from vision.compare import COMPARE_FILE, result_table

    variants = [
        {
            "variant": name,
            "params": 1_534_218 + i,
            "flops": 206.4e6,
            "precision": "fp32",
            "epochs": 20.0,
            "top1": 0.4321 + i / 100,
            "top1_at_equal_images": 0.41,
            "top5": 0.9,
            "train_images_per_s": 1234.0,
            "eval_images_per_s": 5678.0,
            "adaptive": {"top1": 0.43, "mean_steps": 3.2, "eval_images_per_s": 6000.0},
        }
        for i, name in enumerate(["vit", "vitrm", "bvit", "sr-vit", "mor-vit"])
    ]
    result = {
        "data": {"name": "shapes", "classes": 10, "train": 4000, "test": 1000},
        "budget": "epochs",
        "epochs": 20,
        "equal_epochs": 20.0,
        "variants": variants,
    }

    def shown(width):
        console = Console(width=width, file=io.StringIO(), color_system=None)
        console.print(result_table(result, width=width))
        return console.file.getvalue()

    narrow, wide = shown(80), shown(250)
    assert "…" not in narrow and max(len(line) for line in narrow.splitlines()) <= 80
    for v in variants:  # the name, top-1 and parameters of each, whole
        for text in (v["variant"], f"{v['top1']:.3f}", f"{v['params']:,}"):
            assert text in narrow
    assert "left out at 80 columns" in narrow and COMPARE_FILE in narrow
    assert "left out" not in wide and "adaptive" in wide and "…" not in wide


def test_equal_epochs_warm_up_as_the_preset_does_within_a_tenth_of_the_run(
    synthetic, tmp_path, monkeypatch
):
    """A compare row is the run `trm vision train --epochs` would make: the preset's
    warm-up (200 steps for `small`, 30 epochs for `cifar`), cut to a tenth of a short run."""
    from vision.compare import compare_warmup_epochs
    from vision.recipes import TRAIN_DEFAULTS

    kw = dict(n_train=4000, batch_size=32)
    assert compare_warmup_epochs("small", "vit", epochs=20, **kw) == 200 * 32 / 4000
    assert compare_warmup_epochs("small", "sr-vit", epochs=20, **kw) == 200 * 32 / 4000
    assert compare_warmup_epochs("small", "vit", epochs=2, **kw) == 0.2
    assert compare_warmup_epochs("cifar", "vit", epochs=20, **kw) == 2.0
    assert compare_warmup_epochs("cifar", "vit", epochs=1000, **kw) == 30

    # through a run: 2 epochs of 128 images at batch 8 = 32 steps; a 2-step warm-up fits
    monkeypatch.setitem(TRAIN_DEFAULTS, "warmup", 2)
    run(synthetic, tmp_path / "cmp", variants=("vit",), budget="epochs", epochs=2.0)
    assert load_checkpoint(tmp_path / "cmp" / "vit").config["train"]["warmup"] == 2
    # the preset's 200 steps do not: a tenth of the run, 3 steps
    monkeypatch.setitem(TRAIN_DEFAULTS, "warmup", 200)
    run(synthetic, tmp_path / "cmp10", variants=("vit",), budget="epochs", epochs=2.0)
    assert load_checkpoint(tmp_path / "cmp10" / "vit").config["train"]["warmup"] == 3
