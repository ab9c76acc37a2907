"""Mazes: puzzles.maze (text form, generator, checker, symmetries, datasets, CLI).

Generated mazes are checked with the plain breadth-first search below, written for the
tests on the text rows alone (it shares nothing with puzzles.maze.solver): it gives the
distance from S in moves and the number of shortest paths to every cell.
"""

from __future__ import annotations

import json
from collections import deque
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puzzles.dataset import load_dataset
from puzzles.maze import data as maze_data
from puzzles.maze.augment import IDENTITY, SYMMETRIES, Symmetry, augment_tokens, cell_tables
from puzzles.maze.generate import default_min_path, generate_indexed
from puzzles.maze.grid import format_mazes, to_rows, to_text
from puzzles.maze.solver import check_path, shortest_length, solve
from puzzles.maze.text import parse_maze, parse_text
from tests.helpers import assert_one_line_error, cmd, run_trm, trm_ok
from trm.errors import TRMError

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SMALL = [(6, 0), (7, 1), (8, 2), (9, 3), (10, 4), (11, 5), (13, 6), (16, 7)]


# --------------------------------------------------------------------------- reference search


def reference_bfs(rows: list[str], source_char: str = "S"):
    """{cell: moves} and {cell: number of shortest paths} from the cell holding ``source_char``."""
    n = len(rows)
    source = next((r, c) for r in range(n) for c in range(n) if rows[r][c] == source_char)
    dist, count = {source: 0}, {source: 1}
    queue = deque([source])
    while queue:
        r, c = queue.popleft()
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < n and 0 <= nc < n and rows[nr][nc] != "#":
                if (nr, nc) not in dist:
                    dist[(nr, nc)] = dist[(r, c)] + 1
                    count[(nr, nc)] = count[(r, c)]
                    queue.append((nr, nc))
                elif dist[(nr, nc)] == dist[(r, c)] + 1:
                    count[(nr, nc)] += count[(r, c)]
    return dist, count


def find(rows: list[str], ch: str) -> list[tuple[int, int]]:
    return [(r, c) for r, row in enumerate(rows) for c, x in enumerate(row) if x == ch]


def assert_label_is_a_shortest_path(maze_rows: list[str], label_rows: list[str]) -> int:
    """The label is the maze plus 'o' cells forming a shortest S-G path; returns its moves."""
    assert [row.replace("o", " ") for row in label_rows] == maze_rows
    (s,), (g,) = find(maze_rows, "S"), find(maze_rows, "G")
    dist, _ = reference_bfs(maze_rows)
    marked = set(find(label_rows, "o"))
    # walk the marks from S: every step goes to the only marked (or goal) neighbour
    cell, walked, seen = s, 0, {s}
    while cell != g:
        r, c = cell
        nxt = [
            x
            for x in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1))
            if x not in seen and (x in marked or x == g)
        ]
        assert len(nxt) == 1, f"the marked path branches or breaks at {cell}"
        cell = nxt[0]
        seen.add(cell)
        walked += 1
    assert seen == marked | {s, g}, "marked cells off the path"
    assert walked == dist[g]
    return walked


@cache
def generated(size: int, style: str, index: int, min_path: int | None = None):
    bound = default_min_path(size) if min_path is None else min_path
    return generate_indexed(size, style, bound, 11, "tests", index), bound


# --------------------------------------------------------------------------- text form

RING = ["######", "#S   #", "# ## #", "# ## #", "#   G#", "######"]


@st.composite
def mazes(draw, with_open_rows: bool = False) -> np.ndarray:
    """A valid maze: random walls, S and G, and an L-shaped corridor joining them."""
    size = draw(st.integers(4, 12))
    walls = draw(st.lists(st.booleans(), min_size=size * size, max_size=size * size))
    grid = np.where(np.array(walls).reshape(size, size), 0, 1).astype(np.int8)
    cells = draw(
        st.lists(
            st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)),
            min_size=2,
            max_size=2,
            unique=True,
        )
    )
    (sr, sc), (gr, gc) = cells
    grid[sr, min(sc, gc) : max(sc, gc) + 1] = 1
    grid[min(sr, gr) : max(sr, gr) + 1, gc] = 1
    if with_open_rows:
        grid[draw(st.integers(0, size - 1))] = 1  # a row of spaces only
    grid[sr, sc], grid[gr, gc] = 2, 3
    return grid


@PROPERTY
@given(st.lists(mazes(with_open_rows=True), min_size=1, max_size=3))
def test_text_round_trip(grids):
    text = format_mazes(grids)
    parsed = parse_text(text)
    assert len(parsed) == len(grids)
    for grid, p in zip(grids, parsed):
        assert np.array_equal(p.maze, grid) and p.path is None
        assert to_rows(grid) == text.split("\n")[p.line - 1 : p.line - 1 + len(grid)]
    # labels too: the path comes back as written (no mark at all when S touches G)
    label = solve(grids[0])
    again = parse_maze(to_text(label))
    assert np.array_equal(label if again.path is None else again.path, label)
    assert np.array_equal(again.maze, grids[0])


def test_first_row_of_open_cells_is_a_row_not_a_separator():
    rows = ["      ", "      ", "S####G", "      ", "      ", "      "]
    text = "   \n\n" + "\n".join(rows) + "\n\n"
    (p,) = parse_text(text)
    assert p.line == 3 and to_rows(p.maze) == rows


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("S  G\n    \n ## \n", "ends after 3 rows"),
        ("S  G\n    \n    \n    \n ## \n", "more than 4 rows"),
        ("S  G\n   \n    \n    \n", "ragged row of 3 characters, expected 4"),
        ("S  G\n    \n  x \n    \n", "bad character 'x' in column 3"),
        ("S  G\n    \n  o \n    \n", "'o'"),
        ("S G\n   \n   \n", "out of range"),
        ("S  G\n    \n    \n   S\n", "2 starts 'S'"),
        ("   G\n    \n    \n    \n", "no start 'S'"),
        ("S   \n    \n    \n    \n", "no goal 'G'"),
        ("S#  \n##  \n    \n   G\n", "cannot be reached"),
    ],
)
def test_bad_text_is_refused_naming_the_line(text, fragment):
    with pytest.raises(TRMError, match=r"^maze:[0-9]+: ") as e:
        parse_text(text, source="maze", allow_path=False)
    assert fragment in str(e.value)


def test_bad_text_names_the_line_of_the_problem():
    text = "####\n#SG#\n####\n####\n\n####\n#S #\n# x#\n#G##\n"
    with pytest.raises(TRMError, match=r"^f\.txt:8: bad character 'x'"):
        parse_text(text, source="f.txt")


# --------------------------------------------------------------------------- solver


def test_tie_break_takes_the_first_of_up_left_right_down():
    label = to_rows(solve(parse_maze("\n".join(RING)).maze))
    # two shortest paths of 6 moves; from S, "right" comes before "down"
    assert label == ["######", "#Sooo#", "# ##o#", "# ##o#", "#   G#", "######"]
    assert shortest_length(parse_maze("\n".join(RING)).maze) == 6


# --------------------------------------------------------------------------- generator


@pytest.mark.parametrize("size, index", [*SMALL, (30, 0), (30, 1)])
def test_corridor_mazes_have_a_unique_long_shortest_path(size, index):
    g, bound = generated(size, "corridors", index)
    maze_rows, label_rows = to_rows(g.maze), to_rows(g.label)
    dist, count = reference_bfs(maze_rows)
    (goal,) = find(maze_rows, "G")
    open_cells = [(r, c) for r in range(size) for c in range(size) if maze_rows[r][c] != "#"]
    assert set(dist) == set(open_cells), "every open cell is reachable from S"
    assert count[goal] == 1, "the shortest path is unique"
    assert dist[goal] >= bound and g.path_length == dist[goal]
    assert assert_label_is_a_shortest_path(maze_rows, label_rows) == dist[goal]
    # loops: more passages than a tree of the open cells has
    passages = sum((r + 1, c) in dist for r, c in dist) + sum((r, c + 1) in dist for r, c in dist)
    if size >= 8:
        assert passages > len(open_cells) - 1


@pytest.mark.parametrize("size, index", [(6, 0), (9, 1), (12, 2), (30, 0), (30, 1)])
def test_random_mazes_meet_the_bound_with_30_to_50_percent_walls(size, index):
    g, bound = generated(size, "random", index)
    maze_rows, label_rows = to_rows(g.maze), to_rows(g.label)
    walls = sum(row.count("#") for row in maze_rows) / size**2
    assert 0.3 <= walls <= 0.5
    dist, _ = reference_bfs(maze_rows)
    (goal,) = find(maze_rows, "G")
    assert dist[goal] >= bound and g.path_length == dist[goal]
    assert assert_label_is_a_shortest_path(maze_rows, label_rows) == dist[goal]


def test_a_larger_bound_is_met_and_an_impossible_one_refused():
    g, _ = generated(12, "corridors", 0, min_path=40)
    dist, count = reference_bfs(to_rows(g.maze))
    (goal,) = find(to_rows(g.maze), "G")
    assert dist[goal] >= 40 and count[goal] == 1
    with pytest.raises(TRMError, match="out of reach"):
        generate_indexed(10, "corridors", 49, 0, "tests", 0)
    with pytest.raises(TRMError, match="unknown maze style"):
        generate_indexed(10, "spiral", 10, 0, "tests", 0)


def test_generation_is_a_pure_function_of_its_index():
    a = generate_indexed(10, "random", 21, 5, "s", 3)
    b = generate_indexed(10, "random", 21, 5, "s", 3)
    c = generate_indexed(10, "random", 21, 5, "s", 4)
    assert np.array_equal(a.label, b.label) and not np.array_equal(a.maze, c.maze)


def test_default_min_path_scales_from_the_published_110():
    assert default_min_path(30) == 110
    assert default_min_path(10) == 21 and default_min_path(20) == 60
    assert default_min_path(4) == 5
    assert default_min_path(5) == 6  # 7 by the rule, capped by what a 5x5 lattice allows


# --------------------------------------------------------------------------- checker


def checked(maze_rows, label_rows):
    maze = parse_maze("\n".join(maze_rows)).maze
    return check_path(
        maze, parse_maze("\n".join(label_rows)).path if any("o" in r for r in label_rows) else maze
    )


TWO_WAYS = ["######", "#S  G#", "# ## #", "#    #", "######", "######"]


def test_checker_accepts_the_label_of_generated_mazes():
    for size, index in SMALL[:4]:
        for style in ("corridors", "random"):
            g, _ = generated(size, style, index)
            verdict = check_path(g.maze, g.label)
            assert verdict.ok and verdict.length == g.path_length == verdict.shortest


def test_checker_names_what_is_wrong():
    right = ["######", "#S   #", "#o## #", "#o## #", "#oooG#", "######"]  # the other tie
    assert checked(RING, right).ok
    broken = ["######", "#So  #", "# ##o#", "# ##o#", "#   G#", "######"]
    assert "connected" in checked(RING, broken).failed
    stray = ["######", "#Sooo#", "# ##o#", "# ##o#", "#o  G#", "######"]
    assert "connected" in checked(RING, stray).failed
    spur = ["######", "#Sooo#", "#o##o#", "# ##o#", "#   G#", "######"]
    assert "joins_start_goal" in checked(RING, spur).failed
    # through the walls, yet as short as the real paths: only that is wrong
    crossing = ["######", "#So  #", "# o# #", "# o# #", "# ooG#", "######"]
    assert checked(RING, crossing).failed == ("wall_free",)
    # a correct path, but the long way round
    too_long = ["######", "#S  G#", "#o##o#", "#oooo#", "######", "######"]
    verdict = checked(TWO_WAYS, too_long)
    assert verdict.failed == ("optimal_length",) and (verdict.length, verdict.shortest) == (7, 3)
    assert checked(TWO_WAYS, ["######", "#SooG#", "# ## #", "#    #", "######", "######"]).ok
    # nothing marked: S and G are not joined
    assert "connected" in checked(TWO_WAYS, TWO_WAYS).failed


def test_checker_wants_the_maze_kept():
    maze = parse_maze("\n".join(TWO_WAYS)).maze
    label = solve(maze)
    for r, c, code in ((0, 0, 1), (1, 1, 4), (3, 2, 0), (3, 3, 2)):  # wall gone, S covered, ...
        bad = label.copy()
        bad[r, c] = code
        assert "keeps_maze" in check_path(maze, bad).failed
    pad = label.copy()
    pad[5, 5] = -1  # a PAD token decoded
    assert check_path(maze, pad).failed == ("keeps_maze",)


# --------------------------------------------------------------------------- symmetries


@PROPERTY
@given(
    st.integers(4, 12).flatmap(
        lambda n: st.lists(st.integers(0, 4), min_size=n * n, max_size=n * n)
    ),
    st.sampled_from(SYMMETRIES),
    st.sampled_from(SYMMETRIES),
)
def test_every_symmetry_has_an_exact_inverse(cells, sym, other):
    size = int(round(len(cells) ** 0.5))
    grid = np.array(cells, np.int8).reshape(size, size)
    assert np.array_equal(sym.inverse().apply(sym.apply(grid)), grid)
    assert np.array_equal(sym.apply(sym.inverse().apply(grid)), grid)
    assert sym.then(sym.inverse()) == IDENTITY
    assert np.array_equal(sym.then(other).apply(grid), other.apply(sym.apply(grid)))
    assert np.array_equal(grid.reshape(-1)[sym.cells(size)], sym.apply(grid).reshape(-1))


def test_the_eight_symmetries_are_distinct_and_keep_path_lengths():
    g, _ = generated(10, "corridors", 0)
    images = {s.apply(g.maze).tobytes() for s in SYMMETRIES}
    assert len(images) == 8 and len(set(map(bytes, cell_tables(7)))) == 8
    assert Symmetry(1).then(Symmetry(1)) == Symmetry(2)
    for s in SYMMETRIES:
        assert check_path(s.apply(g.maze), s.apply(g.label)).ok


def test_augment_tokens_keeps_labels_valid():
    rows = [
        generated(size, style, i)[0]
        for size, i in ((10, 0), (10, 1))
        for style in ("corridors", "random")
    ]
    inputs = np.stack([maze_data.encode(g.maze) for g in rows] * 8)
    labels = np.stack([maze_data.encode(g.label) for g in rows] * 8)
    ids = np.arange(len(inputs), dtype=np.int32)
    x, y, out_ids = augment_tokens(inputs, labels, ids, np.random.default_rng(0))
    assert x.dtype == np.uint8 and x.shape == inputs.shape and np.array_equal(out_ids, ids)
    assert not np.array_equal(x, inputs)
    for xi, yi, g in zip(x, y, rows * 8):
        maze, label = maze_data.decode(xi), maze_data.decode(yi)
        verdict = check_path(maze, label)
        assert verdict.ok and verdict.length == g.path_length
    again = augment_tokens(inputs, labels, ids, np.random.default_rng(0))
    assert np.array_equal(again[0], x) and np.array_equal(again[1], y)


# --------------------------------------------------------------------------- datasets and CLI


def file_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("style", ["corridors", "random"])
def test_same_seed_same_files_with_one_or_two_workers(tmp_path, style):
    args = dict(size=10, style=style, train=24, test=6, seed=2, progress=False)
    one = maze_data.build_generated(tmp_path / "one", workers=1, **args)
    maze_data.build_generated(tmp_path / "two", workers=2, **args)
    assert file_bytes(tmp_path / "one") == file_bytes(tmp_path / "two")
    maze_data.build_generated(tmp_path / "other", workers=1, **{**args, "seed": 3})
    assert file_bytes(tmp_path / "one")["train.npz"] != file_bytes(tmp_path / "other")["train.npz"]
    train = {bytes(r) for r in one.splits["train"].inputs}
    test = {bytes(r) for r in one.splits["test"].inputs}
    assert len(train) == 24 and len(test) == 6 and not train & test
    loaded = load_dataset(tmp_path / "one")
    split = loaded.splits["test"]
    assert loaded.meta["vocab"] == ["<pad>", "#", " ", "S", "G", "o"]
    assert loaded.meta["seq_len"] == 100 and loaded.meta["task_info"]["min_path"] == 21
    for x, y, n in zip(split.inputs, split.labels, split.extras["path_length"]):
        verdict = check_path(maze_data.decode(x), maze_data.decode(y))
        assert verdict.ok and verdict.length == n >= 21


def test_import_computes_labels_and_keeps_a_given_path(tmp_path):
    ring_label = ["######", "#S   #", "#o## #", "#o## #", "#oooG#", "######"]  # the other tie
    text = "\n".join(RING) + "\n\n" + "\n".join(ring_label) + "\n\n" + "\n".join(TWO_WAYS) + "\n"
    (tmp_path / "m.txt").write_text(text)
    ds = maze_data.build_import(tmp_path / "m.txt", tmp_path / "d", progress=False)
    split = ds.splits["test"]
    labels = [to_rows(maze_data.decode(y)) for y in split.labels]
    assert labels[0] == to_rows(solve(parse_maze("\n".join(RING)).maze))
    assert labels[1] == ring_label
    assert labels[2] == ["######", "#SooG#", "# ## #", "#    #", "######", "######"]
    assert split.extras["path_length"].tolist() == [6, 6, 3]
    (tmp_path / "bad.txt").write_text("\n".join(TWO_WAYS).replace("#    #", "#oooo#") + "\n")
    with pytest.raises(TRMError, match=r"^bad\.txt:1: the marked path is not a shortest path"):
        maze_data.build_import(tmp_path / "bad.txt", tmp_path / "e", progress=False)


BAD_FILES = {
    "no start": ("####\n#  #\n# G#\n####\n", "no start 'S'"),
    "no goal": ("####\n#S #\n#  #\n####\n", "no goal 'G'"),
    "unreachable": ("####\n#S##\n##G#\n####\n", "cannot be reached"),
    "bad character": ("####\n#S #\n# G#\n##*#\n", "m.txt:4: bad character '*'"),
    "ragged": ("####\n#S #\n# G\n####\n", "m.txt:3: ragged row"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_cli_refuses_a_bad_maze_file_in_one_line(tmp_path, case):
    text, fragment = BAD_FILES[case]
    (tmp_path / "m.txt").write_text(text)
    r = run_trm(*cmd("data maze --import", tmp_path / "m.txt", "--out", tmp_path / "d"))
    assert_one_line_error(r, "error:", fragment)
    assert not (tmp_path / "d").exists()


def test_cli_makes_a_dataset_that_show_json_reads(tmp_path):
    out = tmp_path / "d"
    r = trm_ok("data maze --out", out, "--size 8 --train 6 --test 3 --seed 4 --workers 1 --quiet")
    assert r.stdout == "" and "wrote" in r.stderr
    r = trm_ok("data show", out, "--split test --n 2 --json")
    doc = json.loads(r.stdout)
    assert doc["meta"]["task"] == "maze" and doc["meta"]["seq_len"] == 64
    assert len(doc["examples"]) == 2
    for ex in doc["examples"]:
        assert set(ex) == {"input", "label"}
        assert len(ex["input"]) == len(ex["label"]) == 8
        assert all(len(row) == 8 for row in ex["input"] + ex["label"])
        verdict = check_path(
            parse_maze("\n".join(ex["input"])).maze, parse_maze("\n".join(ex["label"])).path
        )
        assert verdict.ok and verdict.length >= default_min_path(8)
    r = run_trm("data", "show", str(out), "--n", "1")
    assert r.returncode == 0 and "label" in r.stdout and "██" in r.stdout
    r = run_trm(*cmd("data maze --import", out, "--out", tmp_path / "x", "--size 8"))
    assert_one_line_error(r, "--size do not apply")
    r = run_trm(*cmd("data maze --out", tmp_path / "y", "--size 8 --min-path 99"))
    assert_one_line_error(r, "--min-path 99 is out of reach")
    r = run_trm("data", "maze", "--help")
    assert r.returncode == 0 and "Example" in r.stdout
