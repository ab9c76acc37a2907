"""Result files and output failures (issue 28): a result file never replaces anything
unasked and never lands inside a run's or dataset's own files; every output that cannot be
written (read-only, missing, too long, a folder in the way, standard output closed or full)
is one line naming it, exit 2, with what was there before intact."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import FAST, REPO, TEST_ENV, assert_one_line_error, cmd, run_trm, trm_ok
from tests.test_safety_runs import snapshot
from trm.errors import TRMError
from trm.staging import OutputFile

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


# ------------------------------------------------------------------ the library's rules


def test_output_file_rules(s4_run, tmp_path):
    data, run = s4_run
    existing = tmp_path / "x.json"
    existing.write_text("old")
    with pytest.raises(TRMError, match="already exists: pass `force`"):
        OutputFile(existing)
    OutputFile(existing, force=True).write_text("new")
    assert existing.read_text() == "new"
    link = tmp_path / "link.json"
    link.symlink_to(existing)
    for path, needle in (
        (link, "symbolic link"),
        (tmp_path, "a folder"),
        (tmp_path / "no" / "x.json", "no such folder"),
        (run / "checkpoint" / "config.json", "a checkpoint's own files"),
        (run / "checkpoint" / "extra.json", "a checkpoint's own files"),
        (run / "metrics.jsonl", "a run's own files"),
        (data / "notes.json", "a dataset's own files"),
    ):
        with pytest.raises(TRMError, match=needle):
            OutputFile(path, force=True)
    assert existing.read_text() == "new"
    OutputFile(run / "submission.json").write_text("{}")  # beside a run's files: fine
    (run / "submission.json").unlink()


# ---------------------------------------------------------------------- the commands


def test_plot_and_record_never_overwrite_unasked(s4_run, tmp_path):
    _data, run = s4_run
    png = tmp_path / "curves.png"
    png.write_bytes(b"mine")
    assert_one_line_error(run_trm(*cmd("plot", run, "--out", png)), "--force")
    assert png.read_bytes() == b"mine"
    trm_ok("plot", run, "--out", png, "--force")
    assert png.read_bytes().startswith(b"\x89PNG")
    assert_one_line_error(run_trm(*cmd("plot", run, "--out", tmp_path)), "a folder")

    svg = tmp_path / "steps.svg"
    svg.write_text("mine")
    result = run_trm(*cmd("solve sudoku --max-steps 2 --record", svg))
    assert_one_line_error(result, "--record", "--force")
    assert svg.read_text() == "mine"
    trm_ok("solve sudoku --max-steps 4 --record", svg, "--force")  # (its views: right at 3)
    assert "<svg" in svg.read_text()


@pytest.mark.skipif(ROOT or sys.platform == "win32", reason="root writes read-only folders")
def test_a_read_only_folder_is_one_line_for_every_writer(s4_run, tmp_path):
    data, run = s4_run
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        for args in (
            cmd("data sudoku --size 4 --train 4 --test 2 --workers 1 --out", locked / "d"),
            cmd("train --data", data, "--out", locked / "r", FAST),
            cmd("vision data synthetic --train 20 --test 10 --out", locked / "img"),
            cmd("plot", run, "--out", locked / "c.png"),
        ):
            assert_one_line_error(run_trm(*args), str(locked))
    finally:
        locked.chmod(0o755)
    assert list(locked.iterdir()) == []


def test_impossible_output_paths_are_one_line(s4_run, tmp_path):
    data, run = s4_run
    long_name = tmp_path / ("n" * 250)  # fits, but a staging name beside it would not
    trm_ok("data sudoku --size 4 --train 4 --test 2 --workers 1 --quiet --out", long_name)
    assert (long_name / "dataset.json").is_file()
    too_long = tmp_path / ("x" * 300)
    deep = tmp_path / "/".join(["d" * 200] * 25)  # past PATH_MAX
    for args in (
        cmd("data sudoku --size 4 --train 4 --test 2 --workers 1 --out", too_long),
        cmd("train --data", data, "--out", deep, FAST),
        cmd("train --data", data, "--out /proc/trm-run", FAST),
        cmd("plot", run, "--out", tmp_path / ("p" * 300 + ".png")),
    ):
        result = run_trm(*args)
        assert_one_line_error(result)


def test_a_deleted_working_folder_is_one_line(s4_run, tmp_path):
    data, _run = s4_run
    gone = tmp_path / "gone"
    gone.mkdir()
    script = (
        "import os, sys\nos.chdir(sys.argv[1]); os.rmdir(sys.argv[1])\n"
        "sys.argv = ['trm', *sys.argv[2:]]\nfrom cli.main import main\nmain()\n"
    )
    for args in (
        cmd("data sudoku --size 4 --train 4 --test 2 --workers 1 --out rel"),
        cmd("train --data", data, "--out rel", FAST),
    ):
        result = subprocess.run(
            [sys.executable, "-c", script, str(gone), *args],
            capture_output=True,
            text=True,
            env={**os.environ, **TEST_ENV, "PYTHONPATH": str(REPO)},
            timeout=300,
        )
        assert_one_line_error(result, "working folder no longer exists")
        gone.mkdir()
    assert snapshot(tmp_path / "gone") == {}


# ------------------------------------------------------------------- standard output


def _file_limit():  # writes past 64 bytes fail (EFBIG), as on a full disk
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX limits")
def test_standard_output_full_or_closed_is_one_line(tmp_path):
    with open(tmp_path / "out.txt", "w") as small:
        full = run_trm(
            *cmd("solve sudoku --max-steps 1"),
            stdout=small,
            stderr=subprocess.PIPE,
            preexec_fn=_file_limit,
        )
    assert full.returncode == 2, full.stderr
    assert full.stderr.strip().splitlines() == [
        "error: cannot write to standard output (File too large)"
    ]
    closed = run_trm(
        *cmd("solve sudoku --max-steps 1"),
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.close(1),  # as `>&-` does
    )
    assert closed.returncode == 2, closed.stderr
    assert closed.stderr.strip().splitlines() == [
        "error: cannot write to standard output (it is closed)"
    ]


def test_a_reader_that_goes_away_is_one_line_and_not_the_failed_solve_status():
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "solve", "sudoku", "--max-steps", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, **TEST_ENV},
    )
    proc.stdout.close()  # as `| head -0` would
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2, stderr
    assert stderr.decode().strip().splitlines() == [
        "error: cannot write to standard output (its reader has gone)"
    ]


def test_an_ascii_only_terminal_gets_no_encoding_error():
    result = run_trm(*cmd("solve sudoku --max-steps 2"), env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr and "step" in result.stdout
