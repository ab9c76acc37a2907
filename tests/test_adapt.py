"""Test-time adaptation (issue 32): new puzzle ids learned from demonstrations, with the
network frozen; test outputs never read; the known ids untouched."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.helpers import assert_one_line_error, cmd, run_trm, task_json, trm_ok, write_tasks
from trm.adapt import Patience, adaptation_config, grow_table
from trm.config import TrainConfig, TRMConfig
from trm.data import TokenData
from trm.evaluate import predict
from trm.train import Trainer

CPU = torch.device("cpu")
K, L = 4, 8  # colours, tokens per example


def _family(perms, n, first_id, seed) -> TokenData:
    """Task j maps each colour c of a random sequence to perms[j][c]: the rule cannot be
    read from an input alone, only from the task's puzzle id."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, K, (len(perms), n, L))
    y = np.stack([np.asarray(p)[xi] for p, xi in zip(perms, x)])
    ids = np.repeat(np.arange(first_id, first_id + len(perms)), n)
    return TokenData(
        (x.reshape(-1, L) + 1).astype(np.uint8), (y.reshape(-1, L) + 1).astype(np.uint8), ids
    )


def _exact(model, data) -> np.ndarray:
    preds, _, _ = predict(model.eval(), data, device=CPU, halting="full")
    return (preds == data.labels).all(1)


def test_a_frozen_network_learns_unseen_colour_permutations_from_four_demos(tmp_path):
    rng = np.random.default_rng(0)
    perms: list[tuple] = []
    while len(perms) < 24:
        p = tuple(int(c) for c in rng.permutation(K))
        if p not in perms:
            perms.append(p)
    seen, unseen = perms[:18], perms[18:]
    model_cfg = TRMConfig(
        vocab_size=K + 1,
        seq_len=L,
        hidden_size=32,
        num_heads=2,
        num_layers=1,
        n=2,
        T=1,
        n_sup=2,
        mixer="attention",
        pos_encodings="learned",
        puzzle_emb_len=4,
        num_puzzle_ids=len(seen),
    )
    train_cfg = TrainConfig(
        steps=1000,
        batch_size=64,
        lr=3e-3,
        warmup=20,
        puzzle_emb_lr=3e-2,
        weight_decay=0.1,
        ema=0,
        augment=False,
        eval_every=10**6,
        checkpoint_every=10**6,
        log_every=10**6,
    )
    pretrain = Trainer(
        model_cfg, train_cfg, _family(seen, 64, 0, 1), None, tmp_path / "pre", device=CPU
    )
    pretrain.fit(progress=False)
    old_tasks = _family(seen, 16, 0, 9)
    assert _exact(pretrain.model, old_tasks).mean() == 1.0

    grown_cfg, grown = grow_table(model_cfg, pretrain.model.state_dict(), len(unseen))
    test = _family(unseen, 32, len(seen), 7)  # fresh inputs of the unseen tasks
    adapt_cfg = adaptation_config(train_cfg, steps=800, emb_lr=0.1, batch_size=16, eval_every=10**6)
    assert adapt_cfg.trainable == "embeddings"
    adapt = Trainer(
        grown_cfg, adapt_cfg, _family(unseen, 4, len(seen), 3), None, tmp_path / "ad", device=CPU
    )
    adapt.start_from(grown)
    before = _exact(adapt.model, test).mean()
    adapt.fit(progress=False)
    after = _exact(adapt.model, test).mean()
    assert before <= 0.05 and after >= 0.95, (before, after)
    # the network and the known rows did not move: the old tasks answer exactly as before
    state = adapt.model.state_dict()
    for name, value in pretrain.model.state_dict().items():
        if name == "puzzle_emb.weight":
            assert torch.equal(state[name][: len(seen)], value)
        else:
            assert torch.equal(state[name], value), name
    old_preds = predict(pretrain.model.eval(), old_tasks, device=CPU, halting="full")[0]
    assert np.array_equal(
        predict(adapt.model.eval(), old_tasks, device=CPU, halting="full")[0], old_preds
    )


def test_grow_table_appends_rows_and_keeps_the_old_ones():
    cfg = TRMConfig(
        vocab_size=5, seq_len=4, hidden_size=8, num_heads=2, puzzle_emb_len=1, num_puzzle_ids=3
    )
    table = torch.arange(24, dtype=torch.float32).view(3, 8)
    grown_cfg, grown = grow_table(cfg, {"puzzle_emb.weight": table, "x": torch.ones(1)}, 2)
    assert grown_cfg.num_puzzle_ids == 5 and torch.equal(grown["puzzle_emb.weight"][:3], table)
    assert torch.equal(grown["puzzle_emb.weight"][3:], table.mean(0).expand(2, -1))
    _, zeros = grow_table(cfg, {"puzzle_emb.weight": table}, 1, "zeros")
    assert not zeros["puzzle_emb.weight"][3:].any()
    with pytest.raises(Exception, match="no puzzle embeddings"):
        grow_table(TRMConfig(vocab_size=5, seq_len=4, hidden_size=8, num_heads=2), {}, 1)


def test_budget_grid_rounds_down_to_powers_of_two_and_one_and_a_half_times_them():
    from puzzles.arc.adapt import budget_grid

    assert [budget_grid(x) for x in (0.5, 1, 2.9, 3, 5.9, 6, 7.99, 8, 1000, 1535, 1536)] == [
        0,
        1,
        2,
        3,
        4,
        6,
        6,
        8,
        768,
        1024,
        1536,
    ]


def test_patience_stops_after_stalled_evaluations_or_a_perfect_score():
    p = Patience(2)
    assert [p({"exact_accuracy": s}) for s in (0.1, 0.3, 0.3, 0.2)] == [False, False, False, True]
    assert Patience(5)({"exact_accuracy": 1.0})
    never = Patience(0)
    assert not any(never({"exact_accuracy": s}) for s in (0.5, 0.5, 0.5, 1.0))


# ---------------------------------------------------------------- ARC, end to end (tiny)

BASE = {
    "aa": task_json([([[1, 2]], [[2, 1]]), ([[3, 4]], [[4, 3]])], [([[5, 6]], [[6, 5]])]),
    "bb": task_json([([[5]], [[6]]), ([[2]], [[3]])], [([[7]], [[8]])]),
}
NEW = {
    "aa": BASE["aa"],  # known to the base run: keeps its ids
    "cc": task_json([([[1]], [[1, 1]]), ([[2]], [[2, 2]]), ([[3]], [[3, 3]])], [([[4]], [[4, 4]])]),
    "dd": task_json([([[1, 2]], [[1], [2]]), ([[3, 4]], [[3], [4]])], [([[5, 6]], [[5], [6]])]),
}


def _garbage(tasks: dict) -> dict:
    """The same tasks with every test output replaced by another grid."""
    out = json.loads(json.dumps(tasks))
    for task in out.values():
        for pair in task["test"]:
            pair["output"] = [[9, 9, 9], [9, 0, 9]]
    return out


@pytest.fixture(scope="module")
def arc(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapt")
    for name, tasks in (("base", BASE), ("new", NEW), ("garbage", _garbage(NEW))):
        folder = write_tasks(root / f"{name}-tasks", tasks)
        trm_ok("data arc --source", folder, "--out", root / name, "--augment 4 --quiet")
    trm_ok(
        "train --data",
        root / "base",
        "--out",
        root / "run",
        "--preset tiny --steps 3 --mixer attention --puzzle-emb-len 1 --device cpu --quiet",
    )
    return root


ADAPT = "--steps 6 --eval-every 3 --batch-size 4 --views 2 --device cpu --quiet"


def test_adaptation_never_reads_test_outputs_and_keeps_the_known_ids(arc, tmp_path):
    outs = {}
    for name in ("new", "garbage"):
        run2 = tmp_path / f"run-{name}"
        r = trm_ok("adapt", arc / "run", "--data", arc / name, "--out", run2, ADAPT)
        assert "2 new task(s)" in r.stderr and "1 known task(s)" in r.stderr, r.stderr
        sub = tmp_path / f"{name}.json"
        trm_ok("predict arc", run2, "--data", arc / name, "--out", sub, "--views 2 --quiet")
        outs[name] = ((run2 / "checkpoint" / "model.safetensors").read_bytes(), sub.read_bytes())
    assert outs["new"] == outs["garbage"]  # the same weights and submission, bit for bit
    config = json.loads((tmp_path / "run-new" / "checkpoint" / "config.json").read_text())
    record = config["adapted"]
    assert record["new_tasks"] == ["cc", "dd"] and record["held_out"] == 2
    # the known task "aa" keeps the base run's rows; the new tasks' rows come after them
    base = json.loads((arc / "run" / "checkpoint" / "config.json").read_text())
    base_ids = base["model"]["num_puzzle_ids"]
    aa = base["data"]["task_info"]["puzzle_id_start"][
        base["data"]["task_info"]["task_ids"].index("aa")
    ]
    assert record["rows"][0] == aa and min(record["rows"][1:]) == base_ids
    # the base run's tasks answer exactly as before
    for run, name in ((arc / "run", "before"), (tmp_path / "run-new", "after")):
        trm_ok(
            "predict arc",
            run,
            "--data",
            arc / "base",
            "--out",
            tmp_path / f"{name}.json",
            "--views 4 --quiet",
        )
    assert (tmp_path / "before.json").read_bytes() == (tmp_path / "after.json").read_bytes()
    # the metrics log the held-out score as the run's evaluation
    evals = [
        json.loads(line)["eval"]
        for line in (tmp_path / "run-new" / "metrics.jsonl").read_text().splitlines()
        if "eval" in json.loads(line)
    ]
    assert evals and set(evals[-1]) >= {"exact_accuracy", "pass@2", "held_out"}


def test_predict_arc_adapt_writes_the_same_submission_whatever_the_test_outputs(arc, tmp_path):
    subs = []
    for name in ("new", "garbage"):
        sub = tmp_path / f"{name}.json"
        r = trm_ok(
            "predict arc",
            arc / "run",
            "--data",
            arc / name,
            "--out",
            sub,
            "--views 2 --adapt --adapt-steps 2 --max-minutes 5 --device cpu --quiet",
        )
        assert "adapting" in r.stderr and "time budget 5 min: 2 steps" in r.stderr, r.stderr
        subs.append(sub.read_bytes())
        answers = json.loads(subs[-1])
        assert set(answers) == {"aa", "cc", "dd"}
        assert all(set(a) == {"attempt_1", "attempt_2"} for t in answers.values() for a in t)
    assert subs[0] == subs[1]
    assert not list(tmp_path.glob("trm-adapt-*"))


def test_unknown_tasks_are_refused_with_the_way_to_adapt(arc):
    r = run_trm(*cmd("eval", arc / "run", "--data", arc / "new", "--views 2"))
    assert_one_line_error(r, "task cc has no puzzle ids", "trm adapt")


def test_adapt_refuses_bad_input_in_one_line_and_writes_nothing(arc, tmp_path):
    out = tmp_path / "out"
    sudoku = tmp_path / "sudoku"
    trm_ok("data sudoku --size 4 --train 8 --test 4 --out", sudoku, "--quiet")
    cases = [
        (cmd("adapt", arc / "run", "--data", sudoku, "--out", out), "adaptation learns ARC"),
        (
            cmd("adapt", arc / "run", "--data", arc / "base", "--out", out),
            "already knows every task",
        ),
        (cmd("adapt", arc / "run", "--data", arc / "new", "--out", out, "--views 0"), "views"),
        (cmd("adapt", arc / "run", "--data", arc / "new", "--out", out, "--steps 0"), "--steps"),
        (
            cmd(
                "adapt",
                arc / "run",
                "--data",
                arc / "new",
                "--out",
                out,
                "--batch-size 1 --steps 2",
            ),
            "one pass over the 3 demos",
        ),
    ]
    for args, needle in cases:
        r = run_trm(*args)
        assert_one_line_error(r, needle)
        assert not out.exists()
    # --adapt with a run that is not an ARC model
    sudoku_run = tmp_path / "sudoku-run"
    trm_ok(
        "train --data", sudoku, "--out", sudoku_run, "--preset tiny --steps 1 --device cpu --quiet"
    )
    sub = tmp_path / "sub.json"
    r = run_trm(*cmd("predict arc", sudoku_run, "--data", arc / "new", "--out", sub, "--adapt"))
    assert_one_line_error(r, "not an ARC one")
    assert not sub.exists()
    r = run_trm(*cmd("solve arc", arc / "new-tasks" / "cc.json", "-c", sudoku_run, "--adapt"))
    assert_one_line_error(r, "not an ARC one")


def test_solve_arc_adapt_learns_an_unseen_task_then_votes(arc):
    task = arc / "new-tasks" / "cc.json"
    r = run_trm(
        *cmd(
            "solve arc",
            task,
            "-c",
            arc / "run",
            "--adapt --adapt-steps 4 --views 2 --json --device cpu",
        )
    )
    assert r.returncode in (0, 1), r.stderr
    assert "adapting" in r.stderr and "held-out demo: pass@1" in r.stderr, r.stderr
    vote = json.loads(r.stdout)["vote"]
    assert vote["views"] == 2 and r.returncode == (0 if vote["pass@1"] else 1)
    # without --adapt the task is refused, naming it; a known task is not re-adapted
    assert_one_line_error(run_trm(*cmd("solve arc", task, "-c", arc / "run")), "task cc")
    r = run_trm(
        *cmd("solve arc", arc / "new-tasks" / "aa.json", "-c", arc / "run", "--adapt --json")
    )
    assert r.returncode in (0, 1) and "knows task aa" in r.stderr and "adapting" not in r.stderr
