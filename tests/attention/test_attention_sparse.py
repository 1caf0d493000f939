"""SparseTokenAttention against an explicit per-group loop; CBAM gates against hand-written math."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attn.attention import ChannelAttention, SparseTokenAttention, TemporalAttention


def groups_of(permutation: torch.Tensor, n_tokens: int, n_heads: int) -> list[list[int]]:
    """Real token indices of each group, in slot order."""
    slots = permutation.view(n_heads, -1).tolist()
    return [[t for t in group if t < n_tokens] for group in slots]


def per_group_loop(module: SparseTokenAttention, x: torch.Tensor, groups: list[list[int]]) -> torch.Tensor:
    """Reference: plain softmax attention inside each group, in float64, one group at a time."""
    x = x.double()
    lin = {name: getattr(module, name) for name in ("q_proj", "k_proj", "v_proj", "out_proj")}
    w = {name: (m.weight.double(), m.bias.double()) for name, m in lin.items()}
    q, k, v = (x @ w[n][0].T + w[n][1] for n in ("q_proj", "k_proj", "v_proj"))
    mixed = torch.zeros_like(x)
    for group in groups:
        scores = q[:, group] @ k[:, group].transpose(1, 2) / math.sqrt(x.shape[-1])
        mixed[:, group] = torch.softmax(scores, dim=-1) @ v[:, group]
    return mixed @ w["out_proj"][0].T + w["out_proj"][1]


@pytest.mark.parametrize(
    ("n_tokens", "scale", "n_heads", "group_size"),
    [(8, 0.5, 4, 2), (7, 0.5, 3, 3), (10, 0.7, 7, 2), (5, 0.1, 1, 5), (128, 0.5, 64, 2)],
)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_equals_explicit_per_group_loop(n_tokens, scale, n_heads, group_size, mode):
    torch.manual_seed(0)
    hidden = 256 if n_tokens == 128 else 6  # the seed configuration: sequence 128, d_model 256
    module = SparseTokenAttention(hidden, scale_factor=scale, dropout=0.0).train(mode == "train")
    x = torch.randn(2, n_tokens, hidden)
    out, weights = module(x)
    perm = module.last_permutation
    assert module.num_heads(n_tokens) == n_heads
    assert perm.shape == (n_heads * group_size,)
    assert weights.shape == (2, n_heads, group_size, group_size)
    # Every real token appears exactly once; the rest are padding slots.
    assert sorted(t for t in perm.tolist() if t < n_tokens) == list(range(n_tokens))
    groups = groups_of(perm, n_tokens, n_heads)
    assert max(map(len, groups)) - min(map(len, groups)) <= 1
    torch.testing.assert_close(out.double(), per_group_loop(module, x, groups), atol=1e-5, rtol=1e-5)
    # Weights: real query rows sum to one, padding rows and columns are zero.
    real = (perm < n_tokens).view(n_heads, group_size)
    sums = weights.sum(-1)
    torch.testing.assert_close(sums[:, real], torch.ones_like(sums[:, real]))
    assert (sums[:, ~real] == 0).all()
    assert (weights.transpose(-1, -2)[:, ~real] == 0).all()


def test_gradient_never_crosses_groups():
    torch.manual_seed(1)
    module = SparseTokenAttention(4, scale_factor=0.4, dropout=0.0).train()
    x = torch.randn(1, 11, 4, requires_grad=True)
    out, _ = module(x)
    groups = groups_of(module.last_permutation, 11, module.num_heads(11))
    group_of = {t: g for g, group in enumerate(groups) for t in group}
    for t in range(11):
        (grad,) = torch.autograd.grad(out[0, t].sum(), x, retain_graph=True)
        touched = grad[0].abs().sum(-1) != 0
        outside = [s for s in range(11) if group_of[s] != group_of[t]]
        assert not touched[outside].any()
        assert touched[t]


def test_eval_is_deterministic_strided_interleave():
    torch.manual_seed(2)
    module = SparseTokenAttention(4, scale_factor=0.3, dropout=0.5).eval()
    x = torch.randn(2, 10, 4)
    a, wa = module(x)
    b, wb = module(x)
    assert torch.equal(a, b) and torch.equal(wa, wb)
    n_heads = module.num_heads(10)
    groups = groups_of(module.last_permutation, 10, n_heads)
    assert [sorted(g) for g in groups] == [[t for t in range(10) if t % n_heads == g] for g in range(n_heads)]


def test_training_permutation_is_fresh_and_seeded():
    module = SparseTokenAttention(4, dropout=0.0).train()
    x = torch.randn(1, 16, 4)
    torch.manual_seed(3)
    module(x)
    first = module.last_permutation.clone()
    module(x)
    second = module.last_permutation.clone()
    torch.manual_seed(3)
    module(x)
    assert not torch.equal(first, second)
    assert torch.equal(first, module.last_permutation)


def test_explicit_permutation_argument_overrides_mode():
    torch.manual_seed(4)
    module = SparseTokenAttention(4, dropout=0.0).eval()
    x = torch.randn(1, 6, 4)
    perm = torch.tensor([5, 0, 3, 2, 4, 1])
    out, _ = module(x, permutation=perm)
    torch.testing.assert_close(out.double(), per_group_loop(module, x, [[5, 0], [3, 2], [4, 1]]))
    with pytest.raises(ValueError, match=r"permutation must have shape \(6,\)"):
        module(x, permutation=torch.arange(5))


def test_dropout_on_weights_only_in_training():
    torch.manual_seed(5)
    module = SparseTokenAttention(4, scale_factor=0.25, dropout=0.5).train()
    x = torch.randn(3, 16, 4)
    _, dropped = module(x)
    module.eval()
    _, clean = module(x, permutation=module.last_permutation)
    assert (clean > 0).all()
    kept = dropped != 0
    assert 0 < kept.float().mean() < 1
    torch.testing.assert_close(dropped[kept], clean[kept] / 0.5)


def test_parameter_count_and_linear_layers():
    for hidden in (1, 7, 64):
        module = SparseTokenAttention(hidden)
        assert sum(p.numel() for p in module.parameters()) == 4 * hidden * hidden + 4 * hidden
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            layer = getattr(module, name)
            assert isinstance(layer, torch.nn.Linear) and layer.bias is not None


def test_sparse_bad_inputs():
    with pytest.raises(ValueError, match="scale_factor"):
        SparseTokenAttention(4, scale_factor=1.5)
    with pytest.raises(ValueError, match="dropout"):
        SparseTokenAttention(4, dropout=1.0)
    with pytest.raises(ValueError, match=r"expects input \(batch, tokens, 4\), got shape \(2, 3, 5\)"):
        SparseTokenAttention(4)(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match=r"got shape \(3, 4\)"):
        SparseTokenAttention(4)(torch.randn(3, 4))


def test_channel_attention_against_numpy():
    torch.manual_seed(6)
    module = ChannelAttention(16, reduction_ratio=4)
    assert sum(p.numel() for p in module.parameters()) == 2 * 16 * (16 // 4)
    x = torch.randn(3, 16, 9)
    w1 = module.mlp[0].weight.detach().double().numpy()  # (4, 16)
    w2 = module.mlp[2].weight.detach().double().numpy()  # (16, 4)
    xs = x.double().numpy()
    expected = np.empty_like(xs)
    for b in range(3):
        avg, mx = xs[b].mean(axis=1), xs[b].max(axis=1)
        logits = w2 @ np.maximum(w1 @ avg, 0) + w2 @ np.maximum(w1 @ mx, 0)
        gate = 1 / (1 + np.exp(-logits))
        expected[b] = xs[b] * gate[:, None]
    np.testing.assert_allclose(module(x).detach().double().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_temporal_attention_against_numpy():
    torch.manual_seed(7)
    kernel = 5
    module = TemporalAttention(kernel)
    assert sum(p.numel() for p in module.parameters()) == 2 * kernel
    x = torch.randn(2, 3, 8)
    weight = module.conv.weight.detach().double().numpy()[0]  # (2, kernel)
    xs = x.double().numpy()
    expected = np.empty_like(xs)
    for b in range(2):
        pooled = np.stack([xs[b].mean(axis=0), xs[b].max(axis=0)])  # (2, T)
        padded = np.pad(pooled, ((0, 0), (kernel // 2, kernel // 2)))
        logits = np.array([(padded[:, t : t + kernel] * weight).sum() for t in range(8)])
        expected[b] = xs[b] * (1 / (1 + np.exp(-logits)))[None, :]
    np.testing.assert_allclose(module(x).detach().double().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_cbam_bad_inputs():
    with pytest.raises(ValueError, match="num_channels // reduction_ratio"):
        ChannelAttention(4, reduction_ratio=8)
    with pytest.raises(ValueError, match=r"expects input \(batch, 8, time\), got shape \(2, 7, 5\)"):
        ChannelAttention(8)(torch.randn(2, 7, 5))
    with pytest.raises(ValueError, match="odd"):
        TemporalAttention(4)
    with pytest.raises(ValueError, match=r"got shape \(7, 5\)"):
        TemporalAttention()(torch.randn(7, 5))
