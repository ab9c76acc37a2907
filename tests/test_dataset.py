"""The on-disk dataset format: deterministic, atomic, resumable, and strict when reading."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from puzzles import dataset as ds_mod
from puzzles.dataset import load_dataset, read_meta
from puzzles.sudoku import data as sudoku_data
from puzzles.sudoku.grid import find_conflicts, is_solution
from tests.helpers import lock_held_elsewhere
from trm.errors import TRMError


def build(out: Path, **kw):
    args = dict(size=4, difficulty="easy", train=40, test=10, seed=3, workers=1, progress=False)
    args.update(kw)
    return sudoku_data.build_generated(out, **args)


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_seed_gives_byte_identical_files(tmp_path):
    build(tmp_path / "a")
    build(tmp_path / "b")
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")
    build(tmp_path / "c", seed=4)
    assert file_bytes(tmp_path / "a")["train.npz"] != file_bytes(tmp_path / "c")["train.npz"]


def test_worker_count_does_not_change_the_files(tmp_path):
    build(tmp_path / "one", size=9, difficulty="medium", train=6, test=3, workers=1)
    build(tmp_path / "two", size=9, difficulty="medium", train=6, test=3, workers=2)
    assert file_bytes(tmp_path / "one") == file_bytes(tmp_path / "two")


def test_dataset_round_trips_and_holds_valid_unique_puzzles(tmp_path):
    made = build(tmp_path / "d", size=6, difficulty="medium", train=12, test=5)
    loaded = load_dataset(tmp_path / "d")
    assert loaded.meta["splits"] == {
        "train": {"examples": 12, "groups": 12},
        "test": {"examples": 5, "groups": 5},
    }
    assert loaded.meta["seq_len"] == 36 and loaded.meta["vocab"][1] == "."
    for name in ("train", "test"):
        a, b = made.splits[name], loaded.splits[name]
        assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.labels, b.labels)
        for x, y in zip(b.inputs, b.labels):
            puzzle, solution = sudoku_data.decode(x), sudoku_data.decode(y)
            assert not find_conflicts(puzzle) and is_solution(solution, puzzle)
    # arrays load with numpy alone
    with np.load(tmp_path / "d" / "test.npz", allow_pickle=False) as z:
        assert {"inputs", "labels", "puzzle_ids", "group_start", "rating"} <= set(z.files)


def test_train_and_test_never_share_a_puzzle(tmp_path):
    # 4x4 easy puzzles repeat often, so the de-duplication is really exercised
    d = build(tmp_path / "d", train=300, test=100)
    train = {bytes(r) for r in d.splits["train"].inputs}
    test = {bytes(r) for r in d.splits["test"].inputs}
    assert len(train) == 300 and len(test) == 100 and not train & test


def test_augmented_copies_never_leak_a_test_puzzle_into_training(tmp_path):
    # 4x4 has few distinct puzzles: many augmented copies would hit the test set
    d = build(tmp_path / "d", train=100, test=100, augment=10)
    train = {bytes(r) for r in d.splits["train"].inputs}
    test = {bytes(r) for r in d.splits["test"].inputs}
    assert not train & test and len(d.splits["train"]) > 500
    aug = sudoku_data.augment_dataset(tmp_path / "d", tmp_path / "x", k=10, seed=7)
    assert not {bytes(r) for r in aug.splits["train"].inputs} & test


def test_augment_writes_groups_of_valid_copies(tmp_path):
    d = build(tmp_path / "d", size=9, difficulty="easy", train=5, test=2, augment=3)
    train = d.splits["train"]
    assert len(train) == 20 and train.n_groups == 5
    assert np.array_equal(train.group_start, np.arange(0, 21, 4))
    for g in range(5):
        rows = range(train.group_start[g], train.group_start[g + 1])
        assert len({bytes(train.inputs[i]) for i in rows}) == 4  # distinct copies
        for i in rows:
            p, s = sudoku_data.decode(train.inputs[i]), sudoku_data.decode(train.labels[i])
            assert is_solution(s, p)
    assert len(d.splits["test"]) == 2  # the test split is never augmented


def test_data_augment_command_adds_copies(tmp_path):
    build(tmp_path / "d", size=9, difficulty="easy", train=4, test=2)
    aug = sudoku_data.augment_dataset(tmp_path / "d", tmp_path / "x", k=2, seed=1)
    assert len(aug.splits["train"]) == 12 and aug.splits["train"].n_groups == 4
    assert np.array_equal(
        load_dataset(tmp_path / "x").splits["test"].inputs,
        load_dataset(tmp_path / "d").splits["test"].inputs,
    )


def test_existing_dataset_is_refused_without_force_and_replaced_with_it(tmp_path):
    out = tmp_path / "d"
    build(out)
    with pytest.raises(TRMError, match="already holds a dataset"):
        build(out, seed=9)
    build(out, seed=9, force=True)
    assert read_meta(out)["source"]["seed"] == 9


def test_non_empty_folder_that_is_not_a_dataset_is_never_overwritten(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(TRMError, match="holds no dataset"):
        build(out, force=True)
    assert (out / "notes.txt").read_text() == "keep me"


class Interrupt(Exception):
    pass


def test_interrupted_build_leaves_nothing_half_written_and_resumes_to_the_same_bytes(
    tmp_path, monkeypatch
):
    reference = tmp_path / "ref"
    build(reference, train=600, test=10)
    out = tmp_path / "d"
    real = sudoku_data.generate_indexed
    calls = {"n": 0}

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] == 400:  # in the second train chunk
            raise Interrupt
        return real(*args)

    monkeypatch.setattr(sudoku_data, "generate_indexed", flaky)
    with pytest.raises(Interrupt):
        build(out, train=600, test=10)
    assert [p.name for p in out.iterdir()] == [".trm-partial"]  # no dataset, half or whole
    partial = out / ".trm-partial"
    assert (partial / "settings.json").exists() and (partial / "train-000000.npz").exists()

    monkeypatch.setattr(sudoku_data, "generate_indexed", real)
    calls["n"] = 0
    build(out, train=600, test=10)
    assert file_bytes(out) == file_bytes(reference)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())


def test_resuming_with_other_settings_is_refused(tmp_path):
    partial = tmp_path / "d" / ".trm-partial"
    partial.mkdir(parents=True)
    (partial / "settings.json").write_text(json.dumps({"task": "sudoku", "seed": 1}))
    with pytest.raises(TRMError, match="interrupted build with other settings"):
        build(tmp_path / "d")
    build(tmp_path / "d", force=True)
    assert (tmp_path / "d" / "dataset.json").exists()


# --------------------------------------------------------------------------- strict loading


@pytest.fixture
def good(tmp_path) -> Path:
    out = tmp_path / "good"
    build(out)
    return out


def test_loader_refuses_missing_folder_and_missing_metadata(tmp_path):
    with pytest.raises(TRMError, match="no such dataset folder"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TRMError, match=r"dataset.json is missing"):
        load_dataset(tmp_path / "empty")


def edit_meta(folder: Path, **changes) -> None:
    meta = json.loads((folder / "dataset.json").read_text())
    meta.update(changes)
    (folder / "dataset.json").write_text(json.dumps(meta))


def test_loader_refuses_corrupt_or_newer_metadata(good):
    (good / "dataset.json").write_text("{not json")
    with pytest.raises(TRMError, match="corrupt metadata"):
        load_dataset(good)


def test_loader_refuses_a_newer_format_version(good):
    edit_meta(good, version=ds_mod.FORMAT_VERSION + 1)
    with pytest.raises(TRMError, match="newer than this trm reads"):
        load_dataset(good)


def test_loader_refuses_missing_and_truncated_split_files(good):
    data = (good / "train.npz").read_bytes()
    (good / "train.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(TRMError, match="corrupt or truncated"):
        load_dataset(good)
    (good / "train.npz").unlink()
    with pytest.raises(TRMError, match="missing"):
        load_dataset(good)


def rewrite_split(folder: Path, name: str, **replace) -> None:
    with np.load(folder / f"{name}.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(replace)
    ds_mod.save_npz(folder / f"{name}.npz", arrays)


def test_loader_refuses_wrong_shapes_counts_and_tokens(good):
    with np.load(good / "test.npz") as z:
        inputs = z["inputs"]
    rewrite_split(good, "test", inputs=inputs[:, :-1])
    with pytest.raises(TRMError, match="shape"):
        load_dataset(good)
    bad = inputs.copy()
    bad[0, 0] = 99
    rewrite_split(good, "test", inputs=bad)
    with pytest.raises(TRMError, match="outside the vocab"):
        load_dataset(good)
    rewrite_split(good, "test", inputs=inputs)
    load_dataset(good)  # repaired
    edit_meta(
        good,
        splits={"train": {"examples": 40, "groups": 40}, "test": {"examples": 11, "groups": 11}},
    )
    with pytest.raises(TRMError, match="metadata says"):
        load_dataset(good)


def test_npz_writer_output_is_a_plain_zip_of_npy_files(tmp_path):
    path = tmp_path / "a.npz"
    ds_mod.save_npz(path, {"x": np.arange(5, dtype=np.int16)})
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["x.npy"]
    assert np.array_equal(np.load(path)["x"], np.arange(5))


# --------------------------------------------------------------------------- import


def test_import_solves_every_outside_puzzle(tmp_path, shared_sudoku):
    d, skipped = sudoku_data.build_import(
        shared_sudoku / "top95.txt", tmp_path / "t", progress=False
    )
    assert skipped == 0 and list(d.splits) == ["test"] and len(d.splits["test"]) == 95
    lines = [
        line.strip()
        for line in (shared_sudoku / "top95.txt").read_text().splitlines()
        if line.strip()
    ]
    for line, x, y in zip(lines, d.splits["test"].inputs, d.splits["test"].labels):
        p, s = sudoku_data.decode(x), sudoku_data.decode(y)
        assert "".join("." if v == 0 else str(v) for v in p) == line.replace("0", ".")
        assert is_solution(s, p)
    assert d.meta["source"]["kind"] == "import" and len(d.meta["source"]["sha256"]) == 64


def test_import_refuses_a_puzzle_without_a_unique_solution_naming_its_line(tmp_path):
    f = tmp_path / "p.txt"
    good = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
    f.write_text(good + "\n" + "." * 81 + "\n")
    with pytest.raises(TRMError, match=r"p.txt:2: the puzzle has more than one solution"):
        sudoku_data.build_import(f, tmp_path / "t", progress=False)
    assert not (tmp_path / "t").exists()
    d, skipped = sudoku_data.build_import(f, tmp_path / "t", progress=False, skip_bad=True)
    assert skipped == 1 and len(d.splits["test"]) == 1


def test_import_reads_csv_with_solutions_and_refuses_a_wrong_one(tmp_path):
    puzzle = "1.34" + "34.2" + "2143" + "4.21"
    solution = "1234" + "3412" + "2143" + "4321"
    f = tmp_path / "p.csv"
    f.write_text(f"quizzes,solutions\n{puzzle},{solution}\n")
    d, _ = sudoku_data.build_import(f, tmp_path / "t", progress=False)
    assert sudoku_data.decode(d.splits["test"].labels[0]).tolist() == [int(c) for c in solution]
    swapped = (
        solution.replace("1", "x").replace("2", "1").replace("x", "2")
    )  # valid grid, wrong clues
    f.write_text(f"{puzzle},{swapped}\n")
    with pytest.raises(TRMError, match=r"p.csv:1: the solution does not solve the puzzle"):
        sudoku_data.build_import(f, tmp_path / "u", progress=False)


def test_two_builds_into_the_same_folder_at_once_are_refused(tmp_path):
    from puzzles.build import ResumableBuild

    second = ResumableBuild(tmp_path / "d", {"seed": 1})
    with lock_held_elsewhere(tmp_path / "d") as pid, pytest.raises(TRMError) as refused:
        second.__enter__()
    assert f"another trm process (pid {pid}) is writing" in str(refused.value)
    with ResumableBuild(tmp_path / "d", {"seed": 1}) as build:
        build.finish()
    assert not (tmp_path / "d").exists()  # made for the build, left empty: removed
