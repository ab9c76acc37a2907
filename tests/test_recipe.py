"""The CPU recipe's pieces: Muon for the network's matrices, ..."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import sudoku_tokens, tiny_config
from trm.checkpoint import flatten_optimizer_state, unflatten_optimizer_state
from trm.config import TrainConfig
from trm.errors import SettingError
from trm.model import TRM
from trm.optim import Combined, make_optimizer, matrix_parameters


def muon_config(**kw) -> TrainConfig:
    return TrainConfig(optimizer="muon", lr=3e-3, weight_decay=0.1, **kw).validate()


def one_step(model: TRM, optimizer, data, generator: torch.Generator) -> None:
    rows = torch.randint(0, len(data), (8,), generator=generator)
    inputs = torch.from_numpy(data.inputs[rows.numpy()]).long()
    labels = torch.from_numpy(data.labels[rows.numpy()]).long()
    x = model.embed_input(inputs, torch.zeros(8, dtype=torch.long))
    out = model.deep_step(x, *model.initial_state(8))
    loss = torch.nn.functional.cross_entropy(out.logits.flatten(0, 1), labels.flatten())
    loss = loss + out.halt_logit.square().mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def test_muon_takes_the_networks_matrices_and_adam_the_rest():
    model = TRM(tiny_config())
    opt = make_optimizer(model, muon_config())
    assert isinstance(opt, Combined)
    muon, adam = opt.parts
    assert isinstance(muon, torch.optim.Muon)
    in_muon = {id(p) for g in muon.param_groups for p in g["params"]}
    in_adam = {id(p) for g in adam.param_groups for p in g["params"]}
    assert in_muon == {id(p) for p in matrix_parameters(model)} and in_muon
    assert all(p.ndim == 2 for g in muon.param_groups for p in g["params"])
    assert not in_muon & in_adam
    assert in_muon | in_adam == {id(p) for p in model.parameters()}
    # the embeddings and both heads stay with Adam
    for p in (model.embed.weight, model.head.weight, model.halt_head.weight):
        assert id(p) in in_adam
    # one schedule drives both
    for g in opt.param_groups:
        g["lr"] = g["base_lr"] * 0.5
    assert muon.param_groups[0]["lr"] == adam.param_groups[0]["lr"] == 1.5e-3


def test_muon_resumes_bit_for_bit_through_a_checkpoints_flat_state():
    data = sudoku_tokens(4, 32)
    torch.manual_seed(0)
    steady = TRM(tiny_config())
    stopped = TRM(tiny_config())
    stopped.load_state_dict(steady.state_dict())
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    steady_opt = make_optimizer(steady, muon_config())
    stopped_opt = make_optimizer(stopped, muon_config())
    for _ in range(3):
        one_step(steady, steady_opt, data, g1)
        one_step(stopped, stopped_opt, data, g2)
    tensors, meta = flatten_optimizer_state(stopped_opt.state_dict())
    assert any("momentum_buffer" in k for k in tensors)
    resumed = TRM(tiny_config())
    resumed.load_state_dict(stopped.state_dict())
    resumed_opt = make_optimizer(resumed, muon_config())
    resumed_opt.load_state_dict(unflatten_optimizer_state(tensors, meta))
    for _ in range(3):
        one_step(steady, steady_opt, data, g1)
        one_step(resumed, resumed_opt, data, g2)
    for a, b in zip(steady.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_muon_without_matrices_is_one_line():
    model = torch.nn.Sequential(torch.nn.LayerNorm(4))
    with pytest.raises(SettingError, match=r"optimizer.*muon needs weight matrices"):
        make_optimizer(model, muon_config())


# --------------------------------------------------------------------------- depth curriculum


def test_the_depth_curriculum_follows_cgars_three_stages():
    from trm.curriculum import depth_at

    stages = [depth_at(p / 100, 6, 3, 0.6) for p in range(100)]
    assert stages[0] == stages[29] == (2, 1)
    assert stages[30] == stages[59] == (4, 2)
    assert stages[60] == stages[99] == (6, 3)
    assert depth_at(0.0, 6, 3, 0.0) == (6, 3)  # off
    assert depth_at(0.1, 1, 1, 0.6) == (1, 1)  # never below one


def test_curriculum_work_counts_shallow_steps_cheaper_and_adds_up():
    from trm.curriculum import relative_cost, work

    assert work(0, 100, 100, 6, 3, 0.0) == 100
    whole = work(0, 100, 100, 6, 3, 0.6)
    expected = 30 * relative_cost((2, 1), 6, 3) + 30 * relative_cost((4, 2), 6, 3) + 40
    assert whole == pytest.approx(expected)
    # split anywhere, the parts add up to the whole
    for cut in (0, 7, 30, 31.5, 59, 60, 99):
        assert work(0, cut, 100, 6, 3, 0.6) + work(cut, 100, 100, 6, 3, 0.6) == pytest.approx(whole)


def test_training_steps_recurse_shallower_and_evaluation_at_full_depth(tmp_path):
    from trm.train import Trainer

    cfg = TrainConfig(
        steps=10, batch_size=8, warmup=1, depth_curriculum=0.6, eval_every=100, log_every=100
    ).validate()
    model_cfg = tiny_config(n=4, T=3)
    data = sudoku_tokens(4, 16)
    trainer = Trainer(model_cfg, cfg, data, data, tmp_path, device=torch.device("cpu"))
    calls: list[int] = []
    trainer.model.net.register_forward_hook(lambda *a: calls.append(1))
    seen = []
    for _ in range(10):
        calls.clear()
        trainer.train_step()
        seen.append(len(calls))
        assert trainer.model.depth is None  # between steps: full depth
    # (n + 1) x T network calls per step: (2+1)x1, then (3+1)x2, then (4+1)x3
    assert seen == [3, 3, 3, 8, 8, 8, 15, 15, 15, 15]


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5])
def test_a_curriculum_as_long_as_the_run_is_one_line(share):
    with pytest.raises(SettingError, match="depth_curriculum"):
        TrainConfig(depth_curriculum=share).validate()


# --------------------------------------------------------------------------- default preset


def test_without_a_preset_a_cpu_run_takes_its_tasks_cpu_recipe_and_says_so(s4_run, tmp_path):
    import json

    from tests.helpers import RESUME, trm_ok

    data, _ = s4_run
    run = tmp_path / "run"
    result = trm_ok("train --data", data, "--out", run, "--steps 1", RESUME)
    first = result.stderr.splitlines()[0]
    assert first.startswith("preset sudoku-small: the CPU recipe for sudoku data")
    assert "--preset sudoku: the official GPU recipe" in first
    config = json.loads((run / "checkpoint" / "config.json").read_text())
    assert config["model"]["hidden_size"] == 128 and config["train"]["batch_size"] == 64
    # and it ends saying what to run next with it
    assert f"evaluate: trm eval {run} --data {data}" in result.stderr
    assert f"solve one: trm solve sudoku -c {run}" in result.stderr
    assert "continue with" not in result.stderr


def test_each_task_names_its_recipe_per_device():
    from puzzles.tasks import get_task
    from puzzles.training import chosen_preset

    sudoku, maze, arc = (get_task(t) for t in ("sudoku", "maze", "arc"))
    assert sudoku.preset_for("cpu") == "sudoku-small" and sudoku.preset_for("cuda") == "sudoku"
    assert maze.preset_for("cpu") == "maze-cpu" and maze.preset_for("cuda") == "maze"
    assert arc.preset_for("cpu") == arc.preset_for("cuda") == "arc"
    assert chosen_preset("maze", maze) == (
        "preset maze: the official recipe for maze data (--preset maze-cpu: the CPU recipe)"
    )
    assert chosen_preset("arc", arc) == "preset arc: the official recipe for arc data"


# ---------------------------------------------------------------- compile by default


def test_compile_auto_is_on_for_long_cpu_runs_only(monkeypatch):
    from trm import device as dev

    cpu = torch.device("cpu")
    monkeypatch.setattr(dev, "cpp_compiler", lambda: "/usr/bin/g++")
    assert dev.resolve_compile(None, cpu, 60)[0] is True
    assert dev.resolve_compile(None, cpu, dev.AUTO_COMPILE_MINUTES)[0] is True
    assert dev.resolve_compile(None, cpu, 9.5)[0] is False
    assert dev.resolve_compile(None, cpu, None)[0] is False  # no budget: a short run as likely
    assert dev.resolve_compile(None, torch.device("mps"), 60)[0] is False
    # what the user says wins either way
    assert dev.resolve_compile(False, cpu, 60) == (False, "off")
    assert dev.resolve_compile(True, cpu, None) == (True, "on")
    monkeypatch.setattr(dev, "cpp_compiler", lambda: None)
    on, why = dev.resolve_compile(None, cpu, 60)
    assert not on and "no C++ compiler" in why


def test_cpp_compiler_follows_cxx(monkeypatch, tmp_path):
    from trm import device as dev

    fake = tmp_path / "my-cxx"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", str(fake))
    assert dev.cpp_compiler() == str(fake)
    monkeypatch.setenv("CXX", "")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert dev.cpp_compiler() is None


def test_the_last_checkpoint_is_written_once_after_the_final_evaluation(tmp_path, monkeypatch):
    """A step count that is a multiple of checkpoint_every once saved the last step twice
    (for ARC a second multi-GB write; the first without the final evaluation)."""
    from trm.train import Trainer

    cfg = TrainConfig(steps=4, batch_size=8, warmup=1, checkpoint_every=2, eval_every=100)
    data = sudoku_tokens(4, 16)
    trainer = Trainer(
        tiny_config(), cfg.validate(), data, data, tmp_path, device=torch.device("cpu")
    )
    saves = []
    monkeypatch.setattr(
        trainer, "save", lambda: saves.append((trainer.state.step, trainer.state.last_eval))
    )
    summary = trainer.fit(progress=False)
    assert [step for step, _ in saves] == [2, 4]
    assert saves[-1][1] is not None  # the last save holds the final evaluation
    assert summary["finished"] and summary["steps"] == 4


def test_a_run_stopped_by_its_time_limit_says_how_far_and_how_to_go_on():
    from cli.train import next_steps

    summary = {"out": "runs/r", "task": "maze", "finished": False, "steps": 200}
    text = next_steps(summary, "data/m")
    assert text.splitlines() == [
        "stopped by the time limit; continue with: trm train --data data/m --out runs/r --resume",
        "evaluate: trm eval runs/r --data data/m",
        "solve one: trm solve maze -c runs/r",
    ]
    done = next_steps({**summary, "task": "arc", "finished": True}, "data/a").splitlines()
    assert done[-1].startswith("solve one: trm solve arc TASK -c runs/r")
