"""`trm plot`: learning curves of puzzle and vision runs as readable PNGs."""

from __future__ import annotations

import json

import pytest

from tests.helpers import png_size, run_trm
from trm.errors import TRMError
from trm.plot import plot_runs, read_metrics


def write_run(folder, evals_key="exact_accuracy", cut_last=False):
    folder.mkdir(parents=True)
    lines = []
    for step in range(10, 60, 10):
        lines.append(
            {
                "step": step,
                "loss": 3.0 / step,
                "exact_accuracy": step / 100,
                "mean_halt_steps": 8 - step / 10,
            }
        )
        if step % 20 == 0:
            lines.append(
                {
                    "step": step,
                    "elapsed": step * 1.5,
                    "eval": {evals_key: step / 80, "mean_steps": 8.0},
                }
            )
    text = "".join(json.dumps(x) + "\n" for x in lines)
    (folder / "metrics.jsonl").write_text(text + ('{"step": 60, "lo' if cut_last else ""))
    return folder


def test_plot_draws_puzzle_and_vision_runs_into_one_png(tmp_path):
    puzzle = write_run(tmp_path / "sudoku")
    vision = write_run(tmp_path / "vitrm", evals_key="top1", cut_last=True)
    train, evals = read_metrics(vision)
    assert len(train) == 5 and [e["step"] for e in evals] == [20, 40]
    out = plot_runs([puzzle, vision], tmp_path / "docs" / "curves.png")
    h, w = png_size(out)
    assert h > 200 and w > 600
    assert [p.name for p in (tmp_path / "docs").iterdir()] == ["curves.png"]  # no temp file left


def test_cli_plot_and_its_errors(tmp_path):
    run = write_run(tmp_path / "run")
    r = run_trm("plot", str(run), "--out", str(tmp_path / "c.png"))
    assert r.returncode == 0 and png_size(tmp_path / "c.png")[0] > 100
    for args, word in (
        ([str(tmp_path / "nope")], "no such file"),
        ([str(run), "--out", str(tmp_path / "c.jpg")], ".png"),
    ):
        r = run_trm("plot", *args, *([] if "--out" in args else ["--out", str(tmp_path / "x.png")]))
        assert r.returncode == 2 and word in r.stderr and len(r.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "metrics.jsonl").write_text('{"step": 1, "loss": 1}\nnot json\n{"step": 2, "loss": 1}\n')
    with pytest.raises(TRMError, match=r"metrics.jsonl:2: not valid JSON"):
        read_metrics(bad)
