"""Sudoku (4x4, 6x6, 9x9): parse/format, exact solver and rating, generator, augmentations,
token encoding, datasets and rendering. See the submodules; the main names are here."""

from puzzles.sudoku.augment import Augmentation, random_augmentation
from puzzles.sudoku.generate import Generated, generate_one
from puzzles.sudoku.grid import (
    Conflict,
    find_conflicts,
    geometry,
    is_solution,
    parse_puzzle,
    parse_text,
    to_grid_text,
    to_string,
)
from puzzles.sudoku.solver import TIERS, Rating, SolveResult, rate, solve

__all__ = [
    "TIERS",
    "Augmentation",
    "Conflict",
    "Generated",
    "Rating",
    "SolveResult",
    "find_conflicts",
    "generate_one",
    "geometry",
    "is_solution",
    "parse_puzzle",
    "parse_text",
    "random_augmentation",
    "rate",
    "solve",
    "to_grid_text",
    "to_string",
]
