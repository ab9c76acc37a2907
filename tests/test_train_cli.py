"""`trm train` and `trm eval` as a user meets them: files, JSON, resume, and bad input."""

import json
import pickle

import pytest

from tests.helpers import FAST, assert_one_line_error, cmd, run_trm, trm_ok


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    data, run = root / "s4", root / "run"
    trm_ok("data sudoku --out", data, "--size 4 --train 64 --test 16 --workers 1 --quiet")
    trm_ok(
        "train --data",
        data,
        "--out",
        run,
        "--steps 30 --eval-every 20 --checkpoint-every 20 --log-every 10",
        FAST,
    )
    return data, run


def test_train_writes_checkpoint_and_metrics(trained):
    _data, run = trained
    files = sorted(p.name for p in (run / "checkpoint").iterdir())
    assert files == [
        "config.json",
        "model.safetensors",
        "train_state.json",
        "train_state.safetensors",
    ]
    config = json.loads((run / "checkpoint" / "config.json").read_text())
    assert config["model"]["hidden_size"] == 32 and config["model"]["seq_len"] == 16
    assert config["task"] == "sudoku" and config["step"] == 30
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if "loss" in line] == [10, 20, 30]
    assert [line["step"] for line in lines if "eval" in line] == [20, 30]
    for key in (
        "loss",
        "exact_accuracy",
        "cell_accuracy",
        "mean_halt_steps",
        "samples_per_s",
        "lr",
    ):
        assert key in lines[0]


def test_eval_json(trained):
    data, run = trained
    for halting in ("full", "adaptive"):
        r = run_trm(
            "eval", str(run), "--data", str(data), "--halting", halting, "--json", "--device", "cpu"
        )
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert {"exact_accuracy", "cell_accuracy", "mean_steps", "n"} <= set(out)
        assert out["n"] == 16 and 0 <= out["cell_accuracy"] <= 1 and 1 <= out["mean_steps"] <= 4
    r = run_trm(*cmd("eval", run, "--data", data, "--device cpu"))
    assert r.returncode == 0 and "exact accuracy" in r.stdout


def test_existing_run_needs_resume_or_force_and_resume_extends_it(trained, tmp_path):
    data, run = trained
    assert_one_line_error(
        run_trm(*cmd("train --data", data, "--out", run, FAST)),
        "already holds a run",
        "--resume",
    )
    assert_one_line_error(
        run_trm(*cmd("train --data", data, "--out", run, "--resume --hidden-size 64 --quiet")),
        "--resume",
    )
    trm_ok("train --data", data, "--out", run, "--resume --steps 40 --device cpu --quiet")
    assert json.loads((run / "checkpoint" / "config.json").read_text())["step"] == 40
    assert_one_line_error(
        run_trm(*cmd("train --data", data, "--out", tmp_path / "new", "--resume --quiet")),
        "nothing to resume",
    )


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--preset", "huge"], "'huge' is not one of"),
        (["--steps", "0"], "steps must be at least 1"),
        (["--lr", "-1"], "learning rates must be positive"),
        (["--mixer", "conv"], "'conv' is not one of"),
        (["--device", "cuda"], "no CUDA GPU"),
        (["--precision", "fp8"], "'fp8' is not one of"),
    ],
)
def test_bad_training_options_exit_2(trained, tmp_path, args, fragment):
    data, _ = trained
    r = run_trm(
        "train",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "r"),
        "--quiet",
        *(["--preset", "tiny"] if "--preset" not in args else []),
        *args,
    )
    assert_one_line_error(r, fragment)


def test_eval_refuses_missing_corrupt_and_pickled_checkpoints(trained, tmp_path):
    data, run = trained
    assert_one_line_error(run_trm("eval", str(tmp_path / "none"), "--data", str(data)), "none")
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "model.pt").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    assert_one_line_error(run_trm("eval", str(planted), "--data", str(data)), "model.pt", "pickle")
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in (run / "checkpoint").iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "model.safetensors").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    assert_one_line_error(run_trm("eval", str(broken), "--data", str(data)), "model.safetensors")


def test_eval_refuses_data_the_model_was_not_trained_for(trained, tmp_path):
    _, run = trained
    other = tmp_path / "s9"
    assert (
        run_trm(
            *cmd(
                "data sudoku --out",
                other,
                "--train 0 --test 2 --difficulty easy --workers 1 --quiet",
            )
        ).returncode
        == 0
    )
    assert_one_line_error(run_trm("eval", str(run), "--data", str(other)), "differs")
    data, _ = trained
    assert_one_line_error(
        run_trm(*cmd("eval", run, "--data", data, "--halting some")), "unknown halting"
    )


def test_init_fine_tunes_from_another_runs_weights(trained, tmp_path):
    """--init: the new run starts at the given weights (model and EMA), with its own optimizer,
    schedule and step count, and records where it came from."""
    from safetensors.torch import load_file

    from puzzles.training import train_on_dataset

    data, run = trained
    start = load_file(run / "checkpoint" / "model.safetensors")
    start_step = json.loads((run / "checkpoint" / "config.json").read_text())["step"]
    out = tmp_path / "tuned"
    train_on_dataset(
        data,
        out,
        preset="tiny",
        device="cpu",
        precision="fp32",
        progress=False,
        init=run,
        train_overrides={"steps": 3, "lr": 1e-9, "warmup": 0, "eval_every": 100},
    )
    config = json.loads((out / "checkpoint" / "config.json").read_text())
    assert config["step"] == 3 and config["init_from"]["step"] == start_step
    assert config["init_from"]["path"] == str(run) and len(config["init_from"]["sha256"]) == 64
    assert config["model"] == json.loads((run / "checkpoint" / "config.json").read_text())["model"]
    tuned = load_file(out / "checkpoint" / "model.safetensors")
    assert tuned.keys() == start.keys()
    for k in start:  # a learning rate of 1e-9 for 3 steps: where it started
        assert (tuned[k] - start[k]).abs().max() < 1e-5, k
    # resuming keeps the record
    train_on_dataset(
        data,
        out,
        resume=True,
        device="cpu",
        precision="fp32",
        progress=False,
        train_overrides={"steps": 4},
    )
    assert (
        json.loads((out / "checkpoint" / "config.json").read_text())["init_from"]["step"]
        == start_step
    )


def test_init_refuses_resume_a_changed_model_and_other_data(trained, tmp_path):
    data, run = trained
    assert_one_line_error(
        run_trm(*cmd("train --data", data, "--out", run, "--resume --init", run, "--quiet")),
        "--init",
        "--resume",
    )
    assert_one_line_error(
        run_trm(
            *cmd(
                "train --data",
                data,
                "--out",
                tmp_path / "a",
                "--init",
                run,
                "--hidden-size 64",
                FAST,
            )
        ),
        "cannot change hidden_size",
    )
    other = tmp_path / "s6"
    trm_ok("data sudoku --out", other, "--size 6 --train 4 --test 0 --workers 1 --quiet")
    assert_one_line_error(
        run_trm(*cmd("train --data", other, "--out", tmp_path / "b", "--init", run, FAST)),
        "sequence length",
    )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
