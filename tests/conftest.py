import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_SUDOKU = REPO.parent / "shared" / "data" / "sudoku"


@pytest.fixture
def shared_sudoku() -> Path:
    if not SHARED_SUDOKU.is_dir():
        pytest.skip(f"outside Sudoku sets not found at {SHARED_SUDOKU}")
    return SHARED_SUDOKU


def run_trm(*args: str, input: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess (exit codes, stdout/stderr split)."""
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], input=input, capture_output=True, text=True,
        cwd=cwd or REPO, env=env, timeout=300,
    )
