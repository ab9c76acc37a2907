"""Mazes (N x N, default 30): parse/format, shortest paths and the path checker,
generators (``corridors`` with a unique shortest path, ``random`` in the Maze-Hard style),
the 8 symmetries of the square, token encoding, datasets and rendering.

Path length is counted in moves from S to G everywhere (see :mod:`puzzles.maze.solver`).
See the submodules; the main names are here.
"""

from puzzles.maze.augment import SYMMETRIES, Symmetry, augment_tokens
from puzzles.maze.generate import (
    STYLES,
    GeneratedMaze,
    default_min_path,
    generate_indexed,
    generate_one,
)
from puzzles.maze.grid import to_rows, to_text
from puzzles.maze.solver import (
    PathCheck,
    check_maze,
    check_path,
    count_shortest_paths,
    shortest_length,
    shortest_path,
    solve,
)
from puzzles.maze.text import ParsedMaze, parse_maze, parse_text

__all__ = [
    "STYLES",
    "SYMMETRIES",
    "GeneratedMaze",
    "ParsedMaze",
    "PathCheck",
    "Symmetry",
    "augment_tokens",
    "check_maze",
    "check_path",
    "count_shortest_paths",
    "default_min_path",
    "generate_indexed",
    "generate_one",
    "parse_maze",
    "parse_text",
    "shortest_length",
    "shortest_path",
    "solve",
    "to_rows",
    "to_text",
]
