"""`eeg-cnn`: the convolutional baseline the attention models have to beat.

Three strided ``Conv1d -> BatchNorm -> ReLU`` blocks (129 -> 32 -> 64 -> 128 channels, kernels
7/5/3, stride 2, "same" padding so 200 samples become 100, 50, 25), dropout after the first two,
global average pooling over time, and a ``128 -> 64 -> 32 -> 1`` regression head with ReLU and
dropout. 74,753 parameters for 129 channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from attn.models.eeg_layers import check_windows, conv_block, regression_head
from attn.models.registry import register_model
from attn.schema import option


@dataclass
class EEGCNNConfig:
    """The ``model`` section of an eeg-cnn recipe."""

    dropout: float = option(
        0.4, help="dropout after the first two conv blocks and in the head", min=0, max=1, max_exclusive=True
    )


class EEGCNN(nn.Module):
    """Maps EEG windows ``(B, n_channels, n_times)`` to one prediction per window ``(B,)``."""

    def __init__(self, cfg: EEGCNNConfig, n_channels: int):
        super().__init__()
        self.n_channels = n_channels
        self.features = nn.Sequential(
            conv_block(n_channels, 32, 7, stride=2, dropout=cfg.dropout),
            conv_block(32, 64, 5, stride=2, dropout=cfg.dropout),
            conv_block(64, 128, 3, stride=2),
        )
        self.head = regression_head([128, 64, 32, 1], cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_windows(x, self.n_channels, "eeg-cnn")
        pooled = self.features(x).mean(dim=-1)
        return self.head(pooled).squeeze(-1)


@register_model(
    "eeg-cnn",
    task="eeg",
    config=EEGCNNConfig,
    description="convolutional baseline: 3 strided conv blocks, average pooling, MLP head",
)
def build_eeg_cnn(cfg: EEGCNNConfig, *, n_channels: int, n_times: int) -> EEGCNN:
    return EEGCNN(cfg, n_channels)
