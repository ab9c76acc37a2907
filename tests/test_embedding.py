"""The puzzle-embedding table: a sparse sign-SGD update of the rows in the batch only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trm.config import TrainConfig, TRMConfig
from trm.data import TokenData
from trm.embedding import PuzzleEmbedding, sparse_sign_step
from trm.evaluate import evaluate
from trm.model import TRM
from trm.train import Trainer

CFG = TRMConfig(
    vocab_size=5,
    seq_len=8,
    num_puzzle_ids=6,
    puzzle_emb_len=2,
    puzzle_emb_ndim=24,
    hidden_size=16,
    num_heads=2,
    num_layers=1,
    n=1,
    T=1,
    n_sup=4,
    mixer="mlp",
)


def test_only_the_rows_in_the_batch_move_by_lr_times_the_sign():
    torch.manual_seed(0)
    model = TRM(CFG)
    model.puzzle_emb.weight.normal_()
    before = model.puzzle_emb.weight.clone()
    ids = torch.tensor([1, 3, 3])
    inputs = torch.randint(1, 5, (3, 8))
    y, z = model.initial_state(3)
    model.train()
    out = model(inputs, ids, y, z)
    out.logits.square().sum().backward()
    grad = model.puzzle_emb.local_rows.grad.clone()
    assert sparse_sign_step(model.puzzle_emb, lr=0.01, weight_decay=0.5) == 2
    after = model.puzzle_emb.weight
    for row in (0, 2, 4, 5):  # not in the batch: bit for bit as they were, no decay
        assert torch.equal(after[row], before[row])
    decay = 1 - 0.01 * 0.5
    assert torch.allclose(after[1], before[1] * decay - 0.01 * grad[0].sign())
    assert torch.allclose(after[3], before[3] * decay - 0.01 * (grad[1] + grad[2]).sign())
    assert model.puzzle_emb.local_rows is None  # used once
    assert "puzzle_emb.weight" not in dict(model.named_parameters())  # not the optimizer's


def test_evaluation_and_no_grad_read_the_table_without_tracking():
    table = PuzzleEmbedding(4, 3)
    table.weight.copy_(torch.arange(12.0).view(4, 3))
    table.eval()
    assert torch.equal(table(torch.tensor([2])), table.weight[[2]])
    table.train()
    with torch.no_grad():
        table(torch.tensor([1]))
    assert table.local_rows is None
    assert sparse_sign_step(table, 0.1, 0.0) == 0


def _data(n: int, tasks: int, length: int, seed: int) -> TokenData:
    """Recolour by task: each puzzle id permutes the 4 colours its own way, and nothing in
    the input says which task it is: only the puzzle embedding can."""
    rng = np.random.default_rng(seed)
    perms = [np.random.default_rng(100 + t).permutation(4) for t in range(tasks)]
    ids = rng.integers(0, tasks, n).astype(np.int32)
    x = rng.integers(0, 4, (n, length))
    y = np.stack([perms[t][row] for t, row in zip(ids, x)])
    return TokenData((x + 1).astype(np.uint8), (y + 1).astype(np.uint8), ids)


def _trainer(tmp_path, steps: int, **train) -> Trainer:
    cfg = TRMConfig(
        vocab_size=5,
        seq_len=16,
        num_puzzle_ids=8,
        puzzle_emb_len=1,
        hidden_size=32,
        num_heads=2,
        num_layers=1,
        n=1,
        T=1,
        n_sup=2,
        mixer="mlp",
    )
    settings = dict(
        steps=steps,
        batch_size=32,
        lr=3e-3,
        warmup=10,
        puzzle_emb_lr=1e-2,
        puzzle_emb_weight_decay=0.0,
        weight_decay=0.0,
        ema=0.0,
        augment=False,
        checkpoint_every=10_000,
        eval_every=10_000,
    )
    settings.update(train)
    return Trainer(
        cfg,
        TrainConfig(**settings),
        _data(2048, 8, 16, 0),
        None,
        tmp_path,
        device=torch.device("cpu"),
    )


def test_the_embeddings_learn_what_only_they_can_tell(tmp_path):
    trainer = _trainer(tmp_path, 400)
    for _ in range(400):
        trainer.train_step()
    test = _data(256, 8, 16, 1)
    learned = evaluate(trainer.model, test)
    trainer.model.puzzle_emb.weight.zero_()
    zeroed = evaluate(trainer.model, test)
    assert learned.exact_accuracy > 0.8, learned.summary()
    assert zeroed.exact_accuracy < 0.05, zeroed.summary()


def test_the_ema_keeps_the_live_table_and_averages_the_parameters(tmp_path):
    trainer = _trainer(tmp_path, 5, ema=0.9)
    for _ in range(5):
        trainer.train_step()
    ema = trainer.ema.state_dict()
    live = trainer.model.state_dict()
    assert torch.equal(ema["puzzle_emb.weight"], live["puzzle_emb.weight"])
    assert ema["puzzle_emb.weight"].data_ptr() == live["puzzle_emb.weight"].data_ptr()  # no copy
    assert not torch.equal(ema["head.weight"], live["head.weight"])
    assert "puzzle_emb.weight" not in trainer.ema.averages()


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_resume_gives_the_same_table_bit_for_bit(tmp_path, ema):
    straight = _trainer(tmp_path / "a", 8, ema=ema)
    for _ in range(8):
        straight.train_step()
    first = _trainer(tmp_path / "b", 8, ema=ema)
    for _ in range(4):
        first.train_step()
    first.save()
    second = _trainer(tmp_path / "b", 8, ema=ema)
    second.restore()
    for _ in range(4):
        second.train_step()
    a, b = straight.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    if ema:
        assert all(
            torch.equal(v, second.ema.state_dict()[k]) for k, v in straight.ema.state_dict().items()
        )
