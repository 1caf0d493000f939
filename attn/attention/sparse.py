"""Attentions for EEG: sparse token-distributed attention, channel attention, temporal attention.

:class:`SparseTokenAttention` splits the tokens of a sequence into ``n_heads`` disjoint groups
and lets each token attend only within its group, so the cost grows like ``T**2 / n_heads``
instead of ``T**2``. :class:`ChannelAttention` and :class:`TemporalAttention` are the channel
and spatial (here: temporal) gates of CBAM (Woo et al., 2018) for inputs shaped
``(batch, channels, time)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SparseTokenAttention", "ChannelAttention", "TemporalAttention"]


def _strided_layout(n_tokens: int, n_heads: int) -> tuple[torch.Tensor, int]:
    """Slot order of the strided interleave and the group size.

    Slot ``s`` (group ``s // group_size``, position ``s % group_size``) holds rank
    ``layout[s]``: group ``g`` gets ranks ``g, g + n_heads, g + 2 * n_heads, ...``. Ranks
    ``>= n_tokens`` are padding. Every group gets at least one real rank (``n_heads <= n_tokens``)
    and group sizes differ by at most one.
    """
    group_size = math.ceil(n_tokens / n_heads)
    layout = torch.arange(n_heads * group_size).view(group_size, n_heads).t().reshape(-1)
    return layout, group_size


class SparseTokenAttention(nn.Module):
    """Self-attention within disjoint groups of tokens, one group per head.

    For an input ``(B, T, hidden)`` there are ``n_heads = max(1, int(scale_factor * T))``
    heads. Tokens are permuted and dealt to the heads like cards: the token of rank ``r`` in
    the permutation goes to group ``r % n_heads``, so groups have ``ceil(T / n_heads)`` slots
    and differ in real tokens by at most one; the empty slots are padding, masked as keys, and
    dropped afterwards. Each head attends among its own tokens with the full hidden size (scale
    ``1 / sqrt(hidden)``), the outputs are put back in the original order and go through the
    output projection.

    Permutation: in training mode a fresh ``torch.randperm(T)`` on every forward (the global
    torch RNG, so ``torch.manual_seed`` makes it reproducible); in eval mode the identity, so
    with the dealing above token ``t`` goes to group ``t % n_heads`` (a fixed strided
    interleave: every group spreads over the whole sequence).

    ``forward`` returns ``(output (B, T, hidden), weights (B, n_heads, group_size, group_size))``.
    ``weights[b, g, i, j]`` is how much slot ``i`` of group ``g`` attends to slot ``j``; the
    token in that slot is ``self.last_permutation.view(n_heads, group_size)[g, i]`` (values
    ``>= T`` are padding; their rows and columns of the weights are zero). Weights are after
    dropout, as used.
    """

    def __init__(self, hidden_size: int, scale_factor: float = 0.5, dropout: float = 0.1):
        super().__init__()
        if hidden_size < 1:
            raise ValueError(f"hidden_size must be positive, got {hidden_size}")
        if not 0.0 < scale_factor <= 1.0:
            raise ValueError(f"scale_factor must be in (0, 1], got {scale_factor}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.hidden_size = hidden_size
        self.scale_factor = scale_factor
        self.dropout = dropout
        self.q_proj = nn.Linear(hidden_size, hidden_size)
        self.k_proj = nn.Linear(hidden_size, hidden_size)
        self.v_proj = nn.Linear(hidden_size, hidden_size)
        self.out_proj = nn.Linear(hidden_size, hidden_size)
        self.last_permutation: torch.Tensor | None = None

    def num_heads(self, n_tokens: int) -> int:
        """Number of heads (= groups) for a sequence of ``n_tokens`` tokens."""
        return max(1, int(self.scale_factor * n_tokens))

    def slot_permutation(self, n_tokens: int, device: torch.device | None = None) -> torch.Tensor:
        """Token index of every slot, shape ``(n_heads * group_size,)``; values ``>= n_tokens`` are padding.

        Random in training mode (global torch RNG), the strided interleave in eval mode.
        """
        layout, _ = _strided_layout(n_tokens, self.num_heads(n_tokens))
        if not self.training:
            return layout.to(device)
        order = torch.randperm(n_tokens)
        real = layout < n_tokens
        perm = torch.where(real, order[layout.clamp(max=n_tokens - 1)], layout)
        return perm.to(device)

    def forward(self, x: torch.Tensor, permutation: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend within groups; ``permutation`` (slot -> token, as ``last_permutation``) overrides the mode's choice."""
        if x.dim() != 3 or x.shape[-1] != self.hidden_size:
            raise ValueError(
                f"SparseTokenAttention expects input (batch, tokens, {self.hidden_size}), got shape {tuple(x.shape)}"
            )
        batch, n_tokens, hidden = x.shape
        n_heads = self.num_heads(n_tokens)
        group_size = math.ceil(n_tokens / n_heads)
        n_slots = n_heads * group_size
        if permutation is None:
            permutation = self.slot_permutation(n_tokens, x.device)
        else:
            permutation = permutation.to(x.device)
            if permutation.shape != (n_slots,):
                raise ValueError(
                    f"permutation must have shape ({n_slots},) for {n_tokens} tokens, got {tuple(permutation.shape)}"
                )
        self.last_permutation = permutation

        pad = n_slots - n_tokens
        q, k, v = (F.pad(proj(x), (0, 0, 0, pad)) for proj in (self.q_proj, self.k_proj, self.v_proj))
        q, k, v = (t[:, permutation].view(batch, n_heads, group_size, hidden) for t in (q, k, v))

        is_real = (permutation < n_tokens).view(n_heads, 1, group_size)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(hidden)
        scores = scores.masked_fill(~is_real, float("-inf"))  # every group has a real key
        weights = torch.softmax(scores, dim=-1)
        weights = weights * is_real.transpose(-2, -1)  # zero the padding slots' rows
        weights = F.dropout(weights, self.dropout, training=self.training)
        grouped = torch.matmul(weights, v).reshape(batch, n_slots, hidden)

        slot_of_token = torch.argsort(permutation)[:n_tokens]
        return self.out_proj(grouped[:, slot_of_token]), weights


class ChannelAttention(nn.Module):
    """CBAM channel gate for ``(B, C, T)``: ``x * sigmoid(mlp(mean_t x) + mlp(max_t x))``.

    The MLP is shared and bias-free, ``C -> C // reduction_ratio -> C`` with a ReLU between,
    so the module has ``2 * C * (C // reduction_ratio)`` parameters.
    """

    def __init__(self, num_channels: int, reduction_ratio: int = 8):
        super().__init__()
        if reduction_ratio < 1 or num_channels // reduction_ratio < 1:
            raise ValueError(
                f"num_channels // reduction_ratio must be at least 1, got {num_channels} // {reduction_ratio}"
            )
        self.num_channels = num_channels
        hidden = num_channels // reduction_ratio
        self.mlp = nn.Sequential(
            nn.Linear(num_channels, hidden, bias=False),
            nn.ReLU(),
            nn.Linear(hidden, num_channels, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[1] != self.num_channels:
            raise ValueError(
                f"ChannelAttention expects input (batch, {self.num_channels}, time), got shape {tuple(x.shape)}"
            )
        gate = torch.sigmoid(self.mlp(x.mean(dim=2)) + self.mlp(x.amax(dim=2)))
        return x * gate.unsqueeze(-1)


class TemporalAttention(nn.Module):
    """CBAM spatial gate over time for ``(B, C, T)``: ``x * sigmoid(conv([mean_c x, max_c x]))``.

    The convolution is bias-free, ``Conv1d(2, 1, kernel_size, padding=kernel_size // 2)``
    (``2 * kernel_size`` parameters); ``kernel_size`` must be odd so the length is kept.
    """

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        self.conv = nn.Conv1d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            raise ValueError(f"TemporalAttention expects input (batch, channels, time), got shape {tuple(x.shape)}")
        pooled = torch.stack([x.mean(dim=1), x.amax(dim=1)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))
