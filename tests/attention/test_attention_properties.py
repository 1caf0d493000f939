"""Property tests: random shapes and mask combinations, both backends, against a float64 reference."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attn.attention import MultiHeadAttention, SparseTokenAttention, causal_mask, padding_mask
from attn.attention import scaled_dot_product_attention as attention

PROPERTY = settings(max_examples=40, deadline=None)


def dense_reference(q, k, v, allowed):
    """float64 softmax attention; ``allowed`` is a full bool mask; rows with no key give zeros."""
    scores = (q.double() @ k.double().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~allowed, float("-inf"))
    live = allowed.any(-1, keepdim=True)
    weights = torch.softmax(scores.masked_fill(~live, 0.0), dim=-1) * live
    return weights @ v.double(), weights


@st.composite
def attention_case(draw):
    batch = draw(st.integers(1, 3))
    heads = draw(st.integers(1, 3))
    n_q = draw(st.integers(1, 6))
    n_k = draw(st.integers(1, 6))
    d_k = draw(st.integers(1, 5))
    d_v = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**16))
    use_causal = draw(st.booleans())
    use_padding = draw(st.booleans())
    mask_kind = draw(st.sampled_from(["none", "bool", "float"]))
    mask_shape = draw(st.sampled_from(["2d", "4d"]))
    return batch, heads, n_q, n_k, d_k, d_v, seed, use_causal, use_padding, mask_kind, mask_shape


@PROPERTY
@given(attention_case())
def test_random_shapes_and_masks_match_reference(case):
    batch, heads, n_q, n_k, d_k, d_v, seed, use_causal, use_padding, mask_kind, mask_shape = case
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, heads, n_q, d_k, generator=generator)
    k = torch.randn(batch, heads, n_k, d_k, generator=generator)
    v = torch.randn(batch, heads, n_k, d_v, generator=generator)
    full = (batch, heads, n_q, n_k)
    allowed = torch.ones(full, dtype=torch.bool)
    kwargs = {"causal": use_causal}
    if use_causal:
        allowed &= causal_mask(n_q, n_k)
    if use_padding:
        lengths = torch.randint(0, n_k + 1, (batch,), generator=generator)
        kwargs["key_padding_mask"] = padding_mask(lengths, n_k)
        allowed &= ~kwargs["key_padding_mask"][:, None, None, :]
    if mask_kind != "none":
        shape = (n_q, n_k) if mask_shape == "2d" else full
        bool_mask = torch.rand(shape, generator=generator) > 0.3
        allowed &= bool_mask
        kwargs["attn_mask"] = (
            bool_mask if mask_kind == "bool" else torch.zeros(shape).masked_fill(~bool_mask, float("-inf"))
        )

    ref_out, ref_w = dense_reference(q, k, v, allowed)
    for backend in ("manual", "sdpa"):
        out = attention(q, k, v, backend=backend, check_shapes=True, **kwargs)
        _, weights = attention(q, k, v, backend=backend, return_weights=True, **kwargs)
        assert out.shape == (batch, heads, n_q, d_v) and weights.shape == full
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out.double(), ref_out, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(weights.double(), ref_w, atol=1e-6, rtol=1e-4)
        row_sums = weights.sum(-1)
        live = allowed.any(-1)
        torch.testing.assert_close(row_sums[live], torch.ones_like(row_sums[live]))
        assert (row_sums[~live] == 0).all()


@PROPERTY
@given(
    batch=st.integers(1, 3),
    n_q=st.integers(1, 5),
    n_k=st.integers(1, 5),
    heads=st.sampled_from([1, 2, 4]),
    backend=st.sampled_from(["manual", "sdpa"]),
    seed=st.integers(0, 2**16),
)
def test_multihead_shapes(batch, n_q, n_k, heads, backend, seed):
    torch.manual_seed(seed)
    mha = MultiHeadAttention(8, heads, kdim=3, vdim=5, backend=backend).eval()
    query, key, value = torch.randn(batch, n_q, 8), torch.randn(batch, n_k, 3), torch.randn(batch, n_k, 5)
    out, weights = mha(query, key, value, need_weights=True)
    fast, _ = mha(query, key, value)
    assert out.shape == (batch, n_q, 8) and weights.shape == (batch, heads, n_q, n_k)
    torch.testing.assert_close(fast, out)


@PROPERTY
@given(
    n_tokens=st.integers(1, 40),
    scale=st.floats(0.01, 1.0),
    training=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_sparse_partition_for_any_length(n_tokens, scale, training, seed):
    torch.manual_seed(seed)
    module = SparseTokenAttention(3, scale_factor=scale, dropout=0.0).train(training)
    x = torch.randn(2, n_tokens, 3)
    out, weights = module(x)
    n_heads = max(1, int(scale * n_tokens))
    group_size = math.ceil(n_tokens / n_heads)
    perm = module.last_permutation
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert weights.shape == (2, n_heads, group_size, group_size)
    assert sorted(perm.tolist()) == list(range(n_heads * group_size))  # a permutation of the slots
    real_per_group = (perm < n_tokens).view(n_heads, group_size).sum(-1)
    assert real_per_group.min() >= 1 and real_per_group.max() - real_per_group.min() <= 1
