"""scaled_dot_product_attention (manual and sdpa) against torch and a float64 reference."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.nn import functional as F

from attn.attention import attention_entropy, attention_sparsity, causal_mask, padding_mask
from attn.attention import scaled_dot_product_attention as attention

BACKENDS = ["manual", "sdpa"]


def reference(q, k, v, allowed=None, additive=None):
    """Attention in float64 with explicit loops over rows: masked keys drop out of the softmax."""
    q, k, v = q.double(), k.double(), v.double()
    *lead, n_q, _ = q.shape
    n_k = k.shape[-2]
    out = torch.zeros(*lead, n_q, v.shape[-1], dtype=torch.float64)
    weights = torch.zeros(*lead, n_q, n_k, dtype=torch.float64)
    allowed = torch.ones(n_q, n_k, dtype=torch.bool) if allowed is None else allowed
    allowed = allowed.expand(*lead, n_q, n_k)
    additive = torch.zeros(()) if additive is None else additive.double()
    additive = additive.expand(*lead, n_q, n_k)
    for lead_index in itertools.product(*(range(n) for n in lead)):
        for i in range(n_q):
            index = (*lead_index, i)
            keep = allowed[index] & (additive[index] > float("-inf"))
            if not keep.any():
                continue
            scores = k[lead_index] @ q[index] / math.sqrt(q.shape[-1]) + additive[index]
            w = torch.exp(scores[keep] - scores[keep].max())
            w = w / w.sum()
            weights[index][keep] = w
            out[index] = w @ v[lead_index][keep]
    return out, weights


def rand(*shape, dtype=torch.float32, grad=False):
    return torch.randn(*shape, dtype=dtype).requires_grad_(grad)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("lengths", [(6, 6), (4, 7), (7, 4)])
def test_matches_torch_sdpa_and_float64(backend, causal, lengths):
    torch.manual_seed(0)
    n_q, n_k = lengths
    q, k, v = rand(2, 3, n_q, 8), rand(2, 3, n_k, 8), rand(2, 3, n_k, 5)
    out, weights = attention(q, k, v, causal=causal, backend=backend, return_weights=True)
    plain = attention(q, k, v, causal=causal, backend=backend)
    torch_out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    allowed = torch.ones(n_q, n_k, dtype=torch.bool).tril() if causal else None
    ref_out, ref_w = reference(q, k, v, allowed)
    torch.testing.assert_close(plain, torch_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.double(), ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(plain.double(), ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.double(), ref_w, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_combined_masks_outputs_and_gradients_float64(backend):
    torch.manual_seed(1)
    q, k, v = (
        rand(3, 2, 5, 4, dtype=torch.float64, grad=True),
        rand(3, 2, 6, 4, dtype=torch.float64, grad=True),
        rand(3, 2, 6, 3, dtype=torch.float64, grad=True),
    )
    key_padding = padding_mask([6, 4, 2], 6)
    bool_mask = torch.rand(5, 6) > 0.3
    float_mask = torch.randn(3, 1, 5, 6, dtype=torch.float64)

    allowed = bool_mask & causal_mask(5, 6) & ~key_padding[:, None, None, :]
    for attn_mask, additive in ((bool_mask, None), (float_mask, float_mask)):
        mine = attention(q, k, v, attn_mask=attn_mask, key_padding_mask=key_padding, causal=True, backend=backend)
        expected_allowed = allowed if additive is None else causal_mask(5, 6) & ~key_padding[:, None, None, :]
        ref, _ = reference(q, k, v, expected_allowed, additive)
        torch.testing.assert_close(mine, ref)

        # Gradients against torch's SDPA given the same mask as one float tensor.
        full = torch.zeros(3, 2, 5, 6, dtype=torch.float64) + (0 if additive is None else additive)
        full = full.masked_fill(~expected_allowed, float("-inf"))
        dead = ~expected_allowed.expand(3, 2, 5, 6).any(-1, keepdim=True)
        torch_out = F.scaled_dot_product_attention(q, k, v, attn_mask=full.masked_fill(dead, 0.0)).masked_fill(
            dead, 0.0
        )
        grad_out = torch.randn_like(torch_out)
        mine_grads = torch.autograd.grad(mine, (q, k, v), grad_out)
        torch_grads = torch.autograd.grad(torch_out, (q, k, v), grad_out)
        for a, b in zip(mine_grads, torch_grads):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_float64(backend):
    torch.manual_seed(2)
    q, k, v = (rand(1, 2, 3, 4, dtype=torch.float64, grad=True) for _ in range(3))
    key_padding = torch.tensor([[False, False, True]])
    assert torch.autograd.gradcheck(
        lambda q, k, v: attention(q, k, v, key_padding_mask=key_padding, causal=True, backend=backend),
        (q, k, v),
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_sum_to_one_and_causal_zero_above_diagonal(backend):
    torch.manual_seed(3)
    q, k, v = rand(2, 4, 9, 8), rand(2, 4, 9, 8), rand(2, 4, 9, 8)
    _, weights = attention(q, k, v, causal=True, backend=backend, return_weights=True)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 9))
    above = ~causal_mask(9)
    assert (weights[..., above] == 0).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mask_kind", ["bool", "float", "padding"])
def test_fully_masked_rows_give_zeros_and_finite_gradients(backend, mask_kind):
    torch.manual_seed(4)
    q, k, v = rand(2, 2, 4, 3, grad=True), rand(2, 2, 5, 3, grad=True), rand(2, 2, 5, 3, grad=True)
    allowed = torch.rand(4, 5) > 0.5
    allowed[0] = False  # query 0 sees nothing
    allowed[1] = True
    kwargs = {
        "bool": {"attn_mask": allowed},
        "float": {"attn_mask": torch.zeros(4, 5).masked_fill(~allowed, float("-inf"))},
        "padding": {"key_padding_mask": torch.tensor([[True] * 5, [False, False, True, True, True]])},
    }[mask_kind]
    out = attention(q, k, v, backend=backend, **kwargs)
    _, weights = attention(q, k, v, backend=backend, return_weights=True, **kwargs)
    assert torch.isfinite(out).all() and torch.isfinite(weights).all()
    dead = weights.sum(-1) == 0
    if mask_kind == "padding":
        assert (out[0] == 0).all() and (weights[0] == 0).all() and not dead[1].any()
    else:
        assert (out[..., 0, :] == 0).all() and (weights[..., 0, :] == 0).all() and not dead[..., 1].any()
    grads = torch.autograd.grad(out.sum(), (q, k, v))
    assert all(torch.isfinite(g).all() for g in grads)
    # A query with no usable key receives no gradient.
    if mask_kind == "padding":
        assert (grads[0][0] == 0).all()
    else:
        assert (grads[0][..., 0, :] == 0).all()


def test_dropout_only_in_training_and_after_softmax():
    torch.manual_seed(5)
    q, k, v = rand(2, 2, 6, 4), rand(2, 2, 6, 4), rand(2, 2, 6, 4)
    _, clean = attention(q, k, v, return_weights=True)
    for backend in BACKENDS:  # eval: dropout_p is ignored, calls are deterministic
        a = attention(q, k, v, dropout_p=0.5, training=False, backend=backend)
        b = attention(q, k, v, dropout_p=0.5, training=False, backend=backend)
        assert torch.equal(a, b)
        torch.testing.assert_close(a, clean @ v)

    out, dropped = attention(q, k, v, dropout_p=0.5, training=True, return_weights=True)
    kept = dropped != 0
    assert 0 < kept.float().mean() < 1
    # Kept weights are the softmax weights scaled by 1 / (1 - p); rows no longer sum to one.
    torch.testing.assert_close(dropped[kept], clean[kept] / 0.5)
    torch.testing.assert_close(out, dropped @ v)

    # With a fixed seed, the same mask as F.dropout applied to the softmax weights.
    torch.manual_seed(11)
    out = attention(q, k, v, dropout_p=0.3, training=True)
    torch.manual_seed(11)
    torch.testing.assert_close(out, F.dropout(clean, 0.3, training=True) @ v)


def test_sdpa_dropout_preserves_expectation():
    torch.manual_seed(6)
    q, k, v = rand(1, 1, 4, 4), rand(1, 1, 4, 4), rand(1, 1, 4, 4)
    expected = attention(q, k, v, backend="manual")
    # 4000 independent draws in one call: the batch dimension repeats the same problem.
    many = [t.expand(4000, 1, 4, 4) for t in (q, k, v)]
    mean = attention(*many, dropout_p=0.2, training=True, backend="sdpa").mean(0, keepdim=True)
    torch.testing.assert_close(mean, expected, atol=0.1, rtol=0.1)


def test_check_shapes_names_tensor_and_shapes(monkeypatch):
    q, k, v = rand(2, 3, 4), rand(2, 5, 4), rand(2, 5, 6)
    out = attention(q, k, v, check_shapes=True)
    assert out.shape == (2, 3, 6)
    # A broken intermediate (softmax dropping a column) is caught and named.
    real_softmax = torch.softmax
    monkeypatch.setattr(torch, "softmax", lambda x, dim: real_softmax(x, dim)[..., :-1])
    with pytest.raises(ValueError, match=r"weights has shape \(2, 3, 4\), expected \(2, 3, 5\)"):
        attention(q, k, v, check_shapes=True)


@pytest.mark.parametrize(
    ("shapes", "kwargs", "message"),
    [
        (((4,), (4,), (4,)), {}, r"q has shape \(4,\)"),
        (((2, 3, 4), (3, 4), (3, 4)), {}, "same number of dimensions"),
        (((2, 3, 4), (2, 3, 5), (2, 3, 4)), {}, r"same feature size d_k, got q \(2, 3, 4\), k \(2, 3, 5\)"),
        (((2, 3, 4), (2, 5, 4), (2, 6, 4)), {}, r"same length Lk, got k \(2, 5, 4\), v \(2, 6, 4\)"),
        (((2, 3, 4), (3, 5, 4), (3, 5, 4)), {}, "leading"),
        (
            ((2, 3, 4), (2, 5, 4), (2, 5, 4)),
            {"attn_mask": torch.ones(3, 4, dtype=torch.bool)},
            r"attn_mask has shape \(3, 4\)",
        ),
        (((2, 3, 4), (2, 5, 4), (2, 5, 4)), {"attn_mask": torch.ones(3, 5, dtype=torch.long)}, "bool or floating"),
        (
            ((2, 3, 4), (2, 5, 4), (2, 5, 4)),
            {"key_padding_mask": torch.zeros(2, 4, dtype=torch.bool)},
            r"key_padding_mask has shape \(2, 4\), expected \(2, 5\)",
        ),
        (((2, 3, 4), (2, 5, 4), (2, 5, 4)), {"key_padding_mask": torch.zeros(2, 5)}, "must be bool"),
        (((2, 3, 4), (2, 5, 4), (2, 5, 4)), {"dropout_p": 1.0}, "dropout_p"),
        (((2, 3, 4), (2, 5, 4), (2, 5, 4)), {"backend": "flash"}, "backend"),
    ],
)
def test_bad_inputs_raise_clear_errors(shapes, kwargs, message):
    q, k, v = (torch.randn(*s) for s in shapes)
    with pytest.raises(ValueError, match=message):
        attention(q, k, v, **kwargs)


def test_causal_mask_is_top_left_like_torch():
    torch.manual_seed(7)
    q, k, v = rand(1, 3, 8), rand(1, 5, 8), rand(1, 5, 8)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(3, 5))
    torch.testing.assert_close(F.scaled_dot_product_attention(q, k, v, is_causal=True), expected)
    assert causal_mask(3, 5).tolist() == [[j <= i for j in range(5)] for i in range(3)]


def test_padding_mask():
    assert padding_mask([2, 0, 3], 4).tolist() == [
        [False, False, True, True],
        [True, True, True, True],
        [False, False, False, True],
    ]
    assert padding_mask(torch.tensor([1, 2])).shape == (2, 2)
    with pytest.raises(ValueError, match="lengths must lie in"):
        padding_mask([5], 4)
    with pytest.raises(ValueError, match="integers"):
        padding_mask([1.5])


def test_entropy_and_sparsity_against_hand_values():
    uniform = torch.full((2, 1, 3, 4), 0.25)
    one_hot = torch.zeros(2, 1, 3, 4)
    one_hot[..., 0] = 1.0
    weights = torch.cat([uniform, one_hot], dim=1)  # head 0 uniform, head 1 one-hot
    torch.testing.assert_close(attention_entropy(weights), torch.tensor([math.log(4), 0.0]))
    # 24 uniform entries are >= 0.01; of the 24 one-hot entries 18 are zero.
    torch.testing.assert_close(attention_sparsity(weights), torch.tensor(18 / 48))
    torch.testing.assert_close(attention_sparsity(weights, threshold=0.3), torch.tensor(42 / 48))
    with pytest.raises(ValueError, match="weights has shape"):
        attention_entropy(torch.ones(3, 3))


def test_mixed_dtypes_raise():
    q, k = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match="share dtype and device"):
        attention(q, k, torch.randn(2, 5, 4, dtype=torch.float64))
