"""Shortest paths in mazes: breadth-first search, the label, and the path checker.

Moves go up, down, left or right onto any cell that is not a wall.

Path length: the number of *moves* from S to G. A path of length L visits L + 1 cells:
S, then L - 1 open cells (marked ``o`` in the label), then G. So a label marks
``length - 1`` cells, and ``--min-path 110`` asks for at least 110 moves.

Tie-break: when a maze has several shortest paths, its label is the *lexicographically
smallest* one, read as the sequence of row-major cell indices from S: walking from S,
every step goes to the first of up, left, right, down (the order of increasing index)
that is one move closer to G. Generated ``corridors`` mazes have a unique shortest path,
so the rule only matters for ``random`` mazes and imports.

Breadth-first search runs on flat lists (cell ``r * size + c``): for mazes of at most a
few thousand cells this plain loop is faster than numpy's whole-array steps.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from puzzles.maze.grid import GOAL, OPEN, PATH, START, WALL, as_grid, check_size, strip_path
from trm.errors import TRMError

INF = 1 << 30  # distance of an unreachable cell


@cache
def neighbours(size: int) -> tuple[tuple[int, ...], ...]:
    """For every flat cell, its neighbours inside the grid: up, left, right, down."""
    out = []
    for r in range(size):
        for c in range(size):
            i = r * size + c
            near = []
            if r > 0:
                near.append(i - size)
            if c > 0:
                near.append(i - 1)
            if c < size - 1:
                near.append(i + 1)
            if r < size - 1:
                near.append(i + size)
            out.append(tuple(near))
    return tuple(out)


def bfs(passable: Sequence, size: int, source: int) -> list[int]:
    """Moves from ``source`` to every cell (INF where unreachable); ``passable`` is flat."""
    near = neighbours(size)
    dist = [INF] * (size * size)
    dist[source] = 0
    queue = deque([source])
    while queue:
        u = queue.popleft()
        du = dist[u] + 1
        for v in near[u]:
            if passable[v] and dist[v] == INF:
                dist[v] = du
                queue.append(v)
    return dist


def bfs_counts(
    passable: Sequence, size: int, source: int, cap: int = 2
) -> tuple[list[int], list[int]]:
    """Distances from ``source`` and the number of shortest paths to each cell, capped."""
    near = neighbours(size)
    dist = [INF] * (size * size)
    count = [0] * (size * size)
    dist[source], count[source] = 0, 1
    queue = deque([source])
    while queue:
        u = queue.popleft()
        du, cu = dist[u] + 1, count[u]
        for v in near[u]:
            if not passable[v]:
                continue
            if dist[v] == INF:
                dist[v], count[v] = du, cu
                queue.append(v)
            elif dist[v] == du:
                count[v] = min(cap, count[v] + cu)
    return dist, count


def _flat(grid: np.ndarray) -> tuple[int, list[bool], int, int]:
    """(size, passable cells, start, goal) of a maze."""
    grid = as_grid(grid)
    flat = grid.reshape(-1)
    starts, goals = np.flatnonzero(flat == START), np.flatnonzero(flat == GOAL)
    if len(starts) != 1 or len(goals) != 1:
        raise TRMError(
            f"a maze needs exactly one S and one G (found {len(starts)} and {len(goals)})"
        )
    return grid.shape[0], (flat != WALL).tolist(), int(starts[0]), int(goals[0])


def distances(grid: np.ndarray) -> np.ndarray:
    """Moves from S to every cell as a ``(size, size)`` int32 array, -1 where unreachable."""
    size, passable, s, _ = _flat(grid)
    d = np.array(bfs(passable, size, s), dtype=np.int64)
    d[d == INF] = -1
    return d.astype(np.int32).reshape(size, size)


def shortest_length(grid: np.ndarray) -> int | None:
    """The length (moves) of a shortest S-to-G path, None when G cannot be reached."""
    size, passable, s, g = _flat(grid)
    d = bfs(passable, size, s)[g]
    return None if d == INF else d


def count_shortest_paths(grid: np.ndarray, cap: int = 2) -> int:
    """How many shortest S-to-G paths there are (at most ``cap``; 0 when unreachable)."""
    size, passable, s, g = _flat(grid)
    return bfs_counts(passable, size, s, cap)[1][g]


def path_from(passable: Sequence, size: int, s: int, g: int) -> list[int]:
    """The tie-broken shortest path (flat cells, S first, G last); [] when unreachable."""
    to_goal = bfs(passable, size, g)
    if to_goal[s] == INF:
        return []
    near = neighbours(size)
    path = [s]
    u = s
    while u != g:
        # neighbours are listed by increasing index: the first closer one is the rule's
        u = next(v for v in near[u] if to_goal[v] == to_goal[u] - 1)
        path.append(u)
    return path


def shortest_path(grid: np.ndarray) -> list[int]:
    """The label's path as flat cells from S to G (see the tie-break rule above)."""
    size, passable, s, g = _flat(grid)
    path = path_from(passable, size, s, g)
    if not path:
        raise TRMError("the goal 'G' cannot be reached from the start 'S'")
    return path


def solve(grid: np.ndarray) -> np.ndarray:
    """The label of a maze: its shortest path's open cells marked ``o``."""
    maze = strip_path(as_grid(grid))
    label = maze.copy().reshape(-1)
    label[shortest_path(maze)[1:-1]] = PATH
    return label.reshape(maze.shape)


# --------------------------------------------------------------------------- checking


def check_maze(grid: np.ndarray, where: str = "maze") -> None:
    """One S, one G, and a way from S to G (walls block; anything else is passable)."""
    grid = as_grid(grid)
    check_size(grid.shape[0], where)
    for code, letter, name in ((START, "S", "start"), (GOAL, "G", "goal")):
        found = np.argwhere(grid == code)
        if len(found) == 0:
            raise TRMError(f"{where}: the maze has no {name} {letter!r}")
        if len(found) > 1:
            places = ", ".join(f"row {r + 1} column {c + 1}" for r, c in found[:3])
            raise TRMError(
                f"{where}: the maze has {len(found)} {name}s {letter!r} ({places}): "
                "exactly one is needed"
            )
    if shortest_length(grid) is None:
        raise TRMError(f"{where}: the goal 'G' cannot be reached from the start 'S'")


@dataclass(frozen=True)
class PathCheck:
    """The verdict on a predicted label; ``failed`` names the checks it did not pass.

    * ``keeps_maze``: walls, S and G are where the maze has them, nothing else changed
      (an ``o`` may only cover an open cell or, failing ``wall_free`` too, a wall);
    * ``wall_free``: no ``o`` on a wall;
    * ``connected``: the ``o`` cells, S and G form one 4-connected piece;
    * ``joins_start_goal``: they form a single chain from S to G: S and G have one
      chain neighbour each, every ``o`` two (no branch, no stray cell, no gap);
    * ``optimal_length``: the marked path has as many moves as a shortest path.
    """

    failed: tuple[str, ...]
    length: int  # moves of the marked path: marked cells + 1
    shortest: int  # moves of a shortest path

    @property
    def ok(self) -> bool:
        return not self.failed

    def __str__(self) -> str:
        if self.ok:
            return f"correct: a shortest path of {self.length} moves"
        return (
            f"wrong ({', '.join(self.failed)}): marked path of {self.length} moves, "
            f"shortest {self.shortest}"
        )


def check_path(maze: np.ndarray, predicted: np.ndarray) -> PathCheck:
    """Is ``predicted`` a correct label for ``maze``? (See :class:`PathCheck`.)

    ``maze`` is the question (path marks in it are ignored); it must be a valid maze,
    else :class:`TRMError`. ``predicted`` is any grid of the same shape (a model's
    output, decoded), so every kind of mistake is reported, not raised.
    """
    maze = strip_path(as_grid(maze))
    check_maze(maze)
    predicted = np.asarray(predicted)
    if predicted.size != maze.size:
        raise TRMError(f"the prediction has {predicted.size} cells, the maze {maze.size}")
    size = maze.shape[0]
    pred = predicted.reshape(-1).astype(np.int16)
    flat = maze.reshape(-1).astype(np.int16)
    marked = pred == PATH
    failed = []
    same = (pred == flat) | (marked & ((flat == OPEN) | (flat == WALL)))
    if not same.all():
        failed.append("keeps_maze")
    if np.any(marked & (flat == WALL)):
        failed.append("wall_free")
    s, g = int(np.flatnonzero(flat == START)[0]), int(np.flatnonzero(flat == GOAL)[0])
    chain = marked.copy()
    chain[[s, g]] = True
    chain_list = chain.tolist()
    reached = bfs(chain_list, size, s)
    if any(reached[i] == INF for i in np.flatnonzero(chain)):
        failed.append("connected")
    near = neighbours(size)
    degree = {i: sum(chain_list[v] for v in near[i]) for i in np.flatnonzero(chain).tolist()}
    if (
        degree[s] != 1
        or degree[g] != 1
        or any(d != 2 for i, d in degree.items() if i not in (s, g))
    ):
        failed.append("joins_start_goal")
    length = int(marked.sum()) + 1
    shortest = shortest_length(maze)
    if length != shortest:
        failed.append("optimal_length")
    return PathCheck(tuple(failed), length, int(shortest))
