"""Two processes under torchrun (gloo, CPU) train exactly what one process trains."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers import REPO, cmd, run_trm, trm_ok

ARGS = [
    "--preset",
    "tiny",
    "--steps",
    "24",
    "--batch-size",
    "8",
    "--device",
    "cpu",
    "--puzzle-emb-len",
    "2",
    "--puzzle-emb-lr",
    "0.01",
    "--precision",
    "fp32",
    "--halt-exploration",
    "0.5",
    "--log-every",
    "8",
    "--quiet",
]


def torchrun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "cli.main",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_ddp_on_two_processes_matches_one_process(tmp_path):
    data = tmp_path / "d"
    assert (
        run_trm(
            *cmd("data sudoku --out", data, "--size 4 --train 64 --test 8 --workers 1 --quiet")
        ).returncode
        == 0
    )
    one, two = tmp_path / "one", tmp_path / "two"
    r = trm_ok("train --data", data, "--out", one, ARGS)
    r = torchrun("train", "--data", str(data), "--out", str(two), *ARGS)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Warning" not in r.stderr, r.stderr[-2000:]  # (torch's broadcast_buffers, twice)

    a, b = (load_file(p / "checkpoint" / "model.safetensors") for p in (one, two))
    # the puzzle table moves by lr x sign(gradient summed over the rows of all ranks): the
    # sign of a coordinate whose sum is nearly zero can flip with rounding, so a few may
    # differ; a rank that used its own rows only would differ in many
    table_a, table_b = a.pop("puzzle_emb.weight"), b.pop("puzzle_emb.weight")
    off = (table_a - table_b).abs() > 1e-5
    assert off.float().mean() <= 0.05, f"{int(off.sum())} of {off.numel()} table values differ"
    for k in a:  # the same updates, up to the order of the gradient sums
        # (atol: a weight whose gradient sums to nearly zero can take an atan2 step of a
        # different size from a rounding difference; a wrong sample or halting choice moves
        # weights by the learning rate, 1e-3)
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
    sa, sb = (load_file(p / "checkpoint" / "train_state.safetensors") for p in (one, two))
    assert torch.equal(sa["slots.index"], sb["slots.index"])  # the same examples in flight
    assert torch.equal(sa["slots.steps"], sb["slots.steps"])
    la, lb = (
        [json.loads(line) for line in (p / "metrics.jsonl").read_text().splitlines()]
        for p in (one, two)
    )
    assert [r.get("halted_steps", r.get("mean_halt_steps")) for r in la] == [
        r.get("halted_steps", r.get("mean_halt_steps")) for r in lb
    ]
    # each process evaluated half the test split (none waited for the other in a collective
    # that can time out): joined, the figures of one process's whole evaluation of the same
    # weights (the two-process run's last, with which it wrote its checkpoint)...
    evals = [[r["eval"] for r in lines if "eval" in r] for lines in (la, lb)]
    assert len(evals[0]) == len(evals[1]) >= 1
    whole = json.loads(trm_ok("eval", two, "--data", data, "--json").stdout)
    for k in ("exact_accuracy", "cell_accuracy", "mean_steps", "n"):
        assert evals[1][-1][k] == pytest.approx(whole[k], abs=1e-9), k
    # ...and close to the one-process run's (whose weights differ by the rounding of the
    # gradient sums, enough to tip a cell whose two best digits are nearly tied)
    for one_eval, two_eval in zip(*evals, strict=True):
        assert two_eval["n"] == one_eval["n"] == 8
        for k, step in (("exact_accuracy", 1 / 8), ("cell_accuracy", 2 / (8 * 16))):
            assert two_eval[k] == pytest.approx(one_eval[k], abs=step + 1e-9), k

    # a checkpoint of the 2-process run resumes in one process
    r = trm_ok("train --data", data, "--out", two, "--resume --steps 30 --quiet --device cpu")
