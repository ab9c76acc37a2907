"""What a generated dataset is when nobody says otherwise, written once.

The builders (``build_generated`` of Sudoku and mazes, ``build_from`` of ARC) take their
defaults from here and `trm data --help` shows them from here. Nothing in this
module imports numpy or torch, so the help stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SudokuDefaults:
    train: int = 1000
    test: int = 100
    size: int = 9
    difficulty: str = "hard"
    difficulty_4x4: str = "easy"  # every 4x4 puzzle with one solution falls to naked singles

    def difficulty_for(self, size: int) -> str:
        return self.difficulty_4x4 if size == 4 else self.difficulty

    def describe_difficulty(self) -> str:
        return f"{self.difficulty}; {self.difficulty_4x4} for 4x4"


MAZE_STYLES = ("corridors", "random")  # puzzles.maze.generate's two kinds of maze


@dataclass(frozen=True)
class MazeDefaults:
    train: int = 1000
    test: int = 100
    size: int = 30
    style: str = "corridors"
    # Maze-Hard: 30x30 mazes whose shortest path is longer than 110 moves; other sizes
    # scale it by (size / 30) ** 1.5 (puzzles.maze.generate.default_min_path)
    min_path_30: int = 110

    def describe_min_path(self) -> str:
        return f"{self.min_path_30} at 30x30, scaled as size^1.5"


@dataclass(frozen=True)
class ArcDefaults:
    augment: int = 1000  # views per task, identity included: the official build's 1000


SUDOKU = SudokuDefaults()
MAZE = MazeDefaults()
ARC = ArcDefaults()
