"""Layers the EEG models share: conv blocks, the regression head and the input check."""

from __future__ import annotations

import torch
from torch import nn


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
