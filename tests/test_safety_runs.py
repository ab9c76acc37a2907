"""Nothing a user has is lost (issue 28): runs and datasets are checked before anything is
touched, staged and swapped in, replace only their own files, have one writer at a time,
never write through links or inside each other, and stop on SIGTERM as on Ctrl-C.

Each test compares what was on disk before and after, byte for byte."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import (
    FAST,
    REPO,
    RESUME,
    TEST_ENV,
    assert_one_line_error,
    cmd,
    lock_held_elsewhere,
    run_trm,
    trm_ok,
)


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder`` (links as their target's name), for before/after checks."""
    found: dict[str, bytes | None] = {}
    for p in sorted(Path(folder).rglob("*")):
        key = str(p.relative_to(folder))
        if p.is_symlink():
            found[key] = os.readlink(p).encode()
        elif p.is_file():
            found[key] = p.read_bytes()
        else:
            found[key] = None
    return found


def copy_run(run: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(run, to)
    return to


# ----------------------------------------------------------------- validate, then write


@pytest.mark.parametrize(
    "bad", ["--layers 0", "--batch-size 0", "--device cuda:7", "--lr -1", "--steps -5"]
)
def test_force_checks_every_option_before_touching_the_old_run(s4_run, tmp_path, bad):
    data, run = s4_run
    copy = copy_run(run, tmp_path / "copy")
    (copy / "notes.txt").write_text("mine")
    before = snapshot(copy)
    result = run_trm(*cmd("train --data", data, "--out", copy, "--force", FAST, bad))
    assert_one_line_error(result)
    assert snapshot(copy) == before


def test_a_forced_run_that_fails_before_its_first_checkpoint_leaves_the_old_run(
    s4_run, tmp_path, monkeypatch
):
    from trm.errors import TRMError
    from trm.train import Trainer

    data, run = s4_run
    copy = copy_run(run, tmp_path / "copy")
    before = snapshot(copy)

    def fail(self):
        raise TRMError("no space left on device (simulated)")

    monkeypatch.setattr(Trainer, "train_step", fail)
    result = run_trm(*cmd("train --data", data, "--out", copy, "--force --steps 4", FAST))
    assert_one_line_error(result, "simulated")
    assert snapshot(copy) == before  # no stage, no lock, no stale .checkpoint.old

    fresh = tmp_path / "new" / "deeper"
    result = run_trm(*cmd("train --data", data, "--out", fresh, "--steps 4", FAST))
    assert_one_line_error(result, "simulated")
    assert not (tmp_path / "new").exists()  # the folders made for it are gone again


def test_a_failed_save_under_force_keeps_the_old_checkpoint(s4_run, tmp_path, monkeypatch):
    import trm.checkpoint as checkpoint

    data, run = s4_run
    copy = copy_run(run, tmp_path / "copy")
    before = snapshot(copy)

    def disk_full(path, tensors):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(checkpoint, "_write_tensors", disk_full)
    result = run_trm(*cmd("train --data", data, "--out", copy, "--force --steps 2", FAST))
    assert_one_line_error(result, "No space left on device")
    assert snapshot(copy) == before


def test_force_replaces_only_the_runs_own_files(s4_run, tmp_path):
    data, run = s4_run
    copy = copy_run(run, tmp_path / "copy")
    (copy / "notes.txt").write_text("mine")
    (copy / "plots").mkdir()
    (copy / "plots" / "a.png").write_bytes(b"png")
    (copy / ".checkpoint.old").mkdir()  # a crashed save's leftover: the old run's, replaced
    trm_ok("train --data", data, "--out", copy, "--force --steps 2", FAST)
    assert (copy / "notes.txt").read_text() == "mine"
    assert (copy / "plots" / "a.png").read_bytes() == b"png"
    assert sorted(p.name for p in copy.iterdir()) == [
        "checkpoint",
        "metrics.jsonl",
        "notes.txt",
        "plots",
    ]
    steps = [json.loads(line)["step"] for line in (copy / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 2  # the new run's lines only: nothing appended to the old log


def test_a_dataset_build_with_force_keeps_the_users_other_files(tmp_path):
    out = tmp_path / "d"
    trm_ok("data sudoku --out", out, "--size 4 --train 8 --test 4 --workers 1 --quiet")
    (out / "notes.txt").write_text("mine")
    (out / "sub").mkdir()
    (out / "sub" / "x").write_text("x")
    trm_ok("data sudoku --out", out, "--size 4 --train 6 --test 4 --workers 1 --quiet --force")
    assert (out / "notes.txt").read_text() == "mine" and (out / "sub" / "x").read_text() == "x"
    assert json.loads((out / "dataset.json").read_text())["splits"]["train"]["examples"] == 6
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_training_into_a_folder_that_holds_other_things_is_refused(s4_run, tmp_path):
    data, _run = s4_run
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("x")
    before = snapshot(folder)
    for extra in ([], ["--force"]):
        result = run_trm(*cmd("train --data", data, "--out", folder, extra, FAST))
        assert_one_line_error(result, "holds no run")
    assert snapshot(folder) == before


@pytest.mark.parametrize("where", ["checkpoint", "sub", "checkpoint/deeper"])
def test_a_run_inside_another_run_is_refused(s4_run, tmp_path, where):
    data, run = s4_run
    outer = copy_run(run, tmp_path / "outer")
    before = snapshot(outer)
    result = run_trm(*cmd("train --data", data, "--out", outer / where, FAST))
    assert_one_line_error(result, "inside", "which is a ")
    assert snapshot(outer) == before


def test_runs_and_datasets_do_not_go_inside_datasets(s4_run, tmp_path):
    data, run = s4_run
    before = snapshot(data)
    assert_one_line_error(run_trm(*cmd("train --data", data, "--out", data, FAST)), "is a dataset")
    result = run_trm(*cmd("train --data", data, "--out", data / "run", FAST))
    assert_one_line_error(result, "which is a dataset")
    result = run_trm(*cmd("data sudoku --size 4 --train 4 --test 2 --out", data / "d2"))
    assert_one_line_error(result, "which is a dataset")
    result = run_trm(*cmd("data sudoku --size 4 --train 4 --test 2 --out", run / "d2"))
    assert_one_line_error(result, "which is a run")
    assert snapshot(data) == before


# ---------------------------------------------------------------------- links and logs


def test_a_metrics_log_that_is_a_link_is_refused_not_followed(s4_run, tmp_path):
    data, _run = s4_run
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "metrics.jsonl").symlink_to(victim)
    result = run_trm(*cmd("train --data", data, "--out", planted, "--force", FAST))
    assert_one_line_error(result, "symbolic link")
    assert victim.read_text() == "precious\n"


def test_resume_keeps_lines_that_are_not_its_records(s4_run, tmp_path):
    data, run = s4_run
    copy = copy_run(run, tmp_path / "copy")
    log = copy / "metrics.jsonl"
    lines = log.read_text().splitlines()
    later = json.dumps({"step": 99, "loss": 1.0})  # logged after the checkpoint: redone
    log.write_text("\n".join([*lines, "my note: lr looked high", "42", later]) + "\n")
    trm_ok("train --data", data, "--out", copy, "--resume --steps 8", RESUME)
    text = log.read_text().splitlines()
    assert "my note: lr looked high" in text and "42" in text and later not in text
    assert json.loads(text[-1])["step"] == 8


def test_a_folder_in_place_of_the_metrics_log_is_one_line(s4_run, tmp_path):
    data, run = s4_run
    copy = copy_run(run, tmp_path / "copy")
    (copy / "metrics.jsonl").unlink()
    (copy / "metrics.jsonl").mkdir()
    before = snapshot(copy)
    result = run_trm(*cmd("train --data", data, "--out", copy, "--resume --steps 8", RESUME))
    assert_one_line_error(result, "metrics.jsonl", "not a file")
    assert snapshot(copy) == before


# --------------------------------------------------------------------- one writer each


def test_a_second_writer_of_a_run_is_refused_naming_the_first(s4_run, tmp_path):
    data, run = s4_run
    copy = copy_run(run, tmp_path / "copy")
    before = snapshot(copy)
    with lock_held_elsewhere(copy) as pid:
        for how in ("--resume --steps 8", "--force --preset tiny"):
            result = run_trm(*cmd("train --data", data, "--out", copy, how, RESUME))
            assert_one_line_error(result, f"pid {pid}")
    after = snapshot(copy)
    after.pop(".trm.lock", None)  # the other process's, while it ran
    assert after == before


def test_a_second_writer_of_a_dataset_is_refused(tmp_path):
    out = tmp_path / "d"
    with lock_held_elsewhere(out) as pid:
        result = run_trm(*cmd("data sudoku --size 4 --train 4 --test 2 --workers 1 --out", out))
        assert_one_line_error(result, f"pid {pid}")


# ---------------------------------------------------------------------------- signals


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, **TEST_ENV}
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(condition, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sigterm_during_training_saves_a_checkpoint_and_says_how_to_resume(s4_run, tmp_path):
    data, _run = s4_run
    out = tmp_path / "r"
    args = cmd("train --data", data, "--out", out, "--steps 100000 --log-every 1", FAST)
    args += ["--checkpoint-every", "100000", "--eval-every", "100000"]
    proc = _start(args, REPO)
    _wait_for(lambda: any(p.stat().st_size for p in out.glob(".trm-stage-*/metrics.jsonl")), proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("stopped by SIGTERM: checkpoint saved")
    assert "--resume" in stderr
    config = json.loads((out / "checkpoint" / "config.json").read_text())
    saved = config["step"]
    assert saved >= 1 and sorted(p.name for p in out.iterdir()) == ["checkpoint", "metrics.jsonl"]
    trm_ok("train --data", data, "--out", out, f"--resume --steps {saved + 2}", RESUME)


def test_sigterm_during_a_build_cleans_its_stage_and_keeps_the_finished_part(tmp_path):
    out = tmp_path / "d"
    args = cmd(
        "data sudoku --size 9 --difficulty easy --train 100000 --test 4 --workers 2 --out", out
    )
    proc = _start(args, REPO)
    _wait_for(lambda: any(out.glob(".trm-partial/train-*.npz")), proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
    assert "stopped by SIGTERM" in stderr and "run the same command again" in stderr
    assert [p.name for p in out.iterdir()] == [".trm-partial"]  # no lock, no stage


def test_import_with_force_and_a_full_disk_keeps_the_old_run(tmp_path, monkeypatch):
    import trm.checkpoint as checkpoint
    from tests.test_official import REFERENCE

    run = tmp_path / "run"
    trm_ok("import official", REFERENCE / "sudoku-mlp", "--out", run)
    (run / "notes.txt").write_text("mine")
    before = snapshot(run)
    real = checkpoint._write_tensors

    def disk_full(path, tensors):
        real(path, {})  # a file begun, then the disk is full
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(checkpoint, "_write_tensors", disk_full)
    result = run_trm(*cmd("import official", REFERENCE / "sudoku-mlp", "--out", run, "--force"))
    assert_one_line_error(result, "No space left on device")
    assert snapshot(run) == before
    monkeypatch.undo()
    trm_ok("import official", REFERENCE / "sudoku-mlp", "--out", run, "--force")
    assert (run / "notes.txt").read_text() == "mine"


def test_resuming_from_a_training_state_that_holds_nan_is_one_line(s4_run, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    data, run = s4_run
    copy = copy_run(run, tmp_path / "copy")
    state_file = copy / "checkpoint" / "train_state.safetensors"
    for prefix in ("model.", "ema."):
        tensors = load_file(state_file)
        name = next(k for k in tensors if k.startswith(prefix) and k.endswith("weight"))
        tensors[name] = torch.full_like(tensors[name], float("nan"))
        save_file(tensors, state_file)
        result = run_trm(*cmd("train --data", data, "--out", copy, "--resume --steps 8", RESUME))
        assert_one_line_error(result, "train_state.safetensors", repr(name[len(prefix) :]), "NaN")
        copy = copy_run(run, tmp_path / f"again-{prefix}")
        state_file = copy / "checkpoint" / "train_state.safetensors"


def test_image_folders_with_force_keep_the_users_other_files(tmp_path):
    out = tmp_path / "img"
    trm_ok("vision data synthetic --train 20 --test 10 --quiet --out", out)
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    assert_one_line_error(
        run_trm(*cmd("vision data synthetic --train 30 --test 10 --quiet --out", out)), "--force"
    )
    assert snapshot(out) == before
    trm_ok("vision data synthetic --train 30 --test 10 --quiet --force --out", out)
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == sorted(before)
