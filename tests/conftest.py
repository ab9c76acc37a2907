import os
from pathlib import Path

import pytest

# Tiny test models gain nothing from a second thread, and two processes each spinning two
# OpenMP threads on two cores slow each other down a hundredfold: one thread each.
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch

torch.set_num_threads(1)

from tests.helpers import FAST, SHARED_SUDOKU, trm_ok  # noqa: E402 (after the thread settings)


@pytest.fixture
def shared_sudoku() -> Path:
    if not SHARED_SUDOKU.is_dir():
        pytest.skip(f"outside Sudoku sets not found at {SHARED_SUDOKU}")
    return SHARED_SUDOKU


@pytest.fixture(scope="module")
def s4_run(tmp_path_factory):
    """A 4x4 dataset and a finished 6-step run on it (copied by the tests that change it)."""
    root = tmp_path_factory.mktemp("safety")
    data, run = root / "s4", root / "r1"
    trm_ok("data sudoku --out", data, "--size 4 --train 32 --test 8 --workers 1 --quiet")
    trm_ok("train --data", data, "--out", run, "--steps 6 --eval-every 3", FAST)
    return data, run
