"""MultiHeadAttention against torch.nn.MultiheadAttention with copied weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from attn.attention import MultiHeadAttention, causal_mask, padding_mask
from attn.attention import functional as attention_functional

BACKENDS = ["manual", "sdpa"]


def twin_torch_mha(mine: MultiHeadAttention) -> nn.MultiheadAttention:
    """A torch MHA with the same weights as ``mine`` (which must use torch's head sizes)."""
    e = mine.embed_dim
    theirs = nn.MultiheadAttention(
        e,
        mine.num_heads,
        dropout=mine.dropout,
        bias=mine.q_proj.bias is not None,
        kdim=mine.kdim,
        vdim=mine.vdim,
        batch_first=True,
    )
    with torch.no_grad():
        if theirs.in_proj_weight is not None:
            theirs.in_proj_weight.copy_(torch.cat([mine.q_proj.weight, mine.k_proj.weight, mine.v_proj.weight]))
        else:
            theirs.q_proj_weight.copy_(mine.q_proj.weight)
            theirs.k_proj_weight.copy_(mine.k_proj.weight)
            theirs.v_proj_weight.copy_(mine.v_proj.weight)
        if theirs.in_proj_bias is not None:
            theirs.in_proj_bias.copy_(torch.cat([mine.q_proj.bias, mine.k_proj.bias, mine.v_proj.bias]))
            theirs.out_proj.bias.copy_(mine.out_proj.bias)
        theirs.out_proj.weight.copy_(mine.out_proj.weight)
    return theirs.train(mine.training)


@pytest.mark.parametrize("backend", BACKENDS)
def test_self_attention_matches_torch_with_weights(backend):
    torch.manual_seed(0)
    mine = MultiHeadAttention(12, 3, backend=backend).eval()
    theirs = twin_torch_mha(mine)
    x = torch.randn(2, 5, 12)
    out, weights = mine(x, need_weights=True)
    fast, none = mine(x)
    ref, ref_w = theirs(x, x, x, need_weights=True, average_attn_weights=False)
    assert none is None and weights.shape == (2, 3, 5, 5)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(fast, ref)
    torch.testing.assert_close(weights, ref_w)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mask_type", ["bool", "float"])
def test_cross_attention_with_masks_matches_torch(backend, mask_type):
    torch.manual_seed(1)
    mine = MultiHeadAttention(8, 2, kdim=10, vdim=6, backend=backend).eval()
    theirs = twin_torch_mha(mine)
    query, key, value = torch.randn(3, 4, 8), torch.randn(3, 7, 10), torch.randn(3, 7, 6)
    key_padding = padding_mask([7, 5, 2], 7)
    allowed = torch.rand(4, 7) > 0.3
    allowed[:, 0] = True  # every query keeps a key, so torch's output is defined everywhere
    if mask_type == "bool":
        mine_mask, torch_mask = allowed, ~allowed  # torch MHA: True = masked
        torch_padding = key_padding
    else:
        mine_mask = torch_mask = torch.randn(4, 7)
        torch_padding = torch.zeros(3, 7).masked_fill(key_padding, float("-inf"))  # torch wants one mask type
    out, weights = mine(query, key, value, attn_mask=mine_mask, key_padding_mask=key_padding, need_weights=True)
    fast, _ = mine(query, key, value, attn_mask=mine_mask, key_padding_mask=key_padding)
    ref, ref_w = theirs(
        query, key, value, attn_mask=torch_mask, key_padding_mask=torch_padding, average_attn_weights=False
    )
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(fast, ref)
    torch.testing.assert_close(weights, ref_w)


@pytest.mark.parametrize("backend", BACKENDS)
def test_causal_at_seed_configuration_matches_torch_outputs_and_gradients(backend):
    """The seed's configuration: causal self-attention, sequence 128, d_model 256."""
    torch.manual_seed(2)
    mine = MultiHeadAttention(256, 8, backend=backend).eval()
    theirs = twin_torch_mha(mine)
    x = torch.randn(1, 128, 256, requires_grad=True)
    out, _ = mine(x, causal=True)
    ref, ref_w = theirs(x, x, x, attn_mask=~causal_mask(128), average_attn_weights=False)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)
    grad_out = torch.randn_like(out)
    (mine_grad,) = torch.autograd.grad(out, x, grad_out)
    (torch_grad,) = torch.autograd.grad(ref, x, grad_out)
    torch.testing.assert_close(mine_grad, torch_grad, atol=1e-5, rtol=1e-4)
    _, weights = mine(x, causal=True, need_weights=True)
    torch.testing.assert_close(weights, ref_w, atol=1e-6, rtol=1e-4)
    assert (weights[..., ~causal_mask(128)] == 0).all()


def test_per_batch_attn_mask_is_broadcast_over_heads():
    torch.manual_seed(3)
    mine = MultiHeadAttention(8, 2).eval()
    x = torch.randn(2, 4, 8)
    allowed = torch.rand(2, 4, 4) > 0.4
    allowed[..., 0] = True
    _, weights = mine(x, attn_mask=allowed, need_weights=True)
    assert (weights[~allowed.unsqueeze(1).expand(2, 2, 4, 4)] == 0).all()
    per_head, _ = mine(x, attn_mask=allowed.unsqueeze(1).expand(2, 2, 4, 4))
    torch.testing.assert_close(mine(x, attn_mask=allowed)[0], per_head)


def test_dropout_matches_torch_draw_for_draw_and_only_in_training():
    torch.manual_seed(4)
    mine = MultiHeadAttention(8, 2, dropout=0.4, backend="manual").train()
    theirs = twin_torch_mha(mine)
    x = torch.randn(2, 6, 8)
    torch.manual_seed(123)
    out, weights = mine(x, need_weights=True)
    torch.manual_seed(123)
    ref, ref_w = theirs(x, x, x, average_attn_weights=False)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(weights, ref_w)
    assert (weights == 0).any()

    mine.eval()
    a, clean = mine(x, need_weights=True)
    assert torch.equal(a, mine(x)[0])
    torch.testing.assert_close(clean.sum(-1), torch.ones(2, 2, 6))


@pytest.mark.parametrize("layer_norm", [None, "pre", "post"])
@pytest.mark.parametrize("residual", [False, True])
def test_norm_residual_activation_compose_as_documented(layer_norm, residual):
    torch.manual_seed(5)
    mine = MultiHeadAttention(8, 2, layer_norm=layer_norm, residual=residual, activation="gelu").eval()
    if mine.norm is not None:
        with torch.no_grad():
            mine.norm.weight.uniform_(0.5, 1.5)
            mine.norm.bias.uniform_(-0.5, 0.5)
    theirs = twin_torch_mha(mine)
    x = torch.randn(2, 5, 8)
    normed = mine.norm(x) if layer_norm == "pre" else x
    expected = F.gelu(theirs(normed, normed, normed)[0])
    expected = x + expected if residual else expected
    expected = mine.norm(expected) if layer_norm == "post" else expected
    torch.testing.assert_close(mine(x)[0], expected)


def test_key_and_value_dims_per_head_and_wide_memory():
    torch.manual_seed(6)
    mine = MultiHeadAttention(384, 6, kdim=768, vdim=768).eval()
    theirs = twin_torch_mha(mine)
    query, memory = torch.randn(1, 3, 384), torch.randn(1, 4, 768)
    torch.testing.assert_close(mine(query, memory)[0], theirs(query, memory, memory)[0], atol=1e-5, rtol=1e-4)

    custom = MultiHeadAttention(10, 3, key_dim=4, value_dim=5)
    assert custom.q_proj.weight.shape == (12, 10) and custom.v_proj.weight.shape == (15, 10)
    assert custom.out_proj.weight.shape == (10, 15)
    out, weights = custom(torch.randn(2, 3, 10), need_weights=True)
    assert out.shape == (2, 3, 10) and weights.shape == (2, 3, 3, 3)


def test_process_sequence_matches_batched_forward_and_torch():
    torch.manual_seed(7)
    mine = MultiHeadAttention(8, 2, kdim=6, vdim=4).eval()
    theirs = twin_torch_mha(mine)
    query = torch.randn(8)
    keys = [torch.randn(6) for _ in range(5)]
    values = [torch.randn(4) for _ in range(5)]
    out, weights = mine.process_sequence(query, keys, values, need_weights=True)
    ref, ref_w = theirs(
        query.view(1, 1, 8), torch.stack(keys)[None], torch.stack(values)[None], average_attn_weights=False
    )
    assert out.shape == (8,) and weights.shape == (2, 5)
    torch.testing.assert_close(out, ref[0, 0])
    torch.testing.assert_close(weights, ref_w[0, :, 0])
    torch.testing.assert_close(mine.process_sequence(query, torch.stack(keys), torch.stack(values)), out)
    with pytest.raises(ValueError, match="at least one"):
        mine.process_sequence(query, [], [])
    with pytest.raises(ValueError, match="as many keys as values"):
        mine.process_sequence(query, keys, values[:2])


def test_fast_path_calls_fused_sdpa_with_is_causal_and_no_mask(monkeypatch):
    calls = []
    real = F.scaled_dot_product_attention

    def spy(q, k, v, **kwargs):
        calls.append((q.shape, kwargs))
        return real(q, k, v, **kwargs)

    monkeypatch.setattr(attention_functional.F, "scaled_dot_product_attention", spy)
    monkeypatch.setattr(torch, "isfinite", lambda x: pytest.fail("validate_inputs=False must skip the NaN check"))
    mha = MultiHeadAttention(8, 2, dropout=0.1, validate_inputs=False).train()
    mha(torch.randn(2, 5, 8), causal=True)
    mha.eval()(torch.randn(2, 5, 8), causal=True)
    assert [c[0] for c in calls] == [(2, 2, 5, 4)] * 2
    assert calls[0][1] == {"dropout_p": 0.1, "is_causal": True}
    assert calls[1][1] == {"dropout_p": 0.0, "is_causal": True}


@pytest.mark.parametrize("name", ["query", "key", "value"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_inputs_are_named(name, bad):
    mha = MultiHeadAttention(4, 2)
    inputs = {"query": torch.randn(1, 3, 4), "key": torch.randn(1, 3, 4), "value": torch.randn(1, 3, 4)}
    inputs[name][0, 1, 2] = bad
    with pytest.raises(ValueError, match=f"{name} contains NaN or Inf"):
        mha(inputs["query"], inputs["key"], inputs["value"])
    unchecked = MultiHeadAttention(4, 2, validate_inputs=False)
    out, _ = unchecked(inputs["query"], inputs["key"], inputs["value"])  # no error, garbage in
    assert out.shape == (1, 3, 4)


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        (((2, 3, 8), (3, 4, 8), (3, 4, 8)), r"same batch size, got query \(2, 3, 8\), key \(3, 4, 8\)"),
        (((2, 3, 8), (2, 4, 5), (2, 4, 8)), r"key must have shape \(batch, length, 8\), got \(2, 4, 5\)"),
        (((2, 3, 7), None, None), r"query must have shape \(batch, length, 8\), got \(2, 3, 7\)"),
        (((3, 8), None, None), r"query must have shape .* got \(3, 8\)"),
        (((2, 3, 8), (2, 4, 8), (2, 5, 8)), r"same length, got key \(2, 4, 8\), value \(2, 5, 8\)"),
    ],
)
def test_mismatched_shapes_raise_with_both_shapes(shapes, message):
    mha = MultiHeadAttention(8, 2)
    tensors = [None if s is None else torch.randn(*s) for s in shapes]
    with pytest.raises(ValueError, match=message):
        mha(*tensors)


def test_constructor_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"num_heads \(3\) must divide embed_dim \(8\)"):
        MultiHeadAttention(8, 3)
    assert MultiHeadAttention(8, 3, key_dim=4).value_dim == 4
    with pytest.raises(ValueError, match="layer_norm"):
        MultiHeadAttention(8, 2, layer_norm="middle")
    with pytest.raises(ValueError, match="activation"):
        MultiHeadAttention(8, 2, activation="swish2")
    with pytest.raises(ValueError, match="backend"):
        MultiHeadAttention(8, 2, backend="flash")
    with pytest.raises(ValueError, match="dropout"):
        MultiHeadAttention(8, 2, dropout=1.0)
    with pytest.raises(ValueError, match="value given without key"):
        MultiHeadAttention(8, 2)(torch.randn(1, 2, 8), value=torch.randn(1, 2, 8))
