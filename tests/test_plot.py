"""`trm plot`: learning curves of puzzle and vision runs as readable PNGs."""

from __future__ import annotations

import json

import pytest

from tests.helpers import png_size, run_trm
from trm.errors import TRMError
from trm.plot import curves_figure, plot_compare, plot_runs, read_metrics


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


def _ticks(ax) -> list[str]:
    ax.figure.canvas.draw()
    low, high = ax.get_ylim()
    return [t.get_text() for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high]


def test_curves_show_cell_accuracy_lone_points_and_honest_axes(tmp_path):
    """Exact accuracy alone was flat at 0 while cell accuracy climbed; a run with one logged
    point was in the legend and drew nothing; a constant halting count was magnified to
    3.8-4.2; the log loss axis had two ticks."""
    run = tmp_path / "run"
    run.mkdir()
    lines = [
        {
            "step": s,
            "loss": 2.2 - s / 100,
            "exact_accuracy": 0.0,
            "cell_accuracy": s / 100,
            "mean_halt_steps": 4.0,
        }
        for s in (10, 20, 30)
    ]
    lines.append(
        {"step": 30, "eval": {"exact_accuracy": 0.0, "cell_accuracy": 0.3, "mean_steps": 4.0}}
    )
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "metrics.jsonl").write_text(json.dumps(lines[0]) + "\n")
    fig = curves_figure([run, lone])
    loss, _, cell, halt = fig.axes
    assert "cell accuracy" in cell.get_title()
    climbing = [line for line in cell.lines if max(line.get_ydata()) > 0]
    assert climbing  # the cells' progress is drawn
    lone_lines = [line for line in loss.lines if len(line.get_xdata()) == 1]
    assert lone_lines and lone_lines[0].get_marker() == "o"
    assert halt.get_ylim()[0] == 0 and halt.get_ylim()[1] >= 4.0
    assert len(_ticks(loss)) >= 3  # (the loss spans 2.1 to 1.9)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_compare_charts_draw_chance(tmp_path, monkeypatch):
    import trm.plot

    drawn = []
    save = trm.plot.save_figure
    monkeypatch.setattr(
        trm.plot, "save_figure", lambda fig, out: drawn.append(fig.axes[0]) or save(fig, out)
    )
    run = write_run(tmp_path / "vit", evals_key="top1")
    result = {
        "data": {"name": "shapes", "classes": 10},
        "budget": "time",
        "variants": [
            {
                "variant": "vit",
                "run": str(run),
                "params": 1000,
                "top1": 0.5,
                "images": 100,
                "train_flops": 1e9,
            },
        ],
    }
    charts = plot_compare(result, tmp_path / "charts")
    assert sorted(p.name for p in charts) == [
        "top1_vs_flops.png",
        "top1_vs_images.png",
        "top1_vs_params.png",
    ]
    for ax in drawn:  # a dotted line at one in ten, named in the legend
        chance = [line for line in ax.lines if line.get_label() == "chance"]
        assert chance and list(chance[0].get_ydata()) == [0.1, 0.1]
        assert "chance" in [t.get_text() for t in ax.get_legend().get_texts()]
