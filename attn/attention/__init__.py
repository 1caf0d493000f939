"""Attention mechanisms, each usable on its own (see docs/ARCHITECTURE.md)."""

from __future__ import annotations

from attn.attention.sparse import ChannelAttention, SparseTokenAttention, TemporalAttention

__all__ = ["SparseTokenAttention", "ChannelAttention", "TemporalAttention"]
