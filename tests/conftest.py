import os
import subprocess
import sys
from pathlib import Path

import pytest

# Tiny test models gain nothing from a second thread, and two processes each spinning two
# OpenMP threads on two cores slow each other down a hundredfold: one thread each.
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_SUDOKU = REPO.parent / "shared" / "data" / "sudoku"


@pytest.fixture
def shared_sudoku() -> Path:
    if not SHARED_SUDOKU.is_dir():
        pytest.skip(f"outside Sudoku sets not found at {SHARED_SUDOKU}")
    return SHARED_SUDOKU


TEST_ENV = {"COLUMNS": "120", "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}


def run_trm(*args: str, input: str | None = None, cwd: Path | None = None,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess (exit codes, stdout/stderr split).

    ``env`` adds to (or, with None values, removes from) the test environment."""
    env = {k: v for k, v in {**os.environ, **TEST_ENV, **(env or {})}.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], input=input, capture_output=True, text=True,
        cwd=cwd or REPO, env=env, timeout=300,
    )


def run_trm_here(*args: str) -> subprocess.CompletedProcess:
    """Run `trm ARGS` in this process (no interpreter start-up: ~1 s saved per call), with the
    console entry point's exit statuses and one-line errors; the result reads like
    :func:`run_trm`'s. For commands that need their own process (stdin, signals), use that."""
    import contextlib
    import io
    from unittest import mock

    from cli.main import main

    out, err = io.StringIO(), io.StringIO()
    env = {k: v for k, v in TEST_ENV.items() if k != "OMP_NUM_THREADS"}
    status = 0
    with mock.patch.object(sys, "argv", ["trm", *args]), mock.patch.dict(os.environ, env), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as e:
            status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return subprocess.CompletedProcess(["trm", *args], status, out.getvalue(), err.getvalue())
