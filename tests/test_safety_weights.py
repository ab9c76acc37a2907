"""Nothing a user has is lost (issue 28): weights, numbers and JSON at the edges.

Weights are checked when loaded (names, shapes, dtypes, NaN and inf) and refused naming the
tensor; a damaged safetensors file is not called a pickle; a full disk while saving is one
line and leaves the old checkpoint; every ``--json`` is strict JSON; seeds and rates out of
range, and an official config with impossible values, are one line, exit status 2."""

from __future__ import annotations

import errno
import json
import math
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tests.helpers import REPO, assert_one_line_error, cmd, run_trm_here, trm_ok
from trm.errors import TRMError

CPU = ["--device", "cpu", "--precision", "fp32", "--quiet"]
PUZZLE = "1...\n....\n....\n...."
TENSOR = "net.blocks.0.mlp.down.weight"  # a weight of the tiny preset's model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 4x4 Sudoku dataset, a 3-step run on it, and a tiny synthetic image set."""
    from vision.synthetic import write_synthetic

    root = tmp_path_factory.mktemp("weights")
    data, run, images = root / "d", root / "r", root / "img"
    trm_ok("data sudoku --out", data, "--size 4 --train 16 --test 4 --workers 1 --quiet")
    trm_ok("train --data", data, "--out", run, "--preset tiny --steps 3", CPU)
    write_synthetic(images, train=32, test=8, classes=10, seed=0, progress=False)
    return data, run, images


def edited_run(run: Path, to: Path, edit) -> Path:
    """A copy of ``run`` whose evaluation weights went through ``edit(state)``."""
    shutil.copytree(run, to)
    path = to / "checkpoint" / "model.safetensors"
    state = _read(path)
    edit(state)
    save_file(state, path)
    return to


def _read(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, copied out of it (before the file is rewritten)."""
    return {k: v.clone() for k, v in load_file(path).items()}


def _set(name, make):
    return lambda s: s.__setitem__(name, make(s[name]))


def _poke(value):
    def make(t):
        t = t.clone()
        t.view(-1)[3] = value
        return t

    return make


# ------------------------------------------------------------------ weights checked on load


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (_set(TENSOR, _poke(float("nan"))), f"tensor '{TENSOR}' holds NaN"),
        (_set(TENSOR, _poke(float("-inf"))), f"tensor '{TENSOR}' holds inf"),
        (_set(TENSOR, lambda t: t > 0), f"tensor '{TENSOR}' has dtype bool, expected float32"),
        (_set(TENSOR, lambda t: t.to(torch.int32)), "has dtype int32, expected float32"),
        (_set(TENSOR, lambda t: t.to(torch.float8_e4m3fn)), "has dtype float8_e4m3fn"),
        (_set(TENSOR, lambda t: t.double() * 1e300), "holds values too large for float32"),
        (
            _set(TENSOR, lambda t: t[:, :-1].contiguous()),
            f"tensor '{TENSOR}' has shape (32, 87), the config makes (32, 88)",
        ),
        (lambda s: s.pop(TENSOR), f"tensor '{TENSOR}' missing"),
        (lambda s: s.__setitem__("net.blocks.7.w", torch.zeros(2)), "unexpected tensor"),
    ],
    ids=["nan", "inf", "bool", "int", "fp8", "f64-overflow", "shape", "missing", "unexpected"],
)
def test_bad_weights_are_refused_naming_the_file_and_the_tensor(tiny, tmp_path, edit, fragment):
    data, run, _ = tiny
    bad = edited_run(run, tmp_path / "bad", edit)
    weights = str(bad / "checkpoint" / "model.safetensors")
    for args in (
        cmd("eval", bad, "--data", data, "--device cpu"),
        cmd("solve sudoku", [PUZZLE], "-c", bad, "--device cpu --json"),
        cmd("train --data", data, "--out", tmp_path / "ft", "--init", bad, "--steps 2", CPU),
    ):
        assert_one_line_error(run_trm_here(*args), weights, fragment)
    assert not (tmp_path / "ft" / "checkpoint").exists()


def test_weights_stored_in_another_float_dtype_still_load(tiny, tmp_path):
    data, run, _ = tiny
    half = edited_run(run, tmp_path / "half", _set(TENSOR, lambda t: t.half()))
    trm_ok("eval", half, "--data", data, "--device cpu")


def test_check_state_dtypes_of_integer_and_bool_buffers():
    from trm.checkpoint import check_state

    expected = {"count": torch.zeros(3, dtype=torch.long), "mask": torch.zeros(2, dtype=bool)}
    check_state(
        {"count": torch.ones(3, dtype=torch.int32), "mask": torch.ones(2, dtype=bool)},
        expected,
        "f",
    )
    with pytest.raises(TRMError, match=r"^f: tensor 'count' has dtype float32, expected an int"):
        check_state({"count": torch.ones(3), "mask": torch.ones(2, dtype=bool)}, expected, "f")
    with pytest.raises(TRMError, match=r"tensor 'mask' has dtype uint8, expected bool"):
        check_state(
            {"count": torch.ones(3, dtype=torch.long), "mask": torch.ones(2, dtype=torch.uint8)},
            expected,
            "f",
        )


def official_copy(tmp_path: Path) -> Path:
    """A copy of the official test checkpoint (sudoku-mlp) to edit."""
    folder = tmp_path / "ckpt"
    shutil.copytree(REPO / "tests" / "data" / "official-trm" / "sudoku-mlp", folder)
    for p in folder.iterdir():
        p.chmod(0o644)
    return folder


def test_official_weights_in_fp8_are_refused(tmp_path):
    folder = official_copy(tmp_path)
    state = torch.load(folder / "step_100", weights_only=True)
    key = "_orig_mod.model.inner.lm_head.weight"
    state[key] = state[key].to(torch.float8_e4m3fn)
    torch.save(state, folder / "step_100")
    r = run_trm_here("import", "official", str(folder), "--out", str(tmp_path / "out"))
    assert_one_line_error(r, "step_100", "'head.weight' has dtype float8_e4m3fn")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------ pickle hints, only for pickles


def _safetensors_with_header_length(path: Path, length: int) -> None:
    """A damaged safetensors file (its data cut short) whose header is ``length`` bytes."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [100], "data_offsets": [0, 400]}})
    header = header.encode().ljust(length, b" ")
    path.write_bytes(struct.pack("<Q", length) + header + b"\0" * 12)


def test_a_damaged_safetensors_file_is_not_called_a_pickle(tiny, tmp_path):
    from trm.checkpoint import read_safetensors

    data, run, _ = tiny
    for length in (0x0280, 0x0380, 0x0580):  # its first bytes 0x80 0x02 .. 0x80 0x05
        path = tmp_path / f"{length}.safetensors"
        _safetensors_with_header_length(path, length)
        assert path.read_bytes()[:2] == bytes([0x80, length >> 8])
        with pytest.raises(TRMError, match="not a valid safetensors file") as e:
            read_safetensors(path)
        assert "pickle" not in str(e.value)
    damaged = tmp_path / "damaged"
    shutil.copytree(run, damaged)
    _safetensors_with_header_length(damaged / "checkpoint" / "model.safetensors", 0x0280)
    r = run_trm_here(*cmd("eval", damaged, "--data", data, "--device cpu"))
    assert_one_line_error(r, "model.safetensors: not a valid safetensors file")
    assert "pickle" not in r.stderr


@pytest.mark.parametrize("zipped", [True, False], ids=["torch-zip", "bare-pickle"])
def test_a_pickle_named_safetensors_is_still_called_a_pickle(tiny, tmp_path, zipped):
    data, run, _ = tiny
    planted = tmp_path / "planted"
    shutil.copytree(run, planted)
    path = planted / "checkpoint" / "model.safetensors"
    torch.save(_read(path), path, _use_new_zipfile_serialization=zipped)
    r = run_trm_here(*cmd("eval", planted, "--data", data, "--device cpu"))
    assert_one_line_error(r, "model.safetensors", "looks like a pickle")


# ------------------------------------------------------------------- a full disk while saving


@pytest.mark.parametrize(
    "error",
    [
        SafetensorError(
            "Error while serializing: I/O error: No space left on device (os error 28)"
        ),
        OSError(errno.ENOSPC, "No space left on device"),
    ],
    ids=["safetensors", "oserror"],
)
def test_a_full_disk_while_saving_is_one_line_and_keeps_the_old_checkpoint(
    tmp_path, monkeypatch, error
):
    import trm.checkpoint as ckpt

    folder = tmp_path / "run" / "checkpoint"
    ckpt.save_checkpoint(folder, model_state={"w": torch.ones(3)}, config={"step": 1})
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def full(*args, **kw):
        raise error

    monkeypatch.setattr(ckpt, "save_file", full)
    with pytest.raises(TRMError) as e:
        ckpt.save_checkpoint(folder, model_state={"w": torch.zeros(3)}, config={"step": 2})
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"{folder}: cannot write the checkpoint (")
    assert "No space left on device" in message
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in folder.parent.iterdir()) == ["checkpoint"]  # no temp left


def test_a_full_disk_during_training_is_one_line(tiny, tmp_path, monkeypatch):
    import trm.checkpoint as ckpt

    data, _, _ = tiny

    def full(*args, **kw):
        raise SafetensorError("Error while serializing: No space left on device (os error 28)")

    monkeypatch.setattr(ckpt, "save_file", full)
    r = run_trm_here(
        *cmd("train --data", data, "--out", tmp_path / "r", "--preset tiny --steps 2", CPU)
    )
    assert_one_line_error(r, "cannot write the checkpoint", "No space left on device")


# --------------------------------------------------------------------------- strict --json


def _strict(text: str):
    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_print_json_writes_strict_json(capsys):
    from cli.common import print_json

    print_json(
        {
            "nan": math.nan,
            "list": [math.inf, -math.inf, np.float32("nan"), torch.tensor(float("inf"))],
            "nested": {"tuple": (1.5, np.int64(3), np.float64(2.5), torch.tensor(4))},
            "fine": [0.25, 1, "x", None, True],
        }
    )
    assert _strict(capsys.readouterr().out) == {
        "nan": None,
        "list": [None, None, None, None],
        "nested": {"tuple": [1.5, 3, 2.5, 4]},
        "fine": [0.25, 1, "x", None, True],
    }


def test_solve_json_from_weights_that_overflow_is_strict(tiny, tmp_path):
    """Finite weights that overflow in the forward pass: the halting probability is NaN."""
    _, run, _ = tiny

    def huge(state):
        for k, v in state.items():
            state[k] = torch.full_like(v, 1e30)

    big = edited_run(run, tmp_path / "big", huge)
    r = run_trm_here("solve", "sudoku", PUZZLE, "-c", str(big), "--device", "cpu", "--json")
    assert r.returncode in (0, 1), r.stderr
    steps = _strict(r.stdout)["steps"]
    assert steps and all(s["halt_prob"] is None for s in steps)


# ---------------------------------------------------------------------- numbers at the edge


@pytest.mark.parametrize(
    "args, fragment",
    [
        (
            ["--seed", str(2**70)],
            "--seed must be from 0 to 4,294,967,295, got 1180591620717411303424",
        ),
        (["--seed", str(2**64 - 1)], "--seed must be from 0 to 4,294,967,295"),
        (["--seed", "-1"], "--seed must be from 0 to 4,294,967,295, got -1"),
        (["--lr", "1e308"], "learning rates must be positive and at most 1000: --lr is 1e+308"),
        (["--puzzle-emb-lr", "1e308"], "--puzzle-emb-lr is 1e+308"),
        (["--atan2-scale", "1e308"], "--atan2-scale must be positive and at most 1000"),
        (["--weight-decay", "1e308"], "--weight-decay must be from 0 to 1000"),
        (["--puzzle-emb-weight-decay", "-1"], "--puzzle-emb-weight-decay must be from 0 to 1000"),
    ],
)
def test_seeds_and_rates_out_of_range_for_puzzle_training(tiny, tmp_path, args, fragment):
    data, _, _ = tiny
    r = run_trm_here(
        *cmd("train --data", data, "--out", tmp_path / "r", "--preset tiny", CPU, args)
    )
    assert_one_line_error(r, fragment)
    assert not (tmp_path / "r").exists()


def test_the_largest_seed_trains(tiny, tmp_path):
    data, _, _ = tiny
    out = tmp_path / "r"
    trm_ok("train --data", data, "--out", out, "--preset tiny --steps 1 --seed", 2**32 - 1, CPU)


@pytest.mark.parametrize("flag", ["--weight-decay", "--warmup", "--grad-clip", "--eval-max"])
def test_a_negative_setting_is_named_alone(tiny, tmp_path, flag):
    data, _, _ = tiny
    r = run_trm_here(
        *cmd("train --data", data, "--out", tmp_path / "r", "--preset tiny", CPU, flag, -1)
    )
    assert_one_line_error(r, flag)
    others = {"--weight-decay", "--warmup", "--grad-clip", "--eval-max"} - {flag}
    assert not any(other in r.stderr for other in others), r.stderr


def test_vision_compare_refuses_a_seed_before_making_anything(tiny, tmp_path):
    _, _, images = tiny
    r = run_trm_here(
        *cmd(
            "vision compare --data",
            images,
            "--out",
            tmp_path / "c",
            "--variants vit --epochs 0.1",
            "--device cpu --seed",
            2**64 - 1,
        )
    )
    assert_one_line_error(r, "--seed must be from 0 to 4,294,967,295")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("seed", [2**64 - 1, 2**32])
def test_sample_seeds_out_of_range(tiny, seed):
    data, run, _ = tiny
    fragment = "the seed of the views and noise must be >= 0 and at most 4,294,967,295"
    for args in (
        cmd("solve sudoku", [PUZZLE], "-c", run, "--samples 2 --noise 0.1 --sample-seed", seed),
        cmd("eval", run, "--data", data, "--samples 2 --noise 0.1 --seed", seed, "--device cpu"),
    ):
        assert_one_line_error(run_trm_here(*args), fragment)


@pytest.mark.parametrize(
    "setting, value, other",
    [("rope_theta", 1e-300, "norm_eps"), ("norm_eps", 2.0, "rope_theta")],
)
def test_rope_theta_and_norm_eps_are_named_alone(setting, value, other):
    from tests.helpers import tiny_config
    from vision.configs import ViTConfig

    for config in (tiny_config(**{setting: value}), ViTConfig(**{setting: value})):
        with pytest.raises(TRMError, match=rf"^`{setting}` must be .*, got {value}$") as e:
            config.validate()
        assert other not in str(e.value)


def test_a_saved_run_with_a_seed_out_of_range_is_refused_naming_its_config(tiny, tmp_path):
    data, run, _ = tiny
    edited = tmp_path / "run"
    shutil.copytree(run, edited)
    config = edited / "checkpoint" / "config.json"
    c = json.loads(config.read_text())
    c["train"]["seed"] = 2**64 - 1
    config.write_text(json.dumps(c))
    r = run_trm_here(*cmd("train --data", data, "--out", edited, "--resume", CPU))
    assert_one_line_error(r, str(config), "`seed` must be from 0 to 4,294,967,295")


# ------------------------------------------------------------- the official config's numbers


def _official(tmp_path: Path, key: str, value: str) -> Path:
    """The official test checkpoint with ``key: value`` in its all_config.yaml."""
    import re

    folder = official_copy(tmp_path)
    path = folder / "all_config.yaml"
    text, n = re.subn(rf"(?m)^(\s*){key}: .*$", rf"\g<1>{key}: {value}", path.read_text(), count=1)
    assert n == 1
    path.write_text(text)
    return folder


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("seed", "7" * 5000, "a value that cannot be read (Exceeds the limit (4300 digits)"),
        ("hidden_size", "7" * 5000, "a value that cannot be read"),
        ("seed", "7" * 4000, "seed is out of range, got a huge number"),
        ("hidden_size", "7" * 4000, "arch.hidden_size is out of range, got a huge number"),
        ("seed", "2025-02-30", "a value that cannot be read (day is out of range for month)"),
        ("run_name", "2025-02-30", "day is out of range for month"),
        ("expansion", ".nan", "arch.expansion is out of range, got nan"),
        ("global_batch_size", ".inf", "global_batch_size is out of range, got inf"),
        ("lr", ".nan", "lr is out of range, got nan"),
        ("seed", "-1", "`seed` must be from 0 to 4,294,967,295"),
        ("beta1", "2", "betas must be in [0, 1)"),
    ],
    ids=lambda v: v[:12] if isinstance(v, str) else v,
)
def test_impossible_values_in_the_official_config_are_one_line(tmp_path, key, value, fragment):
    folder = _official(tmp_path, key, value)
    r = run_trm_here("import", "official", str(folder), "--out", str(tmp_path / "out"))
    assert_one_line_error(r, f"{folder / 'all_config.yaml'}: ", fragment)
    assert r.stderr.count("all_config.yaml") == 1 and len(r.stderr) < 300  # (no 4,000 digits)
    assert not (tmp_path / "out").exists()
