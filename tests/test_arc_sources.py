"""ARC sources in the official TRM build's layouts: Kaggle files by prefix and subsets, and
extra training folders such as ConceptARC. The tests write tiny files in exactly those layouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puzzles.arc.data import build_from, load_table
from puzzles.arc.sources import add_training, load_kaggle_subsets, load_source
from puzzles.arc.tokens import decode
from puzzles.dataset import load_dataset
from puzzles.tasks import get_task
from tests.helpers import SMALL_ARC as SMALL
from tests.helpers import assert_one_line_error, cmd, run_trm, task_json, trm_ok, write_tasks
from trm.errors import TRMError


def write_kaggle(prefix: Path, subset: str, tasks: dict[str, dict], solutions: bool = True) -> None:
    """``<prefix>_<subset>_challenges.json`` (test outputs removed) and, if asked, the
    matching ``_solutions.json``."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    challenges = {
        k: {"train": v["train"], "test": [{"input": p["input"]} for p in v["test"]]}
        for k, v in tasks.items()
    }
    Path(f"{prefix}_{subset}_challenges.json").write_text(json.dumps(challenges))
    if solutions:
        answers = {k: [p["output"] for p in v["test"]] for k, v in tasks.items()}
        Path(f"{prefix}_{subset}_solutions.json").write_text(json.dumps(answers))


TRAINING = {"a": SMALL["t0"], "shared": SMALL["t1"]}
EVALUATION = {
    "e": task_json([([[1, 2]], [[2, 1]])], [([[3, 4]], [[4, 3]]), ([[5]], [[5]])]),
    "shared": task_json([([[8]], [[8, 8]])], [([[7]], [[7, 7]])]),
}
CONCEPT = {"c": task_json([([[2]], [[3]])], [([[4]], [[5]])]), "a": SMALL["t1"]}


@pytest.fixture
def kaggle(tmp_path) -> Path:
    prefix = tmp_path / "kaggle" / "combined" / "arc-agi"
    write_kaggle(prefix, "training", TRAINING)
    write_kaggle(prefix, "evaluation", EVALUATION)
    write_kaggle(prefix, "concept", CONCEPT, solutions=False)
    return prefix


def pairs_of(split, ids: list[str]) -> list[tuple[str, str, str, int]]:
    """(task id, input, label, is test pair) of every row, grids decoded from the tokens."""
    return sorted(
        (ids[t], json.dumps(decode(x).tolist()), json.dumps(decode(y).tolist()), int(test))
        for t, x, y, test in zip(
            split.extras["task"], split.inputs, split.labels, split.extras["test_pair"]
        )
    )


def expected(
    task_id: str, task: dict, which: str, test_flag: int
) -> list[tuple[str, str, str, int]]:
    return [
        (task_id, json.dumps(p["input"]), json.dumps(p["output"]), test_flag) for p in task[which]
    ]


def test_subsets_split_as_the_official_build(kaggle, tmp_path):
    build_from(
        str(kaggle),
        tmp_path / "d",
        subsets=["training", "evaluation", "concept"],
        test_sets=["evaluation"],
        augment=3,
        progress=False,
    )
    ds = load_dataset(tmp_path / "d")
    ids = ds.meta["task_info"]["task_ids"]
    # the test subset keeps its ids; a later subset's task whose id is taken is renamed
    assert sorted(ids) == ["a", "c", "concept/a", "e", "shared", "training/shared"]
    want_train = (
        expected("a", TRAINING["a"], "train", 0)
        + expected("a", TRAINING["a"], "test", 1)
        + expected("training/shared", TRAINING["shared"], "train", 0)
        + expected("training/shared", TRAINING["shared"], "test", 1)
        + expected("e", EVALUATION["e"], "train", 0)
        + expected("shared", EVALUATION["shared"], "train", 0)
        # concept has no solutions file: its demos train, its test inputs are dropped
        + expected("c", CONCEPT["c"], "train", 0)
        + expected("concept/a", CONCEPT["a"], "train", 0)
    )
    assert pairs_of(ds.splits["train"], ids) == sorted(want_train)
    want_test = expected("e", EVALUATION["e"], "test", 1) + expected(
        "shared", EVALUATION["shared"], "test", 1
    )
    assert pairs_of(ds.splits["test"], ids) == sorted(want_test)
    assert "predict" not in ds.splits
    source = ds.meta["source"]
    assert source["kind"] == "kaggle-subsets" and source["renamed_tasks"] == 2
    assert source["unsolved_training_tests_dropped"] == 2
    assert (
        "solutions" not in source["files"]["concept"] and "solutions" in source["files"]["training"]
    )
    assert (
        ds.meta["task_info"]["training_tasks"] == 4
        and ds.meta["task_info"]["evaluation_tasks"] == 2
    )


def test_a_test_subset_without_solutions_goes_to_predict(kaggle, tmp_path):
    src = load_kaggle_subsets(str(kaggle), ["training", "concept"], ["concept"])
    assert {t.id: t.set for t in src.tasks} == {
        "c": "evaluation",
        "a": "evaluation",
        "training/a": "training",
        "shared": "training",
    }
    ds = build_from(
        str(kaggle),
        tmp_path / "d",
        subsets=["training", "concept"],
        test_sets=["concept"],
        augment=2,
        progress=False,
    )
    assert "test" not in ds.splits and len(ds.splits["predict"]) == 2


def write_concept_arc(folder: Path) -> Path:
    """ConceptARC's layout: one sub-folder per concept, one task file per task."""
    write_tasks(folder / "AboveBelow", {"AboveBelow1": SMALL["t0"], "e": SMALL["t1"]})
    write_tasks(folder / "Center", {"Center1": task_json([([[1]], [[2]])], [([[3]], [[4]])])})
    return folder


def test_extra_training_folders_add_every_pair_with_unique_ids(kaggle, tmp_path):
    concept = write_concept_arc(tmp_path / "ConceptARC")
    build_from(
        str(kaggle),
        tmp_path / "d",
        subsets=["training", "evaluation"],
        test_sets=["evaluation"],
        extra_train=[concept],
        augment=4,
        progress=False,
    )
    ds = load_dataset(tmp_path / "d")
    ids = ds.meta["task_info"]["task_ids"]
    assert {"AboveBelow1", "Center1", "ConceptARC/e", "e"} <= set(ids)
    rows = pairs_of(ds.splits["train"], ids)
    for name, task in (("AboveBelow1", SMALL["t0"]), ("ConceptARC/e", SMALL["t1"])):
        assert set(expected(name, task, "train", 0) + expected(name, task, "test", 1)) <= set(rows)
    assert [r for r in pairs_of(ds.splits["test"], ids) if r[0] != "e" and r[0] != "shared"] == []
    assert ds.meta["source"]["extra_train"][0]["tasks"] == 3
    # the augmentation machinery sees every task, extra ones included
    table = load_table(ds)
    assert len(table.start) == len(ids) + 1
    augment = get_task("arc").augmenter_for(ds)
    split = ds.splits["train"]
    x, _, puzzle_ids = augment(
        split.inputs, split.labels, split.puzzle_ids, np.random.default_rng(0)
    )
    assert (
        np.all(table.task_of(puzzle_ids) == split.extras["task"]) and x.shape == split.inputs.shape
    )


def test_extra_training_with_any_source_and_file_names_repeated_across_concepts(tmp_path):
    concept = write_concept_arc(tmp_path / "cc")
    write_tasks(concept / "Copy", {"Center1": SMALL["t0"]})  # the same file name twice
    src = add_training(
        load_source(str(write_tasks(tmp_path / "flat", {"t0": SMALL["t0"]}))), [concept]
    )
    assert sorted(t.id for t in src.tasks) == [
        "AboveBelow1",
        "Center/Center1",
        "Copy/Center1",
        "e",
        "t0",
    ]
    assert {t.set for t in src.tasks if t.id != "t0"} == {"training"}


@pytest.mark.parametrize(
    "case, fragment",
    [
        ("missing subset", "arc-agi_concept2_challenges.json: no such file (subset concept2"),
        ("test set not a subset", "`test_set` must name one or more of `subsets`"),
        ("no test set", "`test_set` must name one or more of `subsets`"),
        ("solutions", "`solutions` goes with one challenges file"),
        ("test set alone", "`test_set` goes with `subsets`"),
        ("unsolved extra", "test pair 1 has no output"),
        (
            "bad solutions",
            "arc-agi_training_solutions.json: task a: 2 test outputs for 1 test inputs",
        ),
    ],
)
def test_bad_layouts_give_one_line_errors(kaggle, tmp_path, case, fragment):
    options = {"subsets": ["training", "evaluation"], "test_sets": ["evaluation"]}
    extra = []
    if case == "missing subset":
        options["subsets"] = ["training", "concept2", "evaluation"]
    elif case == "test set not a subset":
        options["test_sets"] = ["concept"]
    elif case == "no test set":
        options["test_sets"] = []
    elif case == "solutions":
        options["solutions"] = tmp_path / "s.json"
    elif case == "test set alone":
        options["subsets"] = None
    elif case == "unsolved extra":
        extra = [write_tasks(tmp_path / "x", {"t2": SMALL["t2"]})]
    elif case == "bad solutions":
        Path(f"{kaggle}_training_solutions.json").write_text(
            json.dumps({"a": [[[1]], [[2]]], "shared": [[[1]]]})
        )
    with pytest.raises(TRMError) as e:
        build_from(
            str(kaggle), tmp_path / "d", extra_train=extra, augment=2, progress=False, **options
        )
    assert fragment in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "d").exists()


def test_cli_official_arc_command_and_a_bad_one(kaggle, tmp_path):
    concept = write_concept_arc(tmp_path / "ConceptARC")
    r = trm_ok(
        "data arc --source",
        kaggle,
        "--subsets training,evaluation,concept --test-set evaluation --extra-train",
        concept,
        "--augment 3 --out",
        tmp_path / "d",
        "-q",
    )
    assert "test 3" in r.stderr
    r = run_trm(
        *cmd(
            "data arc --source",
            kaggle,
            "--subsets training,evaluation --test-set evaluation2 --out",
            tmp_path / "e",
        )
    )
    assert_one_line_error(
        r, "--test-set must name one or more of --subsets", "evaluation2 is not one"
    )


grids = st.integers(1, 4).flatmap(
    lambda h: st.integers(1, 4).flatmap(
        lambda w: st.lists(
            st.lists(st.integers(0, 9), min_size=w, max_size=w), min_size=h, max_size=h
        )
    )
)
tasks = st.builds(
    lambda train, test: task_json(train, test),
    st.lists(st.tuples(grids, grids), min_size=1, max_size=2),
    st.lists(st.tuples(grids, grids), min_size=1, max_size=2),
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    training=st.dictionaries(st.sampled_from("abc"), tasks, min_size=1, max_size=2),
    evaluation=st.dictionaries(st.sampled_from("bcd"), tasks, min_size=1, max_size=2),
)
def test_any_kaggle_subsets_keep_every_grid_and_give_unique_ids(
    tmp_path_factory, training, evaluation
):
    prefix = tmp_path_factory.mktemp("k") / "arc-agi"
    write_kaggle(prefix, "training", training)
    write_kaggle(prefix, "evaluation", evaluation)
    src = load_kaggle_subsets(str(prefix), ["training", "evaluation"], ["evaluation"])
    ids = [t.id for t in src.tasks]
    assert len(set(ids)) == len(ids) == len(training) + len(evaluation)
    for task in src.tasks:
        if task.set == "evaluation":
            value = evaluation[task.id]
        else:
            name = task.id.removeprefix("training/")
            assert (task.id != name) == (name in evaluation)  # renamed only where taken
            value = training[name]
        got = [(p.input.tolist(), p.output.tolist()) for p in (*task.train, *task.test)]
        assert got == [(p["input"], p["output"]) for p in (*value["train"], *value["test"])]
