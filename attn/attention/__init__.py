"""Attention mechanisms, each usable on its own (see docs/ARCHITECTURE.md).

- :mod:`attn.attention.functional`: scaled dot-product attention (``backend="manual"|"sdpa"``),
  mask helpers and attention metrics.
- :mod:`attn.attention.multihead`: :class:`MultiHeadAttention`.
- :mod:`attn.attention.sparse`: the EEG attentions (sparse token attention, channel and
  temporal gates).
- :mod:`attn.attention.positional`: fixed sinusoidal position encodings.
- :mod:`attn.attention.diagnostics`: gradient monitor, weight capture, head diversity, heat maps.
"""

from __future__ import annotations

from attn.attention.diagnostics import GradientMonitor, capture_attention, head_diversity, save_attention_heatmaps
from attn.attention.functional import (
    attention_entropy,
    attention_sparsity,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from attn.attention.multihead import MultiHeadAttention
from attn.attention.sparse import ChannelAttention, SparseTokenAttention, TemporalAttention

__all__ = [
    "scaled_dot_product_attention",
    "causal_mask",
    "padding_mask",
    "attention_entropy",
    "attention_sparsity",
    "MultiHeadAttention",
    "SparseTokenAttention",
    "ChannelAttention",
    "TemporalAttention",
    "GradientMonitor",
    "capture_attention",
    "head_diversity",
    "save_attention_heatmaps",
]
