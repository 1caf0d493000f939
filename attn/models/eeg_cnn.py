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

from attn.models.registry import register_model
from attn.schema import option


@dataclass
class EEGCNNConfig:
    """The ``model`` section of an eeg-cnn recipe."""

    dropout: float = option(
        0.4, help="dropout after the first two conv blocks and in the head", min=0, max=1, max_exclusive=True
    )


def conv_block(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    stride: int = 1,
    dropout: float | None = None,
    pool: int | None = None,
) -> nn.Sequential:
    """``Conv1d (bias, padding k // 2) -> BatchNorm1d -> ReLU [-> Dropout] [-> MaxPool1d]``."""
    layers: list[nn.Module] = [
        nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2),
        nn.BatchNorm1d(out_channels),
        nn.ReLU(),
    ]
    if dropout is not None:
        layers.append(nn.Dropout(dropout))
    if pool is not None:
        layers.append(nn.MaxPool1d(pool))
    return nn.Sequential(*layers)


def regression_head(widths: list[int], dropout: float) -> nn.Sequential:
    """``Linear -> ReLU -> Dropout`` between consecutive ``widths``, a plain Linear to the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers += [nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


def check_windows(x: torch.Tensor, n_channels: int, model: str) -> None:
    """A clear error for input that is not ``(batch, n_channels, samples)``."""
    if x.dim() != 3 or x.shape[1] != n_channels:
        raise ValueError(f"{model} expects windows (batch, {n_channels}, samples), got shape {tuple(x.shape)}")


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
def build_eeg_cnn(cfg: EEGCNNConfig, *, n_channels: int, n_times: int, **_: object) -> EEGCNN:
    return EEGCNN(cfg, n_channels)
