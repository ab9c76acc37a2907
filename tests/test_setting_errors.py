"""Library errors name settings as the library spells them (in backticks); `trm` spells
them as its flags. No message raised by the library names a flag."""

from __future__ import annotations

import ast
import re

import pytest

from cli.common import flag
from tests.helpers import REPO, assert_one_line_error, cmd, run_trm
from trm.errors import SettingError, TRMError


def test_a_setting_error_names_its_settings_and_spells_them_as_asked():
    e = SettingError("`test_set` goes with `subsets` (got {'a': 1}, `not a name`)")
    assert str(e) == "`test_set` goes with `subsets` (got {'a': 1}, `not a name`)"
    assert e.settings == ["test_set", "subsets"] and e.setting == "test_set"
    assert e.spell(flag) == "--test-set goes with --subsets (got {'a': 1}, `not a name`)"
    short = SettingError("max_minutes", "must be positive")
    assert str(short) == "`max_minutes` must be positive" and short.setting == "max_minutes"
    assert short.spell(str.upper) == "MAX_MINUTES must be positive"
    assert isinstance(short, TRMError)
    plain = SettingError("no setting named here")  # still an error, nothing to spell
    assert plain.settings == [] and plain.setting is None and plain.spell(flag) == str(plain)


def test_flags_follow_the_cli_names():
    assert flag("num_layers") == "--layers" and flag("T") == "--T"
    assert flag("extra_train") == "--extra-train" and flag("import") == "--import"


def _arc_test_set_alone(tmp):
    from puzzles.arc.sources import load_source

    load_source("arc-agi-1", None, None, ["evaluation"])


def _no_mazes(tmp):
    from puzzles.maze.data import build_generated

    build_generated(tmp / "m", size=6, train=0, test=0, progress=False)


def _unreachable_min_path(tmp):
    from puzzles.maze.generate import check_settings

    check_settings(6, "corridors", 999)


def _too_many_copies(tmp):
    from puzzles.build import check_counts

    check_counts(train=5, augment=10**8)


def _too_many_classes(tmp):
    from vision.synthetic import generate

    generate(8, 2, classes=99)


@pytest.mark.parametrize(
    "library, cli, fragment",
    [
        (
            _arc_test_set_alone,
            "data arc --source arc-agi-1 --test-set evaluation",
            "{test_set} goes with {subsets} (and {source} a file prefix)",
        ),
        (
            _no_mazes,
            "data maze --size 6 --train 0 --test 0",
            "{train} and {test} must be >= 0, and some mazes asked for",
        ),
        (
            _unreachable_min_path,
            "data maze --size 6 --min-path 999",
            "{min_path} 999 is out of reach: a 6x6 maze's shortest path has 1 to",
        ),
        (
            _too_many_copies,
            "data sudoku --train 5 --augment 100000000",
            "{augment} must be at most 10,000, got 100,000,000",
        ),
        (_too_many_classes, "vision data synthetic --classes 99", "{classes} 99: choose 2 to 30"),
    ],
)
def test_the_library_names_settings_and_trm_names_flags(tmp_path, library, cli, fragment):
    names = re.findall(r"\{(\w+)\}", fragment)
    with pytest.raises(SettingError) as e:
        library(tmp_path)
    assert fragment.format(**{n: f"`{n}`" for n in names}) in str(e.value)
    assert e.value.settings[: len(names)] == names
    result = run_trm(*cmd(cli, "--out", tmp_path / "out"))
    assert_one_line_error(result, fragment.format(**{n: flag(n) for n in names}))


def _text(node) -> str | None:
    """The text of a string expression, ``{}`` for what is filled in at run time (so that
    f"--{name}" and "--" + name read ``--{}``); None for anything else."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        return "".join(
            _text(part) if isinstance(part, ast.Constant) else "{}" for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        if left is not None or right is not None:
            return (left or "{}") + (right or "{}")
    return None


def _raised_strings(path):
    """The strings (f-strings and sums of strings too) of every raise statement in a file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for part in ast.walk(node.exc):
                text = _text(part)
                if text is not None:
                    yield part.lineno, text


NAMES_A_FLAG = re.compile(r"(?<![\w-])--(?:[a-zA-Z]|\{\})")


def test_the_flag_check_sees_flags_however_a_message_is_built(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "def f(name, x):\n"
        "    raise E(f'--{name} must be positive')\n"
        "    raise E('pass ' + '--' + name)\n"
        "    raise E('pass --force', x)\n"
        "    raise E(f'{x} - --views {x}')\n"
        "    raise E('`force` and a--b and x -- y')\n"
    )
    lines = {line for line, text in _raised_strings(source) if NAMES_A_FLAG.search(text)}
    assert lines == {2, 3, 4, 5}


def test_no_library_error_names_a_flag():
    offenders = sorted(
        {
            f"{path.relative_to(REPO)}:{line}: {text!r}"
            for package in ("trm", "puzzles", "vision")
            for path in sorted((REPO / package).rglob("*.py"))
            for line, text in _raised_strings(path)
            if NAMES_A_FLAG.search(text)
        }
    )
    assert not offenders, "name the setting in backticks instead:\n" + "\n".join(offenders)


def test_first_line_keeps_one_line_of_a_long_message():
    from trm.errors import first_line

    assert first_line(ValueError("bad value\n  at line 3\n  in file")) == "bad value"
    assert first_line(ValueError("\n\n  indented first\nsecond")) == "indented first"
    assert first_line(KeyError()) == "KeyError"  # no message: the type's name
    assert first_line(RuntimeError(""), "mismatch") == "mismatch"
    assert first_line(RuntimeError("   "), "") == ""
