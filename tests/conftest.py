import os
from pathlib import Path

import pytest

# Tiny test models gain nothing from a second thread, and two processes each spinning two
# OpenMP threads on two cores slow each other down a hundredfold: one thread each.
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch

torch.set_num_threads(1)

from tests.helpers import SHARED_SUDOKU  # noqa: E402 (after the thread settings)


@pytest.fixture
def shared_sudoku() -> Path:
    if not SHARED_SUDOKU.is_dir():
        pytest.skip(f"outside Sudoku sets not found at {SHARED_SUDOKU}")
    return SHARED_SUDOKU
