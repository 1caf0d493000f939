"""Scaled dot-product attention from basic ops, or through torch's fused kernels; masks; metrics.

Mask conventions (the same as ``torch.nn.functional.scaled_dot_product_attention``):

- ``attn_mask`` bool: ``True`` = the query may attend to that key; float: added to the scores
  (``-inf`` masks). Broadcastable to ``(..., Lq, Lk)``.
- ``key_padding_mask`` bool ``(B, Lk)``: ``True`` = padding, never attended to.
- ``causal``: query ``i`` sees keys ``j <= i``. When ``Lq != Lk`` the mask is aligned top-left,
  ``tril(ones(Lq, Lk))``, exactly as torch's ``is_causal=True``.

A query whose keys are all masked gets zero weights and a zero output (never NaN), and its
gradient is zero, on both backends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.nn import functional as F

__all__ = [
    "scaled_dot_product_attention",
    "causal_mask",
    "padding_mask",
    "attention_entropy",
    "attention_sparsity",
]

BACKENDS = ("manual", "sdpa")


def causal_mask(n: int, num_keys: int | None = None, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Bool ``(n, num_keys or n)`` mask, ``True`` = may attend: query ``i`` sees keys ``j <= i`` (top-left aligned)."""
    if n < 1 or (num_keys is not None and num_keys < 1):
        raise ValueError(f"causal_mask needs positive sizes, got n={n}, num_keys={num_keys}")
    return torch.ones(n, n if num_keys is None else num_keys, dtype=torch.bool, device=device).tril()


def padding_mask(lengths: torch.Tensor | Sequence[int], max_len: int | None = None) -> torch.Tensor:
    """Bool ``(B, max_len)`` key padding mask, ``True`` = padding (position ``>= length``).

    ``max_len`` defaults to the longest length. Lengths must lie in ``[0, max_len]``.
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise ValueError(
            f"lengths must be a 1-D sequence of integers, got {lengths.dtype} shape {tuple(lengths.shape)}"
        )
    longest = int(lengths.max()) if lengths.numel() else 0
    max_len = longest if max_len is None else max_len
    if lengths.numel() and (int(lengths.min()) < 0 or longest > max_len):
        raise ValueError(f"lengths must lie in [0, {max_len}], got {lengths.tolist()}")
    return torch.arange(max_len, device=lengths.device) >= lengths.unsqueeze(1)


def _shape_error(name: str, actual: Sequence[int], expected: str | Sequence[int]) -> ValueError:
    return ValueError(
        f"{name} has shape {tuple(actual)}, expected {expected if isinstance(expected, str) else tuple(expected)}"
    )


def _expect_shape(name: str, tensor: torch.Tensor, expected: Sequence[int]) -> None:
    if tuple(tensor.shape) != tuple(expected):
        raise _shape_error(name, tensor.shape, expected)


def _validate(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None,
    key_padding_mask: torch.Tensor | None,
    dropout_p: float,
    backend: str,
) -> None:
    """Shape and argument checks; reads shapes only, never tensor values (no host sync)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    if q.dim() < 2:
        raise _shape_error("q", q.shape, "(..., Lq, d_k) with at least 2 dimensions")
    if k.dim() != q.dim() or v.dim() != q.dim():
        raise ValueError(
            f"q, k and v must have the same number of dimensions, got q {tuple(q.shape)}, "
            f"k {tuple(k.shape)}, v {tuple(v.shape)}"
        )
    if not (q.dtype == k.dtype == v.dtype) or not (q.device == k.device == v.device):
        raise ValueError(
            f"q, k and v must share dtype and device, got q {q.dtype} on {q.device}, "
            f"k {k.dtype} on {k.device}, v {v.dtype} on {v.device}"
        )
    if k.shape[:-2] != q.shape[:-2] or v.shape[:-2] != q.shape[:-2]:
        raise ValueError(
            f"q, k and v must share their leading (batch, head) sizes, got q {tuple(q.shape)}, "
            f"k {tuple(k.shape)}, v {tuple(v.shape)}"
        )
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(f"q and k must have the same feature size d_k, got q {tuple(q.shape)}, k {tuple(k.shape)}")
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(f"k and v must have the same length Lk, got k {tuple(k.shape)}, v {tuple(v.shape)}")
    scores_shape = (*q.shape[:-1], k.shape[-2])
    if attn_mask is not None:
        if attn_mask.dtype != torch.bool and not attn_mask.dtype.is_floating_point:
            raise ValueError(f"attn_mask must be bool or floating point, got {attn_mask.dtype}")
        try:
            broadcast = torch.broadcast_shapes(attn_mask.shape, scores_shape)
        except RuntimeError:
            broadcast = None
        if broadcast != scores_shape:
            raise _shape_error("attn_mask", attn_mask.shape, f"a shape broadcastable to {scores_shape}")
    if key_padding_mask is not None:
        if key_padding_mask.dtype != torch.bool:
            raise ValueError(f"key_padding_mask must be bool (True = padding), got {key_padding_mask.dtype}")
        if q.dim() < 3:
            raise ValueError("key_padding_mask needs batched inputs (q with at least 3 dimensions)")
        if tuple(key_padding_mask.shape) != (q.shape[0], k.shape[-2]):
            raise _shape_error("key_padding_mask", key_padding_mask.shape, (q.shape[0], k.shape[-2]))


def _combined_masks(
    q: torch.Tensor,
    k: torch.Tensor,
    attn_mask: torch.Tensor | None,
    key_padding_mask: torch.Tensor | None,
    causal: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(allowed, additive)``: one bool mask (True = may attend) and one float mask, either may be None."""
    allowed = None
    additive = None
    if causal:
        allowed = causal_mask(q.shape[-2], k.shape[-2], device=q.device)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            allowed = attn_mask if allowed is None else allowed & attn_mask
        else:
            additive = attn_mask.to(q.dtype)
    if key_padding_mask is not None:
        extra_dims = q.dim() - 3  # heads etc. between batch and (Lq, Lk)
        not_pad = ~key_padding_mask.view(key_padding_mask.shape[0], *([1] * extra_dims), 1, -1)
        allowed = not_pad if allowed is None else allowed & not_pad
    return allowed, additive


def _dead_rows(allowed: torch.Tensor | None, additive: torch.Tensor | None) -> torch.Tensor:
    """Bool ``(..., Lq, 1)``: queries for which every key is masked (False mask or -inf)."""
    usable = allowed
    if additive is not None:
        finite = additive > float("-inf")
        usable = finite if usable is None else usable & finite
    return ~usable.any(dim=-1, keepdim=True)


def _manual_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    allowed: torch.Tensor | None,
    additive: torch.Tensor | None,
    dropout_p: float,
    check_shapes: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    scores_shape = (*q.shape[:-1], k.shape[-2])
    scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if check_shapes:
        _expect_shape("scores", scores, scores_shape)
    if additive is not None:
        scores = scores + additive
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    dead = None
    if allowed is not None or additive is not None:
        dead = _dead_rows(allowed, additive)
        scores = scores.masked_fill(dead, 0.0)  # finite rows: softmax and its gradient stay NaN-free
    weights = torch.softmax(scores, dim=-1)
    if dead is not None:
        weights = weights.masked_fill(dead, 0.0)
    if check_shapes:
        _expect_shape("weights", weights, scores_shape)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p, training=True)
    output = torch.matmul(weights, v)
    if check_shapes:
        _expect_shape("output", output, (*q.shape[:-1], v.shape[-1]))
    return output, weights


def _sdpa_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None,
    key_padding_mask: torch.Tensor | None,
    causal: bool,
    dropout_p: float,
    check_shapes: bool,
) -> torch.Tensor:
    if attn_mask is None and key_padding_mask is None:
        # The fast path: no mask is materialised, no host sync.
        output = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=causal)
    else:
        allowed, additive = _combined_masks(q, k, attn_mask, key_padding_mask, causal)
        dead = _dead_rows(allowed, additive)
        # torch gives NaN for a query with no usable key; let such rows see every key instead
        # (finite everywhere, forward and backward) and zero their output below.
        if additive is not None:
            if allowed is not None:
                additive = torch.where(allowed, additive, float("-inf"))
            mask = torch.where(dead, 0.0, additive)
        else:
            mask = allowed | dead
        output = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        output = output.masked_fill(dead, 0.0)
    if check_shapes:
        _expect_shape("output", output, (*q.shape[:-1], v.shape[-1]))
    return output


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    attn_mask: torch.Tensor | None = None,
    key_padding_mask: torch.Tensor | None = None,
    causal: bool = False,
    dropout_p: float = 0.0,
    training: bool = False,
    check_shapes: bool = False,
    return_weights: bool = False,
    backend: str = "manual",
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``softmax(q k^T / sqrt(d_k) + masks) v`` for q ``(..., Lq, d_k)``, k ``(..., Lk, d_k)``, v ``(..., Lk, d_v)``.

    Masks follow the module docstring. Dropout with probability ``dropout_p`` is applied to the
    weights after the softmax, only when ``training`` is true.

    ``backend="manual"`` uses only matmul, softmax and elementwise ops; ``backend="sdpa"`` calls
    ``torch.nn.functional.scaled_dot_product_attention`` (flash / memory-efficient kernels on
    GPU). torch's fused kernels cannot return the weights, so with ``return_weights=True`` the
    whole computation takes the manual path whatever the backend (the same numbers).

    ``check_shapes`` verifies the shapes of the scores, weights and output and raises
    ``ValueError`` naming the tensor and both shapes. Inconsistent inputs always raise.

    Returns the output ``(..., Lq, d_v)``, or ``(output, weights)`` with weights
    ``(..., Lq, Lk)`` as used (after dropout) when ``return_weights``.
    """
    _validate(q, k, v, attn_mask, key_padding_mask, dropout_p, backend)
    dropout_p = dropout_p if training else 0.0
    if backend == "sdpa" and not return_weights:
        return _sdpa_attention(q, k, v, attn_mask, key_padding_mask, causal, dropout_p, check_shapes)
    allowed, additive = _combined_masks(q, k, attn_mask, key_padding_mask, causal)
    output, weights = _manual_attention(q, k, v, allowed, additive, dropout_p, check_shapes)
    return (output, weights) if return_weights else output


def _check_weights(weights: torch.Tensor, min_dim: int) -> None:
    if weights.dim() < min_dim:
        raise _shape_error("weights", weights.shape, f"at least {min_dim} dimensions (..., H, Lq, Lk)")


def attention_entropy(weights: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of each head's attention rows, shape ``(H,)``.

    ``weights`` is ``(..., H, Lq, Lk)`` (typically ``(B, H, Lq, Lk)``). For every query row
    ``-sum_k w log w`` (with ``0 log 0 = 0``), then the mean over all leading (batch) dims and
    the queries. Fully masked rows (all zero) count as entropy 0.
    """
    _check_weights(weights, 3)
    row_entropy = -torch.special.xlogy(weights, weights).sum(dim=-1)  # (..., H, Lq)
    per_head = row_entropy.mean(dim=-1)
    return per_head.reshape(-1, per_head.shape[-1]).mean(dim=0)


def attention_sparsity(weights: torch.Tensor, threshold: float = 0.01) -> torch.Tensor:
    """Fraction (0-dim tensor) of all entries of ``weights`` strictly below ``threshold``.

    Every entry counts equally (all batches, heads, queries and keys, masked keys included).
    """
    if weights.numel() == 0:
        raise ValueError("weights is empty")
    return (weights < threshold).float().mean()
