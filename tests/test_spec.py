"""Specification tests of the training pieces other tests only use in passing: the
stable-max loss and the supervision loss, the learning-rate schedule, the example sampler
and the weight average (EMA). Each checks the formula in the docstring by hand."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from trm.config import TrainConfig
from trm.data import Sampler
from trm.ema import EMA
from trm.losses import HALT_WEIGHT, PAD, log_stablemax, supervision_loss
from trm.optim import lr_factor

# ----------------------------------------------------------------------- stable-max


def test_stablemax_is_x_plus_1_above_zero_and_1_over_1_minus_x_below():
    logits = torch.tensor([[2.0, 0.0, -1.0, -3.0]])
    s = torch.tensor([3.0, 1.0, 1 / 2, 1 / 4], dtype=torch.float64)
    want = torch.log(s / s.sum())
    got = log_stablemax(logits)
    assert got.dtype == torch.float64  # computed and returned in float64, as officially
    torch.testing.assert_close(got, want.unsqueeze(0))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=12))
def test_stablemax_is_a_distribution_ordered_like_its_logits(values):
    logits = torch.tensor([values])
    p = log_stablemax(logits).exp()[0]
    assert torch.all(p > 0)
    assert math.isclose(p.sum().item(), 1.0, rel_tol=1e-9)
    order = torch.argsort(torch.tensor(values), stable=True)
    assert torch.all(p[order].diff() >= 0)  # a larger logit never gets less mass


def test_stablemax_is_not_shift_invariant_unlike_softmax():
    x = torch.tensor([[1.0, 0.0]])
    assert not torch.allclose(log_stablemax(x), log_stablemax(x + 5))
    torch.testing.assert_close(torch.log_softmax(x, -1), torch.log_softmax(x + 5, -1))


# ----------------------------------------------------------------------- supervision loss


def test_supervision_loss_by_hand():
    """Per example: mean cross-entropy over labelled (non-PAD) positions; the batch: the
    mean over examples; plus HALT_WEIGHT x BCE(halt logit, answer exactly right)."""
    logits = torch.tensor(
        [
            [[0.0, 3.0, 0.0], [0.0, 0.0, 3.0], [9.0, 0.0, 0.0]],  # both labels right, then PAD
            [[0.0, 3.0, 0.0], [0.0, 3.0, 0.0], [0.0, 3.0, 0.0]],  # 2 of 3 right
        ]
    )
    labels = torch.tensor([[1, 2, PAD], [1, 2, 1]])
    halt = torch.tensor([0.5, -1.0])
    out = supervision_loss(logits, labels, halt)
    logp = torch.log_softmax(logits, -1)
    first = -(logp[0, 0, 1] + logp[0, 1, 2]) / 2  # the PAD position does not count
    second = -(logp[1, 0, 1] + logp[1, 1, 2] + logp[1, 2, 1]) / 3
    answer = (first + second) / 2
    halt_bce = (
        -(
            torch.log(torch.sigmoid(torch.tensor(0.5)))
            + torch.log(1 - torch.sigmoid(torch.tensor(-1.0)))
        )
        / 2
    )
    torch.testing.assert_close(out.answer_loss, answer)
    torch.testing.assert_close(out.halt_loss, halt_bce)
    torch.testing.assert_close(out.loss, answer + HALT_WEIGHT * halt_bce)
    assert out.correct.tolist() == [True, False]
    assert out.cell_correct.tolist() == [2, 2] and out.cells.tolist() == [2, 3]


def test_supervision_loss_stablemax_uses_stablemax():
    logits = torch.tensor([[[0.5, -2.0, 1.0]]])
    labels = torch.tensor([[2]])
    out = supervision_loss(logits, labels, torch.zeros(1), kind="stablemax")
    torch.testing.assert_close(out.answer_loss.double(), -log_stablemax(logits)[0, 0, 2])


# ----------------------------------------------------------------------- LR schedule


def test_lr_warms_up_linearly_then_follows_the_cosine_to_its_floor():
    cfg = TrainConfig(steps=110, warmup=10, min_lr_ratio=0.1)
    assert [lr_factor(s, cfg) for s in (0, 4, 9)] == [0.1, 0.5, 1.0]
    assert lr_factor(10, cfg) == pytest.approx(1.0)  # the cosine starts at the peak
    assert lr_factor(60, cfg) == pytest.approx(0.1 + 0.9 * 0.5)  # halfway: half-way down
    assert lr_factor(110, cfg) == pytest.approx(0.1)  # the end: the floor
    assert lr_factor(500, cfg) == pytest.approx(0.1)  # past the end: stays there
    cosine = [lr_factor(s, cfg) for s in range(10, 111)]
    assert all(b <= a for a, b in itertools.pairwise(cosine))


def test_lr_constant_schedule_and_fractional_positions():
    cfg = TrainConfig(steps=100, warmup=4, schedule="constant")
    assert lr_factor(1.5, cfg) == pytest.approx(2.5 / 4)  # an images budget: fractional steps
    assert {lr_factor(s, cfg) for s in (4, 50, 99, 1000)} == {1.0}


# ----------------------------------------------------------------------- sampler


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), takes=st.lists(st.integers(0, 50), max_size=8), seed=st.integers(0, 9))
def test_sampler_draws_every_example_once_per_epoch_in_a_seeded_order(n, takes, seed):
    a, b = Sampler(n, seed), Sampler(n, seed)
    stream = torch.cat([a.take(k) for k in takes] + [torch.zeros(0, dtype=torch.long)])
    assert len(stream) == sum(takes)
    assert torch.equal(stream, b.take(sum(takes)))  # chunking does not change the stream
    for start in range(0, len(stream) - n + 1, n):  # each whole epoch: a permutation
        assert sorted(stream[start : start + n].tolist()) == list(range(n))


def test_sampler_reshuffles_each_epoch():
    s = Sampler(50, 0)
    assert not torch.equal(s.take(50), s.take(50))


# ----------------------------------------------------------------------- EMA


def _model(value: float) -> nn.Module:
    m = nn.Linear(1, 1, bias=False)
    nn.init.constant_(m.weight, value)
    m.register_buffer("table", torch.zeros(3))
    return m


def test_ema_warmup_decay_is_min_of_decay_and_1_plus_t_over_10_plus_t():
    model = _model(0.0)
    ema = EMA(model, decay=0.999, warmup=True)
    want = 0.0
    for t in range(5):
        nn.init.constant_(model.weight, float(t + 1))
        ema.update(model)
        d = min(0.999, (1 + t) / (10 + t))
        want = d * want + (1 - d) * (t + 1)
        assert ema.state_dict()["weight"].item() == pytest.approx(want)


def test_ema_without_warmup_decays_at_the_constant_rate_and_keeps_buffers_live():
    model = _model(0.0)
    ema = EMA(model, decay=0.9, warmup=False)
    nn.init.constant_(model.weight, 1.0)
    ema.update(model)
    assert ema.state_dict()["weight"].item() == pytest.approx(0.1)
    model.table.add_(1)  # a buffer (e.g. puzzle embeddings) is shared, never averaged
    assert torch.equal(ema.state_dict()["table"], torch.ones(3))
    assert list(ema.averages()) == ["weight"]
    other = EMA(_model(0.0), decay=0.9, warmup=False)
    other.load_state_dict(ema.averages(), ema.updates)
    assert other.updates == 1 and other.state_dict()["weight"].item() == pytest.approx(0.1)
