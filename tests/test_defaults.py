"""Each default is written once: in the library's settings (puzzles/defaults.py, the vision
configs and recipes); the builders take them from there and `--help` shows them from there."""

from __future__ import annotations

import ast
import inspect
import re

import pytest

from tests.helpers import REPO, run_trm


def _help(*command: str) -> str:
    result = run_trm(*command, "--help", env={"COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    return re.sub(r"[ │]+", " ", result.stdout)


def test_no_default_value_is_written_into_the_cli_help():
    """A number in a `show_default=` string repeats a default the library holds (a grid's
    NxN is a name, not a default)."""
    written = []
    for path in sorted((REPO / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "show_default":
                text = node.value.value if isinstance(node.value, ast.Constant) else None
                if isinstance(text, str) and re.search(r"\d", re.sub(r"\d+x\d+", "", text)):
                    written.append(f"{path.name}:{node.value.lineno}: {text!r}")
    assert not written, "\n".join(written)


def test_the_builders_take_their_defaults_from_puzzles_defaults():
    from puzzles.arc.data import build_dataset, build_from
    from puzzles.defaults import ARC, MAZE, SUDOKU
    from puzzles.maze.data import build_generated as maze_build
    from puzzles.maze.generate import default_min_path
    from puzzles.sudoku.data import build_generated as sudoku_build

    def defaults(fn):
        return {k: p.default for k, p in inspect.signature(fn).parameters.items()}

    sudoku, maze = defaults(sudoku_build), defaults(maze_build)
    assert (sudoku["train"], sudoku["test"], sudoku["size"]) == (SUDOKU.train, SUDOKU.test, 9)
    assert (maze["train"], maze["test"], maze["size"], maze["style"]) == (
        MAZE.train,
        MAZE.test,
        MAZE.size,
        MAZE.style,
    )
    assert defaults(build_from)["augment"] == defaults(build_dataset)["augment"] == ARC.augment
    assert default_min_path(30) == MAZE.min_path_30 == 110  # Maze-Hard's bar
    assert SUDOKU.difficulty_for(4) == "easy" and SUDOKU.difficulty_for(9) == "hard"


def test_data_help_shows_the_library_defaults():
    from puzzles.defaults import MAZE, SUDOKU

    sudoku = _help("data", "sudoku")
    assert f"[default: ({SUDOKU.describe_difficulty()})]" in sudoku
    assert f"[default: ({SUDOKU.train})]" in sudoku
    maze = _help("data", "maze")
    assert f"[default: ({MAZE.describe_min_path()})]" in maze
    assert f"[default: ({MAZE.style})]" in maze


def test_vision_help_shows_the_presets_and_configs_defaults():
    text = _help("vision", "train")
    for shown in (
        "cifar 256; small 32",  # --batch-size: each preset's
        "cifar 0.9,0.999; small 0.9,0.95",  # --betas
        "cifar 30; small 200 steps",  # --warmup-epochs (small counts steps)
        "cifar 2,9; small off",  # --randaugment
        "vitrm cifar 0.1, else 0",  # --dropout: one preset differs
        "[default: (mor-vit small shared-ends, else unique-ends)]",  # a switch: its flag's word
        "[default: (cifar flip; small auto)]",  # --flip: decided from the data at small
    ):
        assert shown in text, shown
    assert "[default: (20)]" in _help("vision", "compare")


def test_vision_help_follows_a_changed_preset(monkeypatch):
    """The help is derived: change a preset and the shown default follows."""
    from cli import vision as cli_vision
    from vision import configs, recipes

    monkeypatch.setitem(recipes.PAPER_TRAIN, "batch_size", 512)
    assert cli_vision._train_default("batch_size") == "cifar 512; small 32"
    monkeypatch.setitem(configs.PRESETS["vit"], "small", {**configs.PRESETS["vit"]["small"]})
    monkeypatch.setitem(configs.PRESETS["vit"]["small"], "dropout", 0.2)
    assert cli_vision._model_default("dropout") == "vit small 0.2, vitrm cifar 0.1, else 0"


def test_train_help_shows_each_presets_values_and_follows_a_changed_one(monkeypatch):
    """`trm train --help` shows, for every option a preset sets, the presets' values from
    trm/config.py (the help is derived: change a preset and it follows)."""
    from cli.defaults import preset_default
    from trm import config

    text = _help("train")
    for option in ("steps", "batch_size", "lr", "hidden_size", "n_sup", "optimizer"):
        assert f"[default: ({preset_default(option)})]" in text, option
    assert "[default: (sudoku-small 64, maze-cpu 64, tiny 32, else 768)]" in text  # --batch-size
    assert "[default: (the whole prefix)]" in text  # --puzzle-emb-ndim keeps its words
    model, train = config.PRESETS["tiny"]
    monkeypatch.setitem(config.PRESETS, "tiny", (model, {**train, "batch_size": 16}))
    assert preset_default("batch_size") == "sudoku-small 64, maze-cpu 64, tiny 16, else 768"


@pytest.mark.parametrize("budget", ["epochs", "flops"])
def test_compare_defaults_its_epochs_in_the_library(budget):
    from vision.compare import check_budget
    from vision.recipes import COMPARE_EPOCHS

    assert check_budget(budget, None, None) == COMPARE_EPOCHS
    assert check_budget("time", None, 5.0) is None


def _parameters(command) -> set[str]:
    return set(inspect.signature(command).parameters)


def _fields(*classes) -> set[str]:
    import dataclasses

    return {f.name for c in classes for f in dataclasses.fields(c)}


def test_train_options_reach_the_configs_by_their_field_names():
    """`trm train` hands its options to the configs by name (cli.common.given_fields): every
    parameter is a field of TRMConfig or TrainConfig, or one of the command's own."""
    from cli.train import train
    from trm.config import TrainConfig, TRMConfig

    own = {"data", "out_dir", "preset", "device", "precision", "compile", "max_minutes"}
    own |= {"resume", "force", "init", "quiet"}
    params = _parameters(train)
    assert params - own == params & _fields(TRMConfig, TrainConfig)
    assert {"num_layers", "num_heads", "T", "lr", "ema", "halt_outputs"} <= params


def test_vision_train_options_reach_the_configs_by_their_field_names():
    from cli.vision import train
    from trm.config import TrainConfig
    from vision.configs import CONFIGS
    from vision.recipes import Recipe

    own = {"data", "variant", "out_dir", "download", "download_url", "preset", "epochs"}
    own |= {"max_minutes", "warmup_epochs", "min_lr", "betas", "device", "precision"}
    own |= {"compile", "resume", "force", "quiet"}
    params = _parameters(train)
    assert params - own == params & _fields(*CONFIGS.values(), TrainConfig, Recipe)
    assert not _fields(*CONFIGS.values()) & _fields(TrainConfig, Recipe)  # one home each
