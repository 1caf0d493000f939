"""`eeg-sparse-lightweight` and `eeg-sparse-improved`: CNNs with sparse token attention (seed 003).

Both gate the input with CBAM-style channel (and, for the improved model, temporal) attention,
extract features with ``Conv1d -> BatchNorm -> ReLU -> Dropout [-> MaxPool 2]`` blocks, and run
the resulting time steps (optionally with fixed sinusoidal position encodings added, recipe key
``model.positional_encoding``) through :class:`SparseBlock` s: sparse token attention with a residual
connection and a LayerNorm, then a GELU feed-forward network with a residual connection (no
second LayerNorm: the seed's parameter counts pin exactly one per block).

The tokens are read out as recipe key ``model.readout`` says (:mod:`attn.models.eeg_readouts`):
``mean`` (the seed's average pooling, for the improved model average and max pooling
concatenated, then the MLP head), ``attention`` (learned attention pooling into the head) or
``latency`` (a softmax over the tokens whose expected time, rescaled, is the prediction).

For 129 channels and ``readout: mean`` the models have exactly 846,289 (lightweight) and
6,163,375 (improved) parameters. With 200 samples the attention sees 50 tokens in 25 heads of
2 tokens each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from attn.attention.positional import sinusoidal_positions
from attn.attention.sparse import ChannelAttention, SparseTokenAttention, TemporalAttention
from attn.errors import RecipeError
from attn.models.eeg_layers import check_windows, conv_block, regression_head
from attn.models.eeg_readouts import POOL_FACTOR, AttentionPooling, LatencyReadout, n_tokens, token_times
from attn.models.registry import register_model
from attn.schema import option


@dataclass
class EEGSparseLightweightConfig:
    """The ``model`` section of an eeg-sparse-lightweight recipe (eeg-sparse-improved: same keys)."""

    dropout: float = option(
        0.4, help="dropout after conv blocks, on residual branches and in the head", min=0, max=1, max_exclusive=True
    )
    attention_dropout: float = option(
        0.1, help="dropout on the sparse attention weights", min=0, max=1, max_exclusive=True
    )
    scale_factor: float = option(
        0.5,
        help="sparse attention heads per token (heads = int(scale_factor * tokens))",
        min=0,
        max=1,
        min_exclusive=True,
    )
    channel_reduction: int = option(
        16, help="channel-attention bottleneck: channels // channel_reduction hidden units", min=1
    )
    positional_encoding: Literal["none", "sinusoidal"] = option(
        "none",
        help="add fixed sinusoidal position encodings to the tokens before the attention blocks "
        "(no parameters; 'none' is the seed's model, which cannot tell where in the window a feature is)",
    )
    readout: Literal["mean", "attention", "latency"] = option(
        "mean",
        help="how the tokens become the prediction: mean (the seed's average pooling, improved: average and "
        "max, then the MLP head), attention (a learned query's softmax over the tokens pools them into the "
        "head) or latency (a softmax over the tokens whose expected time, offset + scale * (E[t] - mid), is "
        "the prediction; no head)",
    )


@dataclass
class EEGSparseImprovedConfig(EEGSparseLightweightConfig):
    """The ``model`` section of an eeg-sparse-improved recipe."""

    channel_reduction: int = option(
        8, help="channel-attention bottleneck: channels // channel_reduction hidden units", min=1
    )


class SparseBlock(nn.Module):
    """``x = LayerNorm(x + Dropout(SparseAttention(x)))``, then ``x = x + FFN(x)``.

    The FFN is ``Linear(h, f) -> GELU -> Dropout -> Linear(f, h) -> Dropout``. The last
    attention weights are kept in ``last_weights`` (detached) for diagnostics.
    """

    def __init__(self, hidden: int, ffn_hidden: int, *, scale_factor: float, dropout: float, attention_dropout: float):
        super().__init__()
        self.attention = SparseTokenAttention(hidden, scale_factor=scale_factor, dropout=attention_dropout)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(
            nn.Linear(hidden, ffn_hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(ffn_hidden, hidden),
            nn.Dropout(dropout),
        )
        self.last_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended, weights = self.attention(x)
        self.last_weights = weights.detach()
        x = self.norm(x + self.dropout(attended))
        return x + self.ffn(x)


class _SparseEEGModel(nn.Module):
    """Shared forward: gates -> conv features (B, C, T') -> sparse blocks on (B, T', C) -> readout.

    ``readout`` (:mod:`attn.models.eeg_readouts`): ``mean`` pools with :meth:`pool` into
    ``head``; ``attention`` pools with ``self.readout`` (an :class:`AttentionPooling`) into
    ``head``; ``latency`` has no head, ``self.readout`` (a :class:`LatencyReadout`) predicts.
    """

    name = ""

    def __init__(
        self,
        n_channels: int,
        gates: nn.Module,
        features: nn.Module,
        blocks: list[SparseBlock],
        head: nn.Module | None,
        positional: bool = False,
        readout: nn.Module | None = None,
        readout_kind: str = "mean",
    ) -> None:
        super().__init__()
        self.n_channels = n_channels
        self.positional = positional
        self.readout_kind = readout_kind
        self._positions: torch.Tensor | None = None  # a cache, not state: checkpoints do not change
        self._positions_key: tuple | None = None
        self.gates = gates
        self.features = features
        self.blocks = nn.ModuleList(blocks)
        self.readout = readout  # None for "mean": the seed's state-dict keys stay as they were
        self.head = head  # None for "latency"

    def positions(self, tokens: torch.Tensor) -> torch.Tensor:
        """The ``(T', C)`` sinusoidal encodings for ``tokens`` (B, T', C), built once per shape and device."""
        _, length, dim = tokens.shape
        key = (length, dim, tokens.device, tokens.dtype)
        if self._positions_key != key:
            self._positions = sinusoidal_positions(length, dim, device=tokens.device, dtype=tokens.dtype)
            self._positions_key = key
        return self._positions

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens.mean(dim=1)

    def read_out(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens after the sparse blocks (B, T', C) -> predictions (B,)."""
        if self.readout_kind == "latency":
            return self.readout(tokens)
        pooled = self.readout(tokens) if self.readout_kind == "attention" else self.pool(tokens)
        return self.head(pooled).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_windows(x, self.n_channels, self.name)
        tokens = self.features(self.gates(x)).transpose(1, 2)
        if self.positional:
            tokens = tokens + self.positions(tokens)
        for block in self.blocks:
            tokens = block(tokens)
        return self.read_out(tokens)

    def attention_maps(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(weights, slot permutation)`` of each sparse block from the last forward pass.

        See :class:`~attn.attention.sparse.SparseTokenAttention` for how to read them.
        """
        if any(b.last_weights is None for b in self.blocks):
            raise RuntimeError(f"{self.name} has no attention maps before its first forward pass")
        return [(b.last_weights, b.attention.last_permutation) for b in self.blocks]

    def readout_weights(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(weights (B, T'), token times (T',) in s after the stimulus)`` of the last forward pass.

        None for ``readout: mean`` (no weights to show). The weights are detached and sum to 1
        over the tokens; for ``latency`` they are the model's belief about when the decision
        happened (``latency_expected_time()`` gives its expectation).
        """
        if self.readout is None:
            return None
        if self.readout.last_weights is None:
            raise RuntimeError(f"{self.name} has no readout weights before its first forward pass")
        weights = self.readout.last_weights
        return weights, token_times(POOL_FACTOR * weights.shape[1]).to(weights.device)

    def latency_expected_time(self) -> torch.Tensor | None:
        """``E[t]`` (B,) in seconds after the stimulus from the last forward pass (``readout: latency`` only).

        The prediction is ``offset + scale * (E[t] - t_mid)`` in standardised target units.
        """
        if self.readout_kind != "latency":
            return None
        if self.readout.last_expected_time is None:
            raise RuntimeError(f"{self.name} has no readout weights before its first forward pass")
        return self.readout.last_expected_time


def _readout(cfg: EEGSparseLightweightConfig, dim: int, n_times: int) -> dict:
    """The readout keyword arguments of :class:`_SparseEEGModel` for ``cfg.readout``."""
    if cfg.readout == "attention":
        module: nn.Module | None = AttentionPooling(dim)
    elif cfg.readout == "latency":
        module = LatencyReadout(dim, token_times(n_times))
    else:
        module = None
    return {"readout": module, "readout_kind": cfg.readout}


class EEGSparseLightweight(_SparseEEGModel):
    """Channel attention, two conv blocks (128, 256), one sparse block, readout (average pooling + head)."""

    name = "eeg-sparse-lightweight"

    def __init__(self, cfg: EEGSparseLightweightConfig, n_channels: int, n_times: int = 200):
        d = cfg.dropout
        super().__init__(
            n_channels,
            gates=ChannelAttention(n_channels, cfg.channel_reduction),
            features=nn.Sequential(
                conv_block(n_channels, 128, 7, dropout=d, pool=2),
                conv_block(128, 256, 5, dropout=d, pool=2),
            ),
            blocks=[
                SparseBlock(256, 512, scale_factor=cfg.scale_factor, dropout=d, attention_dropout=cfg.attention_dropout)
            ],
            head=None if cfg.readout == "latency" else regression_head([256, 128, 32, 1], d),
            positional=cfg.positional_encoding == "sinusoidal",
            **_readout(cfg, 256, n_times),
        )


class EEGSparseImproved(_SparseEEGModel):
    """Channel + temporal attention, three conv blocks (256, 512, 512), two sparse blocks, readout
    (``mean``: average and max pooling concatenated into the head; ``attention``: the 512-wide
    attention-pooled token into the head)."""

    name = "eeg-sparse-improved"

    def __init__(self, cfg: EEGSparseImprovedConfig, n_channels: int, n_times: int = 200):
        d = cfg.dropout
        super().__init__(
            n_channels,
            gates=nn.Sequential(ChannelAttention(n_channels, cfg.channel_reduction), TemporalAttention(7)),
            features=nn.Sequential(
                conv_block(n_channels, 256, 7, dropout=d, pool=2),
                conv_block(256, 512, 5, dropout=d, pool=2),
                conv_block(512, 512, 3, dropout=d),
            ),
            blocks=[
                SparseBlock(
                    512, 1024, scale_factor=cfg.scale_factor, dropout=d, attention_dropout=cfg.attention_dropout
                )
                for _ in range(2)
            ],
            head=None
            if cfg.readout == "latency"
            else regression_head([1024 if cfg.readout == "mean" else 512, 256, 64, 1], d),
            positional=cfg.positional_encoding == "sinusoidal",
            **_readout(cfg, 512, n_times),
        )

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.cat([tokens.mean(dim=1), tokens.amax(dim=1)], dim=-1)


def _check_data(name: str, cfg: EEGSparseLightweightConfig, n_channels: int, n_times: int) -> None:
    """Recipe errors for windows these models cannot take (too short, too few channels)."""
    if n_tokens(n_times) < 1:
        raise RecipeError(f"model {name} needs windows of at least 4 samples (two max-pools of 2); got {n_times}")
    if n_channels // cfg.channel_reduction < 1:
        raise RecipeError(
            f"model {name}: model.channel_reduction ({cfg.channel_reduction}) must not exceed the "
            f"number of channels ({n_channels})"
        )


@register_model(
    "eeg-sparse-lightweight",
    task="eeg",
    config=EEGSparseLightweightConfig,
    description="channel attention, 2 conv blocks, 1 sparse token-attention block (846,289 params at 129 channels with readout mean; readouts mean, attention, latency)",
)
def build_eeg_sparse_lightweight(
    cfg: EEGSparseLightweightConfig, *, n_channels: int, n_times: int
) -> EEGSparseLightweight:
    _check_data("eeg-sparse-lightweight", cfg, n_channels, n_times)
    return EEGSparseLightweight(cfg, n_channels, n_times)


@register_model(
    "eeg-sparse-improved",
    task="eeg",
    config=EEGSparseImprovedConfig,
    description="channel + temporal attention, 3 conv blocks, 2 sparse token-attention blocks (6,163,375 params at 129 channels with readout mean; readouts mean, attention, latency)",
)
def build_eeg_sparse_improved(cfg: EEGSparseImprovedConfig, *, n_channels: int, n_times: int) -> EEGSparseImproved:
    _check_data("eeg-sparse-improved", cfg, n_channels, n_times)
    return EEGSparseImproved(cfg, n_channels, n_times)
