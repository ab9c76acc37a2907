"""Helpers the test modules share: running `trm` (in a subprocess or in this process),
checking its one-line errors, and small data and models to test with."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from puzzles.sudoku.generate import generate_indexed
from trm.config import TRMConfig
from trm.data import TokenData

REPO = Path(__file__).resolve().parents[1]
SHARED_SUDOKU = REPO.parent / "shared" / "data" / "sudoku"

# the first puzzle of top95 (outside data), for commands that need a hard 9x9 Sudoku
PUZZLE_4 = "1.3.34....434.2."  # a 4x4 Sudoku
TOP95_FIRST = "4.....8.5.3..........7......2.....6.....8.4......1.......6.3.7.5..2.....1.4......"


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


TEST_ENV = {"COLUMNS": "120", "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
# `trm train` options of a quick run on the CPU: those a resume takes, then a new run's
RESUME = ["--device", "cpu", "--precision", "fp32", "--quiet"]
FAST = ["--preset", "tiny", *RESUME]


def run_trm(
    *args: str,
    input: str | None = None,
    env: dict | None = None,
    cwd: Path | None = None,
    own_process: bool = False,
    timeout: float = 300,
    **popen,
) -> subprocess.CompletedProcess:
    """Run `trm ARGS` as a user would, and return its exit status, stdout and stderr.

    By default in this process (:func:`run_trm_here`: no interpreter start-up, about a
    second saved per call); in a subprocess of the real console entry point with
    ``own_process``, or when ``env`` (added to the test environment; None values remove),
    ``cwd`` or ``popen`` (more of :func:`subprocess.run`'s arguments: ``stdout``,
    ``preexec_fn``...) is given. A subprocess that outlives ``timeout`` fails the test."""
    if not (own_process or env or cwd or popen):
        return run_trm_here(*args, input=input)
    env = {k: v for k, v in {**os.environ, **TEST_ENV, **(env or {})}.items() if v is not None}
    captured = {} if popen.keys() & {"stdout", "stderr"} else {"capture_output": True}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        input=input,
        text=True,
        cwd=cwd or REPO,
        env=env,
        timeout=timeout,
        **captured,
        **popen,
    )


def cmd(*parts) -> list[str]:
    """A command line written short: strings split at spaces, paths and numbers one
    argument each, lists as they are: ``cmd("train --steps", 3, "--data", data)``."""
    args: list[str] = []
    for part in parts:
        if isinstance(part, str):
            args += part.split()
        elif isinstance(part, (list, tuple)):
            args += [str(p) for p in part]
        else:
            args.append(str(part))
    return args


def trm_ok(*parts, **kw) -> subprocess.CompletedProcess:
    """Run `trm` (:func:`run_trm`) on ``cmd(*parts)``; it must succeed (its stderr shown if
    not)."""
    result = run_trm(*cmd(*parts), **kw)
    assert result.returncode == 0, result.stderr
    return result


def run_trm_here(
    *args: str, input: str | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run `trm ARGS` in this process, through the console entry point (its exit statuses
    and one-line errors), ``input`` as standard input; the result reads like a subprocess's.
    (Typer's CliRunner would call the command below the entry point, missing its error
    contract.) ``env``: variables that differ from the tests' own (``COLUMNS``, say)."""
    import contextlib
    import io
    from unittest import mock

    from cli.main import main

    out, err = io.StringIO(), io.StringIO()
    env = {k: v for k, v in {**TEST_ENV, **(env or {})}.items() if k != "OMP_NUM_THREADS"}
    status = 0
    stdin = io.StringIO(input or "")
    with (
        mock.patch.object(sys, "argv", ["trm", *args]),
        mock.patch.object(sys, "stdin", stdin),
        mock.patch.dict(os.environ, env),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            main()
        except SystemExit as e:
            status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return subprocess.CompletedProcess(["trm", *args], status, out.getvalue(), err.getvalue())


# ----------------------------------------------------------------- small data and models


def sudoku_tokens(size: int, n: int, tier: str = "easy") -> TokenData:
    gs = [generate_indexed(size, tier, 0, "tests", i) for i in range(n)]
    inputs = np.stack([g.puzzle for g in gs]).astype(np.uint8) + 1
    labels = np.stack([g.solution for g in gs]).astype(np.uint8) + 1
    return TokenData(inputs, labels, np.zeros(n, np.int32))


def tiny_config(size: int = 4, **kw) -> TRMConfig:
    base = dict(
        vocab_size=size + 2,
        seq_len=size * size,
        mixer="mlp",
        hidden_size=16,
        num_heads=2,
        num_layers=1,
        n=2,
        T=2,
        n_sup=4,
    )
    base.update(kw)
    return TRMConfig(**base)


def task_json(train, test) -> dict:
    return {
        "train": [{"input": i, "output": o} for i, o in train],
        "test": [{"input": i, **({} if o is None else {"output": o})} for i, o in test],
    }


def write_tasks(folder: Path, tasks: dict[str, dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in tasks.items():
        (folder / f"{name}.json").write_text(json.dumps(value))
    return folder


SMALL_ARC = {  # three small tasks; t2's test output is unknown
    "t0": task_json(
        [([[1, 0], [0, 2]], [[2, 0], [0, 1]]), ([[3]], [[3, 3]])], [([[4, 5]], [[5, 4]])]
    ),
    "t1": task_json([([[0, 1, 2]], [[0], [1], [2]])], [([[7, 7, 8]], [[7], [7], [8]])]),
    "t2": task_json([([[6]], [[6, 6], [6, 6]])], [([[9]], None)]),
}


def png_size(path):
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    return image.shape[:2]


@contextlib.contextmanager
def lock_held_elsewhere(folder: Path):
    """Another process holding ``folder``'s writer lock (as a second trm would) while the
    block runs; yields its pid."""
    code = (
        "import sys\nfrom trm.staging import locked_folder\n"
        "with locked_folder(sys.argv[1]):\n    print('locked', flush=True)\n    sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder.pid
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


def settling_model(n_sup: int = 6):
    """A TRM with random weights, its network scaled down so that answers settle (the same
    from one step to the next) after a number of steps that differs between examples, as
    does the step whose halting head first says "halt": both halting rules stop examples at
    several different steps."""
    import torch

    from trm.model import TRM

    torch.manual_seed(9)
    model = TRM(tiny_config(n_sup=n_sup))
    with torch.no_grad():
        torch.nn.init.normal_(model.halt_head.weight, std=3.0)
        model.halt_head.bias.fill_(0.0)
        for p in model.net.parameters():
            if p.dim() == 2:
                p.mul_(0.3)
    return model
