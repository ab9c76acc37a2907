"""The docs' console transcripts are what the tool prints (docs/transcripts.py makes them;
they had drifted: other conflicts per step, a halting mode that was no longer the default)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.helpers import REPO


def _transcripts():
    spec = importlib.util.spec_from_file_location("transcripts", REPO / "docs" / "transcripts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_transcript_in_the_docs_is_what_its_command_prints():
    transcripts = _transcripts()
    marked = [
        m.group("command")
        for path in transcripts.DOCS
        for m in transcripts.BLOCK.finditer(path.read_text())
    ]
    assert len(marked) >= 4  # (solve sudoku, exact, exact --json, solve maze)
    differ = [c for path in transcripts.DOCS for c in transcripts.refresh(path, check=True)]
    assert not differ, f"run `python docs/transcripts.py` to remake: {differ}"


def test_abridging_keeps_the_first_step_and_the_last_change_and_sums_up_the_rest():
    transcripts = _transcripts()

    def panel(step, conflicts, changed):
        return [
            f"╭─ step {step} of 4 ──╮",
            f"│ 1 2   conflicts {conflicts} │",
            f"│ 3 4   changed   {changed} │",
            "╰──────────────╯",
        ]

    lines = ["header", *panel(1, 5, 9), *panel(2, 3, 2), *panel(3, 0, 1), *panel(4, 0, 0)]
    text = "\n".join([*lines, "╭─ answer ─╮", "╰──────────╯"]) + "\n"
    shown = transcripts.abridge(text).splitlines()
    assert shown[:5] == ["header", *panel(1, 5, 9)]
    assert shown[5] == "  ... step 2: conflicts 3; cells changed 2 ..."
    assert shown[6:10] == panel(3, 0, 1)
    assert shown[10] == "  ... step 4: conflicts 0; cells changed 0 ..."
    assert shown[11:] == ["╭─ answer ─╮", "╰──────────╯"]
    assert transcripts.same("took 1.5 s and 14 ms", "took 0.2 s and 9.1 ms")


def test_the_readme_gives_the_shipped_models_sizes_as_the_tool_counts_them():
    import torch

    from puzzles.evaluation import load_model
    from puzzles.maze.watch import DEFAULT_MODEL as MAZE_MODEL
    from puzzles.sudoku.watch import DEFAULT_MODEL as SUDOKU_MODEL
    from trm.model import parameter_count

    readme = (REPO / "README.md").read_text()
    for folder in (SUDOKU_MODEL, MAZE_MODEL):
        model, _ = load_model(folder, torch.device("cpu"))
        assert f"{parameter_count(model):,} parameters" in readme, folder


@pytest.mark.slow
def test_the_readme_figures_of_the_shipped_maze_model_are_what_trm_eval_prints(tmp_path):
    """The README's row for the shipped maze model, remeasured with the commands it names
    (500 fresh mazes, seed 1: one pass, and `trm solve maze`'s default of 8 symmetries and
    the checker)."""
    import json
    import re

    from puzzles.maze.watch import DEFAULT_MODEL as MAZE_MODEL
    from tests.helpers import trm_ok

    row = next(
        line for line in (REPO / "README.md").read_text().splitlines() if "maze model" in line
    )
    found = re.search(r"500 fresh mazes: ([\d.]+)% exact one pass, \*\*([\d.]+)%\*\*", row)
    assert found, row
    one_pass, checked = (float(x) for x in found.groups())
    fresh = tmp_path / "fresh"
    trm_ok("data maze --out", fresh, "--size 10 --train 0 --test 500 --seed 1 --quiet")
    evaluate = ("eval", MAZE_MODEL, "--data", fresh, "--json")
    got = json.loads(trm_ok(*evaluate).stdout)
    assert round(100 * got["exact_accuracy"], 1) == one_pass
    got = json.loads(trm_ok(*evaluate, "--samples 8").stdout)
    assert round(100 * got["scaled"]["exact_accuracy"], 1) == checked


@pytest.mark.slow
def test_the_readme_figures_of_the_shipped_sudoku_model_are_what_trm_eval_prints(tmp_path):
    """The README's rows for the shipped Sudoku model on the outside sets: one pass on
    17clue-2000 and top95, and top95 with 16 and 64 noisy candidates and the checker."""
    import json
    import re

    from puzzles.sudoku.watch import DEFAULT_MODEL as SUDOKU_MODEL
    from tests.helpers import SHARED_SUDOKU, trm_ok

    if not (SHARED_SUDOKU / "top95.txt").is_file():
        pytest.skip("the outside Sudoku sets are not here")
    lines = (REPO / "README.md").read_text().splitlines()
    row = next(line for line in lines if "the shipped Sudoku model" in line)
    clue17, top95 = (
        float(re.search(rf"([\d.]+)%(?:\*\*)? {name}", row).group(1))
        for name in ("17-clue", "top95")
    )
    checked = next(line for line in lines if "with 64 candidates" in line)
    top95_k16, top95_k64 = (
        float(re.search(rf"{lead}top95 \*\*([\d.]+)%\*\*", checked).group(1))
        for lead in ("17-clue [^|]*?, ", "with 64 candidates ")
    )
    sets = {}
    for name in ("top95", "17clue-2000"):
        sets[name] = tmp_path / name
        trm_ok(
            "data sudoku --import", SHARED_SUDOKU / f"{name}.txt", "--out", sets[name], "--quiet"
        )

    def exact(name, *more):
        run = trm_ok(
            "eval", SUDOKU_MODEL, "--data", sets[name], "--precision fp32 --json", *more,
            timeout=3600,
        )  # fmt: skip
        out = json.loads(run.stdout)
        return round(100 * out.get("scaled", out)["exact_accuracy"], 1)

    assert exact("top95") == top95
    assert exact("17clue-2000") == clue17
    # the checker at the model's recorded noise: trm solve's default (16), and 64
    assert exact("top95", "--samples", "16") == top95_k16
    assert exact("top95", "--samples", "64") == top95_k64
