"""trm.layers options used by the vision models: pre-norm blocks, dropout and drop-path,
and attention whose keys and values come from a wider context than its queries."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trm.layers import Block, BlockSpec, GatedSiLU, ReasoningNet, SwiGLU, drop_path, rms_norm


def _net(**options) -> ReasoningNet:
    torch.manual_seed(0)
    return ReasoningNet(BlockSpec(16, 2, 12, expansion=2.0, **options), 2)


def test_context_holding_only_the_queries_is_plain_self_attention():
    net = _net().eval()
    h = torch.randn(3, 12, 16)
    every = torch.arange(12).expand(3, -1)
    assert torch.allclose(net(h, positions=every, context=h), net(h), atol=1e-5)


def test_tokens_outside_the_subset_are_seen_as_keys_and_values():
    net = _net().eval()
    h = torch.randn(2, 12, 16)
    idx = torch.tensor([[0, 3, 7], [1, 2, 11]])
    sub = h.gather(1, idx.unsqueeze(-1).expand(-1, -1, 16))
    alone = net(sub, positions=idx)
    seen = net(sub, positions=idx, context=h)
    assert not torch.allclose(alone, seen, atol=1e-3)  # the others change the result
    changed = h.clone()
    changed[:, 5] += 1.0  # a token outside both subsets
    assert not torch.allclose(net(sub, positions=idx, context=changed), seen, atol=1e-4)
    # ... and a token's state inside the context is overwritten by the subset's own
    inside = h.clone()
    inside[0, 3] += 5.0
    assert torch.allclose(net(sub, positions=idx, context=inside)[1], seen[1], atol=1e-5)


def test_padding_slots_do_not_change_what_the_others_see():
    net = _net().eval()
    h = torch.randn(1, 12, 16)
    idx = torch.tensor([[0, 4, 9]])
    sub = h.gather(1, idx.unsqueeze(-1).expand(-1, -1, 16))
    real = net(sub[:, :2], positions=idx[:, :2], context=h)
    padded = net(sub, positions=idx, context=h, key_mask=torch.tensor([[True, True, False]]))
    assert torch.allclose(padded[:, :2], real, atol=1e-5)


def test_prenorm_block_adds_branches_to_an_unnormalised_stream():
    torch.manual_seed(0)
    post = Block(BlockSpec(16, 2, 8, expansion=2.0))
    pre = Block(BlockSpec(16, 2, 8, expansion=2.0, prenorm=True))
    pre.load_state_dict(post.state_dict())
    h = 3 * torch.randn(2, 8, 16)
    out_post, out_pre = post(h), pre(h)
    assert torch.allclose(out_post, rms_norm(out_post, 1e-5), atol=1e-5)  # post-norm: rms 1
    assert out_pre.pow(2).mean().sqrt() > 2  # pre-norm keeps the stream's scale
    mix = pre.mix(rms_norm(h, 1e-5))
    first = h + mix
    assert torch.allclose(out_pre, first + pre.mlp(rms_norm(first, 1e-5)), atol=1e-5)


def test_dropout_and_drop_path_act_in_training_only():
    net = _net(dropout=0.5, drop_path=0.5)
    h = torch.randn(4, 12, 16)
    net.eval()
    assert torch.equal(net(h), _net().eval()(h))  # the same weights, nothing dropped
    net.train()
    torch.manual_seed(1)
    a = net(h)
    torch.manual_seed(2)
    assert not torch.allclose(a, net(h))


def test_drop_path_drops_whole_examples_and_keeps_the_mean():
    torch.manual_seed(0)
    x = torch.ones(20000, 3, 2)
    out = drop_path(x, 0.25, True)
    per_example = out.flatten(1)
    assert ((per_example == 0).all(1) | (per_example == 1 / 0.75).all(1)).all()
    assert abs(out.mean().item() - 1) < 0.03
    assert torch.equal(drop_path(x, 0.25, False), x)


@pytest.mark.parametrize(
    ("dtype", "tolerance"), [(torch.float64, 1e-12), (torch.float32, 1e-6), (torch.bfloat16, 0.05)]
)
def test_gated_silu_is_the_plain_ops_forward_and_backward(dtype, tolerance):
    torch.manual_seed(0)
    h = (3 * torch.randn(4, 9, 2 * 5)).to(dtype).requires_grad_()
    grad = torch.randn(4, 9, 5).to(dtype)
    gate, up = h.chunk(2, dim=-1)
    plain = F.silu(gate) * up
    fused = GatedSiLU.apply(h)
    assert torch.equal(fused, plain)  # the same ops forward: bit for bit
    (expected,) = torch.autograd.grad(plain, h, grad)
    (got,) = torch.autograd.grad(fused, h, grad)
    assert got.dtype == dtype
    torch.testing.assert_close(got, expected, atol=tolerance, rtol=tolerance)
    # the backward runs autograd's own kernels (a product, silu_backward), so bit for bit
    assert torch.equal(got, expected)


def test_gated_silu_gradient_is_exact_in_float64():
    h = torch.randn(3, 2 * 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(GatedSiLU.apply, (h,))


def test_swiglu_takes_the_plain_ops_without_gradients_and_the_fused_one_with():
    torch.manual_seed(0)
    mlp = SwiGLU(6, 4.0)
    x = torch.randn(2, 3, 6)
    with torch.no_grad():
        quiet = mlp(x)
    assert torch.equal(mlp(x), quiet)
    assert "GatedSiLUBackward" in _graph_nodes(mlp(x).grad_fn)


def _graph_nodes(node) -> set[str]:
    """The names of the autograd graph's nodes behind ``node``."""
    seen, todo = {}, [node]
    while todo:
        node = todo.pop()
        if node is not None and id(node) not in seen:
            seen[id(node)] = node.name()
            todo += [child for child, _ in node.next_functions]
    return set(seen.values())
