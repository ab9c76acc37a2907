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


def _raised_strings(path):
    """The string constants (f-string parts too) of every raise statement in a file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for part in ast.walk(node.exc):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    yield part.lineno, part.value


def test_no_library_error_names_a_flag():
    offenders = [
        f"{path.relative_to(REPO)}:{line}: {text!r}"
        for package in ("trm", "puzzles", "vision")
        for path in sorted((REPO / package).rglob("*.py"))
        for line, text in _raised_strings(path)
        if re.search(r"(?<![\w-])--[a-zA-Z]", text)
    ]
    assert not offenders, "name the setting in backticks instead:\n" + "\n".join(offenders)
