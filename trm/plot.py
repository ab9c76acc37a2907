"""PNG charts from runs' ``metrics.jsonl``: learning curves (``trm plot``) and comparisons.

matplotlib draws off-screen (the Agg backend); every file is written to a temporary name
and renamed into place, so an interrupted plot never leaves half a PNG.
"""

from __future__ import annotations

from pathlib import Path

from trm.errors import TRMError
from trm.files import MAX_METRICS_BYTES, METRICS
from trm.jsonfile import parse_json, read_bounded
from trm.staging import OutputFile


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_metrics(run: Path) -> tuple[list[dict], list[dict]]:
    """(training log lines, evaluation lines) of a run folder or a metrics file."""
    run = Path(run)
    path = run / METRICS if run.is_dir() else run
    if not path.is_file():
        raise TRMError(f"{path}: no such file (a run folder holds {METRICS})")
    train, evals = [], []
    data = read_bounded(path, MAX_METRICS_BYTES, "not a metrics file trm wrote")
    lines = data.splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = parse_json(line, f"{path}:{number}")
        except TRMError:
            if number == len(lines):
                continue  # a last line cut short by a crash
            raise
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            raise TRMError(f'{path}:{number}: a metrics line needs an integer "step"')
        if isinstance(record.get("eval"), dict):
            evals.append(record)
        elif "loss" in record:
            train.append(record)
    if not train and not evals:
        raise TRMError(f"{path}: no training or evaluation lines to plot")
    return train, evals


def _accuracy(result: dict) -> float | None:
    """An evaluation's headline accuracy: exact answers for puzzles, top-1 for images."""
    for key in ("exact_accuracy", "top1"):
        if isinstance(result.get(key), (int, float)):
            return float(result[key])
    return None


def save_figure(fig, out: Path | OutputFile) -> Path:
    """Write ``fig`` as PNG to ``out`` (a path, written over, or a checked result file)."""
    if not isinstance(out, OutputFile):
        out = Path(out)
        if out.suffix.lower() != ".png":
            raise TRMError(f"{out}: the plot is written as PNG, name it .png")
        out.parent.mkdir(parents=True, exist_ok=True)
        out = OutputFile(out, force=True)
    return out.write(lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))


def curves_figure(runs: list[Path], labels: list[str] | None = None):
    """Learning curves of one or more runs, one colour each (a matplotlib figure): training
    loss; exact (or top-1) accuracy and cell accuracy, training solid and the periodic
    evaluations dashed with dots; supervision steps at halt."""
    plt = _pyplot()
    data = [read_metrics(r) for r in runs]
    labels = labels or [Path(r).name or str(r) for r in runs]
    fig, grid = plt.subplots(2, 2, figsize=(13, 8.4))
    loss_ax, exact_ax, cell_ax, halt_ax = grid.flat
    most_steps = 1.0
    for (train, evals), label, colour in zip(
        data, labels, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 9
    ):
        steps = [r["step"] for r in train]
        # (a run with one logged point draws it: a line needs two)
        line = {"color": colour, "marker": "o" if len(steps) == 1 else None}
        loss_ax.plot(steps, [r["loss"] for r in train], label=label, **line)
        for ax, key in ((exact_ax, "exact_accuracy"), (cell_ax, "cell_accuracy")):
            if train and key in train[0]:
                ax.plot(steps, [r[key] for r in train], alpha=0.6, label=f"{label} (train)", **line)
        points = [
            (r["step"], _accuracy(r["eval"])) for r in evals if _accuracy(r["eval"]) is not None
        ]
        if points:
            exact_ax.plot(*zip(*points), "o--", color=colour, label=f"{label} (eval)")
        cells = [
            (r["step"], r["eval"]["cell_accuracy"]) for r in evals if "cell_accuracy" in r["eval"]
        ]
        if cells:
            cell_ax.plot(*zip(*cells), "o--", color=colour, label=f"{label} (eval)")
        if train and "mean_halt_steps" in train[0]:
            halting = [r["mean_halt_steps"] for r in train]
            halt_ax.plot(steps, halting, label=label, **line)
            most_steps = max(most_steps, *halting)
        halts = [(r["step"], r["eval"]["mean_steps"]) for r in evals if "mean_steps" in r["eval"]]
        if halts:
            halt_ax.plot(*zip(*halts), "o--", color=colour)
            most_steps = max(most_steps, *(h for _, h in halts))
    titles = (
        "training loss",
        "accuracy (exact / top-1)",
        "cell accuracy (puzzles)",
        "supervision steps at halt",
    )
    for ax, title in zip(grid.flat, titles, strict=True):
        ax.set_title(title)
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
    _log_axis(loss_ax)
    exact_ax.set_ylim(0, 1)
    cell_ax.set_ylim(0, 1)
    halt_ax.set_ylim(0, most_steps * 1.1)  # (from zero: a constant count is not magnified)
    for ax, size in ((loss_ax, 8), (exact_ax, 7), (cell_ax, 7)):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=size)
    fig.tight_layout()
    return fig


def _log_axis(ax) -> None:
    """A log scale with ticks at 1, 2, 3 and 5 of each decade, numbers as written (a loss
    that spans less than a decade had two ticks)."""
    from matplotlib.ticker import LogLocator, StrMethodFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:.3g}"))
    ax.yaxis.set_minor_formatter(StrMethodFormatter(""))


def plot_runs(runs: list[Path], out: Path | OutputFile, labels: list[str] | None = None) -> Path:
    """:func:`curves_figure` as a PNG."""
    fig = curves_figure(runs, labels)
    path = save_figure(fig, out)
    _pyplot().close(fig)
    return path


def plot_compare(result: dict, out_dir: Path) -> list[Path]:
    """``trm vision compare``'s charts: top-1 against images seen and against training
    FLOPs (every variant's periodic evaluations, then its final one on the whole test
    split), and top-1 against parameters."""
    plt = _pyplot()
    rows = result["variants"]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"] * 9
    name = result["data"]["name"]
    charts = []
    for key, xlabel, title, file in (
        ("images", "images seen (training)", "top-1 against images seen", "top1_vs_images.png"),
        ("flops", "training FLOPs", "top-1 against training FLOPs", "top1_vs_flops.png"),
    ):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for r, colour in zip(rows, colours):
            _, evals = read_metrics(Path(r["run"]))
            per_image = r["train_flops"] / r["images"] if r.get("images") else 0
            scale = 1 if key == "images" else per_image
            # periodic evaluations on the way (the one at the end is superseded by the
            # final measurement on the whole test split)
            points = [
                (e["images"] * scale, _accuracy(e["eval"]))
                for e in evals
                if isinstance(e.get("images"), int)
                and _accuracy(e["eval"]) is not None
                and e["images"] < r.get("images", 0)
            ]
            points.append((r.get("images", 0) * scale, r["top1"]))
            ax.plot(*zip(*sorted(points)), "o-", color=colour, label=r["variant"])
        if key == "flops":
            ax.set_xscale("log")
        _chance(ax, result)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test top-1")
        ax.set_title(f"{title} ({name}, budget: {result.get('budget', 'time')})")
        ax.grid(alpha=0.3)
        ax.legend()
        charts.append(save_figure(fig, Path(out_dir) / file))
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r, colour in zip(rows, colours):
        ax.scatter(r["params"], r["top1"], color=colour, s=60, label=r["variant"])
        ax.annotate(
            r["variant"],
            (r["params"], r["top1"]),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=9,
        )
    ax.set_xscale("log")
    ax.margins(x=0.25, y=0.1)  # (room for the names beside the points)
    _chance(ax, result)
    ax.set_xlabel("parameters")
    ax.set_ylabel("test top-1")
    ax.set_title("top-1 against parameters")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    charts.append(save_figure(fig, Path(out_dir) / "top1_vs_params.png"))
    plt.close(fig)
    return charts


def _chance(ax, result: dict) -> None:
    """A dotted line at chance (one class in ``classes``), where the data says how many."""
    classes = result.get("data", {}).get("classes")
    if isinstance(classes, int) and classes > 1:
        ax.axhline(1 / classes, color="grey", linestyle=":", linewidth=1, label="chance")
