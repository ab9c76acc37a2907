"""The options that take one of a fixed set of words, as Enums: Typer lists them in `--help`
and refuses anything else (one line, exit 2) before a command starts.

Each member is its own word (a ``str``), so the library receives plain strings. The words
come from the library where its module is light to import (trm.config, puzzles.defaults,
vision.configs, vision.recipes); the rest are written here, because importing their modules would load
torch for every `trm --help`; tests/test_cli.py checks that both lists agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from puzzles.defaults import MAZE_STYLES
from trm.config import (
    ADAPT_INITS,
    EXPLORATION_DRAWS,
    LOSSES,
    MIXER_NORMS,
    MIXERS,
    OPTIMIZERS,
    POS_ENCODINGS,
    PRESETS,
    SCHEDULES,
    SOFT_MIXERS,
    TRAINABLE,
)
from vision.configs import BLOCKS, CONFIGS, INITS, POOLS, SPLITS, TOKEN_LAYOUTS
from vision.configs import PRESETS as VISION_PRESETS
from vision.recipes import BUDGETS


class Choice(str, Enum):
    """A word an option accepts; it is that word (``str(member)``, ``==``, JSON)."""

    def __str__(self) -> str:
        return self.value


def choice(name: str, words: Iterable[str]) -> type[Choice]:
    return Choice(name, [(word, word) for word in words])


# the puzzle model and its training (trm.config)
Preset = choice("Preset", PRESETS)
Mixer = choice("Mixer", MIXERS)
MixerNorm = choice("MixerNorm", MIXER_NORMS)
PosEncodings = choice("PosEncodings", POS_ENCODINGS)
Loss = choice("Loss", LOSSES)
Optimizer = choice("Optimizer", OPTIMIZERS)
Schedule = choice("Schedule", SCHEDULES)
ExplorationDraw = choice("ExplorationDraw", EXPLORATION_DRAWS)
SoftMixer = choice("SoftMixer", SOFT_MIXERS)
Trainable = choice("Trainable", TRAINABLE)
AdaptInit = choice("AdaptInit", ADAPT_INITS)

# the puzzle datasets (puzzles.defaults)
MazeStyle = choice("MazeStyle", MAZE_STYLES)

# the vision models and their training (vision.configs, vision.recipes)
Variant = choice("Variant", CONFIGS)
VisionPreset = choice("VisionPreset", VISION_PRESETS["vit"])  # every variant has the same
Pool = choice("Pool", POOLS)
Layout = choice("Layout", TOKEN_LAYOUTS)
BlockKind = choice("BlockKind", BLOCKS)
InitKind = choice("InitKind", INITS)
Split = choice("Split", SPLITS)
Budget = choice("Budget", BUDGETS)

# written here: their modules import torch (tests/test_cli.py compares them)
Precision = choice("Precision", ("auto", "fp32", "bf16"))  # trm.device.PRECISIONS
Select = choice("Select", ("checker", "vote", "confidence"))  # puzzles.scaling.SELECT
Cifar = choice("Cifar", ("cifar10", "cifar100"))  # vision.download.ARCHIVES

# the CLI's own
Halting = choice("Halting", ("full", "adaptive"))  # a solve: every step, or the halting head's
ShowSteps = choice("ShowSteps", ("all", "final"))
