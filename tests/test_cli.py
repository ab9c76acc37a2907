"""The `trm` command as a user meets it: exit codes, one-line errors, JSON on stdout only."""

import json
import re

import pytest

from puzzles.sudoku.grid import is_solution, parse_puzzle
from tests.helpers import REPO, TOP95_FIRST, assert_one_line_error, cmd, run_trm, trm_ok
from trm import __version__


def test_version_and_help():
    """The console entry point itself, in its own process (the rest mostly run in-process)."""
    r = run_trm("--version", own_process=True)
    assert r.returncode == 0 and r.stdout.strip() == f"trm {__version__}"
    r = run_trm("--help", own_process=True)
    assert r.returncode == 0
    for group in ("data", "train", "eval", "solve", "vision", "plot"):
        assert group in r.stdout


COMMANDS = [
    ["data", "sudoku"],
    ["data", "show"],
    ["data", "augment"],
    ["solve", "sudoku"],
    ["solve", "maze"],
    ["solve", "arc"],
    ["data", "maze"],
    ["data", "arc"],
    ["train"],
    ["eval"],
    ["vision", "train"],
    ["vision", "eval"],
    ["vision", "info"],
    ["vision", "data", "synthetic"],
    ["vision", "data", "cifar"],
    ["vision", "compare"],
    ["plot"],
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_an_example(command):
    r = run_trm(*command, "--help")
    assert r.returncode == 0 and "Example" in r.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_at_80_columns_names_every_option_whole_and_keeps_the_examples(command):
    """At 80 columns (or piped) the boxed help cut option names (`--puzzle-emb-w...`) and
    squeezed the help into a few words a line; the plain help fits, and each example stays
    a line of its own, to copy whole."""
    import inspect

    import typer

    from cli.main import app
    from tests.helpers import run_trm_here

    r = run_trm_here(*command, "--help", env={"COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    assert "│" not in r.stdout  # (no boxes)
    cmd = typer.main.get_command(app)
    for name in command:
        cmd = cmd.commands[name]
    for param in cmd.params:
        for opt in param.opts + param.secondary_opts:
            if opt.startswith("-"):
                assert re.search(rf"(^|[\s,/]){re.escape(opt)}([\s,/]|$)", r.stdout, re.M), opt
    examples = [
        line.strip() for line in inspect.cleandoc(cmd.help).splitlines() if line.startswith(" ")
    ]
    shown = [line.strip() for line in r.stdout.splitlines()]
    assert all(example in shown for example in examples)
    too_wide = [line for line in r.stdout.splitlines() if len(line) > 80]
    assert all(line.strip() in examples for line in too_wide), too_wide


def test_solve_exact_json_gives_a_checked_unique_solution():
    r = run_trm("solve", "sudoku", TOP95_FIRST, "--exact", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"solution", "unique", "rating"}
    assert out["unique"] is True and len(out["solution"]) == 81
    assert is_solution(parse_puzzle(out["solution"]), parse_puzzle(TOP95_FIRST))
    assert out["rating"]["tier"] == "extreme" and out["rating"]["clues"] == 17


def test_solve_reads_stdin_and_grid_text():
    grid_text = "\n".join(TOP95_FIRST[i : i + 9] for i in range(0, 81, 9))
    r = run_trm("solve", "sudoku", "-", "--exact", "--json", input=grid_text + "\n")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["unique"] is True


def test_solve_default_example_prints_a_grid():
    r = run_trm("solve", "sudoku", "--exact")
    assert r.returncode == 0 and "unique solution" in r.stdout
    assert r.stdout.count("|") == 18  # nine rows, two box borders each


def test_solve_4x4_from_its_length():
    r = run_trm("solve", "sudoku", "1.3434.221434.21", "--exact", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["solution"] == "1234341221434321"


@pytest.mark.parametrize(
    "puzzle, fragment",
    [
        ("123", "got 3 characters"),
        ("x" + "." * 80, "bad character 'x'"),
        ("55" + "." * 79, "break the rules: digit 5 2 times in row 1"),
    ],
)
def test_malformed_puzzles_give_one_line_and_exit_2(puzzle, fragment):
    assert_one_line_error(run_trm("solve", "sudoku", puzzle, "--exact"), fragment)


def test_unsolvable_puzzle_exits_2():
    # no rule broken by the clues, yet cell 1 has no digit left: 1-8 in its row, 9 in its column
    puzzle = "." + "12345678" + "9" + "." * 71
    assert_one_line_error(run_trm("solve", "sudoku", puzzle, "--exact"), "no solution")


def test_multiple_solutions_are_reported_not_rated():
    r = run_trm("solve", "sudoku", "." * 81, "--exact", "--json")
    assert r.returncode == 0
    out = json.loads(r.stdout)
    assert out["unique"] is False and out["rating"] is None
    assert "more than one solution" in r.stderr


def test_data_sudoku_then_show_json(tmp_path):
    out = tmp_path / "ds"
    r = trm_ok("data sudoku --out", out, "--size 4 --train 8 --test 3 --seed 5 --workers 1")
    assert r.stdout == "" and "wrote" in r.stderr and "100%" in r.stderr  # progress on stderr
    r = run_trm(*cmd("data show", out, "--split test --n 2 --json"))
    assert r.returncode == 0
    shown = json.loads(r.stdout)
    assert shown["meta"]["task"] == "sudoku" and shown["meta"]["splits"]["test"]["examples"] == 3
    assert len(shown["examples"]) == 2
    for ex in shown["examples"]:
        assert set(ex) == {"input", "label"}
        assert re.fullmatch(r"[.1-4]{16}", ex["input"]) and re.fullmatch(r"[1-4]{16}", ex["label"])
        assert is_solution(parse_puzzle(ex["label"]), parse_puzzle(ex["input"]))
    r = run_trm("data", "show", str(out))
    assert r.returncode == 0 and "train #0" in r.stdout and "label" in r.stdout

    again = run_trm(*cmd("data sudoku --out", out, "--size 4 --train 8"))
    assert_one_line_error(again, "already holds a dataset", "--force")


def test_data_show_refuses_missing_and_corrupt_folders(tmp_path):
    assert_one_line_error(run_trm("data", "show", str(tmp_path / "nope")), "no such dataset folder")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "dataset.json").write_text("{")
    assert_one_line_error(run_trm("data", "show", str(tmp_path / "bad")), "corrupt metadata")


def test_data_sudoku_bad_options_exit_2(tmp_path):
    assert_one_line_error(run_trm(*cmd("data sudoku --out", tmp_path / "a", "--size 5")), "size 5")
    assert_one_line_error(
        run_trm(*cmd("data sudoku --out", tmp_path / "a", "--size 4 --difficulty hard")),
        "4x4",
        "easy",
    )
    assert_one_line_error(
        run_trm(*cmd("data sudoku --out", tmp_path / "a", "--difficulty insane")), "insane"
    )
    assert_one_line_error(
        run_trm(*cmd("data sudoku --import", tmp_path / "none.txt", "--out", tmp_path / "a")),
        "no such file",
    )
    assert not (tmp_path / "a").exists()


def test_data_import_names_the_bad_line(tmp_path):
    f = tmp_path / "puzzles.txt"
    f.write_text(TOP95_FIRST + "\n" + TOP95_FIRST[:-1] + "\n")
    r = run_trm(*cmd("data sudoku --import", f, "--out", tmp_path / "t"))
    assert_one_line_error(r, "puzzles.txt:2", "got 80")
    assert not (tmp_path / "t").exists()


def test_ci_script_runs_exactly_the_readme_commands():
    readme = (REPO / "README.md").read_text()
    setup = (
        re.search(r"<!-- setup -->\s*```(?:bash|sh)?\n(.+?)\n```", readme, re.S).group(1).strip()
    )
    test = re.search(r"<!-- test -->\s*```(?:bash|sh)?\n(.+?)\n```", readme, re.S).group(1).strip()
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert setup in ci_lines and test in ci_lines
    assert ci_lines.index(setup) < ci_lines.index(test)


def test_cli_choices_are_the_librarys():
    """cli/choices.py writes some lists itself (their modules import torch): they must agree."""
    from cli import choices
    from puzzles.scaling import SELECT
    from trm.device import PRECISIONS
    from vision.download import ARCHIVES

    for enum, words in (
        (choices.Precision, PRECISIONS),
        (choices.Select, SELECT),
        (choices.Cifar, ARCHIVES),
    ):
        assert [m.value for m in enum] == list(words), enum
    assert str(choices.Precision("bf16")) == "bf16" == choices.Precision("bf16")


def test_a_word_outside_a_choice_is_refused_in_one_line():
    r = run_trm("solve", "sudoku", "--halting", "sometimes")
    assert_one_line_error(r, "--halting", "sometimes", "full", "adaptive")


def test_library_errors_name_the_setting_and_the_cli_its_flag(tmp_path):
    """The library speaks of its own names (max_minutes, num_layers); `trm` of its flags."""
    from cli.common import flag
    from trm.errors import SettingError
    from trm.runs import check_max_minutes

    with pytest.raises(SettingError, match=r"^`max_minutes` must be a positive number") as e:
        check_max_minutes(0)
    assert e.value.setting == "max_minutes"
    assert flag("max_minutes") == "--max-minutes" and flag("num_layers") == "--layers"
    from vision.synthetic import write_synthetic

    write_synthetic(tmp_path / "images", 20, 10, 10, 0, progress=False)
    r = run_trm(
        *cmd(
            "vision train --data",
            tmp_path / "images",
            "--out",
            tmp_path / "run",
            "--variant sr-vit --recursions 99",
        )
    )
    assert_one_line_error(r, "--recursions must be between 1 and")


def test_literal_blocks_marks_each_run_of_indented_lines_once():
    from cli.main import literal_blocks

    text = "Title.\n\nExamples:\n  trm a\n  trm b\n\nMore.\n  trm c"
    assert literal_blocks(text) == (
        "Title.\n\nExamples:\n\n\b\n  trm a\n  trm b\n\nMore.\n\n\b\n  trm c"
    )


def test_piped_output_keeps_its_lines_whole():
    """Piped, rich wrapped long lines at 80 columns, mid-line (a script reads them whole)."""
    from tests.helpers import run_trm_here

    r = run_trm_here("solve", "sudoku", "--samples", "1", env={"COLUMNS": "40"})
    assert r.returncode == 0, r.stderr
    header = "the default model (192,545 parameters) · halting adaptive · trained with 8 steps"
    assert header in r.stdout.splitlines()


def test_trm_precision_in_the_environment_sets_precision_and_the_flag_overrides_it():
    """TRM_PRECISION is --precision's default (the docs' transcripts pin fp32 with it, so
    that a CPU with AVX512-BF16 prints what the docs show); the flag still wins."""

    def steps(*flags, env=None):
        out = run_trm(
            "solve", "sudoku", "--json", "--samples", "1", "--max-steps", "2", *flags, env=env
        )
        assert out.returncode in (0, 1), out.stderr  # 1: not solved in two steps
        return json.loads(out.stdout)["steps"]

    fp32, bf16 = steps("--precision", "fp32"), steps("--precision", "bf16")
    assert fp32 != bf16  # the two precisions are told apart by what the model prints
    assert steps(env={"TRM_PRECISION": "bf16"}) == bf16
    assert steps("--precision", "fp32", env={"TRM_PRECISION": "bf16"}) == fp32
    bad = run_trm("solve", "sudoku", "--json", env={"TRM_PRECISION": "fp16"})
    assert_one_line_error(bad, "TRM_PRECISION", "fp16")
