"""Generate hard mazes: a long shortest path (at least ``min_path`` moves), two styles.

Both styles start from a *perfect maze* (a tree) carved on a lattice: lattice cells sit
on every other row and column, and a randomized growing tree joins them by opening the
wall cell between two neighbours (it extends the newest branch most of the time and a
random one otherwise, which gives long winding corridors). S is a random lattice cell
and G the one farthest from it along the tree, so the tree path between them is long;
if it is shorter than ``min_path``, S moves to that far end and G to the cell farthest
from there (the tree's diameter); if even that is too short, a new tree is drawn.

``corridors`` (the default): lattice cells at odd rows and columns, so corridors are one
cell wide and walls one cell thick. Then walls between two lattice cells are knocked
out, in random order, to make loops (up to ``LOOP_RATE`` times the lattice cells' number):
a knock is kept only if afterwards the shortest S-to-G path is still *unique* and still
at least ``min_path`` moves. Both are decided exactly without a new search: with the
distances from S and from G, and the number of shortest paths to each cell, the
shortest S-G paths through the new opening ``w`` between ``u`` and ``v`` have length
``dS[u] + 2 + dG[v]`` (or the other way round) and there are ``cS[u] * cG[v]`` of
them; the searches are redone only after a knock is kept. So the label is the unique
shortest path, and the loops make the way to it a real choice.

``random`` (the published Maze-Hard style): walls on a random 30-50% of the cells, S and
G on open cells. Sampling such grids naively almost never gives a path of 110 moves, so
this sampler works the other way round: it draws the wall share ``p``, keeps only the
tree path from S to G open (its lattice on odd or even rows and columns at random), and
then opens the other cells in random order, each kept
open only if the shortest path stays at least ``min_path`` moves long, until walls
cover ``p`` of the grid. Distances from S are updated incrementally as cells open (a
breadth-first relaxation from the new cell, undone when it brings G too close). Such a
maze usually has several shortest paths; its label follows the fixed tie-break of
:mod:`puzzles.maze.solver`. (A draw whose walls end outside 30-50% is drawn again.)

The default ``min_path`` is the published Maze-Hard threshold, 110 moves at 30x30,
scaled as ``size ** 1.5`` (:func:`default_min_path`): between the growth of a random
grid's paths (with the side) and a maze's (with the area). 10x10: 21, 20x20: 60,
40x40: 169; never more than the lattice allows (which binds only at 5x5: 6). The bound
is inclusive (at least ``min_path`` moves); the published set asked for *more* than 110,
which is ``--min-path 111``.

Each maze is a pure function of ``(size, style, min_path, seed, stream, index)``, so a
dataset is the same whatever the number of worker processes.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

import numpy as np

from puzzles.defaults import MAZE, MAZE_STYLES
from puzzles.maze.grid import GOAL, PATH, START, check_size
from puzzles.maze.solver import INF, bfs, bfs_counts, neighbours, path_from
from trm.errors import SettingError, TRMError

STYLES = MAZE_STYLES
LOOP_RATE = 0.1  # corridors: knocks aimed for, as a share of the lattice cells
NEWEST = 0.75  # growing tree: how often the newest branch grows (else a random one)
WALLS = (0.3, 0.5)  # random: the share of wall cells is drawn from this range
MAX_TRIES = 200  # trees drawn for one maze before giving up


@dataclass(frozen=True)
class GeneratedMaze:
    maze: np.ndarray  # (size, size) int8 question
    label: np.ndarray  # (size, size) int8, the path marked
    path_length: int  # moves of the shortest path


def default_min_path(size: int) -> int:
    """110 moves at 30x30 (``MAZE.min_path_30``), scaled as ``size ** 1.5`` (see the module
    doc); at most what the lattice allows (which only binds for the tiny 4x4 and 5x5)."""
    return min(int(round(MAZE.min_path_30 * (size / 30) ** 1.5)), max_min_path(size))


def max_min_path(size: int) -> int:
    """The longest path the corridor lattice allows: one line through all its cells."""
    m = size // 2
    return 2 * (m * m - 1)


def check_settings(size: int, style: str, min_path: int) -> None:
    check_size(size, "`size`")
    if style not in STYLES:
        raise TRMError(f"unknown maze style {style!r}: choose {' or '.join(STYLES)}")
    top = max_min_path(size)
    if not 1 <= min_path <= top:
        raise SettingError(
            f"`min_path` {min_path} is out of reach: a {size}x{size} maze's shortest "
            f"path has 1 to {top} moves here (default {default_min_path(size)})"
        )


# --------------------------------------------------------------------------- the tree


def _lattice_tree(size: int, r0: int, c0: int, rng: random.Random) -> tuple[bytearray, list[int]]:
    """A perfect maze on the lattice of cells ``(r0 + 2i, c0 + 2j)``: (open cells, lattice)."""
    rows, cols = (size - r0 + 1) // 2, (size - c0 + 1) // 2
    cell = [[(r0 + 2 * i) * size + c0 + 2 * j for j in range(cols)] for i in range(rows)]
    lattice = [x for row in cell for x in row]
    opened = bytearray(size * size)
    seen = [[False] * cols for _ in range(rows)]
    i, j = rng.randrange(rows), rng.randrange(cols)
    seen[i][j] = True
    opened[cell[i][j]] = 1
    active = [(i, j)]
    while active:
        k = len(active) - 1 if rng.random() < NEWEST else rng.randrange(len(active))
        i, j = active[k]
        free = [
            (a, b)
            for a, b in ((i - 1, j), (i, j - 1), (i, j + 1), (i + 1, j))
            if 0 <= a < rows and 0 <= b < cols and not seen[a][b]
        ]
        if not free:
            active[k] = active[-1]
            active.pop()
            continue
        a, b = rng.choice(free)
        seen[a][b] = True
        opened[cell[a][b]] = 1
        opened[(cell[i][j] + cell[a][b]) // 2] = 1  # the wall cell between them
        active.append((a, b))
    return opened, lattice


def _farthest(dist: list[int], cells: list[int], rng: random.Random) -> int:
    best = max(dist[c] for c in cells)
    return rng.choice([c for c in cells if dist[c] == best])


def _ends(
    opened: bytearray, lattice: list[int], size: int, min_path: int, rng: random.Random
) -> tuple[int, int] | None:
    """S and G: a random lattice cell and the farthest; else the diameter; else None."""
    s = rng.choice(lattice)
    d = bfs(opened, size, s)
    g = _farthest(d, lattice, rng)
    if d[g] < min_path:
        s = g
        d = bfs(opened, size, s)
        g = _farthest(d, lattice, rng)
        if d[g] < min_path:
            return None
    return (s, g) if rng.random() < 0.5 else (g, s)


def _finish(opened: bytearray, size: int, s: int, g: int) -> GeneratedMaze:
    maze = np.frombuffer(bytes(opened), dtype=np.uint8).astype(np.int8)  # 0 wall, 1 open
    maze[s], maze[g] = START, GOAL
    path = path_from(opened, size, s, g)
    label = maze.copy()
    label[path[1:-1]] = PATH
    return GeneratedMaze(maze.reshape(size, size), label.reshape(size, size), len(path) - 1)


# --------------------------------------------------------------------------- corridors


def _knock_loops(
    opened: bytearray, size: int, s: int, g: int, min_path: int, rng: random.Random
) -> None:
    """Open walls between lattice cells while the shortest path stays unique and long."""
    candidates = []  # (wall cell, the lattice cells on either side)
    for r in range(1, size):
        for c in range(1, size):
            w = r * size + c
            if opened[w]:
                continue
            if r % 2 == 1 and c % 2 == 0 and c + 1 < size:
                candidates.append((w, w - 1, w + 1))
            elif r % 2 == 0 and c % 2 == 1 and r + 1 < size:
                candidates.append((w, w - size, w + size))
    rng.shuffle(candidates)
    target = max(1, round(LOOP_RATE * ((size // 2) ** 2)))
    ds, cs = bfs_counts(opened, size, s)
    dg, cg = bfs_counts(opened, size, g)
    knocked = 0
    for w, u, v in candidates:
        if knocked == target:
            break
        best = ds[g]
        uv, vu = ds[u] + 2 + dg[v], ds[v] + 2 + dg[u]
        new = min(best, uv, vu)
        if new < min_path:
            continue
        paths = (
            (1 if best == new else 0)
            + (cs[u] * cg[v] if uv == new else 0)
            + (cs[v] * cg[u] if vu == new else 0)
        )
        if paths != 1:
            continue
        opened[w] = 1
        knocked += 1
        ds, cs = bfs_counts(opened, size, s)
        dg, cg = bfs_counts(opened, size, g)


def _corridors(size: int, min_path: int, rng: random.Random) -> GeneratedMaze | None:
    opened, lattice = _lattice_tree(size, 1, 1, rng)
    ends = _ends(opened, lattice, size, min_path, rng)
    if ends is None:
        return None
    s, g = ends
    _knock_loops(opened, size, s, g, min_path, rng)
    return _finish(opened, size, s, g)


# --------------------------------------------------------------------------- random


def _open_cell(
    opened: bytearray,
    dist: list[int],
    size: int,
    c: int,
    g: int,
    min_path: int,
    rows: list[int],
    cols: list[int],
) -> bool:
    """Open ``c`` and update the distances from S, unless G would come too close."""
    near = neighbours(size)
    dc = min((dist[v] for v in near[c] if opened[v]), default=INF) + 1
    opened[c] = 1
    if dc >= INF:  # a pocket not joined to S yet: nothing else changes
        return True
    safe = dc + abs(rows[c] - rows[g]) + abs(cols[c] - cols[g]) >= min_path
    undo = [(c, dist[c])]
    dist[c] = dc
    queue = deque([c])
    while queue:
        u = queue.popleft()
        du = dist[u] + 1
        for v in near[u]:
            if opened[v] and dist[v] > du:
                undo.append((v, dist[v]))
                dist[v] = du
                if v == g and du < min_path and not safe:
                    for x, old in reversed(undo):
                        dist[x] = old
                    opened[c] = 0
                    return False
                queue.append(v)
    return True


def _random(size: int, min_path: int, rng: random.Random) -> GeneratedMaze | None:
    cells = size * size
    low, high = int(np.ceil(WALLS[0] * cells)), int(WALLS[1] * cells)
    walls_wanted = rng.randint(low, high)
    tree, lattice = _lattice_tree(size, rng.randrange(2), rng.randrange(2), rng)
    ends = _ends(tree, lattice, size, min_path, rng)
    if ends is None:
        return None
    s, g = ends
    path = path_from(tree, size, s, g)
    opened = bytearray(cells)
    for x in path:
        opened[x] = 1
    dist = [INF] * cells
    for k, x in enumerate(path):
        dist[x] = k
    rows = [i // size for i in range(cells)]
    cols = [i % size for i in range(cells)]
    others = [i for i in range(cells) if not opened[i]]
    rng.shuffle(others)
    walls = len(others)
    for c in others:
        if walls <= walls_wanted:
            break
        if _open_cell(opened, dist, size, c, g, min_path, rows, cols):
            walls -= 1
    if not low <= walls <= high:
        return None
    return _finish(opened, size, s, g)


# --------------------------------------------------------------------------- entry points


def generate_one(
    size: int, style: str, min_path: int, rng: random.Random, max_tries: int = MAX_TRIES
) -> GeneratedMaze:
    """One maze of ``style`` with a shortest path of at least ``min_path`` moves."""
    check_settings(size, style, min_path)
    make = _corridors if style == "corridors" else _random
    for _ in range(max_tries):
        maze = make(size, min_path, rng)
        if maze is not None:
            return maze
    raise SettingError(
        f"no {size}x{size} {style} maze with a path of {min_path} moves found in "
        f"{max_tries} tries: lower `min_path` (default {default_min_path(size)})"
    )


def maze_rng(
    size: int, style: str, min_path: int, seed: int, stream: str, index: int
) -> random.Random:
    """The random source of maze ``index`` in ``stream`` (string seeds hash stably)."""
    return random.Random(f"maze/{size}/{style}/{min_path}/{seed}/{stream}/{index}")


def generate_indexed(
    size: int, style: str, min_path: int, seed: int, stream: str, index: int
) -> GeneratedMaze:
    """Maze number ``index`` of a seeded stream: the unit of work of parallel builds."""
    return generate_one(size, style, min_path, maze_rng(size, style, min_path, seed, stream, index))
