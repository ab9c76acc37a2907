"""`trm solve` with a model: the trace, the verdict, and the command as a user meets it."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from puzzles.maze.watch import DEFAULT_MODEL as MAZE_MODEL
from puzzles.sudoku.grid import parse_puzzle
from puzzles.sudoku.watch import DEFAULT_MODEL, check_answer
from tests.helpers import (
    PUZZLE_4,
    REPO,
    TEST_ENV,
    TOP95_FIRST,
    assert_one_line_error,
    cmd,
    run_trm,
    settling_model,
    sudoku_tokens,
    tiny_config,
    trm_ok,
)
from tests.reference_solver import count_solutions, units
from trm.errors import TRMError
from trm.evaluate import evaluate
from trm.model import TRM
from trm.trace import trace

SOLUTION_4 = "1234341221434321"


# --------------------------------------------------------------------------- the trace


@pytest.mark.parametrize("halting", ["full", "adaptive", "head"])
def test_trace_ends_where_evaluation_takes_its_answer(halting):
    model = settling_model()
    data = sudoku_tokens(4, 24)
    result = evaluate(model, data, batch_size=8, halting=halting)
    assert len(set(result.steps.tolist())) > 2 or halting == "full"
    for i in range(len(data)):
        steps = trace(model, data.inputs[i], halting=halting)
        assert len(steps) == result.steps[i]
        assert np.array_equal(steps[-1].tokens, result.predictions[i])
        assert [s.step for s in steps] == list(range(1, len(steps) + 1))
        assert all(0 <= s.halt_prob <= 1 for s in steps)
        assert all(((s.confidence > 0) & (s.confidence <= 1)).all() for s in steps)
        # adaptive stops at the first step whose head says halt with the answer of the step
        # before (confirmed), and only there; head at the head's first "halt"
        if halting == "adaptive" and len(steps) < model.config.n_sup:
            assert steps[-1].halts and not any(s.halts for s in steps[:-1])
            assert len(steps) >= 2 and np.array_equal(steps[-1].tokens, steps[-2].tokens)
        if halting == "head" and len(steps) < model.config.n_sup:
            assert steps[-1].halt_prob > 0.5 and all(s.halt_prob <= 0.5 for s in steps[:-1])


def test_trace_can_run_past_the_trained_steps():
    model = settling_model()
    steps = trace(model, sudoku_tokens(4, 1).inputs[0], halting="full", max_steps=9)
    assert len(steps) == 9 > model.config.n_sup


# --------------------------------------------------------------------------- the verdict


def grid(text: str) -> np.ndarray:
    return np.array([int(c) if c != "." else 0 for c in text], dtype=np.int8)


def test_verdicts():
    puzzle, solution = grid(PUZZLE_4), grid(SOLUTION_4)
    assert check_answer(puzzle, solution, solution) == (True, True, "correct")
    # a full, rule-abiding grid that changed clues (digits 1 and 2 swapped everywhere)
    swapped = grid(SOLUTION_4.translate(str.maketrans("12", "21")))
    valid, correct, verdict = check_answer(puzzle, swapped, solution)
    assert (valid, correct) == (True, False) and verdict.startswith("valid but differs")
    broken = grid("1134" + SOLUTION_4[4:])
    assert check_answer(puzzle, broken, solution)[2] == "invalid: 3 conflicts"  # row, column, box
    assert (
        check_answer(puzzle, grid("." + SOLUTION_4[1:]), solution)[2] == "incomplete: 1 blank cell"
    )
    # several solutions: any grid that solves the puzzle is correct
    empty = np.zeros(16, np.int8)
    assert check_answer(empty, swapped, solution, unique=False)[:2] == (True, True)


# --------------------------------------------------------------------------- the command


def conflicts_of(g: str) -> int:
    """Rule violations counted independently of the project's code: (unit, digit) repeats."""
    values = [int(c) if c != "." else 0 for c in g]
    size = int(len(values) ** 0.5)
    total = 0
    for unit in units(size):
        digits = [values[i] for i in unit if values[i]]
        total += sum(1 for d in set(digits) if digits.count(d) > 1)
    return total


def test_default_model_solves_the_built_in_example_with_no_arguments():
    r = run_trm("solve", "sudoku")
    assert r.returncode == 0, r.stderr
    assert "step 1 of" in r.stdout and "correct" in r.stdout and "the default model" in r.stdout


@pytest.mark.parametrize("model", [DEFAULT_MODEL, MAZE_MODEL], ids=["sudoku", "maze"])
def test_default_models_are_shipped_in_the_package_and_small(model):
    files = {p.name: p.stat().st_size for p in model.iterdir()}
    assert set(files) == {"config.json", "model.safetensors"}
    assert sum(files.values()) <= 20 * 2**20
    pyproject = (REPO / "pyproject.toml").read_text()
    task = model.parent.name
    for name in files:  # package data: installed with trm
        assert f'"puzzles.{task}" = ["default_model/config.json", ' in pyproject
        assert f"default_model/{name}" in pyproject


def test_the_shipped_maze_model_solves_a_generated_maze_with_no_arguments():
    r = run_trm("solve", "maze", "--json")
    out = json.loads(r.stdout)
    assert Path(out["checkpoint"]) == MAZE_MODEL
    assert len(out["puzzle"]) == 10 and out["samples"]["samples"] == 8  # its size; 8 views
    assert r.returncode == 0 and out["correct"], out["verdict"]  # seed 0: solved (measured)
    r = run_trm("solve", "maze", "--seed", "1", "--steps", "final")  # the README's tour line
    assert r.returncode in (0, 1) and "shortest path has" in r.stdout
    assert r.stdout.startswith("the default model (")  # as Sudoku's (not its folder's path)


@pytest.mark.parametrize("halting", ["adaptive", "full"])
def test_json_is_complete_and_its_answer_checks_out(halting):
    r = run_trm("solve", "sudoku", TOP95_FIRST, "--json", "--halting", halting)
    out = json.loads(r.stdout)  # nothing else on stdout
    assert set(out) >= {"steps", "answer", "valid", "correct", "halted_at", "checkpoint"}
    steps = out["steps"]
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    assert out["halted_at"] == len(steps) and out["one_pass"]["answer"] == steps[-1]["grid"]
    if halting == "full":
        assert len(steps) == 96  # the default model's recorded test-time steps (n_sup 8)
    previous = TOP95_FIRST
    for s in steps:
        assert len(s["grid"]) == 81 and 0 <= s["halt_prob"] <= 1
        assert s["conflicts"] == conflicts_of(s["grid"])
        assert s["changed"] == [i for i in range(81) if s["grid"][i] != previous[i]]
        previous = s["grid"]
    answer = out["one_pass"]["answer"]
    count, solution = count_solutions(parse_puzzle(TOP95_FIRST))
    assert count == 1
    solution = "".join(map(str, solution.reshape(-1)))
    # "one_pass" is the steps shown; "answer" and its verdict are the 16 candidates' pick
    # (--samples 16), as the exit status
    assert out["one_pass"]["correct"] == (answer == solution)
    assert out["one_pass"]["valid"] == ("." not in answer and conflicts_of(answer) == 0)
    assert out["answer"] == out["samples"]["answer"]
    assert out["correct"] == (out["answer"] == solution)
    assert out["valid"] == ("." not in out["answer"] and conflicts_of(out["answer"]) == 0)
    assert r.returncode == (0 if out["correct"] else 1)
    assert Path(out["checkpoint"]) == DEFAULT_MODEL


def test_json_draws_no_panels_unless_recording(monkeypatch, tmp_path):
    """`--json` prints the JSON and draws nothing; with `--save` the panels are drawn for the
    recording."""
    from puzzles.sudoku import watch

    drawn = []
    real = watch.render_step
    monkeypatch.setattr(watch, "render_step", lambda w, s: drawn.append(s) or real(w, s))
    r = run_trm(*cmd("solve sudoku", TOP95_FIRST, "--json --samples 1"))
    assert r.returncode in (0, 1) and json.loads(r.stdout)["steps"] and drawn == []
    r = run_trm(
        *cmd("solve sudoku", TOP95_FIRST, "--json --samples 1 --record", tmp_path / "s.svg")
    )
    assert r.returncode in (0, 1) and drawn and (tmp_path / "s.svg").is_file()


def test_reads_stdin_and_shows_only_the_final_step_when_asked():
    from cli.solve import EXAMPLE_SUDOKU

    r = run_trm("solve", "sudoku", "-", "--steps", "final", input=EXAMPLE_SUDOKU + "\n")
    assert r.returncode == 0, r.stderr
    assert len(re.findall(r"step \d+ of", r.stdout)) == 1


@pytest.mark.parametrize(
    "puzzle,fragment",
    [
        ("123", "got 3 characters"),
        ("x" * 81, "bad character 'x'"),
        ("11" + "." * 79, "break the rules"),
        ("." + "12345678" + "9" + "." * 71, "no solution"),
        (PUZZLE_4, "is a 4x4 Sudoku but"),
    ],
)
def test_bad_puzzles_exit_2_with_one_line(puzzle, fragment):
    assert_one_line_error(run_trm("solve", "sudoku", puzzle), fragment)


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--checkpoint", "no/such/run"], "no such checkpoint"),
        (["--halting", "sometimes"], "--halting"),
        (["--steps", "some"], "--steps"),
        (["--max-steps", "0"], "--max-steps"),
        (["--record", "out.png"], ".svg or .html or .htm or .gif"),
        (["--record", "no/such/folder/x.svg"], "no such folder"),
        (["--record", "no/such/folder/x.gif"], "no such folder"),
    ],
)
def test_bad_options_exit_2_with_one_line(args, fragment):
    assert_one_line_error(run_trm("solve", "sudoku", *args), fragment)


@pytest.fixture(scope="module")
def untrained_4x4(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("solve")
    data, run = root / "s4", root / "run"
    trm_ok("data sudoku --out", data, "--size 4 --train 8 --test 4 --workers 1 --quiet")
    trm_ok("train --data", data, "--out", run, "--preset tiny --steps 1 --device cpu --quiet")
    return run


def test_a_wrong_answer_exits_1_and_max_steps_runs_past_training(untrained_4x4):
    r = run_trm(
        "solve",
        "sudoku",
        PUZZLE_4,
        "--checkpoint",
        str(untrained_4x4),
        "--json",
        "--halting",
        "full",
        "--max-steps",
        "7",
    )
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)
    assert out["correct"] is False and len(out["steps"]) == 7 and out["halted_at"] == 7
    r = run_trm("solve", "sudoku", PUZZLE_4, "-c", str(untrained_4x4))
    assert r.returncode == 1 and re.search(r"invalid|incomplete|valid but differs", r.stdout)
    assert "the 9x9 default" not in r.stderr


def test_record_saves_the_display_as_svg_and_html(tmp_path):
    for name in ("steps.svg", "steps.html"):
        r = run_trm("solve", "sudoku", "--record", str(tmp_path / name), "--json")
        assert r.returncode == 0, r.stderr
        json.loads(r.stdout)  # --json still prints JSON only
        text = (tmp_path / name).read_text()
        assert ("<svg" in text) if name.endswith("svg") else ("<html" in text.lower())
        assert "step 1 of" in text.replace("&#160;", " ").replace("\u00a0", " ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["steps.html", "steps.svg"]


def _frames(path: Path) -> list[np.ndarray]:
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "GIF" and image.info.get("loop") == 0  # (plays on)
        frames = []
        for i in range(image.n_frames):
            image.seek(i)
            frames.append(np.asarray(image.convert("RGB")))
    return frames


def test_record_gif_is_a_frame_a_step_then_the_answer_and_the_checker(tmp_path):
    """A solve to share: an animated GIF, the steps' markings in colour, the last frame the
    verdict and the checker's panel (drawn from the same panels the terminal shows)."""
    gif = tmp_path / "solve.gif"
    steps = ("--halting", "full", "--max-steps", "8")  # 8 steps, whatever the model
    r = run_trm("solve", "sudoku", "--samples", "4", *steps, "--record", str(gif))
    assert r.returncode == 0, r.stderr
    frames = _frames(gif)
    assert len(frames) == 8 + 1 and f"recorded {len(frames)} frames in" in r.stderr
    assert len({f.shape for f in frames}) == 1
    assert not np.array_equal(frames[0], frames[1])  # the answer moves
    spread = [int(np.ptp(f.astype(int), axis=2).max()) for f in frames]
    assert min(spread) > 100  # in colour
    # the last frame is taller: the answer's and the checker's panels under the legend
    rows_used = [int(np.nonzero((f != f[-1, -1]).any(axis=(1, 2)))[0].max()) for f in frames]
    assert rows_used[-1] > 2 * max(rows_used[:-1])
    assert [p.name for p in tmp_path.iterdir()] == ["solve.gif"]  # (nothing left beside it)


def test_record_gif_without_colour_is_grey_and_still_marked(tmp_path):
    gif = tmp_path / "maze.gif"
    r = run_trm(
        "solve", "maze", "--samples", "1", "--halting", "full", "--no-color", "--record", str(gif)
    )
    assert r.returncode in (0, 1), r.stderr
    frames = _frames(gif)
    assert len(frames) == 8 + 1  # every step of the shipped maze model, then the answer
    for frame in frames:
        assert int(np.ptp(frame.astype(int), axis=2).max()) == 0  # greys only
    assert len(np.unique(frames[1].reshape(-1, 3), axis=0)) > 3  # walls dim, changes bright


def test_no_color_drops_colours_but_keeps_the_steps():
    forced = {"NO_COLOR": None, "FORCE_COLOR": "1", "TERM": "xterm-256color"}
    coloured = run_trm("solve", "sudoku", env=forced)
    plain = run_trm("solve", "sudoku", "--no-color", env=forced)
    colour_code = re.compile(r"\x1b\[[0-9;]*(3[0-9]|4[0-9]|9[0-7])[0-9;]*m")
    assert colour_code.search(coloured.stdout)
    assert not colour_code.search(plain.stdout) and "step 1 of" in plain.stdout


@pytest.mark.parametrize("how", ["--no-color", "NO_COLOR=1"])
def test_without_colour_each_mark_of_the_legend_is_drawn_its_own_way(how):
    """Rich drops the colours: clue, changed and breaks-a-rule had all become plain bold."""
    forced = {"NO_COLOR": "1" if how == "NO_COLOR=1" else None, "FORCE_COLOR": "1"}
    r = run_trm("solve", "sudoku", *([how] if how.startswith("--") else []), env=forced)
    drawn = {}
    for label in ("clue", "filled by the model", "changed", "unsure", "breaks a rule"):
        found = re.search(r"((?:\x1b\[[0-9;]*m)*)" + re.escape(label), r.stdout)
        assert found, label
        drawn[label] = found.group(1).replace("\x1b[0m", "")  # (a reset is no mark)
    assert len(set(drawn.values())) == len(drawn), drawn
    assert not re.search(r"\x1b\[[0-9;]*(3[0-9]|4[0-9]|9[0-7])[0-9;]*m", r.stdout)


def test_interactive_without_a_terminal_prints_the_steps():
    r = run_trm("solve", "sudoku", "--interactive")
    assert r.returncode == 0
    assert "needs a terminal" in r.stderr and "step 1 of" in r.stdout


def test_interactive_in_a_terminal_steps_back_and_forth_and_quits():
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, **TEST_ENV, "TERM": "xterm"}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "cli.main", "solve", "sudoku", "-i"],
        cwd=str(REPO),
        env=env,
        dimensions=(50, 120),
        timeout=60,
        encoding="utf-8",
    )
    try:
        child.expect(r"step 1/(\d+)")
        total = int(child.match.group(1))
        assert total >= 2
        child.expect("q: quit")  # the keys are on screen
        child.send("n")
        child.expect("step 2/")
        child.send("\x1b[D")  # left arrow
        child.expect("step 1/")
        child.send("G")
        child.expect(f"step {total}/")
        child.send("g")
        child.expect("step 1/")
        child.send("a")  # auto-play runs to the last step by itself
        child.expect(f"step {total}/{total}")
        child.send("q")
        child.expect("correct")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


# --------------------------------------------------------------------------- mazes and ARC

from puzzles.watch import Model  # noqa: E402
from trm.trace import TraceStep  # noqa: E402


def model_for(task: str, config: TRM, data: dict) -> Model:
    return Model(config, {"task": task, "data": data}, "test-model", torch.device("cpu"), "fp32")


def fake_trace(*answers: np.ndarray):
    """A trace that answers with the given token rows, one per step, and halts at the last."""

    def run(model, inputs, puzzle_id=0, **kw):
        return [
            TraceStep(i + 1, a, np.full(a.shape, 0.9), 0.9 if i == len(answers) - 1 else 0.1)
            for i, a in enumerate(answers)
        ]

    return run


def test_maze_verdict_comes_from_the_checker(monkeypatch):
    from puzzles.maze import watch as mw
    from puzzles.maze.data import encode
    from puzzles.maze.generate import generate_indexed
    from puzzles.maze.grid import OPEN, PATH

    g = generate_indexed(10, "corridors", 21, 0, "tests", 0)
    broken = g.label.copy()
    broken.reshape(-1)[np.flatnonzero(broken == PATH)[3]] = OPEN  # a gap in the path
    net = TRM(tiny_config(vocab_size=6, seq_len=100))
    model = model_for("maze", net, {"seq_len": 100})
    monkeypatch.setattr(mw, "trace", fake_trace(encode(broken), encode(g.label)))
    w = mw.watch(model, g.maze)
    assert w.correct and w.verdict == "correct" and w.halted_at == 2
    first = w.steps[0]
    assert "connected" in first.extra["failed"] and not first.complete
    assert w.steps[1].changed == [int(np.flatnonzero(broken.reshape(-1) != g.label.reshape(-1))[0])]
    monkeypatch.setattr(mw, "trace", fake_trace(encode(broken)))
    w = mw.watch(model, g.maze)
    assert not w.correct and "not connected" in w.verdict
    out = mw.to_json(w)
    assert out["answer"][0].startswith("#") and out["correct"] is False and out["failed"]


def test_arc_verdict_compares_with_the_known_output(monkeypatch):
    from puzzles.arc import watch as aw
    from puzzles.arc.grid import ArcTask, Pair
    from puzzles.arc.tokens import encode

    question = np.array([[1, 2], [3, 4]], np.uint8)
    expected = np.array([[4, 3], [2, 1]], np.uint8)
    task = ArcTask("t1", (Pair(question, expected),), (Pair(question, expected),))
    net = TRM(tiny_config(vocab_size=12, seq_len=900, puzzle_emb_len=1, num_puzzle_ids=3))
    model = model_for(
        "arc",
        net,
        {"seq_len": 900, "task_info": {"task_ids": ["t0", "t1"], "puzzle_id_start": [0, 2, 3]}},
    )
    assert aw.puzzle_id_of(model, task) == 2  # the task's identity augmentation
    wrong = expected.copy()
    wrong[0, 0] = 9
    monkeypatch.setattr(aw, "trace", fake_trace(encode(wrong), encode(expected)))
    w = aw.watch(model, task)
    assert w.correct and w.steps[0].conflicts == 1 and w.steps[1].conflicts == 0
    monkeypatch.setattr(aw, "trace", fake_trace(encode(np.zeros((3, 3), np.uint8))))
    w = aw.watch(model, task)
    assert not w.correct and w.verdict == "wrong shape: 3x3, expected 2x2"
    unknown = ArcTask("t1", task.train, (Pair(question, None),))
    w = aw.watch(model, unknown)
    assert w.checked is False and aw.to_json(w)["correct"] is None
    with pytest.raises(TRMError, match="not in test-model's training data"):
        aw.puzzle_id_of(model, ArcTask("t9", task.train, task.test))


@pytest.fixture(scope="module")
def maze_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("maze")
    data, run = root / "m8", root / "run"
    trm_ok("data maze --out", data, "--size 8 --train 16 --test 4 --workers 1 --quiet")
    trm_ok("train --data", data, "--out", run, "--preset tiny --steps 2 --device cpu --quiet")
    return data, run


def test_solve_maze_json_from_stdin_and_a_generated_maze(maze_run):
    data, run = maze_run
    shown = json.loads(run_trm(*cmd("data show", data, "--split test --n 1 --json")).stdout)
    maze_rows = shown["examples"][0]["input"]
    r = run_trm(
        *cmd("solve maze - -c", run, "--json --halting full"), input="\n".join(maze_rows) + "\n"
    )
    out = json.loads(r.stdout)
    assert out["puzzle"] == maze_rows and len(out["steps"]) == 4  # tiny preset: n_sup 4
    assert all(
        len(s["grid"]) == 8 and all(len(row) == 8 for row in s["grid"]) for s in out["steps"]
    )
    assert r.returncode == (0 if out["correct"] else 1)
    r = run_trm(*cmd("solve maze -c", run, "--seed 3 --steps final"))
    assert r.returncode in (0, 1) and "step" in r.stdout and "shortest path has" in r.stdout


@pytest.mark.parametrize(
    "maze,fragment",
    [
        ("#S##\n#  #\n#  #\n####", "no goal"),
        ("S  G\n#x #\n#  #\n####", "'x'"),
        ("S#  \n##  \n   G\n####", "reach"),
    ],
)
def test_solve_maze_refuses_bad_mazes(maze_run, maze, fragment):
    assert_one_line_error(run_trm("solve", "maze", maze, "-c", str(maze_run[1])), fragment)


def test_solve_refuses_a_model_of_another_task(maze_run, untrained_4x4):
    assert_one_line_error(
        run_trm("solve", "maze", "-c", str(untrained_4x4)), "is a 'sudoku' model, not a maze one"
    )
    assert_one_line_error(
        run_trm("solve", "sudoku", "-c", str(maze_run[1])), "is a 'maze' model, not a sudoku one"
    )


def test_solve_arc_from_a_task_file(tmp_path):
    from tests.helpers import task_json, write_tasks

    tasks = {
        "aa": task_json([([[1, 2]], [[2, 1]])], [([[3, 4]], [[4, 3]])]),
        "bb": task_json([([[5]], [[6]])], [([[7]], [[8]])]),
    }
    folder = write_tasks(tmp_path / "tasks", tasks)
    data, run = tmp_path / "data", tmp_path / "run"
    r = trm_ok("data arc --source", folder, "--out", data, "--augment 2 --quiet")
    r = trm_ok(
        "train --data",
        data,
        "--out",
        run,
        "--preset tiny --steps 1 --mixer attention --puzzle-emb-len 1 --device cpu --quiet",
    )
    r = run_trm(*cmd("solve arc", folder / "aa.json", "-c", run, "--json"))
    out = json.loads(r.stdout)
    assert out["task"] == "aa" and out["input"] == [[3, 4]] and out["expected"] == [[4, 3]]
    assert r.returncode == (0 if out["correct"] else 1)
    assert_one_line_error(
        run_trm(*cmd("solve arc", folder / "aa.json", "-c", run, "--pair 3")),
        "--pair must be 0 to 0",
    )
    other = write_tasks(tmp_path / "other", {"cc": tasks["aa"]})
    assert_one_line_error(
        run_trm("solve", "arc", str(other / "cc.json"), "-c", str(run)), "task cc was not in"
    )
    assert_one_line_error(
        run_trm("solve", "arc", "nosuchtask", "-c", str(run)), "no task 'nosuchtask'"
    )


# ----------------------------------------------------------------------- --samples


# a top95 puzzle the shipped model does not solve in one pass (its candidates do)
TOP95_2 = "48.3............71.2.......7.5....6....2..8.............1.76...3.....4......5...."


def test_solve_samples_reports_the_one_pass_and_the_checked_answer_apart():
    r = run_trm("solve", "sudoku", TOP95_2, "--samples", "8", "--json", "--precision", "fp32")
    out = json.loads(r.stdout)
    s = out["samples"]
    assert set(out["one_pass"]) == {"answer", "valid", "correct", "verdict"}
    assert out["answer"] == s["answer"] and out["one_pass"]["answer"] == out["steps"][-1]["grid"]
    assert {
        "samples",
        "chosen",
        "votes",
        "verified",
        "verified_candidates",
        "verified_at_step",
        "mean_steps",
        "seconds",
        "answer",
    } <= set(s)
    assert s["samples"] == 8 and 0 <= s["chosen"] < 8 and out["correct"] == s["correct"]
    assert r.returncode == (0 if s["correct"] else 1)
    answer = np.array([int(c) for c in s["answer"]], np.int8)
    puzzle = np.array([0 if c == "." else int(c) for c in TOP95_2], np.int8)
    from puzzles.sudoku.grid import is_solution

    assert s["verified"] == is_solution(answer, puzzle)  # verified means the rules and clues hold
    if s["verified"]:
        assert 1 <= s["verified_at_step"] <= s["max_steps"]
        assert "verified by the checker" in out["verdict"]
    shown = ("--samples", "8", "--steps", "final", "--precision", "fp32")
    r = run_trm("solve", "sudoku", TOP95_2, *shown)
    assert "with the checker" in r.stdout
    assert "candidates (views + noise 2.0)" in r.stdout  # the noise the model records


def test_solve_samples_on_a_maze(maze_run):
    _data, run = maze_run
    r = run_trm(*cmd("solve maze -c", run, "--samples 4 --noise 0.5 --json"))
    out = json.loads(r.stdout)
    assert out["samples"]["samples"] == 4 and out["samples"]["noise"] == 0.5
    assert r.returncode == (0 if out["samples"]["correct"] else 1)
    assert out["samples"]["verified"] == out["samples"]["correct"]  # the checker is BFS's
    # the top level describes the path given (the samples' pick), "one_pass" the steps shown
    assert out["answer"] == out["samples"]["answer"] and out["correct"] == out["samples"]["correct"]
    assert out["failed"] == out["samples"]["failed"] and (out["failed"] == []) == out["correct"]
    assert out["one_pass"]["answer"] == out["steps"][-1]["grid"]
    assert out["one_pass"]["failed"] == out["steps"][-1]["failed"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--samples", "0"], "--samples"),
        (["--samples", "4", "--noise", "-1"], "--noise"),
        (["--samples", "4", "--select", "best"], "--select"),
        (["--samples", "1", "--noise", "0.5"], "go with --samples"),
        (["--exact", "--samples", "4"], "not with --exact"),
    ],
)
def test_solve_samples_bad_options(args, fragment):
    r = run_trm("solve", "sudoku", *args)
    assert r.returncode == 2 and fragment in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_eval_samples_reports_both_on_the_same_puzzles(untrained_4x4, tmp_path):
    data = untrained_4x4.parent / "s4"
    r = trm_ok("eval", untrained_4x4, "--data", data, "--samples 4 --json")
    out = json.loads(r.stdout)
    assert out["n"] == 4 and out["scaled"]["candidates"] == 16
    assert {"exact_accuracy", "checker_passed", "puzzles_per_s"} <= set(out["one_pass"])
    assert {"exact_accuracy", "verified", "mean_steps", "puzzles_per_s"} <= set(out["scaled"])
    assert out["scaled"]["exact_accuracy"] >= out["scaled"]["verified"]  # a verified 4x4 is right
    r = run_trm(*cmd("eval", untrained_4x4, "--data", data, "--samples 2"))
    assert (
        r.returncode == 0
        and "model alone (one pass)" in r.stdout
        and "with 2 candidates" in r.stdout
    )
    r = run_trm(*cmd("eval", untrained_4x4, "--data", data, "--samples 2 --views 2"))
    assert r.returncode == 2 and "do not go together" in r.stderr
    r = run_trm(*cmd("eval", untrained_4x4, "--data", data, "--samples 2 --halting adaptive"))
    assert r.returncode == 2 and "halting" in r.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ("--noise 0.5", "go with --samples"),
        ("--select vote", "go with --samples"),
        ("--seed 3", "go with --samples"),
        ("--no-augment", "go with --samples"),
        ("--lockstep", "go with --samples"),
        ("--views 2 --halting adaptive", "--halting does not go with --views"),
    ],
)
def test_eval_refuses_options_it_would_ignore(untrained_4x4, args, fragment):
    """Each of these once ran a plain one-pass evaluation and exited 0."""
    data = untrained_4x4.parent / "s4"
    r = run_trm(*cmd("eval", untrained_4x4, "--data", data, args))
    assert r.returncode == 2 and fragment in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_solve_sudoku_without_a_puzzle_gives_an_example_of_the_models_size(s4_run):
    """A 4x4 run once met the built-in 9x9 example ("puzzle is a 9x9 Sudoku but ... 4x4")."""
    _data, run = s4_run
    r = run_trm(*cmd("solve sudoku -c", run, "--json --samples 1"))
    assert r.returncode in (0, 1), r.stderr
    out = json.loads(r.stdout)
    assert len(out["puzzle"]) == 16 and len(out["answer"]) == 16


def test_eval_without_data_takes_the_runs_own_dataset_and_says_so(s4_run, tmp_path):
    import shutil

    data, run = s4_run
    r = trm_ok("eval", run, "--json")
    assert json.loads(r.stdout)["n"] > 0 and f"data: {data}" in r.stderr
    # the recorded folder gone: one line, exit 2
    moved = tmp_path / "run"
    shutil.copytree(run, moved)
    config = moved / "checkpoint" / "config.json"
    meta = json.loads(config.read_text())
    meta["data"]["path"] = str(tmp_path / "gone")
    config.write_text(json.dumps(meta))
    r = run_trm("eval", str(moved))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "gone" in r.stderr and "pass --data" in r.stderr


def test_lead_solves_alone_where_it_can_and_lockstep_runs_every_candidate():
    """`trm solve`'s default (--lead): the puzzle as given runs alone first; the other
    candidates run only if it is not solved. --lockstep runs all of them together."""
    from cli.solve import EXAMPLE_SUDOKU

    lead = json.loads(trm_ok("solve sudoku", EXAMPLE_SUDOKU, "--json").stdout)
    lockstep = json.loads(trm_ok("solve sudoku", EXAMPLE_SUDOKU, "--json --lockstep").stdout)
    assert lead["correct"] and lockstep["correct"] and lead["answer"] == lockstep["answer"]
    assert lead["samples"]["ran"] == 1 and lead["samples"]["chosen"] == 0  # solved alone
    assert lockstep["samples"]["ran"] == 16
    shown = trm_ok("solve sudoku", EXAMPLE_SUDOKU, "--steps final").stdout
    assert "verified alone; 15 never ran" in re.sub(r"\s+", " ", shown)
