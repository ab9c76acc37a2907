"""Checkpoints: atomic folder writes, pickle-free loading, exact resume of optimizers and RNGs."""

import json
import os
import pickle
import pickletools
from pathlib import Path

import pytest
import torch
from torch import nn

from trm.checkpoint import (
    CHECKPOINT_VERSION,
    Checkpoint,
    flatten_optimizer_state,
    load_checkpoint,
    resolve_checkpoint,
    restore_generator,
    rng_state_tensors,
    save_checkpoint,
    unflatten_optimizer_state,
)
from trm.errors import TRMError


class Tied(nn.Module):
    """Embedding and output head share one weight; buffers of odd dtypes, shapes and layouts."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.mix = nn.Linear(4, 4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight
        base = torch.arange(12.0).reshape(3, 4)
        self.register_buffer("transposed", base.t())  # not contiguous
        self.register_buffer("row", base[1])  # a view into a larger storage
        self.register_buffer("count", torch.tensor(7))  # 0-d int64
        self.register_buffer("mask", torch.tensor([True, False, True]))


def small_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return Tied().state_dict()


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert a[name].shape == b[name].shape, name
        assert torch.equal(a[name], b[name]), name


def error_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------ round trip


def test_round_trip_keeps_tied_views_odd_dtypes_and_adds_format_and_version(tmp_path):
    state = small_state()
    assert state["embed.weight"].data_ptr() == state["head.weight"].data_ptr()
    out = save_checkpoint(
        tmp_path / "run" / "checkpoint", model_state=state, config={"hidden": 4, "name": "tied"}
    )
    assert out == tmp_path / "run" / "checkpoint"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]

    ck = load_checkpoint(tmp_path / "run")
    assert isinstance(ck, Checkpoint)
    assert ck.path == out
    assert_same_tensors(ck.model_state, state)
    assert ck.model_state["count"].shape == ()
    assert ck.config == {
        "hidden": 4,
        "name": "tied",
        "format": "trm-checkpoint",
        "version": CHECKPOINT_VERSION,
    }
    assert ck.train_tensors is None and ck.train_meta is None
    # The loaded weights fit a fresh module again.
    Tied().load_state_dict(ck.model_state)


def test_the_checkpoint_gets_ordinary_permissions(tmp_path):
    folder = save_checkpoint(
        tmp_path / "checkpoint", model_state=small_state(), config={}, train_meta={}
    )
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain.txt").write_text("")
    mode = lambda p: p.stat().st_mode & 0o777
    assert mode(folder) == mode(tmp_path / "plain")  # umask, not tempfile's 0700
    for p in folder.iterdir():
        assert mode(p) == mode(tmp_path / "plain.txt"), p.name


def test_training_state_round_trips_only_when_asked(tmp_path):
    extra = {"carry.z": torch.randn(2, 3), "weights.raw": torch.ones(5, dtype=torch.bfloat16)}
    meta = {"step": 12, "epoch": 3, "lr": 1e-4}
    save_checkpoint(
        tmp_path / "checkpoint",
        model_state=small_state(),
        config={},
        train_tensors=extra,
        train_meta=meta,
    )
    assert load_checkpoint(tmp_path).train_tensors is None
    ck = load_checkpoint(tmp_path / "checkpoint", train_state=True)
    assert_same_tensors(ck.train_tensors, extra)
    assert ck.train_meta == meta


# ------------------------------------------------------------------- atomic replace


def test_saving_twice_keeps_only_the_second_and_no_leftovers(tmp_path):
    folder = tmp_path / "checkpoint"
    save_checkpoint(
        folder,
        model_state=small_state(0),
        config={"v": 1},
        train_tensors={"x": torch.zeros(1)},
        train_meta={"step": 1},
    )
    save_checkpoint(folder, model_state=small_state(1), config={"v": 2})
    ck = load_checkpoint(tmp_path)
    assert ck.config["v"] == 2
    assert_same_tensors(ck.model_state, small_state(1))
    assert not (folder / "train_state.json").exists()  # the folder is replaced, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


@pytest.mark.parametrize("failing_rename", [1, 2])
def test_a_crash_during_the_swap_leaves_the_old_checkpoint_whole(
    tmp_path, monkeypatch, failing_rename
):
    folder = tmp_path / "checkpoint"
    save_checkpoint(
        folder,
        model_state=small_state(0),
        config={"v": 1},
        train_tensors={"x": torch.zeros(2)},
        train_meta={"step": 1},
    )
    real_replace, calls = os.replace, []

    def crashing_replace(src, dst):
        calls.append((src, dst))
        if len(calls) >= failing_rename:
            raise OSError("simulated crash")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crashing_replace)
    with pytest.raises(TRMError, match="simulated crash") as excinfo:
        save_checkpoint(
            folder,
            model_state=small_state(1),
            config={"v": 2},
            train_tensors={"x": torch.ones(2)},
            train_meta={"step": 2},
        )
    monkeypatch.undo()
    assert str(folder) in error_line(excinfo)

    expected = folder if failing_rename == 1 else tmp_path / ".checkpoint.old"
    assert resolve_checkpoint(tmp_path) == expected
    assert resolve_checkpoint(folder) == expected
    ck = load_checkpoint(folder, train_state=True)  # all of version 1, nothing of version 2
    assert ck.config["v"] == 1 and ck.train_meta == {"step": 1}
    assert_same_tensors(ck.model_state, small_state(0))
    assert torch.equal(ck.train_tensors["x"], torch.zeros(2))
    assert not any(".tmp-" in p.name for p in tmp_path.iterdir())

    # The next save recovers: the old copy survives until the new one is in place.
    save_checkpoint(folder, model_state=small_state(2), config={"v": 3})
    assert load_checkpoint(tmp_path).config["v"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_a_half_written_temporary_folder_is_never_taken_for_a_checkpoint(tmp_path):
    folder = tmp_path / "checkpoint"
    save_checkpoint(folder, model_state=small_state(0), config={"v": 1})
    partial = tmp_path / ".checkpoint.tmp-crashed"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"\x08\x00\x00")  # died mid-write
    assert resolve_checkpoint(tmp_path) == folder
    assert load_checkpoint(tmp_path).config["v"] == 1

    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / ".checkpoint.tmp-crashed").mkdir()
    with pytest.raises(TRMError, match="no checkpoint here"):
        resolve_checkpoint(alone)

    save_checkpoint(folder, model_state=small_state(1), config={"v": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone", "checkpoint"]


# ----------------------------------------------------------------------- resolving


def test_resolve_accepts_the_run_folder_or_the_checkpoint_folder(tmp_path):
    run = tmp_path / "run"
    save_checkpoint(run / "checkpoint", model_state=small_state(), config={})
    (run / "config.json").write_text('{"a run config": true}')  # must not shadow checkpoint/
    assert resolve_checkpoint(run) == run / "checkpoint"
    assert resolve_checkpoint(run / "checkpoint") == run / "checkpoint"
    assert resolve_checkpoint(str(run)) == run / "checkpoint"


def test_resolve_falls_back_to_the_old_sibling_left_between_the_renames(tmp_path):
    run = tmp_path / "run"
    save_checkpoint(run / "checkpoint", model_state=small_state(), config={"v": 1})
    os.replace(run / "checkpoint", run / ".checkpoint.old")
    assert resolve_checkpoint(run) == run / ".checkpoint.old"
    assert resolve_checkpoint(run / "checkpoint") == run / ".checkpoint.old"
    assert load_checkpoint(run / "checkpoint").config["v"] == 1


def test_resolve_refuses_a_folder_without_a_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(TRMError) as excinfo:
        resolve_checkpoint(tmp_path)
    message = error_line(excinfo)
    assert message.startswith(f"{tmp_path}: no checkpoint here")
    assert "model.safetensors" in message and "checkpoint/" in message
    with pytest.raises(TRMError, match="no such"):
        resolve_checkpoint(tmp_path / "missing")


# ------------------------------------------------------------------------- security


class MakesMarker:
    """Unpickling this touches `marker`: proof of whether a loader ran pickle."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def marker_pickle(marker: Path) -> bytes:
    payload = pickle.dumps(MakesMarker(marker))
    # Show the payload really calls Path.touch when unpickled, without unpickling it.
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(payload)]
    assert ("REDUCE", None) in ops and any(arg == "Path.touch" for _, arg in ops)
    return payload


def test_a_planted_pickle_is_refused_by_name(tmp_path):
    marker = tmp_path / "pwned"
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    torch.save(MakesMarker(marker), folder / "model.pt")
    for config in (False, True):  # with or without a config.json beside it
        if config:
            (folder / "config.json").write_text('{"format": "trm-checkpoint", "version": 1}')
        with pytest.raises(TRMError) as excinfo:
            load_checkpoint(tmp_path)
        message = error_line(excinfo)
        assert str(folder / "model.pt") in message
        assert "pickle-based" in message and "unpickling can run" in message
        assert "model.safetensors only" in message
    assert not marker.exists()


@pytest.mark.parametrize("writer", ["pickle.dumps", "torch.save"])
def test_a_pickle_named_model_safetensors_is_refused_without_unpickling(tmp_path, writer):
    marker = tmp_path / "pwned"
    folder = save_checkpoint(tmp_path / "checkpoint", model_state=small_state(), config={})
    weights = folder / "model.safetensors"
    if writer == "pickle.dumps":
        weights.write_bytes(marker_pickle(marker))
    else:
        torch.save(MakesMarker(marker), weights)
    with pytest.raises(TRMError) as excinfo:
        load_checkpoint(folder)
    message = error_line(excinfo)
    assert str(weights) in message and "not a valid safetensors file" in message
    assert "pickle" in message
    assert not marker.exists()


# ---------------------------------------------------------------- broken checkpoints


def write_good(tmp_path) -> Path:
    return save_checkpoint(
        tmp_path / "checkpoint",
        model_state=small_state(),
        config={"h": 1},
        train_tensors={"x": torch.zeros(3)},
        train_meta={"step": 5},
    )


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("{not json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"format": "something-else", "version": 1}', '"format"'),
        ('{"format": "trm-checkpoint"}', '"version"'),
        ('{"format": "trm-checkpoint", "version": "1"}', '"version"'),
        ('{"format": "trm-checkpoint", "version": true}', '"version"'),
        ('{"format": "trm-checkpoint", "version": 99}', "made by a newer trm"),
    ],
)
def test_a_bad_config_is_refused_naming_config_json(tmp_path, content, fragment):
    folder = write_good(tmp_path)
    path = folder / "config.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(TRMError) as excinfo:
        load_checkpoint(folder)
    message = error_line(excinfo)
    assert message.startswith(f"{path}:") and fragment in message
    if "newer" in fragment:
        assert "upgrade" in message


@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_a_missing_file_is_named(tmp_path, name):
    folder = write_good(tmp_path)
    (folder / name).unlink()
    with pytest.raises(TRMError) as excinfo:
        load_checkpoint(folder)
    assert str(folder / name) in error_line(excinfo)


@pytest.mark.parametrize("damage", ["truncate", "random", "empty"])
def test_damaged_weights_are_refused_naming_the_file(tmp_path, damage):
    folder = write_good(tmp_path)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(
        {"truncate": data[: len(data) - 7], "random": os.urandom(len(data)), "empty": b""}[damage]
    )
    with pytest.raises(TRMError) as excinfo:
        load_checkpoint(folder)
    assert error_line(excinfo).startswith(f"{weights}: not a valid safetensors file")


def test_weights_with_no_tensors_are_refused(tmp_path):
    folder = save_checkpoint(tmp_path / "checkpoint", model_state={}, config={})
    with pytest.raises(TRMError, match="no tensors"):
        load_checkpoint(folder)


def test_resuming_needs_a_complete_valid_training_state(tmp_path):
    bare = save_checkpoint(tmp_path / "a" / "checkpoint", model_state=small_state(), config={})
    with pytest.raises(TRMError) as excinfo:
        load_checkpoint(bare, train_state=True)
    assert "no training state" in error_line(excinfo)
    assert "cannot be resumed" in error_line(excinfo)
    load_checkpoint(bare)  # still fine for evaluation

    for name, damage in [
        ("train_state.json", None),
        ("train_state.safetensors", None),
        ("train_state.json", b"{oops"),
        ("train_state.json", b"[]"),
        ("train_state.safetensors", b"\x00" * 5),
    ]:
        folder = write_good(tmp_path / f"{name}-{damage!r}")
        if damage is None:
            (folder / name).unlink()
        else:
            (folder / name).write_bytes(damage)
        with pytest.raises(TRMError) as excinfo:
            load_checkpoint(folder, train_state=True)
        message = error_line(excinfo)
        assert str(folder / name) in message and "cannot be resumed" in message
        load_checkpoint(folder)  # evaluation does not need the training state


# ----------------------------------------------------- optimizer and RNG, exact resume


def make_optimizer(kind: str, params):
    if kind == "AdamW":
        return torch.optim.AdamW(params, lr=1e-2, betas=(0.8, 0.95), weight_decay=0.1)
    from adam_atan2_pytorch import AdamAtan2

    return AdamAtan2(params, lr=1e-2, betas=(0.8, 0.95), weight_decay=0.1)


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))


def train_steps(model, optimizer, generator, steps: int) -> None:
    for _ in range(steps):
        x = torch.randn(5, 6, generator=generator)
        y = torch.randn(5, 3, generator=generator)
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()


@pytest.mark.parametrize("kind", ["AdamW", "AdamAtan2"])
def test_optimizer_and_rng_resume_continues_bit_identically(tmp_path, kind):
    steady, steady_gen = make_model(), torch.Generator().manual_seed(1)
    steady_opt = make_optimizer(kind, steady.parameters())
    stopped, stopped_gen = make_model(), torch.Generator().manual_seed(1)
    stopped_opt = make_optimizer(kind, stopped.parameters())
    train_steps(steady, steady_opt, steady_gen, 3)
    train_steps(stopped, stopped_opt, stopped_gen, 3)

    tensors, meta = flatten_optimizer_state(stopped_opt.state_dict())
    assert "optim.state.0.exp_avg" in tensors
    tensors.update(rng_state_tensors("rng.data", stopped_gen))
    save_checkpoint(
        tmp_path / "checkpoint",
        model_state=stopped.state_dict(),
        config={},
        train_tensors=tensors,
        train_meta={"optimizer": meta, "step": 3},
    )
    del stopped, stopped_opt, stopped_gen

    ck = load_checkpoint(tmp_path, train_state=True)
    resumed = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))  # fresh weights
    resumed.load_state_dict(ck.model_state)
    resumed_opt = make_optimizer(kind, resumed.parameters())
    state = unflatten_optimizer_state(ck.train_tensors, ck.train_meta["optimizer"])
    resumed_opt.load_state_dict(state)
    resumed_gen = torch.Generator()
    restore_generator(resumed_gen, ck.train_tensors["rng.data.state"])

    restored_state = resumed_opt.state_dict()
    if kind == "AdamW":  # the step counter stays a 0-d tensor
        assert all(s["step"].dim() == 0 for s in restored_state["state"].values())
    else:  # AdamAtan2 keeps a python int
        assert all(
            type(s["steps"]) is int and s["steps"] == 3 for s in restored_state["state"].values()
        )
    assert list(resumed_opt.param_groups[0]["betas"]) == [0.8, 0.95]

    train_steps(steady, steady_opt, steady_gen, 4)
    train_steps(resumed, resumed_opt, resumed_gen, 4)
    for a, b in zip(steady.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_optimizer_meta_is_plain_json_and_keeps_zero_dim_tensors():
    torch.manual_seed(0)
    p = nn.Parameter(torch.randn(3))
    opt = torch.optim.AdamW([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.step()
    tensors, meta = flatten_optimizer_state(opt.state_dict())
    assert json.loads(json.dumps(meta)) == meta
    assert set(tensors) == {
        "optim.state.0.step",
        "optim.state.0.exp_avg",
        "optim.state.0.exp_avg_sq",
    }
    back = unflatten_optimizer_state({k: v.reshape(-1) for k, v in tensors.items()}, meta)
    assert back["state"][0]["step"].shape == ()
    assert back["param_groups"][0]["params"] == [0]
    with pytest.raises(TRMError, match=r"optim\.state\.0\.\w+.* is missing"):
        unflatten_optimizer_state({}, meta)


def test_generator_state_round_trip_repeats_the_same_numbers(tmp_path):
    gen = torch.Generator().manual_seed(1234)
    torch.rand(10, generator=gen)
    save_checkpoint(
        tmp_path / "checkpoint",
        model_state={"w": torch.zeros(1)},
        config={},
        train_tensors=rng_state_tensors("rng.cpu", gen),
        train_meta={},
    )
    expected = torch.rand(20, generator=gen)

    other = torch.Generator().manual_seed(99)
    restore_generator(
        other, load_checkpoint(tmp_path, train_state=True).train_tensors["rng.cpu.state"]
    )
    assert torch.equal(torch.rand(20, generator=other), expected)
    with pytest.raises(TRMError, match="uint8"):
        restore_generator(other, torch.zeros(3))
